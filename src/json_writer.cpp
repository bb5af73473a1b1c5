#include "json_writer.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

namespace streamll::detail {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the byte there does not
// start one. Follows the well-formed byte sequences table of Unicode 15, section 3.9.
std::size_t valid_sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  const std::size_t left = s.size() - i;
  auto in = [](unsigned char b, unsigned char lo, unsigned char hi) { return b >= lo && b <= hi; };
  if (b0 < 0x80) return 1;
  if (in(b0, 0xC2, 0xDF)) return left >= 2 && in(byte(i + 1), 0x80, 0xBF) ? 2 : 0;
  if (in(b0, 0xE0, 0xEF)) {
    if (left < 3) return 0;
    const unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;  // ED A0..BF would be a surrogate
    return in(byte(i + 1), lo, hi) && in(byte(i + 2), 0x80, 0xBF) ? 3 : 0;
  }
  if (in(b0, 0xF0, 0xF4)) {
    if (left < 4) return 0;
    const unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;  // nothing above U+10FFFF
    return in(byte(i + 1), lo, hi) && in(byte(i + 2), 0x80, 0xBF) && in(byte(i + 3), 0x80, 0xBF)
               ? 4
               : 0;
  }
  return 0;
}

// Bytes that cannot be copied as they are: control characters, '"', '\\' and every byte of a
// multi-byte sequence (checked for valid UTF-8 one sequence at a time).
constexpr std::array<bool, 256> kNeedsCare = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) table[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
  return table;
}();

// Length of the longest prefix of whole 8-byte words of `data` in which no byte needs care,
// tested a word at a time: a byte needs care when it is below 0x20, is '"' or '\\', or has its
// high bit set. (The classic "has a zero byte" test: x - 0x01.. sets a byte's high bit when
// the byte was 0, or borrows from one that was; ~x masks out bytes that were >= 0x80.)
std::size_t plain_prefix_words(const char* data, std::size_t size) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  const auto has_zero_byte = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, data + i, 8);
    const std::uint64_t care = (word & highs) | ((word - ones * 0x20) & ~word & highs) |
                               has_zero_byte(word ^ (ones * '"')) |
                               has_zero_byte(word ^ (ones * '\\'));
    if (care != 0) break;
  }
  return i;
}

// Validates like nlohmann::json::accept and notes whether an object repeats a key, by the
// keys' hashes: a collision only sends the text down the slower, still exact, rewriting path.
class RepeatedKeyFinder {
 public:
  using json = nlohmann::json;
  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(json::number_integer_t) { return true; }
  bool number_unsigned(json::number_unsigned_t) { return true; }
  bool number_float(json::number_float_t, const std::string&) { return true; }
  bool string(std::string&) { return true; }
  bool binary(json::binary_t&) { return true; }
  bool start_array(std::size_t) { return true; }
  bool end_array() { return true; }
  bool start_object(std::size_t) {
    starts_.push_back(hashes_.size());
    return true;
  }
  bool key(std::string& k) {
    hashes_.push_back(std::hash<std::string>{}(k));
    return true;
  }
  bool end_object() {
    // Sorted at the end, not searched per key: linear-logarithmic also for a million keys.
    const auto begin = hashes_.begin() + static_cast<std::ptrdiff_t>(starts_.back());
    starts_.pop_back();
    if (!repeated_ && hashes_.end() - begin > 1) {
      std::sort(begin, hashes_.end());
      repeated_ = std::adjacent_find(begin, hashes_.end()) != hashes_.end();
    }
    hashes_.erase(begin, hashes_.end());
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }
  bool repeated() const noexcept { return repeated_; }

 private:
  std::vector<std::size_t> hashes_;  // keys of the open objects, innermost last
  std::vector<std::size_t> starts_;  // where each open object's keys begin in hashes_
  bool repeated_ = false;
};

}  // namespace

JsonOut::JsonOut(std::string& out, std::size_t expected) : out_(&out) {
  const std::size_t used = out.size();
  out.resize(used + expected);
  pos_ = out.data() + used;
  end_ = out.data() + out.size();
}

void JsonOut::finish() noexcept {
  if (!out_) return;
  out_->resize(static_cast<std::size_t>(pos_ - out_->data()));  // shrinking: cannot throw
  out_ = nullptr;
}

void JsonOut::grow(std::size_t n) {
  const auto used = static_cast<std::size_t>(pos_ - out_->data());
  out_->resize(std::max(out_->size() * 2, used + n + 256));
  pos_ = out_->data() + used;
  end_ = out_->data() + out_->size();
}

