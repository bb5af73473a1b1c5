#pragma once
// Internal: the engine that runs a public Exporter. One batch at a time: takes it from the
// buffer, calls export_batch, settles the prefix the result says, and offers the rest again,
// paced by ExportResult::not_before, the circuit breaker and its backoff.

#include <memory>

#include "pipeline/batch_engine.hpp"
#include "pipeline/pipeline_batch.hpp"
#include "streamll/exporter.hpp"

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
  void export_once() noexcept;
  void apply(ExportResult result, std::chrono::steady_clock::time_point started) noexcept;
  void drop_batch_given_up() noexcept;

  Pipeline& pipeline_;
  const std::unique_ptr<Exporter> exporter_;
  PipelineBatch batch_;
};

}  // namespace streamll::detail
