// Token modes: what an LlmCall emits for its streamed tokens in `each`, `chunked`, `summary`
// and `off` mode, from the instrumentor, the environment or the call's own options. Chunks are
// checked against an oracle built from the tokens given (text, indices, counts) and against
// their own offsets for the time limit, which holds whatever the machine's speed.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <streamll/streamll.hpp>

#include "scoped_env.hpp"

namespace {

using streamll::Event;
using streamll::EventType;
using streamll::TokenChunking;
using streamll::TokenMode;
using namespace std::chrono_literals;

struct Recorder {
  explicit Recorder(std::optional<TokenMode> mode = TokenMode::each, TokenChunking chunking = {})
      : instrumentor(make_options(sink, mode, chunking)) {}
  static streamll::InstrumentorOptions make_options(std::shared_ptr<streamll::MemorySink> sink,
                                                    std::optional<TokenMode> mode,
                                                    TokenChunking chunking) {
    streamll::InstrumentorOptions options;
    options.sinks.push_back(std::move(sink));
    options.token_mode = mode;
    options.token_chunking = chunking;
    return options;
  }
  std::shared_ptr<streamll::MemorySink> sink = std::make_shared<streamll::MemorySink>();
  streamll::Instrumentor instrumentor;
};

// The chunk event's offsets, parsed from the JSON the sinks write (the independent reader).
std::vector<std::int64_t> offsets_us(const Event& chunk) {
  const auto json = nlohmann::json::parse(streamll::to_json(chunk));
  return json.at("data").at("offsets_us").get<std::vector<std::int64_t>>();
}

std::string token_text(int i) { return "t" + std::to_string(i) + (i % 3 == 0 ? " " : ""); }

// Spins until the monotonic clock has moved `d`: a gap between two tokens.
void spin_for(std::chrono::microseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

// What every chunked stream must satisfy: the chunks, in order, hold exactly the tokens given
// (text joined, indices contiguous), with one offset per token starting at 0 and never
// decreasing; no chunk holds more than `max_tokens`; and a chunk ended before it was full only
// when its last token came `max_interval` or more after its first, while every earlier token
// of it came sooner (else the chunk would have ended there). The last chunk may end early: the
// call finished.
void check_chunks(const std::vector<Event>& chunks, const std::vector<std::string>& texts,
                  std::int32_t max_tokens, std::chrono::milliseconds max_interval) {
  std::int64_t next_index = 0;
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    CAPTURE(c);
    const auto& data = chunks[c].data;
    const auto count = data["count"].as_int();
    CHECK(data["index"].as_int() == next_index);
    REQUIRE(count >= 1);
    CHECK(count <= max_tokens);
    std::string expected_text;
    for (std::int64_t i = next_index; i < next_index + count; ++i) {
      expected_text += texts[static_cast<std::size_t>(i)];
    }
    CHECK(data["token"].as_string() == expected_text);
    const auto offsets = offsets_us(chunks[c]);
    REQUIRE(offsets.size() == static_cast<std::size_t>(count));
    CHECK(offsets.front() == 0);
    for (std::size_t i = 1; i < offsets.size(); ++i) CHECK(offsets[i] >= offsets[i - 1]);
    const auto limit_us = std::chrono::microseconds(max_interval).count();
    if (limit_us > 0) {
      // Offsets are whole microseconds, floored.
      for (std::size_t i = 0; i + 1 < offsets.size(); ++i) CHECK(offsets[i] < limit_us);
      if (count < max_tokens && c + 1 < chunks.size()) CHECK(offsets.back() >= limit_us - 1);
    } else if (c + 1 < chunks.size()) {
      CHECK(count == max_tokens);
    }
    next_index += count;
  }
  CHECK(next_index == static_cast<std::int64_t>(texts.size()));
}

}  // namespace

