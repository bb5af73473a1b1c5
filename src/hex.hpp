// Lowercase hex digits, written and read: event ids, span ids and W3C trace ids.
#pragma once

#include <cstdint>
#include <string>

namespace streamll::detail {

inline constexpr char kLowerHexDigits[] = "0123456789abcdef";

/// Appends the low `digits` hex digits of `value`, most significant first, lowercase.
inline void append_hex(std::string& out, std::uint64_t value, int digits) {
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4)
    out.push_back(kLowerHexDigits[(value >> shift) & 0xF]);
}

/// The value of a lowercase hex digit, or -1 (W3C trace context allows lowercase only).
inline int lower_hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/// The value of a hex digit of either case, or -1.
inline int hex_value(char c) noexcept {
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return lower_hex_value(c);
}

}  // namespace streamll::detail
