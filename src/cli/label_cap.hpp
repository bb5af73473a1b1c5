#pragma once
// Bounds the distinct values one Prometheus label takes (`streamll exporter`, docs/monitoring.md):
// a model or operation name comes from the events, and every new value is a new series that
// Prometheus keeps. Values are cut to kMaxValueBytes (at a UTF-8 character boundary); the first
// `cap` values keep their name; any later one is reported as "other", and each event folded so
// is counted. Not thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

#include "utf8_prefix.hpp"

namespace streamll::cli {

class LabelCap {
 public:
  static constexpr std::string_view kOther = "other";
  /// Longer values are cut: a scrape must stay within what Prometheus servers accept
  /// (label_value_length_limit), and a stored value costs memory for the exporter's life.
  static constexpr std::size_t kMaxValueBytes = 128;

  explicit LabelCap(std::size_t cap) : cap_(cap) {}

  /// `value` (cut to kMaxValueBytes) when it is one of the first `cap` distinct values (or one
  /// already admitted), else "other". The view is of this cap's own copy (or of kOther), valid
  /// as long as the cap, whatever the caller's string becomes.
  std::string_view admit(std::string_view value) {
    std::string key(value.substr(0, streamll::detail::utf8_prefix(value, kMaxValueBytes)));
    if (auto it = seen_.find(key); it != seen_.end()) return *it;
    if (seen_.size() < cap_) return *seen_.insert(std::move(key)).first;
    ++folded_;
    return kOther;
  }
  /// Events whose value was reported as "other".
  std::uint64_t folded() const noexcept { return folded_; }
  /// Distinct values admitted so far (at most the cap).
  std::size_t distinct() const noexcept { return seen_.size(); }
  std::size_t cap() const noexcept { return cap_; }

 private:
  std::size_t cap_;
  std::unordered_set<std::string> seen_;
  std::uint64_t folded_ = 0;
};

}  // namespace streamll::cli
