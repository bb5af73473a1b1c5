#pragma once
// Internal: the pieces of JSON writing shared by event serialization, the sinks and the CLI.
// Writers append to a std::string and never throw except std::bad_alloc.

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

namespace streamll::detail {

/// Appends JSON to a std::string through a raw pointer: the string is grown (zero-filled) in
/// chunks ahead of the writes and cut back to what was written by finish() or the destructor,
/// so a write costs a bounds check and a copy instead of a std::string::append call each (the
/// flusher serializes hundreds of thousands of events a second). Throws only std::bad_alloc,
/// leaving the string holding what was written until then.
class JsonOut {
 public:
  /// `expected`: bytes to make room for at once.
  explicit JsonOut(std::string& out, std::size_t expected = 256);
  ~JsonOut() { finish(); }
  JsonOut(const JsonOut&) = delete;
  JsonOut& operator=(const JsonOut&) = delete;

  /// Cuts the string to what was written. Idempotent; no writes after it.
  void finish() noexcept;

  void raw(std::string_view text) {
    char* p = room(text.size());
    if (!text.empty()) std::memcpy(p, text.data(), text.size());
    pos_ = p + text.size();
  }
  void raw(char c) {
    *room(1) = c;
    ++pos_;
  }
  /// A quoted JSON string; see append_json_string.
  void string(std::string_view text);
  /// See append_json_double.
  void number(double d);
  void number(long long i);

 private:
  char* room(std::size_t n) {
    if (static_cast<std::size_t>(end_ - pos_) < n) grow(n);
    return pos_;
  }
  void grow(std::size_t n);

  std::string* out_;
  char* pos_ = nullptr;
  char* end_ = nullptr;
};

/// Appends `s` as a quoted JSON string. Invalid UTF-8 (stray continuation bytes, overlong
/// forms, surrogates, code points above U+10FFFF, truncated sequences) becomes U+FFFD, one per
/// offending byte; control characters are escaped.
void append_json_string(std::string& out, std::string_view s);

/// Appends a JSON number that reads back as a double ("1.0", not "1"); NaN and infinities
/// become null.
void append_json_double(std::string& out, double d);

void append_json_int(std::string& out, long long i);

/// True when `text` is one complete JSON value.
bool is_valid_json(std::string_view text) noexcept;

/// Deepest nesting of arrays and objects in `text` (brackets inside strings do not count).
/// Recursive consumers (nlohmann's dump, many parsers) overflow the stack on absurd depths, so
/// raw JSON deeper than max_json_nesting is written as a string and event documents deeper
/// than that plus two (the event object and its data) are rejected.
std::size_t json_nesting_depth(std::string_view text) noexcept;
constexpr std::size_t max_json_nesting = 256;

/// Appends `text`, which must be valid JSON, without insignificant whitespace, keeping the
/// order of object keys.
void append_compact_json(std::string& out, std::string_view text);

/// Appends `text` like append_compact_json when it is one valid JSON value, except that an
/// object repeating a key keeps that key once, at its first position with its last value (what
/// a JSON document means, and what parse_event_json reads); returns false, appending nothing,
/// when `text` is not valid JSON. Text without a repeated key keeps its bytes (numbers as
/// written); an object with one is rewritten by nlohmann, numbers in their shortest form.
bool append_normalized_json(std::string& out, std::string_view text);

/// `s` with invalid UTF-8 replaced by U+FFFD (for terminals and logs).
std::string sanitize_utf8(std::string_view s);

}  // namespace streamll::detail
