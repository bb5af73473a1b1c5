// What privacy costs the application thread: a streamed token with content capture on (the
// baseline), off, and with a redactor on the sink (which runs on the flusher thread, so the
// emitting thread should not see it), into a no-op sink and a connected RedisSink. And what
// the ready redactors cost the flusher per string, beside std::regex doing the e-mail part.
//
//   build-bench/bench/streamll_benchmarks --benchmark_filter='^privacy/'
//       --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
//
// Read ratios against the capture-on row of the same run (docs/performance.md).

#include <benchmark/benchmark.h>

#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>

#include "bench_redis.hpp"
#include "noop_sink.hpp"
#include "streamll/sinks/redis_sink.hpp"
#include "streamll/streamll.hpp"

namespace {

using streamll::bench::NoopSink;

enum class Privacy { capture_on, capture_off, redactor };

streamll::bench::BenchRedis& privacy_redis() {
  static streamll::bench::BenchRedis redis;
  return redis;
}

void token(benchmark::State& state, bool redis, Privacy privacy) {
  std::shared_ptr<streamll::Sink> sink;
  std::shared_ptr<streamll::RedisSink> redis_sink;
  if (redis) {
    streamll::RedisSinkOptions o;
    o.connection.url = privacy_redis().url();
    o.stream_key = "streamll_bench_privacy";
    if (privacy == Privacy::redactor) o.redact = streamll::sensitive_data_redactor();
    redis_sink = std::make_shared<streamll::RedisSink>(o);
    sink = redis_sink;
  } else {
    sink = std::make_shared<NoopSink>();
  }
  streamll::InstrumentorOptions options;
  options.sinks = {sink};
  options.capture_content = privacy != Privacy::capture_off;
  auto inst = std::make_shared<streamll::Instrumentor>(std::move(options));
  streamll::LlmCall call(inst, "m");
  const std::size_t drain_at = streamll::RedisSinkOptions{}.buffer_size / 2;
  std::uint64_t n = 0;
  for (auto _ : state) {
    call.token(" streaming");
    // Keep the sink in its operating regime: drain a backlog outside the timed calls.
    if (redis_sink && (++n & 255) == 0 && redis_sink->buffered() > drain_at) {
      state.PauseTiming();
      if (!redis_sink->flush(std::chrono::seconds(10))) throw std::runtime_error("no Redis");
      state.ResumeTiming();
    }
  }
  call.finish();
  inst->shutdown(std::chrono::seconds(10));
}

// About a paragraph of a support conversation, one address in it.
const std::string kText =
    "Hello, my order 1234 has not arrived yet. You can reach me at jane.doe@example.com or on "
    "the phone after 5 pm. The tracking page said it left the warehouse on Monday, thanks!";

void redact_text(benchmark::State& state) {
  for (auto _ : state) {
    std::string text = kText;
    benchmark::DoNotOptimize(streamll::redact_sensitive_text(text));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kText.size()));
}

void redact_emails_only(benchmark::State& state) {
  for (auto _ : state) {
    std::string text = kText;
    benchmark::DoNotOptimize(streamll::redact_emails(text));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kText.size()));
}

void regex_emails(benchmark::State& state) {
  const std::regex email(R"([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})");
  for (auto _ : state) {
    benchmark::DoNotOptimize(std::regex_replace(kText, email, "[EMAIL]"));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kText.size()));
}

BENCHMARK_CAPTURE(token, noop / capture_on, false, Privacy::capture_on)
    ->Name("privacy/token/noop/capture_on");
BENCHMARK_CAPTURE(token, noop / capture_off, false, Privacy::capture_off)
    ->Name("privacy/token/noop/capture_off");
BENCHMARK_CAPTURE(token, redis / capture_on, true, Privacy::capture_on)
    ->Name("privacy/token/redis/capture_on");
BENCHMARK_CAPTURE(token, redis / capture_off, true, Privacy::capture_off)
    ->Name("privacy/token/redis/capture_off");
BENCHMARK_CAPTURE(token, redis / redactor, true, Privacy::redactor)
    ->Name("privacy/token/redis/redactor");
BENCHMARK(redact_text)->Name("privacy/redact/sensitive_text");
BENCHMARK(redact_emails_only)->Name("privacy/redact/emails");
BENCHMARK(regex_emails)->Name("privacy/redact/std_regex_emails");

}  // namespace
