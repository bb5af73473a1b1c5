#pragma once
// Internal: a STREAMLL_* boolean environment variable read the one way every option that has
// one reads it, so that "on" means the same for each.

namespace streamll::detail {

/// `variable` as a boolean: true/false, 1/0, yes/no, on/off in any case. Unset or empty:
/// `fallback`; another value: `fallback`, with a warning on the logger "streamll". Never throws.
bool env_bool(const char* variable, bool fallback) noexcept;

}  // namespace streamll::detail
