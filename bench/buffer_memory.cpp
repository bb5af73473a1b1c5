// What a RedisSink's buffer costs in memory during an outage: the process's RSS growth while
// buffer_size events are held with Redis down, against the total size of those events
// serialized (what they will occupy on the wire and, roughly, in the stream).
//
//   buffer_memory [--events N] [--tokens-per-call K] [--burst] [--json FILE]
//
// The events are an application's: LLM calls of K streamed tokens (default 100), each followed
// by its llm_call event, through the public API. K = 0 means llm_call events only (the largest
// events per field count). The serialized size is measured by sending an identically generated
// stream into a sink that only adds up JSON sizes. Run it in a fresh process: memory freed
// earlier in the same process would be reused and hide growth.
//
// While Redis cannot be written to, the sink's flusher compacts waiting events (holds each
// serialized when that is smaller than as captured). By default the events arrive in steps of 1,000
// that the flusher keeps up with (an application's outage: its events arrive far slower than the
// flusher's million or more per second); --burst emits all of them at once, as fast as the API
// allows, and measures as soon as they are buffered, so part of them is still held as captured.

#include <malloc.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_redis.hpp"
#include "streamll/sinks/redis_sink.hpp"
#include "typical_events.hpp"

namespace {

std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

class SerializedSizeSink final : public streamll::Sink {
 public:
  void handle(const streamll::Event& event) override {
    json_.clear();
    streamll::append_json(event, json_);
    bytes += json_.size();
  }
  std::string name() const override { return "serialized_size"; }
  std::uint64_t bytes = 0;

 private:
  std::string json_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
    std::printf(
        "usage: buffer_memory [--events N] [--tokens-per-call K] [--burst] [--json FILE]\n"
        "RSS growth while a RedisSink with buffer_size N holds N events with Redis down, against\n"
        "their serialized size. K tokens per LLM call (0: llm_call events only). --burst: all at\n"
        "once, measured as soon as buffered. Run each in a fresh process.\n");
    return 0;
  }
  try {
    std::uint64_t events = 100'000;
    std::int64_t tokens_per_call = 100;
    std::string json_file;
    bool burst = false;
    std::vector<std::string> args(argv + 1, argv + argc);
    args.erase(
        std::remove_if(args.begin(), args.end(),
                       [&](const std::string& a) { return a == "--burst" && (burst = true); }),
        args.end());
    for (std::size_t i = 0; i + 1 < args.size(); i += 2) {
      const std::string& arg = args[i];
      const char* value = args[i + 1].c_str();
      if (arg == "--events") {
        events = std::stoull(value);
      } else if (arg == "--tokens-per-call") {
        tokens_per_call = std::stoll(value);
      } else if (arg == "--json") {
        json_file = value;
      } else {
        throw std::invalid_argument("unknown argument " + arg);
      }
    }
    if (args.size() % 2 != 0) throw std::invalid_argument("arguments come in pairs");

    streamll::bench::silence_streamll_logs();
    streamll::bench::DeadRedis dead;
    streamll::RedisSinkOptions options;
    options.connection.url = dead.url();
    options.buffer_size = static_cast<std::size_t>(events);
    options.max_batch_size = std::min<std::size_t>(options.max_batch_size, options.buffer_size);
    options.failure_threshold = 1;
    options.recovery_timeout = std::chrono::minutes(10);
    options.shutdown_timeout = std::chrono::milliseconds(100);

    ::malloc_trim(0);
    const std::uint64_t before = resident_bytes();
    std::uint64_t after = 0;
    double compacted_share = 0;
    {
      auto sink = std::make_shared<streamll::RedisSink>(options);
      streamll::Instrumentor instrumentor(streamll::bench::bench_instrumentor_options(sink));
      // Kept alive until measured: its destructor ends the open call with one more event.
      streamll::bench::TypicalStream stream(instrumentor, tokens_per_call);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      const auto all_compacted = [&] {
        const auto stats = sink->stats();
        return stats.buffered_compacted + stats.in_flight >= stats.buffered;
      };
      for (std::uint64_t emitted = 0; emitted < events;) {
        const std::uint64_t step = burst ? events : std::min<std::uint64_t>(1000, events - emitted);
        stream.emit(step);
        emitted += step;
        while (!burst && !all_compacted() && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
      }
      while (sink->buffered() < events && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      after = resident_bytes();
      compacted_share =
          static_cast<double>(sink->stats().buffered_compacted) / static_cast<double>(events);
      const auto stats = sink->stats();
      if (stats.buffered != events || stats.dropped() != 0 || stats.delivered != 0) {
        throw std::runtime_error("expected " + std::to_string(events) + " buffered events, got " +
                                 std::to_string(stats.buffered) + " (dropped " +
                                 std::to_string(stats.dropped()) + ")");
      }
    }

    auto sizing = std::make_shared<SerializedSizeSink>();
    std::uint64_t serialized = 0;
    {
      streamll::Instrumentor instrumentor(streamll::bench::bench_instrumentor_options(sizing));
      streamll::bench::TypicalStream stream(instrumentor, tokens_per_call);
      stream.emit(events);
      serialized = sizing->bytes;
    }
    const std::uint64_t growth = after - before;
    const double ratio = static_cast<double>(growth) / static_cast<double>(serialized);
    std::printf(
        "| %llu events buffered, Redis down (%s%s) | RSS growth %.1f MB | serialized %.1f MB | "
        "ratio %.2f | compacted %.0f%% |\n",
        static_cast<unsigned long long>(events),
        tokens_per_call > 0
            ? ("calls of " + std::to_string(tokens_per_call) + " tokens + llm_call").c_str()
            : "llm_call events",
        burst ? ", burst" : "", static_cast<double>(growth) / 1e6,
        static_cast<double>(serialized) / 1e6, ratio, compacted_share * 100);
    if (!json_file.empty()) {
      nlohmann::json out = {{"events", events},
                            {"tokens_per_call", tokens_per_call},
                            {"rss_growth_bytes", growth},
                            {"serialized_bytes", serialized},
                            {"ratio", ratio},
                            {"burst", burst},
                            {"compacted_share", compacted_share}};
      std::ofstream(json_file) << out.dump(2) << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "buffer_memory: %s\n", e.what());
    return 1;
  }
}
