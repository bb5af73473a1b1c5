#include "cli/event_mix.hpp"

#include <algorithm>

#include "streamll/detail/token_chunk.hpp"

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
  if (shape_.tokens_per_call > 0) tokens_ = shape_.tokens_per_call;
  token_index_ = 0;
  tpot_ms_.reset();
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
  const bool streams = shape_.mode == TokenMode::each || shape_.mode == TokenMode::chunked;
  if (streams && token_index_ < tokens_) {
    if (shape_.mode == TokenMode::chunked) {
      --step_;
      return next_chunk();
    }
    const int i = token_index_++;
    --step_;  // stay on this step until every token is out
    return Event::capture(
        EventType::token, call_,
        {{"token", kWords[static_cast<std::size_t>(i) % kWords.size()]}, {"index", i}});
  }
  if (step == 4) {
    const auto input = static_cast<std::int64_t>(200 + random() % 300);
    const auto output = static_cast<std::int64_t>(tokens_);
    // A model's figures: 100 to 600 ms to the first token, then a token every
    // time_per_output_token_ms(), somewhat uneven.
    const double ttft_ms = 100.0 + static_cast<double>(random() % 500);
    const double tpot_ms = time_per_output_token_ms();
    const double response_ms = ttft_ms + tpot_ms * static_cast<double>(tokens_ - 1);
    Fields data = {{"model", kModels[random() % kModels.size()]},
                   {"tokens_used", input + output},
                   {"input_tokens", input},
                   {"output_tokens", output},
                   {"cost_usd", static_cast<double>(input + output) * 0.000002},
                   {"response_time_ms", response_ms}};
    // What an LlmCall measures from its token() calls: none in `off` mode, the streaming
    // figures from two tokens on.
    if (shape_.mode != TokenMode::off) data.append_new("ttft_ms", ttft_ms);
    if (shape_.mode != TokenMode::off && tokens_ >= 2) {
      data.append_new("time_per_output_token_ms", tpot_ms);
      data.append_new("output_tokens_per_second", 1000.0 / tpot_ms);
      data.append_new("inter_token_ms_p50", tpot_ms * 0.9);
      data.append_new("inter_token_ms_p95", tpot_ms * 1.6);
      data.append_new("inter_token_ms_max", tpot_ms * 2.2);
    }
    data.append_new("finish_reason", "stop");
    data.append_new("success", true);
    return Event::capture(EventType::llm_call, call_, std::move(data));
  }
  if (step == 5) return Event::capture(EventType::end, answer_, {{"duration_ms", 800.0}});
  step_ = 0;
  return Event::capture(EventType::end, query_, {{"duration_ms", 900.0}});
}

// The call's time per output token, drawn once per call (for its first chunk, else for its
// llm_call event, so that `each` mode draws as it always did).
double EventMix::time_per_output_token_ms() {
  if (!tpot_ms_) {
    tpot_ms_ = shape_.token_interval_ms ? *shape_.token_interval_ms
                                        : 10.0 + static_cast<double>(random() % 500) / 10.0;
  }
  return *tpot_ms_;
}

// The next chunk of the call's tokens, cut as an LlmCall in `chunked` mode cuts it (at
// max_tokens, or at the first token max_interval or more after the chunk's first): the tokens
// arrive a time per output token apart.
Event EventMix::next_chunk() {
  const auto tpot = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double, std::milli>(time_per_output_token_ms()));
  const int max_tokens = std::clamp(shape_.chunking.max_tokens, 1, kMaxChunkTokens);
  const auto max_interval = shape_.chunking.max_interval;
  detail::TokenChunk chunk;
  const auto first = std::chrono::steady_clock::time_point{};
  for (int k = 0; token_index_ < tokens_; ++k) {
    const int i = token_index_++;
    const auto at = first + tpot * k;
    chunk.add(kWords[static_cast<std::size_t>(i) % kWords.size()], {}, i, at);
    if (k + 1 >= max_tokens || (max_interval.count() > 0 && at - first >= max_interval)) break;
  }
  return Event::capture(EventType::token, call_, chunk.take());
}

}  // namespace streamll::cli
