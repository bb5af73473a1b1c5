#pragma once
// Head sampling: whether an execution is recorded, decided once at its root from its id, so
// every process that sees the same execution id (or trace id) decides the same way and a kept
// execution is kept whole. docs/sampling.md states the rules.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace streamll {

/// The sampling rate of the executions whose root (the first span, or an LlmCall outside any
/// span) has this operation; it replaces InstrumentorOptions::sample_rate for them.
struct OperationSampleRate {
  std::string operation;
  double rate = 1.0;
};

namespace detail {

class Sampler {
 public:
  /// Keeps everything.
  Sampler() = default;
  /// `rate` and each operation's rate in [0, 1]; the Instrumentor checks them (ConfigError).
  Sampler(double rate, std::vector<OperationSampleRate> per_operation)
      : default_threshold_(threshold(rate)) {
    for (auto& [operation, operation_rate] : per_operation) {
      per_operation_.emplace_back(std::move(operation), threshold(operation_rate));
    }
    keeps_everything_ = default_threshold_ == kAll;
    for (const auto& entry : per_operation_) keeps_everything_ &= entry.second == kAll;
  }

  bool keeps_everything() const noexcept { return keeps_everything_; }

  /// Whether the execution `execution_id`, whose root has `operation`, is recorded: its id's
  /// hash is below the rate's share of the 64-bit range.
  bool keeps(std::string_view execution_id, std::string_view operation) const noexcept {
    if (keeps_everything_) return true;
    std::uint64_t limit = default_threshold_;
    for (const auto& [name, operation_limit] : per_operation_) {
      if (name == operation) {
        limit = operation_limit;
        break;
      }
    }
    if (limit == kAll) return true;
    return hash(execution_id) < limit;
  }

  /// FNV-1a over the id's bytes, then splitmix64's finalizer so that ids differing only in
  /// their last characters spread over the whole range. Stable across versions and
  /// processes: part of the sampling contract (docs/sampling.md).
  static std::uint64_t hash(std::string_view id) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : id) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001b3ULL;
    }
    return mix(h);
  }

  /// splitmix64's finalizer: a bijection on 64 bits that spreads every input bit over the
  /// whole word (also the trace-id mapping's, src/trace_context.cpp).
  static std::uint64_t mix(std::uint64_t x) noexcept {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

  /// Hashes below this are kept; kAll keeps every execution (rate 1).
  static std::uint64_t threshold(double rate) noexcept {
    if (!(rate > 0.0)) return 0;  // also NaN, which the Instrumentor rejects before
    if (rate >= 1.0) return kAll;
    return static_cast<std::uint64_t>(rate * 18446744073709551616.0);  // rate * 2^64
  }

 private:
  static constexpr std::uint64_t kAll = ~std::uint64_t{0};

  std::uint64_t default_threshold_ = kAll;
  std::vector<std::pair<std::string, std::uint64_t>> per_operation_;
  bool keeps_everything_ = true;
};

}  // namespace detail
}  // namespace streamll
