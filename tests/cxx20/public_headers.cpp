// Compiled as C++20 in the unit test build: the public headers must stay valid C++20 (C++20's
// rewritten comparison candidates once made TagValue's reversed operators recurse forever).
// The deprecated aliases too, which the library's own build hides.
#undef STREAMLL_NO_DEPRECATED_ALIASES
#include <streamll/exporter.hpp>
#include <streamll/integrations/spdlog_sink.hpp>
#include <streamll/redis/consumer.hpp>
#include <streamll/redis/errors.hpp>
#include <streamll/redis/heartbeats.hpp>
#include <streamll/redis/producers.hpp>
#include <streamll/redis/sharding.hpp>
#include <streamll/sinks/batching_sink.hpp>
#include <streamll/sinks/jsonl_file_sink.hpp>
#include <streamll/sinks/memory_sink.hpp>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/sinks/sharded_redis_sink.hpp>
#include <streamll/sinks/terminal_sink.hpp>
#include <streamll/streamll.hpp>

#include <string>
#include <string_view>
#include <type_traits>

static_assert(__cplusplus >= 202002L, "this file checks the headers under C++20");

bool streamll_cxx20_tag_comparisons(const streamll::Event& a, const streamll::Event& b) {
  const std::string text = "v";
  const std::string_view view = text;
  return a.tag("k") == "v" && "v" == a.tag("k") && a.tag("k") != "w" && "w" != a.tag("k") &&
         a.tag("k") == text && text == a.tag("k") && a.tag("k") != view && view != a.tag("k") &&
         a.tag("k") != nullptr && nullptr != a.tag("k") && a.tag("k") == b.tag("k") &&
         !(a.tag("k") != b.tag("k"));
}

// Option structs compose the options they build on, so designators reach every field, a
// connection's included (no missing-initializer warning either: every field has a default).
streamll::ShardedRedisSinkOptions streamll_cxx20_designated_options() {
  const streamll::RedisSinkOptions sink{.connection = {.url = "rediss://cache:6380", .db = 2},
                                        .stream_key = "ml_events",
                                        .buffer_size = 50000};
  const streamll::ConsumerOptions consumer{.connection = {.url = "redis://r:6379"}, .group = "g"};
  return {.sink = sink, .shard_urls = {consumer.connection.url}};
}

// The Redis errors' old names still name the same types.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static_assert(std::is_same_v<streamll::redis::IoError, streamll::IoError>);
static_assert(std::is_same_v<streamll::redis::ReplyError, streamll::ReplyError>);
static_assert(std::is_same_v<streamll::redis::StreamNotFoundError, streamll::StreamNotFoundError>);
#pragma GCC diagnostic pop

// BatchingSinkOptions composes RetryOptions the same way.
streamll::BatchingSinkOptions streamll_cxx20_batching_options() {
  return {.buffer_size = 50000, .retry = {.failure_threshold = 5}};
}
