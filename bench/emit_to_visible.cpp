// Emit-to-visible latency: how long after an application emits an event a dashboard blocked on
// XREAD sees it. A RedisSink with default options is fed events at a fixed rate; a consumer
// thread blocked in `XREAD BLOCK 0 STREAMS <key> $` parses each entry's event and measures the
// gap between its timestamp (the wall clock at capture) and its arrival. Both clocks are this
// machine's system clock. p50, p99 and max per rate.
//
//   emit_to_visible [--rates 1000,10000,50000] [--seconds S] [--json FILE]
//
// Redis: REDIS_URL (redis://host:port, no credentials) when set, else a redis-server started
// here on a free loopback port.

#include <hiredis/hiredis.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_redis.hpp"
#include "bench_stats.hpp"
#include "streamll/redis/url.hpp"
#include "streamll/sinks/redis_sink.hpp"
#include "typical_events.hpp"

namespace {

using SteadyClock = std::chrono::steady_clock;
const std::string stream = "latency_stream";

struct Settings {
  std::vector<int> rates{1000, 10000, 50000};
  double seconds = 3;
  std::string json_file;
};

struct ReplyFree {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// Reads entries as they arrive until `expected` were seen or the deadline passes; records each
// entry's latency in microseconds.
void consume(const streamll::ParsedRedisUrl& url, std::uint64_t expected,
             std::vector<double>& latencies, std::atomic<bool>& ready) {
  std::unique_ptr<redisContext, void (*)(redisContext*)> c(redisConnect(url.host.c_str(), url.port),
                                                           redisFree);
  if (!c || c->err) throw std::runtime_error("consumer cannot connect to Redis");
  std::string last_id = "$";
  const auto deadline = SteadyClock::now() + std::chrono::seconds(120);
  bool first = true;
  while (latencies.size() < expected && SteadyClock::now() < deadline) {
    if (first) ready = true;  // the XREAD below is sent right after: events emitted now count
    first = false;
    Reply reply(static_cast<redisReply*>(redisCommand(
        c.get(), "XREAD COUNT 1000 BLOCK 1000 STREAMS %s %s", stream.c_str(), last_id.c_str())));
    const auto arrived = streamll::Clock::now();
    if (!reply) throw std::runtime_error("consumer lost its connection");
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) continue;
    const redisReply* entries = reply->element[0]->element[1];
    for (std::size_t i = 0; i < entries->elements; ++i) {
      const redisReply* entry = entries->element[i];
      last_id.assign(entry->element[0]->str, entry->element[0]->len);
      const redisReply* fields = entry->element[1];
      for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
        if (std::string(fields->element[f]->str, fields->element[f]->len) != "event") continue;
        streamll::Event event;
        if (!streamll::parse_event_json(
                std::string_view(fields->element[f + 1]->str, fields->element[f + 1]->len),
                event)) {
          throw std::runtime_error("an entry's event does not parse");
        }
        latencies.push_back(
            std::chrono::duration<double, std::micro>(arrived - event.timestamp).count());
      }
    }
  }
}

nlohmann::json measure(const streamll::bench::BenchRedis& redis, int rate, double seconds) {
  redis.cli({"DEL", stream});
  streamll::RedisSinkOptions options;  // the defaults: what the target is about
  options.connection.url = redis.url();
  options.stream_key = stream;
  auto sink = std::make_shared<streamll::RedisSink>(options);
  streamll::Instrumentor instrumentor(streamll::bench::bench_instrumentor_options(sink));
  // Connected before measuring.
  { streamll::Span warmup(instrumentor, "warmup"); }
  if (!sink->flush(std::chrono::seconds(10)))
    throw std::runtime_error("cannot reach " + redis.url());

  const auto total = static_cast<std::uint64_t>(rate * seconds);
  std::vector<double> latencies;
  latencies.reserve(total);
  std::atomic<bool> ready{false};
  std::exception_ptr consumer_error;
  std::thread consumer([&] {
    try {
      consume(streamll::parse_redis_url(redis.url()), total, latencies, ready);
    } catch (...) {
      consumer_error = std::current_exception();
    }
  });
  while (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the first XREAD block

  // Events at their scheduled times: every ~200 us, emit those that are due.
  streamll::bench::TypicalStream events(instrumentor, 100);
  const auto start = SteadyClock::now();
  std::uint64_t emitted = 0;
  while (emitted < total) {
    const double elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
    const auto due = std::min<std::uint64_t>(total, static_cast<std::uint64_t>(elapsed * rate) + 1);
    if (due > emitted) {
      events.emit(due - emitted);
      emitted = due;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  consumer.join();
  sink->shutdown(std::chrono::seconds(5));
  if (consumer_error) std::rethrow_exception(consumer_error);
  if (latencies.size() < total) {
    throw std::runtime_error("only " + std::to_string(latencies.size()) + " of " +
                             std::to_string(total) + " events were seen");
  }
  std::sort(latencies.begin(), latencies.end());
  return {{"rate", rate},
          {"events", latencies.size()},
          {"p50_us", streamll::bench::sorted_percentile(latencies, 0.50)},
          {"p99_us", streamll::bench::sorted_percentile(latencies, 0.99)},
          {"max_us", latencies.back()}};
}

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--rates") {
      s.rates.clear();
      std::stringstream list(value());
      for (std::string r; std::getline(list, r, ',');) s.rates.push_back(std::stoi(r));
    } else if (arg == "--seconds") {
      s.seconds = std::stod(value());
    } else if (arg == "--json") {
      s.json_file = value();
    } else {
      throw std::invalid_argument("unknown argument " + arg + " (see --help)");
    }
  }
  if (s.rates.empty() || s.seconds <= 0)
    throw std::invalid_argument("rates and seconds must be positive");
  for (int r : s.rates) {
    if (r <= 0) throw std::invalid_argument("rates must be positive");
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
    std::cout
        << "usage: emit_to_visible [--rates 1000,10000,50000] [--seconds S] [--json FILE]\n"
           "Latency from emitting an event to a consumer blocked on XREAD seeing it, at fixed\n"
           "rates, through a RedisSink with default options: p50, p99 and max.\n";
    return 0;
  }
  try {
    const Settings settings = parse(argc, argv);
    streamll::bench::silence_streamll_logs();
    streamll::bench::BenchRedis redis;
    nlohmann::json runs = nlohmann::json::array();
    std::printf("| events/s | events | p50 | p99 | max |\n|---:|---:|---:|---:|---:|\n");
    for (int rate : settings.rates) {
      const auto run = measure(redis, rate, settings.seconds);
      std::printf("| %d | %llu | %.0f us | %.0f us | %.0f us |\n", rate,
                  static_cast<unsigned long long>(run["events"].get<std::uint64_t>()),
                  run["p50_us"].get<double>(), run["p99_us"].get<double>(),
                  run["max_us"].get<double>());
      std::fflush(stdout);
      runs.push_back(run);
    }
    if (!settings.json_file.empty()) std::ofstream(settings.json_file) << runs.dump(2) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "emit_to_visible: %s\n", e.what());
    return 1;
  }
}
