#pragma once
// The tokens an LlmCall in `chunked` mode holds until it emits them as one `token` event: their
// text, joined; the first one's index; their count; and each one's arrival, in whole
// microseconds after the first's, as the JSON array that becomes `offsets_us`. Built as text as
// tokens come, so emitting moves two strings and formats nothing.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "streamll/fields.hpp"

namespace streamll::detail {

class TokenChunk {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  bool empty() const noexcept { return count_ == 0; }
  std::int32_t count() const noexcept { return count_; }
  /// When its first token came. Only meaningful when not empty().
  TimePoint first_at() const noexcept { return first_at_; }
  /// The named output field its tokens belong to (every token of a chunk has the same one).
  std::string_view field() const noexcept { return field_; }

  /// Out of memory, it throws and holds the tokens it held before.
  void add(std::string_view text, std::string_view field, std::int64_t index, TimePoint at) {
    char digits[24] = {'0'};
    char* end = digits + 1;
    if (count_ > 0) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(at - first_at_).count();
      end = std::to_chars(digits, digits + sizeof digits, us).ptr;
    }
    const auto digit_count = static_cast<std::size_t>(end - digits);
    // Room first (and for take()'s closing ']'): the appends below cannot throw, so the text
    // and the offsets never disagree.
    make_room(text_, text.size());
    make_room(offsets_us_, 1 + digit_count + 1);
    if (count_ == 0) {
      field_.assign(field.data(), field.size());
      first_at_ = at;
      first_index_ = index;
      offsets_us_.clear();
    }
    offsets_us_.push_back(count_ == 0 ? '[' : ',');
    offsets_us_.append(digits, end);
    text_.append(text.data(), text.size());
    ++count_;
  }

  // At least doubling: a reserve() of just what is needed grows by that much under libc++,
  // which would copy a chunk's strings over and over as it fills.
  static void make_room(std::string& s, std::size_t extra) {
    if (s.capacity() - s.size() < extra) s.reserve(std::max(s.size() + extra, 2 * s.capacity()));
  }

  /// The event's data (token unless `with_text` is false, index, count, offsets_us, and field
  /// when named). Leaves the chunk empty, also when it throws (out of memory): those tokens
  /// are then not reported.
  Fields take(bool with_text = true) {
    struct Emptied {
      TokenChunk& chunk;
      ~Emptied() {
        chunk.count_ = 0;
        chunk.text_.clear();
        chunk.offsets_us_.clear();
        chunk.field_.clear();
      }
    } emptied{*this};
    offsets_us_.push_back(']');  // room reserved by add()
    Fields data;
    data.reserve((field_.empty() ? 3 : 4) + with_text);
    if (with_text) data.append_new("token", std::move(text_));
    data.append_new("index", first_index_);
    data.append_new("count", count_);
    data.append_new("offsets_us", RawJson{std::move(offsets_us_)});
    if (!field_.empty()) data.append_new("field", std::move(field_));
    return data;
  }

 private:
  std::string text_;
  std::string offsets_us_;
  std::string field_;
  TimePoint first_at_{};
  std::int64_t first_index_ = 0;
  std::int32_t count_ = 0;
};

}  // namespace streamll::detail
