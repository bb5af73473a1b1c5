// Throughput of the high-availability setups beside their single-instance counterparts, all
// measured in the same run on the same machine, rounds interleaved (each round measures every
// figure once, so load drift hits them alike; ratios compare figures of the same round):
//
//   single           RedisSink -> one redis-server
//   single_sharded   ShardedRedisSink (6 shards) -> the same redis-server
//   cluster_sharded  ShardedRedisSink (6 shards) -> a 3-master Redis Cluster (no replicas)
//   replicated       RedisSink -> a master with one replica, no WAIT
//   replicated_wait  RedisSink, min_replicas_ack=1 -> the same master (WAIT after each batch)
//
// Events: the typical llm_call event (bench/typical_events.hpp) over 1,000 execution ids, from
// 2 producer threads that back off while the sink holds more than half its buffer (every
// event must arrive: the run fails if anything was dropped or refused).
//
//   ha_throughput [--events N] [--rounds R] [--json FILE]
//
// Servers: started here on free loopback ports (tests/support fixtures); nothing else is used.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_redis.hpp"
#include "bench_stats.hpp"
#include "redis_cluster.hpp"
#include "redis_server.hpp"
#include "streamll/sinks/redis_sink.hpp"
#include "streamll/sinks/sharded_redis_sink.hpp"
#include "typical_events.hpp"

namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr int kProducers = 2;
constexpr int kExecutions = 1000;
constexpr std::size_t kShards = 6;

struct Settings {
  std::uint64_t events = 100'000;
  int rounds = 3;
  std::string json_file;
};

using streamll::bench::median;

std::vector<streamll::Event> events_over_executions(const streamll::Event& typical) {
  std::vector<streamll::Event> out;
  for (int i = 0; i < kExecutions; ++i) {
    auto context = std::make_shared<streamll::EventContext>(*typical.context);
    context->execution_id = "exec_" + std::to_string(i);
    out.push_back(streamll::Event::capture(streamll::EventType::llm_call, context, typical.data));
  }
  return out;
}

template <typename SinkT>
std::uint64_t delivered_of(const SinkT& sink) {
  return sink.stats().delivered;
}

// Events per second delivered through `sink` (RedisSink or ShardedRedisSink).
template <typename SinkT>
double measure(SinkT& sink, const std::vector<streamll::Event>& events, std::uint64_t count,
               std::size_t backlog_limit) {
  // One event per execution first, so that connecting is not part of the figure.
  for (const auto& e : events) sink.handle(e);
  if (!sink.flush(std::chrono::seconds(30)))
    throw std::runtime_error("warm-up not delivered: " + sink.stats().last_error);
  const std::uint64_t before = delivered_of(sink);
  const auto started = SteadyClock::now();
  std::vector<std::thread> producers;
  for (int t = 0; t < kProducers; ++t) {
    producers.emplace_back([&, t] {
      const std::uint64_t share =
          count / kProducers + (static_cast<std::uint64_t>(t) < count % kProducers ? 1 : 0);
      for (std::uint64_t i = 0; i < share; ++i) {
        while (sink.buffered() >= backlog_limit)
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        sink.handle(events[(i * kProducers + static_cast<std::uint64_t>(t)) % events.size()]);
      }
    });
  }
  for (auto& p : producers) p.join();
  const bool flushed = sink.flush(std::chrono::seconds(120));
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
  const auto stats = sink.stats();
  if (!flushed || stats.delivered - before != count || stats.dropped() != 0 || stats.failed != 0) {
    throw std::runtime_error(
        "run incomplete: delivered " + std::to_string(stats.delivered - before) + " of " +
        std::to_string(count) + ", dropped " + std::to_string(stats.dropped()) + ", failed " +
        std::to_string(stats.failed) + "; last error: " + stats.last_error);
  }
  return static_cast<double>(count) / seconds;
}

