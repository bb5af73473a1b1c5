// What instrumentation costs the application thread: one call of the public API (a streamed
// token, an LLM call guard, a span, a custom event), timed call by call with the steady clock,
// into each kind of sink. The reference, same binary and run: spdlog's async logger (the usual
// "fast logging" choice) logging the same token text into a null sink, with the same queue size
// as the RedisSink's default buffer.
//
//   build-bench/bench/streamll_benchmarks --benchmark_filter='^hot/'
//       --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
//
// Read the counters, not Google Benchmark's Time column: p50_ns, p99_ns, p999_ns and mean_ns
// are per call over all threads' calls (clock_ns is the timer's own share of each sample).
// With Threads(4) Google Benchmark divides its Time column by the thread count.
//
// Every benchmark keeps the sink in its normal operating regime: MemorySink is cleared and a
// connected RedisSink (and spdlog's queue) is let drain, outside the timed calls, whenever its
// backlog passes half the buffer; so the numbers are the cost of emitting while the pipeline
// keeps up. The Redis-down case is the opposite steady state: breaker open, buffer full, every
// emit evicts the oldest event (drop_oldest).
//
// Redis: REDIS_URL when set, else a redis-server this binary starts on a free loopback port.

#include <benchmark/benchmark.h>
#include <spdlog/async.h>
#include <spdlog/sinks/null_sink.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "bench_redis.hpp"
#include "latency_recorder.hpp"
#include "noop_sink.hpp"
#include "streamll/sinks/memory_sink.hpp"
#include "streamll/sinks/redis_sink.hpp"
#include "streamll/streamll.hpp"

namespace {

using streamll::bench::LatencyRecorder;

// A typical streamed token (short: most BPE tokens are a few bytes).
constexpr std::string_view token_text = " streaming";
// The RedisSink default; spdlog's queue gets the same size.
const std::size_t buffer_size = streamll::RedisSinkOptions{}.buffer_size;
// Backlog checks happen every this many calls per thread, so that looking at a sink's depth
// (which may take its lock) does not perturb the timed calls of other threads.
constexpr std::uint64_t pace_check_every = 256;

enum class SinkKind { noop, memory, redis, redis_down, spdlog_overrun_oldest, spdlog_block };
enum class EventKind { token, token_chunked, token_summary, llm_call, span, custom5 };

using streamll::bench::NoopSink;

streamll::bench::BenchRedis& bench_redis() {
  static streamll::bench::BenchRedis redis;
  return redis;
}
const std::string& dead_redis_url() {
  static streamll::bench::DeadRedis dead;
  static const std::string url = dead.url();
  return url;
}
const std::string hot_stream_key = "streamll_bench_hot";

template <typename Predicate>
void wait_until(Predicate done, std::chrono::milliseconds timeout, const char* what) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error(what);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Everything the threads of one benchmark run share; made by Setup before they start.
struct Fixture {
  SinkKind kind;
  LatencyRecorder recorder;
  std::shared_ptr<streamll::MemorySink> memory;
  std::shared_ptr<streamll::RedisSink> redis;
  std::shared_ptr<streamll::Instrumentor> instrumentor;
  std::shared_ptr<spdlog::details::thread_pool> spdlog_pool;
  std::shared_ptr<spdlog::async_logger> spdlog_logger;

