#pragma once
// Internal: the STREAMLL_* environment variables streamll knows, and the warning for the ones it
// does not (a typo such as STREAMLL_STREAMKEY would otherwise be silently ignored).

#include <string>
#include <string_view>
#include <vector>

namespace streamll::detail {

/// Every STREAMLL_* environment variable the library and the CLI read or set: the one list the
/// unknown-variable warning checks against. A variable read anywhere must be added here.
const std::vector<std::string_view>& known_streamll_variables();

/// Warns (logger "streamll", warn level) about each STREAMLL_* variable of `environment` (an
/// environ-style array of "NAME=value", null-terminated) that is not known, naming the closest
/// known one when it looks like a typo. Each name is warned about once per process. Returns the
/// names warned about by this call. Never throws.
std::vector<std::string> warn_unknown_streamll_variables(const char* const* environment) noexcept;

/// The same for the process environment.
void warn_unknown_streamll_variables() noexcept;

}  // namespace streamll::detail