TEST_CASE("chunked mode emits every token once in chunks of max_tokens", "[llm_call][tokens]") {
  const std::int32_t max_tokens = GENERATE(1, 2, 3, 32, 1024);
  const int tokens = GENERATE(0, 1, 2, 31, 32, 33, 64, 65, 1025, 2049);
  CAPTURE(max_tokens, tokens);
  Recorder r(TokenMode::chunked, TokenChunking{max_tokens, 0ms});
  std::vector<std::string> texts;
  {
    streamll::LlmCall call(r.instrumentor, "m");
    for (int i = 0; i < tokens; ++i) {
      texts.push_back(token_text(i));
      call.token(texts.back());
    }
    CHECK(call.tokens_streamed() == tokens);
    call.finish();
  }
  const auto chunks = r.sink->events_of_type(EventType::token);
  CHECK(chunks.size() == static_cast<std::size_t>((tokens + max_tokens - 1) / max_tokens));
  check_chunks(chunks, texts, max_tokens, 0ms);
  // The call's tokens come before its llm_call event, which still counts every token.
  const auto names = r.sink->type_names();
  REQUIRE(!names.empty());
  CHECK(names.back() == "llm_call");
  CHECK(r.sink->events_of_type(EventType::llm_call)[0].data["tokens_used"].as_int() == tokens);
}

TEST_CASE("chunked mode ends a chunk once a token comes max_interval after its first",
          "[llm_call][tokens]") {
  const auto max_interval = GENERATE(1ms, 3ms);
  CAPTURE(max_interval.count());
  Recorder r(TokenMode::chunked, TokenChunking{32, max_interval});
  std::vector<std::string> texts;
  {
    streamll::LlmCall call(r.instrumentor, "m");
    for (int i = 0; i < 200; ++i) {
      // Mostly quick tokens, with a gap of 0.5 ms every 7th and 2 ms every 41st.
      if (i % 41 == 40) spin_for(2000us);
      if (i % 7 == 6) spin_for(500us);
      texts.push_back(token_text(i));
      call.token(texts.back());
    }
    call.finish();
  }
  const auto chunks = r.sink->events_of_type(EventType::token);
  check_chunks(chunks, texts, 32, max_interval);
  // 200 tokens and at least 0.5 ms every 7: some chunks must have ended on time, not on count.
  const auto ended_early = std::count_if(chunks.begin(), chunks.end() - 1, [](const Event& e) {
    return e.data["count"].as_int() < 32;
  });
  CHECK(ended_early > 0);
}

TEST_CASE("a chunk's timestamp is its first token's and its offsets the gaps after it",
          "[llm_call][tokens]") {
  // The oracle: the same stream in `each` mode and in `chunked` mode cannot share a clock, but
  // a chunk's offsets must agree with its own first-token timestamp and the next chunk's.
  Recorder r(TokenMode::chunked, TokenChunking{4, 0ms});
  {
    streamll::LlmCall call(r.instrumentor, "m");
    for (int i = 0; i < 12; ++i) {
      spin_for(300us);
      call.token("x");
    }
    call.finish();
  }
  const auto chunks = r.sink->events_of_type(EventType::token);
  REQUIRE(chunks.size() == 3);
  for (std::size_t c = 0; c + 1 < chunks.size(); ++c) {
    const auto offsets = offsets_us(chunks[c]);
    const auto to_next = std::chrono::duration_cast<std::chrono::microseconds>(
                             chunks[c + 1].timestamp - chunks[c].timestamp)
                             .count();
    // The next chunk's first token came at least one 300 us gap after this chunk's last.
    CHECK(to_next >= offsets.back() + 299);
    CHECK(offsets.back() >= 3 * 299);
  }
}

TEST_CASE("a change of field ends the chunk", "[llm_call][tokens]") {
  Recorder r(TokenMode::chunked, TokenChunking{32, 0ms});
  {
    streamll::LlmCall call(r.instrumentor, "m");
    call.token("a", "reasoning");
    call.token("b", "reasoning");
    call.token("c", "answer");
    call.token("d");
    call.finish();
  }
  const auto chunks = r.sink->events_of_type(EventType::token);
  REQUIRE(chunks.size() == 3);
  CHECK(chunks[0].data["token"].as_string() == "ab");
  CHECK(chunks[0].data["field"].as_string() == "reasoning");
  CHECK(chunks[1].data["token"].as_string() == "c");
  CHECK(chunks[1].data["field"].as_string() == "answer");
  CHECK(chunks[1].data["index"].as_int() == 2);
  CHECK(chunks[2].data["token"].as_string() == "d");
  CHECK(chunks[2].data.find("field") == nullptr);
}

