#pragma once
// Which events a sink lost (evicted by drop_oldest, refused by Redis), by their sequence
// numbers, so that flush() can say whether the very events it waited for all arrived.
//
// Losses come in runs (an outage evicts the oldest waiting events one after another; a
// WRONGTYPE stream refuses whole batches), so they are kept as a few disjoint ranges. Memory is
// bounded: past max_ranges, the two ranges closest to each other are merged into one that also
// covers the gap between them, which can only make a query answer "lost" for an event that
// arrived (flush() then errs on the side of false), never the other way round.
//
// Not synchronized: the owner guards it (the ring buffer's lock, the sink's).

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace streamll::detail {

class LossLog {
 public:
  static constexpr std::size_t max_ranges = 64;

  /// Reserves all the room it will ever use: record() never allocates (so it can run under a
  /// producer's lock, in a noexcept path).
  LossLog() { ranges_.reserve(max_ranges + 1); }

  /// Sequences [first, first + count) were lost.
  void record(std::uint64_t first, std::uint64_t count) noexcept {
    if (count == 0) return;
    const std::uint64_t end = first + count;
    // The common case, a run growing at its end: the last range or the one containing first.
    if (!ranges_.empty() && ranges_.back().first <= first && first <= ranges_.back().end) {
      ranges_.back().end = std::max(ranges_.back().end, end);
      return;
    }
    auto it = std::lower_bound(ranges_.begin(), ranges_.end(), first,
                               [](const Range& r, std::uint64_t value) { return r.end < value; });
    // `it` is the first range that ends at or after `first`: merge every range overlapping or
    // touching [first, end).
    Range merged{first, end};
    auto last = it;
    while (last != ranges_.end() && last->first <= end) {
      merged.first = std::min(merged.first, last->first);
      merged.end = std::max(merged.end, last->end);
      ++last;
    }
    it = ranges_.erase(it, last);
    ranges_.insert(it, merged);
    if (ranges_.size() > max_ranges) merge_closest();
  }

  /// Whether any sequence in [low, high) was lost.
  bool any_in(std::uint64_t low, std::uint64_t high) const noexcept {
    if (low >= high) return false;
    auto it = std::lower_bound(ranges_.begin(), ranges_.end(), low,
                               [](const Range& r, std::uint64_t value) { return r.end <= value; });
    return it != ranges_.end() && it->first < high;
  }

  /// Forgets the losses below `sequence` (no query will ask about them any more).
  void forget_below(std::uint64_t sequence) {
    auto it = std::find_if(ranges_.begin(), ranges_.end(),
                           [&](const Range& r) { return r.end > sequence; });
    ranges_.erase(ranges_.begin(), it);
  }

  std::size_t range_count() const noexcept { return ranges_.size(); }

 private:
  struct Range {
    std::uint64_t first;
    std::uint64_t end;  // one past the last lost sequence
  };

  void merge_closest() noexcept {
    std::size_t best = 0;
    std::uint64_t best_gap = std::numeric_limits<std::uint64_t>::max();
    for (std::size_t i = 0; i + 1 < ranges_.size(); ++i) {
      const std::uint64_t gap = ranges_[i + 1].first - ranges_[i].end;
      if (gap < best_gap) {
        best_gap = gap;
        best = i;
      }
    }
    ranges_[best].end = ranges_[best + 1].end;
    ranges_.erase(ranges_.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }

  std::vector<Range> ranges_;  // sorted, disjoint, not touching
};

}  // namespace streamll::detail