  explicit Fixture(SinkKind k) : kind(k) {
    streamll::bench::silence_streamll_logs();
    streamll::SinkPtr sink;
    switch (kind) {
      case SinkKind::noop:
        sink = std::make_shared<NoopSink>();
        break;
      case SinkKind::memory:
        sink = memory = std::make_shared<streamll::MemorySink>();
        break;
      case SinkKind::redis: {
        streamll::RedisSinkOptions o;
        o.connection.url = bench_redis().url();
        o.stream_key = hot_stream_key;
        o.max_stream_length = 100000;  // keeps the server small; trimming is Redis-side work
        sink = redis = std::make_shared<streamll::RedisSink>(o);
        break;
      }
      case SinkKind::redis_down: {
        streamll::RedisSinkOptions o;
        o.connection.url = dead_redis_url();
        o.failure_threshold = 1;
        o.recovery_timeout = std::chrono::minutes(10);  // no probes during the run
        o.shutdown_timeout = std::chrono::milliseconds(100);
        sink = redis = std::make_shared<streamll::RedisSink>(o);
        break;
      }
      case SinkKind::spdlog_overrun_oldest:
      case SinkKind::spdlog_block:
        spdlog_pool = std::make_shared<spdlog::details::thread_pool>(buffer_size, 1);
        spdlog_logger = std::make_shared<spdlog::async_logger>(
            "bench_async", std::make_shared<spdlog::sinks::null_sink_mt>(), spdlog_pool,
            kind == SinkKind::spdlog_block ? spdlog::async_overflow_policy::block
                                           : spdlog::async_overflow_policy::overrun_oldest);
        return;
    }
    instrumentor = std::make_shared<streamll::Instrumentor>(
        streamll::InstrumentorOptions{{sink}, {{"environment", "bench"}}, "bench"});
    if (kind == SinkKind::redis) {
      // Connect before timing: the first event opens the connection.
      streamll::LlmCall warm(*instrumentor, "warm-up");
      warm.token(token_text);
      if (!redis->flush(std::chrono::seconds(10))) {
        throw std::runtime_error("RedisSink could not reach " + bench_redis().url());
      }
    }
    if (kind == SinkKind::redis_down) {
      // Start in the outage's steady state: breaker open (the flusher tried to send the first
      // batch), buffer full, each emit evicts the oldest.
      streamll::LlmCall fill(*instrumentor, "fill");
      while (redis->buffered() < buffer_size) fill.token(token_text);
      wait_until([&] { return redis->circuit_breaker().is_open; }, std::chrono::seconds(10),
                 "the breaker did not open with Redis down");
    }
  }

  ~Fixture() {
    if (spdlog_logger) {
      spdlog_logger.reset();
      spdlog_pool.reset();  // drains the queue and joins the worker
    }
    if (redis) redis->shutdown(std::chrono::seconds(5));
    if (kind == SinkKind::redis) bench_redis().cli({"DEL", hot_stream_key});
  }

  // Untimed: keeps the sink in its steady state (see the file comment).
  void pace() {
    switch (kind) {
      case SinkKind::memory:
        if (memory->size() >= 4 * buffer_size) memory->clear();
        break;
      case SinkKind::redis:
        if (redis->buffered() > buffer_size / 2) {
          wait_until([&] { return redis->buffered() < buffer_size / 8; }, std::chrono::seconds(30),
                     "RedisSink did not drain within 30 s");
        }
        break;
      case SinkKind::spdlog_overrun_oldest:
      case SinkKind::spdlog_block:
        if (spdlog_pool->queue_size() > buffer_size / 2) {
          wait_until([&] { return spdlog_pool->queue_size() < buffer_size / 8; },
                     std::chrono::seconds(30), "spdlog's queue did not drain");
        }
        break;
      case SinkKind::noop:
      case SinkKind::redis_down:
        break;
    }
  }