streamll::RedisSinkOptions sink_options(const std::string& url, const std::string& key) {
  streamll::RedisSinkOptions o;
  o.connection.url = url;
  o.stream_key = key;
  o.buffer_size = 20000;
  o.max_stream_length = 200000;
  return o;
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
    } else if (arg == "--rounds") {
      s.rounds = std::stoi(value());
    } else if (arg == "--json") {
      s.json_file = value();
    } else {
      throw std::invalid_argument("unknown argument " + arg);
    }
  }
  if (s.events == 0 || s.rounds < 1) throw std::invalid_argument("counts must be positive");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Settings settings = parse(argc, argv);
    streamll::bench::silence_streamll_logs();
    const auto events = events_over_executions(streamll::bench::typical_llm_call_event());

    std::fprintf(stderr,
                 "starting servers: one standalone, a 3-master cluster, a master with a replica\n");
    streamll::test::RedisServer standalone;
    streamll::test::RedisClusterDeployment cluster(3, 0);
    streamll::test::RedisServerOptions master_options;
    master_options.extra_config = {"repl-diskless-sync-delay 0"};
    streamll::test::RedisServer master(master_options);
    streamll::test::RedisServerOptions replica_options;
    replica_options.extra_config = {"replicaof 127.0.0.1 " + std::to_string(master.port())};
    streamll::test::RedisServer replica(replica_options);
    streamll::testing::wait_for_state("the replica to sync", std::chrono::seconds(30), [&] {
      return replica.cli({"INFO", "replication"}).find("master_link_status:up") !=
             std::string::npos;
    });

    const auto sharded = [&](const std::string& url, const std::string& key) {
      streamll::ShardedRedisSinkOptions o;
      o.sink = sink_options(url, key);
      o.shard_count = kShards;
      return o;
    };
    struct Figure {
      const char* key;
      const char* label;
      std::vector<double> rates;
    };
    std::vector<Figure> figures{
        {"single", "RedisSink -> 1 redis-server", {}},
        {"single_sharded", "ShardedRedisSink (6 shards) -> 1 redis-server", {}},
        {"cluster_sharded", "ShardedRedisSink (6 shards) -> 3-master cluster", {}},
        {"replicated", "RedisSink -> master + 1 replica, no WAIT", {}},
        {"replicated_wait", "RedisSink -> master + 1 replica, min_replicas_ack=1", {}}};
    const std::size_t limit = 10000;
    for (int round = 1; round <= settings.rounds; ++round) {
      const std::string suffix = "_" + std::to_string(round);
      {
        streamll::RedisSink sink(sink_options(standalone.url(), "single" + suffix));
        figures[0].rates.push_back(measure(sink, events, settings.events, limit));
      }
      {
        streamll::ShardedRedisSink sink(sharded(standalone.url(), "single_sharded" + suffix));
        figures[1].rates.push_back(measure(sink, events, settings.events, limit));
      }
      {
        streamll::ShardedRedisSink sink(sharded(cluster.url(), "cluster_sharded" + suffix));
        figures[2].rates.push_back(measure(sink, events, settings.events, limit));
      }
      {
        streamll::RedisSink sink(sink_options(master.url(), "replicated" + suffix));
        figures[3].rates.push_back(measure(sink, events, settings.events, limit));
      }
      {
        auto o = sink_options(master.url(), "replicated_wait" + suffix);
        o.min_replicas_ack = 1;
        streamll::RedisSink sink(o);
        figures[4].rates.push_back(measure(sink, events, settings.events, limit));
        const auto stats = sink.stats();
        if (stats.replica_ack_shortfalls != 0) {
          std::fprintf(stderr, "note: %llu WAIT shortfalls\n",
                       static_cast<unsigned long long>(stats.replica_ack_shortfalls));
        }
      }
      std::fprintf(stderr, "round %d/%d:", round, settings.rounds);
      for (const auto& f : figures) std::fprintf(stderr, " %s %.0f/s;", f.key, f.rates.back());
      std::fprintf(stderr, "\n");
      // Keep the servers' memory small between rounds.
      standalone.cli({"FLUSHALL"});
      master.cli({"FLUSHALL"});
      for (auto& node : cluster.nodes()) node->cli({"FLUSHALL"});
    }

    const auto ratios = [&](std::size_t a, std::size_t b) {
      std::vector<double> r;
      for (std::size_t i = 0; i < figures[a].rates.size(); ++i)
        r.push_back(figures[a].rates[i] / figures[b].rates[i]);
      return r;
    };
    std::printf(
        "| figure (%zu events, %d producer threads, %d rounds) | events/s, median | best |\n",
        static_cast<std::size_t>(settings.events), kProducers, settings.rounds);
    std::printf("|---|---:|---:|\n");
    nlohmann::json out = {
        {"events", settings.events}, {"rounds", settings.rounds}, {"producers", kProducers}};
    for (const auto& f : figures) {
      std::printf("| %s | %.0f | %.0f |\n", f.label, median(f.rates),
                  *std::max_element(f.rates.begin(), f.rates.end()));
      out[f.key] = f.rates;
    }
    const auto cluster_ratio = ratios(2, 0);
    const auto sharded_ratio = ratios(1, 0);
    const auto wait_ratio = ratios(4, 3);
    std::printf("\n| ratio (median of same-round ratios) | |\n|---|---:|\n");
    std::printf("| cluster_sharded / single | %.2f |\n", median(cluster_ratio));
    std::printf("| single_sharded / single | %.2f |\n", median(sharded_ratio));
    std::printf("| replicated_wait / replicated (cost of durable acknowledgements) | %.2f |\n",
                median(wait_ratio));
    out["ratios"] = {{"cluster_sharded_over_single", cluster_ratio},
                     {"single_sharded_over_single", sharded_ratio},
                     {"wait_over_replicated", wait_ratio}};
    if (!settings.json_file.empty()) std::ofstream(settings.json_file) << out.dump(2) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ha_throughput: %s\n", e.what());
    return 1;
  }
}