TEST_CASE("a call ending any way emits its pending chunk before its last events",
          "[llm_call][tokens]") {
  Recorder r(TokenMode::chunked, TokenChunking{32, 0ms});
  SECTION("failed") {
    {
      streamll::LlmCall call(r.instrumentor, "m");
      call.token("a");
      call.fail("Timeout", "no answer");
    }
    CHECK(r.sink->type_names() == std::vector<std::string>{"token", "error", "llm_call"});
  }
  SECTION("abandoned") {
    { streamll::LlmCall(r.instrumentor, "m").token("a"); }
    CHECK(r.sink->type_names() == std::vector<std::string>{"token", "llm_call"});
    CHECK(r.sink->events_of_type(EventType::llm_call)[0].data["finish_reason"].as_string() ==
          "abandoned");
  }
  SECTION("by an exception") {
    try {
      streamll::LlmCall call(r.instrumentor, "m");
      call.token("a");
      throw std::runtime_error("boom");
    } catch (const std::runtime_error&) {
    }
    CHECK(r.sink->type_names() == std::vector<std::string>{"token", "error", "llm_call"});
  }
  CHECK(r.sink->events_of_type(EventType::token)[0].data["token"].as_string() == "a");
}

TEST_CASE("summary mode emits no token events and keeps the figures", "[llm_call][tokens]") {
  Recorder r(TokenMode::summary);
  {
    streamll::LlmCall call(r.instrumentor, "m");
    for (int i = 0; i < 10; ++i) call.token("x");
    CHECK(call.tokens_streamed() == 10);
    call.finish();
  }
  CHECK(r.sink->type_names() == std::vector<std::string>{"llm_call"});
  const auto data = r.sink->events_of_type(EventType::llm_call)[0].data;
  CHECK(data["tokens_used"].as_int() == 10);
  for (const char* key : {"ttft_ms", "time_per_output_token_ms", "inter_token_ms_p50",
                          "inter_token_ms_p95", "inter_token_ms_max"}) {
    CAPTURE(key);
    CHECK(data.find(key) != nullptr);
  }
}

TEST_CASE("off mode ignores tokens entirely", "[llm_call][tokens]") {
  Recorder r(TokenMode::off);
  {
    streamll::LlmCall call(r.instrumentor, "m");
    for (int i = 0; i < 10; ++i) call.token("x");
    CHECK(call.tokens_streamed() == 0);
    streamll::LlmUsage usage;
    usage.output_tokens = 10;
    call.finish(usage);
  }
  CHECK(r.sink->type_names() == std::vector<std::string>{"llm_call"});
  const auto data = r.sink->events_of_type(EventType::llm_call)[0].data;
  CHECK(data["tokens_used"].as_int() == 10);
  CHECK(data.find("ttft_ms") == nullptr);
  CHECK(data.find("time_per_output_token_ms") == nullptr);
}

TEST_CASE("a call's own token mode wins over its instrumentor's", "[llm_call][tokens]") {
  Recorder r(TokenMode::summary);
  streamll::LlmCallOptions options;
  options.token_mode = TokenMode::chunked;
  options.token_chunking = TokenChunking{2, 0ms};
  {
    streamll::LlmCall call(r.instrumentor, "m", options);
    CHECK(call.token_mode() == TokenMode::chunked);
    for (int i = 0; i < 5; ++i) call.token("x");
    call.finish();
  }
  {
    streamll::LlmCall call(r.instrumentor, "m");
    CHECK(call.token_mode() == TokenMode::summary);
    call.token("y");
    call.finish();
  }
  CHECK(r.sink->type_names() ==
        std::vector<std::string>{"token", "token", "token", "llm_call", "llm_call"});
}

TEST_CASE("chunk sizes outside 1 to 1024 are brought within", "[llm_call][tokens]") {
  const auto [given, used] = GENERATE(table<std::int32_t, std::int64_t>(
      {{-5, 1}, {0, 1}, {1, 1}, {1024, 1024}, {1025, 1024}, {1 << 30, 1024}}));
  CAPTURE(given);
  Recorder r(TokenMode::chunked, TokenChunking{given, 0ms});
  {
    streamll::LlmCall call(r.instrumentor, "m");
    for (int i = 0; i < 2100; ++i) call.token("x");
    call.finish();
  }
  CHECK(r.sink->events_of_type(EventType::token)[0].data["count"].as_int() == used);
}

