#pragma once
// Internal: the pipeline's side of one export attempt. ExportBatch is the exporter's view of
// it. The batch lives on the flusher thread; only the counters it feeds are shared.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "pipeline/buffered_item.hpp"
#include "streamll/exporter.hpp"

namespace streamll::detail {

class RateLimitedLog;

class PipelineBatch {
 public:
  PipelineBatch(RateLimitedLog& log, const std::string& sink_name,
                const std::atomic<bool>& abandoned) noexcept
      : log_(log), sink_name_(sink_name), abandoned_(abandoned) {}

  /// The exporter's view, valid while this batch is unchanged.
  ExportBatch view() noexcept { return ExportBatch(*this); }

  std::vector<BufferedItem> events;  // reserved to max_batch_size once, so taking never reallocates
  std::vector<std::uint8_t> failed;  // per event: ExportBatch::fail was called
  std::uint64_t first_sequence = 0;
  unsigned attempt = 0;
  std::chrono::steady_clock::time_point deadline{};
  std::chrono::steady_clock::time_point not_before{};

  bool abandoned() const noexcept { return abandoned_.load(std::memory_order_acquire); }

  /// Marks event i failed (once) and logs it, rate-limited. It is counted in `failed` when it
  /// is settled (drop_prefix, or given up at shutdown), so that until then it is counted only
  /// as buffered, like every event still in the batch.
  void fail(std::size_t i, std::string_view reason) noexcept;

  /// Forgets the `n` oldest events (settled); returns how many of them had failed.
  std::size_t drop_prefix(std::size_t n) noexcept;

  /// How many events of the batch are marked failed.
  std::size_t failed_count() const noexcept;

  /// Starts a new batch of the events just taken.
  void reset(std::uint64_t first) noexcept;

 private:
  RateLimitedLog& log_;
  const std::string& sink_name_;
  const std::atomic<bool>& abandoned_;
};

}  // namespace streamll::detail
