#pragma once
// Internal: a string as a quoted JSON string, for the few values the headers build as raw JSON.

#include <string>
#include <string_view>

namespace streamll::detail {

/// `text` quoted and escaped as the event writer does (invalid UTF-8 becomes U+FFFD, one per
/// offending byte). Throws std::bad_alloc only.
std::string json_quoted(std::string_view text);

}  // namespace streamll::detail
