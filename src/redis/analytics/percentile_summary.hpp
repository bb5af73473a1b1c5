#pragma once
// Internal: count, min, max, mean and nearest-rank percentiles of a stream of samples in
// bounded memory. Exact (the samples themselves) up to a limit; past it, a log-linear
// histogram whose buckets are 1/SubBuckets of an octave wide, so a reported percentile is
// within 1/(2 * SubBuckets) (relative) of the true nearest-rank sample: 1/2048 for the whole
// range's figures (PercentileSummary, 520 KiB past the limit), 1/64 for each model's
// (ModelPercentileSummary, 16 KB: a thousand models must fit). See Percentiles in
// analytics.hpp.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "streamll/redis/analytics.hpp"

namespace streamll::redis {

template <int SubBuckets>
class BasicPercentileSummary {
 public:
  static constexpr int kSubBuckets = SubBuckets;  // per power of two
  static constexpr int kMinExponent = -20;  // frexp exponents: 2^-21 .. 2^44, about 5e-7 .. 1.8e13
  static constexpr int kMaxExponent = 44;
  static constexpr std::size_t kBuckets =
      1 + static_cast<std::size_t>(kMaxExponent - kMinExponent + 1) * kSubBuckets;

  explicit BasicPercentileSummary(std::size_t exact_limit) : exact_limit_(exact_limit) {}

  /// Non-finite samples are ignored; negative ones count as 0.
  void add(double value) {
    if (!std::isfinite(value)) return;
    if (value < 0) value = 0;
    if (count_ == 0 || value < min_) min_ = value;
    if (count_ == 0 || value > max_) max_ = value;
    ++count_;
    sum_ += static_cast<long double>(value);
    if (buckets_.empty()) {
      if (samples_.size() < exact_limit_) {
        samples_.push_back(value);
        return;
      }
      buckets_.assign(kBuckets, 0);
      for (double s : samples_) ++buckets_[bucket_of(s)];
      std::vector<double>().swap(samples_);  // give the memory back
    }
    ++buckets_[bucket_of(value)];
  }

  /// Adds `other`'s samples, as if they had been add()ed here: still exact while the two
  /// together hold at most the exact limit, else both in the histogram. (The shards of a
  /// sharded deployment are summarized one by one, then merged: percentiles over the union.)
  void merge(const BasicPercentileSummary& other) {
    if (other.count_ == 0) return;
    if (count_ == 0 || other.min_ < min_) min_ = other.min_;
    if (count_ == 0 || other.max_ > max_) max_ = other.max_;
    count_ += other.count_;
    sum_ += other.sum_;
    if (buckets_.empty() && other.buckets_.empty() &&
        samples_.size() + other.samples_.size() <= exact_limit_) {
      samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
      return;
    }
    if (buckets_.empty()) {
      buckets_.assign(kBuckets, 0);
      for (double s : samples_) ++buckets_[bucket_of(s)];
      std::vector<double>().swap(samples_);
    }
    if (other.buckets_.empty()) {
      for (double s : other.samples_) ++buckets_[bucket_of(s)];
    } else {
      for (std::size_t b = 0; b < kBuckets; ++b) buckets_[b] += other.buckets_[b];
    }
  }

  std::uint64_t count() const noexcept { return count_; }
  bool exact() const noexcept { return buckets_.empty(); }
  /// Bytes held for samples or buckets (what the memory bound is about).
  std::size_t memory_bytes() const noexcept {
    return samples_.capacity() * sizeof(double) + buckets_.capacity() * sizeof(std::uint64_t);
  }

  Percentiles summary() const {
    Percentiles p;
    p.count = count_;
    p.exact = exact();
    if (count_ == 0) return p;
    p.min = min_;
    p.max = max_;
    p.mean = static_cast<double>(sum_ / static_cast<long double>(count_));
    if (exact()) {
      std::vector<double> sorted = samples_;
      std::sort(sorted.begin(), sorted.end());
      p.p50 = sorted[rank(50) - 1];
      p.p95 = sorted[rank(95) - 1];
      p.p99 = sorted[rank(99) - 1];
    } else {
      p.p50 = from_histogram(rank(50));
      p.p95 = from_histogram(rank(95));
      p.p99 = from_histogram(rank(99));
    }
    return p;
  }

  /// Nearest rank (1-based) of the `percent`-th percentile among count() samples.
  std::uint64_t rank(std::uint64_t percent) const noexcept {
    const std::uint64_t r = (percent * count_ + 99) / 100;
    return r == 0 ? 1 : r;
  }

  static std::size_t bucket_of(double value) noexcept {
    if (value <= 0) return 0;
    int exponent = 0;
    const double mantissa =
        std::frexp(value, &exponent);  // value = mantissa * 2^exponent, mantissa in [0.5, 1)
    if (exponent < kMinExponent) return 0;
    if (exponent > kMaxExponent) return kBuckets - 1;
    auto sub = static_cast<int>((mantissa - 0.5) * 2.0 * kSubBuckets);
    sub = std::clamp(sub, 0, kSubBuckets - 1);
    return 1 + static_cast<std::size_t>(exponent - kMinExponent) * kSubBuckets +
           static_cast<std::size_t>(sub);
  }

  static double bucket_midpoint(std::size_t bucket) noexcept {
    if (bucket == 0) return 0;
    const std::size_t index = bucket - 1;
    const int exponent = kMinExponent + static_cast<int>(index / kSubBuckets);
    const double sub = static_cast<double>(index % kSubBuckets);
    return std::ldexp(0.5 + (sub + 0.5) / (2.0 * kSubBuckets), exponent);
  }

 private:
  double from_histogram(std::uint64_t target_rank) const noexcept {
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
      seen += buckets_[b];
      if (seen >= target_rank) return std::clamp(bucket_midpoint(b), min_, max_);
    }
    return max_;
  }

  std::size_t exact_limit_;
  std::uint64_t count_ = 0;
  double min_ = 0, max_ = 0;
  long double sum_ = 0;
  std::vector<double> samples_;
  std::vector<std::uint64_t> buckets_;
};

using PercentileSummary = BasicPercentileSummary<1024>;
using ModelPercentileSummary = BasicPercentileSummary<32>;

}  // namespace streamll::redis
