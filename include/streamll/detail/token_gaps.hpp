#pragma once
// The gaps between one call's streamed tokens, for the llm_call event's inter-token figures.
// Counted in a fixed log-linear histogram (32 buckets an octave of nanoseconds, exact below
// 64 ns), allocated once at the first gap: a token costs an increment however long the answer,
// and a call's memory stays at kBuckets counters. Keeping every gap instead cost 8 bytes a token
// and, in an answer of 500,000 tokens, page faults that nearly doubled a token's mean cost. A
// percentile is the middle of the bucket holding the nearest-rank gap, so within 1/64 (1.6%)
// of that gap (gaps of 2^40 ns, about 18 minutes, and more count as that); the largest gap is
// kept exactly. Counters are 32 bits: 2^32 gaps in one bucket (6 minutes of tokens at 90 ns
// each, nonstop) would wrap.

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

namespace streamll::detail {

class TokenGaps {
 public:
  TokenGaps() = default;
  /// Leaves `other` empty (no counters, nothing counted): never complete() without counters.
  TokenGaps(TokenGaps&& other) noexcept
      : counts_(std::move(other.counts_)),
        size_(std::exchange(other.size_, 0)),
        max_ns_(std::exchange(other.max_ns_, 0)),
        complete_(std::exchange(other.complete_, true)) {}
  TokenGaps& operator=(TokenGaps&&) = delete;

  static constexpr int kSubBucketBits = 5;
  static constexpr std::int64_t kSubBuckets = std::int64_t{1} << kSubBucketBits;  // 32
  /// Gaps from 2^40 ns (about 18 minutes) up count as 2^40 - 1 ns; max_ms() stays exact.
  static constexpr std::int64_t kLargestCounted = (std::int64_t{1} << 40) - 1;
  static constexpr std::size_t kBuckets =
      static_cast<std::size_t>((40 - kSubBucketBits + 1) * kSubBuckets);  // 1152

  /// The bucket of a gap of `ns` nanoseconds (negative counts as 0). Buckets below 2 *
  /// kSubBuckets hold one value each; above, bucket width doubles every kSubBuckets buckets.
  static std::size_t bucket_of(std::int64_t ns) noexcept {
    if (ns < kSubBuckets) return static_cast<std::size_t>(ns < 0 ? 0 : ns);
    ns = std::min(ns, kLargestCounted);
    const int shift = floor_log2(ns) - kSubBucketBits;
    const auto top = ns >> shift;  // kSubBuckets .. 2 * kSubBuckets - 1
    return static_cast<std::size_t>((shift + 1) * kSubBuckets + (top - kSubBuckets));
  }
  /// The smallest gap in `bucket`, in nanoseconds, and the bucket's width.
  static std::int64_t lower_bound_ns(std::size_t bucket) noexcept {
    const auto b = static_cast<std::int64_t>(bucket);
    if (b < 2 * kSubBuckets) return b;
    const auto shift = b / kSubBuckets - 1;
    return (kSubBuckets + b % kSubBuckets) << shift;
  }
  static std::int64_t width_ns(std::size_t bucket) noexcept {
    const auto b = static_cast<std::int64_t>(bucket);
    return b < 2 * kSubBuckets ? 1 : std::int64_t{1} << (b / kSubBuckets - 1);
  }

  /// Never throws: out of memory for the counters, nothing is counted and complete() turns
  /// false (a token must not fail for its statistics).
  void add(std::chrono::steady_clock::duration gap) noexcept {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(gap).count();
    if (!counts_ && !allocate()) return;
    ++counts_[bucket_of(ns)];
    ++size_;
    if (ns > max_ns_) max_ns_ = ns;
  }
  std::uint64_t size() const noexcept { return size_; }
  /// Whether every gap added was counted (at least one was).
  bool complete() const noexcept { return complete_ && size_ > 0; }

  /// The nearest-rank percentile `percent` (0 < percent <= 100), in milliseconds: the middle of
  /// the bucket holding the gap at rank ceil(percent / 100 * n), 1-based, in ascending order,
  /// and never above the largest gap. Requires complete().
  double percentile_ms(double percent) const noexcept {
    assert(complete());
    auto rank = static_cast<std::uint64_t>(std::ceil(percent / 100.0 * static_cast<double>(size_)));
    rank = std::min(std::max<std::uint64_t>(rank, 1), size_);
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < kBuckets; ++b) {
      seen += counts_[b];
      if (seen >= rank) {
        const std::int64_t middle = lower_bound_ns(b) + width_ns(b) / 2;
        return to_ms(std::min(middle, max_ns_));
      }
    }
    return to_ms(max_ns_);
  }
  double max_ms() const noexcept { return to_ms(max_ns_); }

 private:
  // Once a call, kept out of add() so that a token's path stays small enough to inline.
  [[gnu::noinline, gnu::cold]] bool allocate() noexcept {
    if (complete_) counts_.reset(new (std::nothrow) std::uint32_t[kBuckets]());
    complete_ = counts_ != nullptr;
    return complete_;
  }
  static int floor_log2(std::int64_t positive) noexcept {
    return 63 - __builtin_clzll(static_cast<unsigned long long>(positive));
  }
  static double to_ms(std::int64_t ns) noexcept { return static_cast<double>(ns) / 1e6; }

  std::unique_ptr<std::uint32_t[]> counts_;
  std::uint64_t size_ = 0;
  std::int64_t max_ns_ = 0;
  bool complete_ = true;
};

}  // namespace streamll::detail
