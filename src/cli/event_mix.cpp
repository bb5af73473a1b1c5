#include "cli/event_mix.hpp"

namespace streamll::cli {
namespace {

constexpr std::array<const char*, 3> kModels = {"gemini/gemini-2.0-flash", "gpt-4o-mini",
                                                "claude-3-5-haiku"};
constexpr std::array<const char*, 6> kWords = {"Retrieval", "-augmented", " generation",
                                               " grounds",  " answers",   "."};

std::shared_ptr<const EventContext> child(const std::shared_ptr<const EventContext>& parent,
                                          const std::string& operation) {
  auto c = std::make_shared<EventContext>();
  c->execution_id = parent ? parent->execution_id : new_execution_id();
  c->span_id = new_span_id();
  c->parent_span_id = parent ? parent->span_id : std::string();
  c->operation = operation;
  c->module_name = "streamll_emit";
  c->tags = {{"environment", "load-test"}};
  return c;
}

}  // namespace

std::uint64_t EventMix::random() {
  // xorshift64*: cheap, deterministic per seed, plenty for picking models and sizes.
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return state_ * 0x2545F4914F6CDD1DULL;
}

void EventMix::start_run() {
  ++runs_;
  query_ = child(nullptr, "rag_query");
  retrieval_ = child(query_, "retrieval");
  answer_ = child(query_, "answer_generation");
  call_ = child(answer_, "answer_generation");
  fail_retrieval_ = runs_ % 20 == 0;
  tokens_ = 3 + static_cast<int>(random() % 10);
  token_index_ = 0;
  step_ = 0;
}

Event EventMix::next() {
  if (step_ == 0) start_run();
  const int step = step_++;
  switch (step) {
    case 0:
      return Event::capture(EventType::start, query_,
                            {{"query", "what is retrieval-augmented generation"}});
    case 1:
      return Event::capture(EventType::start, retrieval_);
    case 2:
      if (fail_retrieval_) {
        step_ = 0;  // the run ends with the error
        return Event::capture(EventType::error, retrieval_,
                              {{"error_type", "TimeoutError"},
                               {"error_message", "vector store timed out"},
                               {"duration_ms", 500.0}});
      }
      return Event::capture(
          EventType::end, retrieval_,
          {{"duration_ms", 10.0 + static_cast<double>(random() % 400) / 10.0}, {"documents", 5}});
    case 3:
      return Event::capture(EventType::start, answer_);
    default:
      break;
  }
  if (token_index_ < tokens_) {
    const int i = token_index_++;
    --step_;  // stay on this step until every token is out
    return Event::capture(
        EventType::token, call_,
        {{"token", kWords[static_cast<std::size_t>(i) % kWords.size()]}, {"index", i}});
  }
  if (step == 4) {
    const auto input = static_cast<std::int64_t>(200 + random() % 300);
    const auto output = static_cast<std::int64_t>(tokens_);
    const double response_ms = 200.0 + static_cast<double>(random() % 2000);
    return Event::capture(EventType::llm_call, call_,
                          {{"model", kModels[random() % kModels.size()]},
                           {"tokens_used", input + output},
                           {"input_tokens", input},
                           {"output_tokens", output},
                           {"cost_usd", static_cast<double>(input + output) * 0.000002},
                           {"response_time_ms", response_ms},
                           {"ttft_ms", response_ms / 5.0},
                           {"finish_reason", "stop"},
                           {"success", true}});
  }
  if (step == 5) return Event::capture(EventType::end, answer_, {{"duration_ms", 800.0}});
  step_ = 0;
  return Event::capture(EventType::end, query_, {{"duration_ms", 900.0}});
}

}  // namespace streamll::cli
