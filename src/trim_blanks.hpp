// Spaces and tabs around a value: HTTP's optional whitespace, and what a shell line may leave
// around an environment variable's value.
#pragma once

#include <string_view>

namespace streamll::detail {

inline std::string_view trim_blanks(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace streamll::detail
