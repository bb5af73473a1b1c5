#pragma once
// The events the end-to-end harnesses send, made through the public API the way an
// application makes them, so that payload sizes and field counts are the real ones.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "streamll/llm_call.hpp"
#include "streamll/sinks/memory_sink.hpp"

namespace streamll::bench {

inline InstrumentorOptions bench_instrumentor_options(SinkPtr sink) {
  return InstrumentorOptions{{std::move(sink)}, {{"environment", "production"}}, "rag_service"};
}

/// What a model call reports when it completes, as an application would pass it.
inline LlmUsage typical_usage() { return LlmUsage{512, 128, {}, 0.00042, "stop", {}}; }

/// One llm_call event as LlmCall::finish() makes it after a streamed answer (so with ttft_ms,
/// the streaming figures and tokens_per_second), inside a span, with an instrumentor's default
/// tags.
inline Event typical_llm_call_event() {
  auto memory = std::make_shared<MemorySink>();
  Instrumentor instrumentor(bench_instrumentor_options(memory));
  {
    Span request(instrumentor, "answer_generation");
    LlmCall call(instrumentor, "gpt-4o-mini", LlmCallOptions{"openai", {}, {}});
    for (const char* token : {"The", " answer", " is"}) call.token(token);
    call.finish(typical_usage());
  }
  return memory->events_of_type(EventType::llm_call).at(0);
}

/// An application's stream of events: LLM calls of `tokens_per_call` streamed tokens, each
/// followed by its llm_call event. Calls emit(count) events into `instrumentor` in total.
class TypicalStream {
 public:
  TypicalStream(Instrumentor& instrumentor, std::int64_t tokens_per_call)
      : instrumentor_(instrumentor), tokens_per_call_(tokens_per_call) {}

  void emit(std::uint64_t count) {
    while (count > 0) {
      if (!call_) {
        call_ = std::make_unique<LlmCall>(instrumentor_, "gpt-4o-mini",
                                          LlmCallOptions{"openai", {}, {}});
      }
      if (call_->tokens_streamed() < tokens_per_call_) {
        call_->token(" streaming");
      } else {
        call_->finish(typical_usage());
        call_.reset();
      }
      --count;
    }
  }

 private:
  Instrumentor& instrumentor_;
  std::int64_t tokens_per_call_;
  std::unique_ptr<LlmCall> call_;
};

}  // namespace streamll::bench
