// End-to-end throughput, application to Redis, beside what Redis itself can take: events per
// second that Redis acknowledged, for a RedisSink with default options fed by 1 and 4
// application threads, against `redis-benchmark -P 100 -c 1` sending the same XADD with the
// same payload (our typical serialized llm_call event), measured in the same run against the
// same server. Also `redis-benchmark -P 1` (one unpipelined XADD per event) for scale.
//
//   e2e_throughput [--events N] [--p1-events N] [--rounds R] [--json FILE]
//   e2e_throughput --print-payload
//
// Each round measures every figure once, in turn, so that the machine's load drifts over all
// of them alike; the table shows the median of the rounds. Redis: REDIS_URL (redis://host:port,
// no credentials) when set, else a redis-server started here on a free loopback port.
//
// Producers back off (sleep 50 us) while the sink's buffer is nearly full, like an application
// whose events arrive no faster than they can be delivered: every event must arrive, so the
// figure is the sustained delivery rate, and the run fails if anything was dropped.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_redis.hpp"
#include "streamll/sinks/redis_sink.hpp"
#include "typical_events.hpp"

namespace {

using streamll::bench::BenchRedis;
using SteadyClock = std::chrono::steady_clock;

const std::string benchmark_stream = "bench_stream";
const std::string sink_stream = "bench_stream_sink";

struct Settings {
  std::uint64_t events = 200'000;
  std::uint64_t p1_events = 20'000;
  int rounds = 5;
  std::string json_file;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::uint64_t xlen(const BenchRedis& redis, const std::string& key) {
  return std::stoull(redis.cli({"XLEN", key}));
}

// redis-benchmark's requests per second for `events` XADDs of `payload`, pipelined `pipeline`
// deep on one connection. Checks that every XADD landed (an error reply counts as a request).
double redis_benchmark(const BenchRedis& redis, const std::string& payload, int pipeline,
                       std::uint64_t events) {
  redis.cli({"DEL", benchmark_stream});
  std::vector<std::string> command{"redis-benchmark"};
  for (const auto& a : redis.host_port_args()) command.push_back(a);
  for (const std::string& a :
       {std::string("-c"), std::string("1"), std::string("-P"), std::to_string(pipeline),
        std::string("-n"), std::to_string(events), std::string("--csv"), std::string("XADD"),
        benchmark_stream, std::string("MAXLEN"), std::string("~"), std::string("1000000"),
        std::string("*"), std::string("event"), payload}) {
    command.push_back(a);
  }
  const std::string out_file = redis.scratch_file("redis-benchmark.csv");
  if (streamll::test::run_bounded(command, 300, out_file) != 0) {
    throw std::runtime_error("redis-benchmark failed: " + streamll::test::read_text_file(out_file));
  }
  // The last CSV line: "<command>","<rps>","<avg>","<min>","<p50>","<p95>","<p99>","<max>".
  // The command contains quotes, so the fields are counted from the end.
  std::string text = streamll::test::read_text_file(out_file);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  std::string line = text.substr(text.rfind('\n') + 1);
  std::vector<std::string> fields;
  for (int i = 0; i < 7; ++i) {
    const auto sep = line.rfind("\",\"");
    if (sep == std::string::npos) throw std::runtime_error("unexpected redis-benchmark output: " + text);
    fields.push_back(line.substr(sep + 3));
    line.erase(sep);
  }
  const double rps = std::stod(fields.back());
  const std::uint64_t landed = xlen(redis, benchmark_stream);
  if (landed != events) {
    throw std::runtime_error("redis-benchmark: XLEN " + std::to_string(landed) + " after " +
                             std::to_string(events) + " XADDs (error replies?)");
  }
  return rps;
}

// Events per second acknowledged by Redis for a RedisSink with default options, `threads`
// application threads emitting `events` llm_call events in total.
double sink_throughput(const BenchRedis& redis, const streamll::Event& typical, int threads,
                       std::uint64_t events) {
  redis.cli({"DEL", sink_stream});
  streamll::RedisSinkOptions options;
  options.url = redis.url();
  options.stream_key = sink_stream;
  auto sink = std::make_shared<streamll::RedisSink>(options);
  streamll::Instrumentor instrumentor(streamll::bench::bench_instrumentor_options(sink));

  // One event first, so that connecting is not part of the figure.
  instrumentor.emit(streamll::Event::capture(streamll::EventType::llm_call, typical.context, typical.data));
  if (!sink->flush(std::chrono::seconds(10))) throw std::runtime_error("RedisSink cannot reach " + redis.url());

  const std::size_t backlog_limit = options.buffer_size - options.buffer_size / 10;
  const auto started = SteadyClock::now();
  std::vector<std::thread> producers;
  for (int t = 0; t < threads; ++t) {
    const std::uint64_t share = events / threads + (static_cast<std::uint64_t>(t) < events % threads ? 1 : 0);
    producers.emplace_back([&, share] {
      for (std::uint64_t i = 0; i < share; ++i) {
        while (sink->buffered() >= backlog_limit) std::this_thread::sleep_for(std::chrono::microseconds(50));
        // What LlmCall::finish does: capture the clock and an id, copy the payload, emit.
        instrumentor.emit(streamll::Event::capture(streamll::EventType::llm_call, typical.context,
                                                   typical.data));
      }
    });
  }
  for (auto& p : producers) p.join();
  const bool flushed = sink->flush(std::chrono::seconds(120));
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();

  const auto stats = sink->stats();
  sink->shutdown(std::chrono::seconds(5));
  const std::uint64_t landed = xlen(redis, sink_stream);
  if (!flushed || stats.delivered != events + 1 || stats.dropped() != 0 || stats.failed != 0 ||
      landed != events + 1) {
    throw std::runtime_error("RedisSink run incomplete: delivered " + std::to_string(stats.delivered) +
                             ", dropped " + std::to_string(stats.dropped()) + ", failed " +
                             std::to_string(stats.failed) + ", XLEN " + std::to_string(landed) +
                             " of " + std::to_string(events + 1) + "; last error: " + stats.last_error);
  }
  return static_cast<double>(events) / seconds;
}

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--events") {
      s.events = std::stoull(value());
    } else if (arg == "--p1-events") {
      s.p1_events = std::stoull(value());
    } else if (arg == "--rounds") {
      s.rounds = std::stoi(value());
    } else if (arg == "--json") {
      s.json_file = value();
    } else {
      throw std::invalid_argument("unknown argument " + arg);
    }
  }
  if (s.events == 0 || s.p1_events == 0 || s.rounds < 1) throw std::invalid_argument("counts must be positive");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const streamll::Event typical = streamll::bench::typical_llm_call_event();
    const std::string payload = streamll::to_json(typical);
    if (argc == 2 && std::string(argv[1]) == "--print-payload") {
      std::cout << payload << "\n";
      return 0;
    }
    const Settings settings = parse(argc, argv);
    streamll::bench::silence_streamll_logs();
    BenchRedis redis;

    std::vector<double> p100, p1, sink1, sink4;
    for (int round = 1; round <= settings.rounds; ++round) {
      p100.push_back(redis_benchmark(redis, payload, 100, settings.events));
      sink1.push_back(sink_throughput(redis, typical, 1, settings.events));
      sink4.push_back(sink_throughput(redis, typical, 4, settings.events));
      p1.push_back(redis_benchmark(redis, payload, 1, settings.p1_events));
      std::fprintf(stderr, "round %d/%d: redis-benchmark -P 100 %.0f/s, sink 1 thread %.0f/s, "
                   "4 threads %.0f/s, redis-benchmark -P 1 %.0f/s\n", round, settings.rounds,
                   p100.back(), sink1.back(), sink4.back(), p1.back());
    }
    redis.cli({"DEL", benchmark_stream, sink_stream});

    const double ref = median(p100);
    std::printf("| figure (median of %d rounds, events/s acknowledged) | value | ratio to redis-benchmark -P 100 |\n",
                settings.rounds);
    std::printf("|---|---:|---:|\n");
    std::printf("| redis-benchmark -P 100 -c 1, XADD %zu-byte event | %.0f | 1.00 |\n", payload.size(), ref);
    std::printf("| RedisSink, 1 producer thread | %.0f | %.2f |\n", median(sink1), median(sink1) / ref);
    std::printf("| RedisSink, 4 producer threads | %.0f | %.2f |\n", median(sink4), median(sink4) / ref);
    std::printf("| redis-benchmark -P 1 -c 1 (one XADD per round trip) | %.0f | %.2f |\n", median(p1),
                median(p1) / ref);

    if (!settings.json_file.empty()) {
      nlohmann::json out = {{"payload_bytes", payload.size()},
                            {"events", settings.events},
                            {"p1_events", settings.p1_events},
                            {"rounds", settings.rounds},
                            {"redis_benchmark_p100", p100},
                            {"redis_benchmark_p1", p1},
                            {"sink_1_thread", sink1},
                            {"sink_4_threads", sink4}};
      std::ofstream(settings.json_file) << out.dump(2) << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "e2e_throughput: %s\n", e.what());
    return 1;
  }
}
