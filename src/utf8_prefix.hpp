#pragma once
// Internal: cutting text to a byte limit without splitting a UTF-8 character.

#include <cstddef>
#include <string_view>

namespace streamll::detail {

/// The length of the longest prefix of `text` of at most `limit` bytes that does not split a
/// UTF-8 character (continuation bytes are 10xxxxxx); text that is not UTF-8 is cut at the limit.
inline std::size_t utf8_prefix(std::string_view text, std::size_t limit) noexcept {
  if (text.size() <= limit) return text.size();
  std::size_t n = limit;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return n > 0 ? n : limit;
}

}  // namespace streamll::detail