void JsonOut::string(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  raw('"');
  const char* const data = s.data();
  const std::size_t size = s.size();
  std::size_t i = 0;
  while (i < size) {
    // Most text is plain: copy each run of plain bytes at once.
    std::size_t run = plain_prefix_words(data + i, size - i) + i;
    while (run < size && !kNeedsCare[static_cast<unsigned char>(data[run])]) ++run;
    if (run > i) {
      raw(std::string_view(data + i, run - i));
      i = run;
      if (i == size) break;
    }
    const auto c = static_cast<unsigned char>(data[i]);
    if (c >= 0x80) {
      const std::size_t n = valid_sequence_length(s, i);
      if (n == 0) {
        raw(kReplacement);
        ++i;
      } else {
        raw(std::string_view(data + i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        raw("\\\"");
        break;
      case '\\':
        raw("\\\\");
        break;
      case '\n':
        raw("\\n");
        break;
      case '\r':
        raw("\\r");
        break;
      case '\t':
        raw("\\t");
        break;
      case '\b':
        raw("\\b");
        break;
      case '\f':
        raw("\\f");
        break;
      default: {
        const char escaped[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
        raw(std::string_view(escaped, sizeof escaped));
      }
    }
    ++i;
  }
  raw('"');
}

void JsonOut::number(long long i) {
  char* p = room(24);
  pos_ = std::to_chars(p, p + 24, i).ptr;
}

void JsonOut::number(double d) {
  if (!std::isfinite(d)) {
    raw("null");
    return;
  }
  if (d == 0) {
    raw(std::signbit(d) ? "-0.0" : "0.0");
    return;
  }
  // Costs, durations and rates usually have few decimals: find the fewest (up to 6) whose
  // decimal reads back as exactly this double, which is a valid and usually the shortest form,
  // at a fraction of the cost of the general shortest-form search below. Exactness is checked:
  // n and 10^k are exact doubles (|n| < 2^53), so n / 10^k is the double nearest the decimal.
  static constexpr double kPow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
  if (std::fabs(d) < 1e9) {
    for (int k = 0; k <= 6; ++k) {
      const double scaled = std::nearbyint(d * kPow10[k]);
      if (scaled / kPow10[k] != d) continue;
      auto n = static_cast<long long>(scaled);
      char digits[24];
      char* p = digits;
      if (n < 0) {
        *p++ = '-';
        n = -n;
      }
      char magnitude[20];
      const auto len =
          static_cast<int>(std::to_chars(magnitude, magnitude + 20, n).ptr - magnitude);
      if (k == 0) {
        p = std::copy(magnitude, magnitude + len, p);
        *p++ = '.';
        *p++ = '0';
      } else if (len > k) {
        p = std::copy(magnitude, magnitude + (len - k), p);
        *p++ = '.';
        p = std::copy(magnitude + (len - k), magnitude + len, p);
      } else {
        *p++ = '0';
        *p++ = '.';
        p = std::fill_n(p, k - len, '0');
        p = std::copy(magnitude, magnitude + len, p);
      }
      raw(std::string_view(digits, static_cast<std::size_t>(p - digits)));
      return;
    }
  }
  // The shortest text that reads back as the same double.
  char* p = room(32);
  char* end = std::to_chars(p, p + 32, d).ptr;
  // Keep the number a floating-point one when read back: "1e+21" is, "123" would not be.
  if (std::find_if(p, end, [](char c) { return c == '.' || c == 'e'; }) == end) {
    *end++ = '.';
    *end++ = '0';
  }
  pos_ = end;
}

void append_json_string(std::string& out, std::string_view s) {
  JsonOut json(out, s.size() + 2);
  json.string(s);
}

void append_json_double(std::string& out, double d) {
  JsonOut json(out, 32);
  json.number(d);
}

void append_json_int(std::string& out, long long i) {
  JsonOut json(out, 24);
  json.number(i);
}

bool is_valid_json(std::string_view text) noexcept {
  // nlohmann's lexer takes a NUL byte for the end of input, so "\"\"\0<anything>" would pass;
  // a NUL is never valid JSON (inside a string it must be escaped).
  if (text.find('\0') != std::string_view::npos) return false;
  try {
    return nlohmann::json::accept(text.begin(), text.end());
  } catch (...) {
    return false;
  }
}

std::size_t json_nesting_depth(std::string_view text) noexcept {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

void append_compact_json(std::string& out, std::string_view text) {
  out.reserve(out.size() + text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        out.push_back(text[++i]);
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      out.push_back(c);
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      out.push_back(c);
    }
  }
}

bool append_normalized_json(std::string& out, std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return false;  // see is_valid_json
  RepeatedKeyFinder finder;
  if (!nlohmann::json::sax_parse(text.begin(), text.end(), &finder)) return false;
  if (!finder.repeated()) {
    append_compact_json(out, text);
    return true;
  }
  // Rare: an ordered document keeps the first position of a key and takes its last value.
  out.append(nlohmann::ordered_json::parse(text.begin(), text.end()).dump());
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t n = valid_sequence_length(s, i);
    if (n == 0) {
      out.append(kReplacement);
      ++i;
    } else {
      out.append(s.data() + i, n);
      i += n;
    }
  }
  return out;
}

}  // namespace streamll::detail