  void publish_sink_counters(benchmark::State& state) const {
    if (redis) {
      const auto s = redis->stats();
      state.counters["dropped"] = static_cast<double>(s.dropped());
      state.counters["buffered"] = static_cast<double>(s.buffered);
    }
    if (spdlog_pool)
      state.counters["dropped"] = static_cast<double>(spdlog_pool->overrun_counter());
  }
};

std::unique_ptr<Fixture> fixture;

template <SinkKind S>
void setup(const benchmark::State&) {
  fixture = std::make_unique<Fixture>(S);
}
void teardown(const benchmark::State&) { fixture.reset(); }

// One timed call of the public API, with the per-thread state it needs made before the loop.
template <EventKind E>
struct Call;

// A streamed token in the call's TokenMode (the default chunking: 32 tokens).
template <streamll::TokenMode Mode>
struct TokenCall {
  std::optional<streamll::LlmCall> call;
  explicit TokenCall(Fixture& f) {
    if (f.instrumentor)
      call.emplace(*f.instrumentor, "gpt-4o-mini",
                   streamll::LlmCallOptions{"openai", {}, {}, Mode, std::nullopt});
  }
  void operator()(Fixture& f) {
    if (call) {
      call->token(token_text);
    } else {
      f.spdlog_logger->info("{}", token_text);
    }
  }
};
template <>
struct Call<EventKind::token> : TokenCall<streamll::TokenMode::each> {
  using TokenCall::TokenCall;
};
template <>
struct Call<EventKind::token_chunked> : TokenCall<streamll::TokenMode::chunked> {
  using TokenCall::TokenCall;
};
template <>
struct Call<EventKind::token_summary> : TokenCall<streamll::TokenMode::summary> {
  using TokenCall::TokenCall;
};

template <>
struct Call<EventKind::llm_call> {
  explicit Call(Fixture&) {}
  void operator()(Fixture& f) {
    streamll::LlmCall call(*f.instrumentor, "gpt-4o-mini",
                           streamll::LlmCallOptions{"openai", {}, {}});
    call.finish(streamll::LlmUsage{512, 128, {}, 0.00042, "stop", {}});
  }
};

template <>
struct Call<EventKind::span> {
  std::optional<streamll::Span> request;  // the measured spans nest under it, as in a pipeline
  explicit Call(Fixture& f) { request.emplace(*f.instrumentor, "request"); }
  void operator()(Fixture& f) { streamll::Span retrieval(*f.instrumentor, "retrieval"); }
};

template <>
struct Call<EventKind::custom5> {
  std::optional<streamll::Span> request;
  explicit Call(Fixture& f) { request.emplace(*f.instrumentor, "request"); }
  void operator()(Fixture&) {
    request->emit("retrieval_stats", {{"documents", 5},
                                      {"top_score", 0.93},
                                      {"index_name", "products"},
                                      {"reranked", true},
                                      {"budget_ms", 250}});
  }
};

template <EventKind E>
void run(benchmark::State& state) {
  Fixture& f = *fixture;
  auto samples = f.recorder.thread_samples(state);
  {
    Call<E> call(f);
    std::uint64_t until_check = pace_check_every;
    for (auto _ : state) {
      if (--until_check == 0) {
        until_check = pace_check_every;
        f.pace();
      }
      const auto t0 = LatencyRecorder::now();
      call(f);
      samples.add(state, LatencyRecorder::now() - t0);
    }
  }
  if (f.recorder.finish(state, std::move(samples))) f.publish_sink_counters(state);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

constexpr const char* sink_name(SinkKind s) {
  switch (s) {
    case SinkKind::noop:
      return "noop";
    case SinkKind::memory:
      return "memory";
    case SinkKind::redis:
      return "redis";
    case SinkKind::redis_down:
      return "redis_down";
    case SinkKind::spdlog_overrun_oldest:
      return "spdlog_async_overrun_oldest";
    case SinkKind::spdlog_block:
      return "spdlog_async_block";
  }
  return "?";
}
constexpr const char* event_name(EventKind e) {
  switch (e) {
    case EventKind::token:
      return "token";
    case EventKind::token_chunked:
      return "token_chunked";
    case EventKind::token_summary:
      return "token_summary";
    case EventKind::llm_call:
      return "llm_call";
    case EventKind::span:
      return "span";
    case EventKind::custom5:
      return "custom5";
  }
  return "?";
}

// STREAMLL_BENCH_CALLS_DIVISOR=N runs 1/N of the calls: for smoke runs (sanitizers, CI).
benchmark::IterationCount calls_divisor() {
  const char* env = std::getenv("STREAMLL_BENCH_CALLS_DIVISOR");
  const long long n = env ? std::atoll(env) : 1;
  return n > 1 ? n : 1;
}

// `calls` in total per run, split over the threads, so 1 and 4 threads do the same work.
template <EventKind E, SinkKind S>
void add(benchmark::IterationCount calls) {
  const std::string name = std::string("hot/") + event_name(E) + "/" + sink_name(S);
  for (int threads : {1, 4}) {
    benchmark::RegisterBenchmark(name.c_str(), run<E>)
        ->Setup(setup<S>)
        ->Teardown(teardown)
        ->Threads(threads)
        ->Iterations(std::max<benchmark::IterationCount>(calls / calls_divisor() / threads, 1))
        ->UseManualTime()
        ->Unit(benchmark::kNanosecond);
  }
}

// The matrix of issue 5 is every event into every sink; these are the ones issues 2 and 3 set
// targets for, plus the reference. Add a line to extend it.
const bool registered = [] {
  add<EventKind::token, SinkKind::noop>(500'000);
  add<EventKind::token, SinkKind::memory>(500'000);
  add<EventKind::token, SinkKind::redis>(200'000);
  add<EventKind::token, SinkKind::redis_down>(500'000);
  add<EventKind::token, SinkKind::spdlog_overrun_oldest>(500'000);
  add<EventKind::token, SinkKind::spdlog_block>(500'000);
  add<EventKind::token_chunked, SinkKind::noop>(500'000);
  add<EventKind::token_chunked, SinkKind::redis>(500'000);
  add<EventKind::token_summary, SinkKind::noop>(500'000);
  add<EventKind::llm_call, SinkKind::noop>(100'000);
  add<EventKind::span, SinkKind::noop>(200'000);
  add<EventKind::custom5, SinkKind::noop>(200'000);
  return true;
}();

}  // namespace
