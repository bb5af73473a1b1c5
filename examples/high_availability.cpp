// The guide's "High Availability Setup" and "Load Balancing" in C++: a Sentinel-managed master
// (followed through failovers), or a Redis Cluster, or several instances sharded by execution,
// each optionally with durable acknowledgements; then the events are read back through the
// consumer side with the same settings (every shard, merged). Everything comes from the
// environment:
//
//   REDIS_URL=redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster STREAMLL_MIN_REPLICAS_ACK=1
//   high_availability REDIS_URL=redis+cluster://node1:6379 STREAMLL_SHARD_COUNT=6 high_availability
//   STREAMLL_SHARD_URLS=redis://redis1:6379,redis://redis2:6379,redis://redis3:6379
//   high_availability
//
// See docs/high-availability.md.

#include <iostream>
#include <memory>
#include <streamll/redis/analytics.hpp>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/sinks/sharded_redis_sink.hpp>
#include <streamll/streamll.hpp>
#include <string>

int main(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
    std::cout << "usage: high_availability\nSends one request's events through a RedisSink (or a "
                 "ShardedRedisSink when STREAMLL_SHARD_URLS or STREAMLL_SHARD_COUNT is set) "
                 "configured from the environment, and prints where they went.\n";
    return 0;
  }
  try {
    auto options = streamll::ShardedRedisSinkOptions::from_env();
    const bool sharded = !options.shard_urls.empty() || options.shard_count > 0;
    std::shared_ptr<streamll::Sink> sink;
    if (sharded) {
      sink = std::make_shared<streamll::ShardedRedisSink>(options);
    } else {
      sink = std::make_shared<streamll::RedisSink>(options.sink);
    }
    streamll::Instrumentor instrumentor({{sink}, {{"environment", "ha-example"}}, "ha_example"});
    {
      streamll::Span request(instrumentor, "answer_generation");
      streamll::LlmCall call(instrumentor, "gpt-4o-mini");
      for (const char* token : {"Hello", ",", " world"}) call.token(token);
      call.finish({12, 3, {}, 0.0001, "stop", {}});
    }
    const bool delivered = sink->flush(std::chrono::seconds(10));

    // Where the events went: the master a Sentinel named, the node owning the slot, each shard.
    if (auto* sharded_sink = dynamic_cast<streamll::ShardedRedisSink*>(sink.get())) {
      const auto stats = sharded_sink->shard_stats();
      for (std::size_t i = 0; i < stats.size(); ++i) {
        std::cout << "shard " << i << " (" << sharded_sink->shard(i).options().stream_key << ") on "
                  << stats[i].server << ": " << stats[i].delivered << " delivered\n";
      }
    } else if (auto* redis_sink = dynamic_cast<streamll::RedisSink*>(sink.get())) {
      const auto stats = redis_sink->stats();
      std::cout << options.sink.stream_key << " on " << stats.server << ": " << stats.delivered
                << " delivered, " << stats.replica_waits << " WAITs\n";
    }
    if (!delivered) std::cerr << "high_availability: not everything was delivered\n";

    // Read back with the same settings: the consumers and analytics take the same URL forms and
    // the same shard layout as the sink.
    streamll::ShardedStream source;
    source.connection = options.sink.connection;
    source.stream = options.sink.stream_key;
    source.shard_urls = options.shard_urls;
    source.shard_count = options.shard_count;
    streamll::UsageQuery last_minute;
    last_minute.since = std::chrono::minutes(1);
    try {
      const auto usage = streamll::analyze_usage(source, last_minute);
      std::cout << "read back: " << usage.total_calls << " LLM call(s), " << usage.events
                << " events in the last minute\n";
    } catch (const streamll::RedisError& e) {
      std::cerr << "high_availability: reading back failed: " << e.what() << "\n";
      return 1;
    }
    return delivered ? 0 : 1;
  } catch (const streamll::ConfigError& e) {
    std::cerr << "high_availability: configuration error: " << e.what() << "\n";
    return 2;
  }
}
