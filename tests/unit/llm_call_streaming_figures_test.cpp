// The llm_call event's streaming figures (time per output token, output tokens per second,
// inter-token p50/p95/max), checked against an oracle: the token events' own timestamps, which
// differ by exactly the gaps the call measured.

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include <streamll/streamll.hpp>

namespace {

using streamll::Event;
using streamll::EventType;

struct Recorder {
  std::shared_ptr<streamll::MemorySink> sink = std::make_shared<streamll::MemorySink>();
  streamll::Instrumentor instrumentor{streamll::InstrumentorOptions{{sink}, {}, {}}};
};

const char* const kStreamingFields[] = {"time_per_output_token_ms", "output_tokens_per_second",
                                        "inter_token_ms_p50", "inter_token_ms_p95",
                                        "inter_token_ms_max"};

// Spins until the monotonic clock has moved `us` microseconds: uneven gaps between tokens.
void spin_for(std::chrono::microseconds us) {
  const auto until = std::chrono::steady_clock::now() + us;
  while (std::chrono::steady_clock::now() < until) {
  }
}

double ms(std::chrono::nanoseconds d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// Nearest rank, 1-based: the value at ceil(p/100 * n) in ascending order.
double nearest_rank(std::vector<std::int64_t> sorted_ns, double percent) {
  std::sort(sorted_ns.begin(), sorted_ns.end());
  const auto n = static_cast<double>(sorted_ns.size());
  const auto rank = static_cast<std::size_t>(std::max(1.0, std::ceil(percent / 100.0 * n)));
  return ms(std::chrono::nanoseconds(sorted_ns[rank - 1]));
}

streamll::Fields the_llm_call_data(const streamll::MemorySink& sink) {
  const auto calls = sink.events_of_type(EventType::llm_call);
  REQUIRE(calls.size() == 1);
  return calls[0].data;
}

}  // namespace

TEST_CASE("streaming figures match the gaps between the token events' timestamps",
          "[llm_call][streaming]") {
  const int tokens = GENERATE(2, 3, 19, 20, 21, 100, 1000);
  CAPTURE(tokens);
  Recorder r;
  {
    streamll::LlmCall call(r.instrumentor, "m");
    for (int i = 0; i < tokens; ++i) {
      // Gaps of 0 to 60 us in a pattern that is not sorted, with a few long ones.
      if (i % 5 != 0) spin_for(std::chrono::microseconds((i * 37) % 61));
      if (i % 97 == 96) spin_for(std::chrono::microseconds(400));
      call.token("t");
    }
    call.finish();
  }
  const auto events = r.sink->events_of_type(EventType::token);
  REQUIRE(events.size() == static_cast<std::size_t>(tokens));
  std::vector<std::int64_t> gaps;
  for (std::size_t i = 1; i < events.size(); ++i) {
    const auto gap = events[i].timestamp - events[i - 1].timestamp;
    REQUIRE(gap.count() >= 0);  // a call's tokens are in order
    gaps.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(gap).count());
  }
  const auto streaming = std::chrono::duration_cast<std::chrono::nanoseconds>(
      events.back().timestamp - events.front().timestamp);
  const auto data = the_llm_call_data(*r.sink);
  // One tick of the wall clock: the timestamps are truncated to it (nanoseconds with
  // libstdc++, microseconds with libc++), the monotonic gaps are not.
  const double tick_ms =
      std::chrono::duration<double, std::milli>(streamll::Clock::duration(1)).count();
  const double n_gaps = static_cast<double>(tokens - 1);
  CHECK(data["time_per_output_token_ms"].as_double() ==
        Approx(ms(streaming) / n_gaps).margin(tick_ms));
  CHECK(data["output_tokens_per_second"].as_double() ==
        Approx(n_gaps * 1000.0 / ms(streaming))
            .epsilon(tick_ms / std::max(ms(streaming) - tick_ms, tick_ms) + 1e-12));
  // The percentiles come from a histogram: within 1/64 of the nearest-rank gap, plus a tick
  // (Approx passes within the margin or the epsilon, not their sum: one margin holds both).
  const double p50 = nearest_rank(gaps, 50), p95 = nearest_rank(gaps, 95);
  CHECK(data["inter_token_ms_p50"].as_double() == Approx(p50).margin(p50 / 64 + tick_ms));
  CHECK(data["inter_token_ms_p95"].as_double() == Approx(p95).margin(p95 / 64 + tick_ms));
  CHECK(data["inter_token_ms_max"].as_double() == Approx(nearest_rank(gaps, 100)).margin(tick_ms));
  CHECK(data["inter_token_ms_p50"].as_double() <= data["inter_token_ms_p95"].as_double());
  CHECK(data["inter_token_ms_p95"].as_double() <= data["inter_token_ms_max"].as_double());
  // TTFT, then the streaming span, fit in the call's response time.
  CHECK(data["ttft_ms"].as_double() + ms(streaming) <=
        Approx(data["response_time_ms"].as_double()).epsilon(1e-9).margin(tick_ms));
}

TEST_CASE("no streaming figures without two tokens", "[llm_call][streaming]") {
  const int tokens = GENERATE(0, 1);
  CAPTURE(tokens);
  Recorder r;
  {
    streamll::LlmCall call(r.instrumentor, "m");
    for (int i = 0; i < tokens; ++i) call.token("t");
    call.finish();
  }
  const auto data = the_llm_call_data(*r.sink);
  for (const char* key : kStreamingFields) {
    INFO(key);
    CHECK_FALSE(data.contains(key));
  }
  CHECK(data.contains("ttft_ms") == (tokens == 1));
}

TEST_CASE("a failed or abandoned call still reports what it streamed", "[llm_call][streaming]") {
  Recorder r;
  {
    streamll::LlmCall failed(r.instrumentor, "m");
    failed.token("a");
    failed.token("b");
    failed.fail("timeout", "the model stopped answering");
    streamll::LlmCall abandoned(r.instrumentor, "m");
    abandoned.token("a");
    abandoned.token("b");
    abandoned.token("c");
  }
  const auto calls = r.sink->events_of_type(EventType::llm_call);
  REQUIRE(calls.size() == 2);
  for (const auto& call : calls) {
    CHECK(call.data["success"].as_bool() == false);
    CHECK(call.data.contains("inter_token_ms_max"));
    CHECK(call.data.contains("time_per_output_token_ms"));
  }
}

TEST_CASE("token timestamps lie between the call's start and its llm_call event",
          "[llm_call][streaming]") {
  Recorder r;
  const auto before = streamll::Clock::now();
  {
    streamll::LlmCall call(r.instrumentor, "m");
    for (int i = 0; i < 50; ++i) call.token("t");
    call.finish();
  }
  const auto after = streamll::Clock::now();
  const auto tokens = r.sink->events_of_type(EventType::token);
  const auto call = r.sink->events_of_type(EventType::llm_call);
  REQUIRE(tokens.size() == 50);
  REQUIRE(call.size() == 1);
  CHECK(tokens.front().timestamp >= before);
  CHECK(tokens.back().timestamp <= call[0].timestamp);
  CHECK(call[0].timestamp <= after);
}