TEST_CASE("STREAMLL_TOKEN_MODE sets the mode of instrumentors that do not set one",
          "[llm_call][tokens][env]") {
  const auto [value, expected] = GENERATE(table<const char*, TokenMode>({
      {"each", TokenMode::each},
      {"chunked", TokenMode::chunked},
      {"summary", TokenMode::summary},
      {"off", TokenMode::off},
      {"", TokenMode::each},
      {"Summary", TokenMode::each},  // names are exact: logged and ignored
      {"none", TokenMode::each},
      {" chunked\t", TokenMode::chunked},  // spaces and tabs around it are dropped
      {"\tsummary", TokenMode::summary},
      {" \t ", TokenMode::each},  // blank: as unset
      {"ch unked", TokenMode::each},
  }));
  CAPTURE(value);
  const streamll::testing::ScopedEnv env("STREAMLL_TOKEN_MODE", value);
  CHECK(Recorder(std::nullopt).instrumentor.token_mode() == expected);
  // An instrumentor that sets a mode keeps it.
  CHECK(Recorder(TokenMode::chunked).instrumentor.token_mode() == TokenMode::chunked);
}

TEST_CASE("token mode names round-trip and nothing else parses", "[tokens]") {
  for (auto mode : {TokenMode::each, TokenMode::chunked, TokenMode::summary, TokenMode::off}) {
    CHECK(streamll::parse_token_mode(streamll::token_mode_name(mode)) == mode);
  }
  for (const char* other : {"", "EACH", "each ", "chunk", "all"}) {
    CAPTURE(other);
    CHECK_FALSE(streamll::parse_token_mode(other).has_value());
  }
}

namespace {

// A sink refusing token events the way a full buffer does under the raise_error strategy.
class RefusesTokens final : public streamll::Sink {
 public:
  void handle(const Event& event) override {
    if (event.type == EventType::token) throw streamll::BufferOverflowError("full");
    seen.emplace_back(event.type_name());
  }
  bool flush(std::chrono::milliseconds) noexcept override { return true; }
  bool shutdown(std::chrono::milliseconds) noexcept override { return true; }
  bool is_running() const noexcept override { return true; }
  std::string name() const override { return "refuses_tokens"; }
  std::vector<std::string> seen;
};

// A chunked instrumentor whose only sink is `sink`.
streamll::Instrumentor chunked_into(std::shared_ptr<RefusesTokens> sink) {
  streamll::InstrumentorOptions options;
  options.sinks.push_back(std::move(sink));
  options.token_mode = TokenMode::chunked;
  return streamll::Instrumentor(std::move(options));
}

}  // namespace

TEST_CASE("a refused final chunk still lets the llm_call event through, then throws",
          "[llm_call][tokens]") {
  auto sink = std::make_shared<RefusesTokens>();
  auto instrumentor = chunked_into(sink);
  streamll::LlmCall call(instrumentor, "m");
  call.token("a");
  CHECK_THROWS_AS(call.finish(), streamll::BufferOverflowError);
  CHECK(sink->seen == std::vector<std::string>{"llm_call"});
  CHECK_FALSE(call.is_open());
}

TEST_CASE("a refused chunk ended by a change of field keeps the token that changed it",
          "[llm_call][tokens]") {
  auto sink = std::make_shared<RefusesTokens>();
  auto instrumentor = chunked_into(sink);
  streamll::LlmCall call(instrumentor, "m");
  call.token("a", "reasoning");
  CHECK_THROWS_AS(call.token("b", "answer"), streamll::BufferOverflowError);
  CHECK(call.tokens_streamed() == 2);
  // "b" is pending in the next chunk: the call's end offers it, refused again, after llm_call.
  CHECK_THROWS_AS(call.fail("Timeout", "no answer"), streamll::BufferOverflowError);
  CHECK(sink->seen == std::vector<std::string>{"error", "llm_call"});
}

TEST_CASE("a max_interval of milliseconds::max means no time limit", "[llm_call][tokens]") {
  Recorder r(TokenMode::chunked, TokenChunking{4, std::chrono::milliseconds::max()});
  {
    streamll::LlmCall call(r.instrumentor, "m");
    for (int i = 0; i < 8; ++i) call.token("x");
    call.finish();
  }
  const auto chunks = r.sink->events_of_type(EventType::token);
  REQUIRE(chunks.size() == 2);
  CHECK(chunks[0].data["count"].as_int() == 4);
  CHECK(chunks[1].data["count"].as_int() == 4);
}
