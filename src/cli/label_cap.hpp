#pragma once
// Bounds the distinct values one Prometheus label takes (`streamll exporter`, docs/monitoring.md):
// a model or operation name comes from the events, and every new value is a new series that
// Prometheus keeps. The first `cap` values keep their name; any later one is reported as
// "other", and each event folded so is counted. Not thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

namespace streamll::cli {

class LabelCap {
 public:
  static constexpr std::string_view kOther = "other";

  explicit LabelCap(std::size_t cap) : cap_(cap) {}

  /// `value` when it is one of the first `cap` distinct values (or one already admitted), else
  /// "other".
  std::string_view admit(std::string_view value) {
    const std::string key(value);
    if (seen_.count(key) != 0) return value;
    if (seen_.size() < cap_) {
      seen_.insert(key);
      return value;
    }
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
