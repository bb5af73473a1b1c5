#pragma once
// Internal: the engine that runs a public Exporter. One batch at a time: takes it from the
// buffer, calls export_batch, settles the prefix the result says, and offers the rest again,
// paced by ExportResult::not_before, the circuit breaker and its backoff, and a backoff of its
// own for failures that spare the breaker (counts_for_breaker = false).

#include <cstdint>
#include <memory>

#include "pipeline/batch_engine.hpp"
#include "pipeline/pipeline_batch.hpp"
#include "streamll/exporter.hpp"
#include "support/backoff.hpp"

namespace streamll::detail {

class Pipeline;

class ExporterEngine final : public BatchEngine {
 public:
  ExporterEngine(Pipeline& pipeline, std::unique_ptr<Exporter> exporter);

  bool step() noexcept override;
  bool holds_batches() const noexcept override { return !batch_.events.empty(); }
  bool flush(std::chrono::steady_clock::time_point deadline) noexcept override;
  bool close(std::chrono::steady_clock::time_point deadline) noexcept override;
  void give_up() noexcept override;
  void interrupt() noexcept override { exporter_->interrupt(); }

 private:
  bool take_batch() noexcept;
  bool wait_for_turn() noexcept;
  std::chrono::nanoseconds backoff_wait(std::chrono::nanoseconds left) const noexcept;
  void export_once() noexcept;
  void apply(ExportResult result, std::chrono::steady_clock::time_point started) noexcept;
  void drop_batch_given_up() noexcept;

  Pipeline& pipeline_;
  const std::unique_ptr<Exporter> exporter_;
  PipelineBatch batch_;
  // Failures that spare the breaker back off like the breaker's own retries (same policy and
  // clock), but here: the breaker must neither count them nor open for them.
  Backoff spared_failure_backoff_;
  std::uint64_t breaker_resets_seen_ = 0;
};

}  // namespace streamll::detail
