// BatchingSink: the public face of a Pipeline, plus the fork rule's leak.

#include "streamll/sinks/batching_sink.hpp"

#include <atomic>
#include <new>

#include "pipeline/exporter_engine.hpp"
#include "pipeline/pipeline.hpp"
#include "streamll/errors.hpp"

namespace streamll {
namespace {

// What forked children's copies left behind: their pipelines' threads and locks are the
// parent's, so nothing may run their destructors. Kept reachable from a global, so that leak
// checkers see a deliberate leak.
struct LeakedPipeline {
  std::shared_ptr<detail::Pipeline> pipeline;
  LeakedPipeline* next;
};
std::atomic<LeakedPipeline*> leaked_in_child{nullptr};

std::shared_ptr<detail::Pipeline> start_pipeline(std::unique_ptr<Exporter> exporter,
                                                 const BatchingSinkOptions& options,
                                                 detail::PipelineTuning tuning) {
  if (!exporter) throw ConfigError("exporter", "is null");
  if (tuning.log_name.empty()) tuning.log_name = exporter->name();
  // Handed over through a shared_ptr: the factory is a std::function, which must be copyable.
  auto owned = std::make_shared<std::unique_ptr<Exporter>>(std::move(exporter));
  return detail::Pipeline::start(
      [owned](detail::Pipeline& pipeline) {
        return std::make_unique<detail::ExporterEngine>(pipeline, std::move(*owned));
      },
      options, tuning);
}

}  // namespace

BatchingSink::BatchingSink(std::unique_ptr<Exporter> exporter, BatchingSinkOptions options)
    : BatchingSink(std::move(exporter), std::move(options), detail::PipelineTuning{}) {}

BatchingSink::BatchingSink(std::unique_ptr<Exporter> exporter, BatchingSinkOptions options,
                           const detail::PipelineTuning& tuning)
    : pipeline_(start_pipeline(std::move(exporter), options, tuning)) {}

BatchingSink::~BatchingSink() {
  if (pipeline_->forked()) {
    auto* leaked = new (std::nothrow) LeakedPipeline{std::move(pipeline_), nullptr};
    if (leaked == nullptr) {
      // Out of memory: leak the owner itself rather than destroy the parent's state.
      new (&pipeline_) std::shared_ptr<detail::Pipeline>();
      return;
    }
    leaked->next = leaked_in_child.load(std::memory_order_relaxed);
    while (!leaked_in_child.compare_exchange_weak(leaked->next, leaked)) {
    }
    return;
  }
  try {
    pipeline_->shutdown(pipeline_->options().shutdown_timeout);
  } catch (...) {
  }
}

void BatchingSink::handle(const Event& event) { handle_owned(Event(event)); }

void BatchingSink::handle_owned(Event&& event) {
  if (!pipeline_->push(std::move(event))) {
    throw BufferOverflowError(pipeline_->name() + ": buffer full (" +
                              pipeline_->tuning().buffer_size_option + "=" +
                              std::to_string(pipeline_->options().buffer_size) + ")");
  }
}

bool BatchingSink::flush(std::chrono::milliseconds timeout) { return pipeline_->flush(timeout); }
bool BatchingSink::shutdown(std::chrono::milliseconds timeout) {
  return pipeline_->shutdown(timeout);
}
bool BatchingSink::is_running() const noexcept { return pipeline_->is_running(); }
std::string BatchingSink::name() const { return pipeline_->name(); }
BatchingSinkStats BatchingSink::stats() const { return pipeline_->stats(); }
void BatchingSink::reset_circuit_breaker() { pipeline_->reset_circuit_breaker(); }

}  // namespace streamll
