// Property: whatever the event, RedisSink delivers it to a real Redis exactly once, its stream
// entry's `event` field byte-for-byte the line JsonlFileSink writes for it, in order, with no
// error, retry or breaker trip. The events are generated (generated_events.hpp) from a seed,
// with some sized so that their JSON is 998 to 1001, 9998 to 10001 and 99998 to 100001 bytes
// long: the lengths where the RESP bulk length gains a digit.
//
// Environment (optional, for longer runs):
//   STREAMLL_PROPERTY_SEED    the generator's seed (default 20261206); a failure prints the
//                             seed it ran with, to replay it.
//   STREAMLL_PROPERTY_EVENTS  events per run (default 400, about a second per run in the plain
//                             build); runs are checked in chunks, so a long run stays small in
//                             memory and in Redis.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <streamll/sinks/jsonl_file_sink.hpp>
#include <streamll/sinks/redis_sink.hpp>

#include "generated_events.hpp"
#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::property::EventGenerator;
using streamll::property::GeneratedEvent;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;

namespace {

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  return text != nullptr && *text != '\0' ? std::stoull(text) : fallback;
}

// Event JSON sizes on each side of a change in the number of length digits.
const std::vector<std::size_t> kBoundarySizes = {998,   999,   1000,  1001,  9998,   9999,
                                                 10000, 10001, 99998, 99999, 100000, 100001};

// Lines appended to a file since the previous call.
class LineReader {
 public:
  explicit LineReader(std::string path) : path_(std::move(path)) {}
  std::vector<std::string> new_lines() {
    std::ifstream in(path_, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset_));
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) {
      offset_ += line.size() + 1;
      lines.push_back(std::move(line));
    }
    return lines;
  }

 private:
  std::string path_;
  std::size_t offset_ = 0;
};

// An independent reading of a value the writer was given: nlohmann's parser against the input.
void require_value(const nlohmann::json& got, const streamll::Value& sent) {
  const auto& storage = sent.storage();
  if (std::holds_alternative<std::monostate>(storage)) {
    REQUIRE(got.is_null());
  } else if (const auto* b = std::get_if<bool>(&storage)) {
    REQUIRE(got == *b);
  } else if (const auto* i = std::get_if<std::int64_t>(&storage)) {
    REQUIRE(got.is_number_integer());
    REQUIRE(got.get<std::int64_t>() == *i);
  } else if (const auto* d = std::get_if<double>(&storage)) {
    if (std::isfinite(*d)) {
      REQUIRE(got.is_number());
      REQUIRE(got.get<double>() == *d);  // shortest round-trip form: bit-equal (0 == -0)
    } else {
      REQUIRE(got.is_null());
    }
  } else if (const auto* s = std::get_if<std::string>(&storage)) {
    REQUIRE(got == *s);
  } else if (const auto* raw = std::get_if<streamll::RawJson>(&storage)) {
    INFO("raw JSON " << nlohmann::json(raw->text).dump());
    // Verbatim (compacted) when it parses, as a string when it does not. nlohmann's accept()
    // takes a NUL byte for the end of input, and no JSON text holds a raw NUL.
    if (raw->text.find('\0') == std::string::npos && nlohmann::json::accept(raw->text)) {
      REQUIRE(got == nlohmann::json::parse(raw->text));
    } else {
      REQUIRE(got == raw->text);
    }
  }
}

void require_same_event(const nlohmann::json& json, const streamll::Event& sent) {
  REQUIRE(json.at("event_type") == std::string(sent.type_name()));
  REQUIRE(json.at("execution_id") == sent.execution_id());
  REQUIRE(json.at("operation") == sent.operation());
  REQUIRE(json.at("span_id") == sent.span_id());
  const auto& data = json.at("data");
  REQUIRE(data.size() == sent.data.size());
  for (const auto& field : sent.data) {
    INFO("data field " << nlohmann::json(field.key).dump());
    REQUIRE(data.contains(field.key));
    require_value(data.at(field.key), field.value);
  }
  const auto& tags = json.at("tags");
  REQUIRE(tags.size() == sent.tags().size());
  for (const auto& [key, value] : sent.tags()) REQUIRE(tags.at(key) == value);
}

}  // namespace

TEST_CASE("Generated events reach the stream once each, byte-exact as the JSONL sink writes them",
          "[redis_sink][property]") {
  const auto seed = static_cast<std::uint32_t>(env_number("STREAMLL_PROPERTY_SEED", 20261206));
  const auto count = static_cast<std::size_t>(env_number("STREAMLL_PROPERTY_EVENTS", 400));
  const bool index_fields = GENERATE(false, true);
  INFO("replay with STREAMLL_PROPERTY_SEED=" << seed << " STREAMLL_PROPERTY_EVENTS=" << count);
  CAPTURE(index_fields);
  constexpr std::size_t kChunk = 250;

  RedisServer server;
  streamll::RedisSinkOptions options;
  options.connection.url = server.url();
  options.stream_key = "property";
  options.index_fields = index_fields;
  options.buffer_size = kChunk;
  options.connection.connect_timeout = 2s;
  // Generous: a batch of 256 KiB events under a sanitizer must not be mistaken for a hang.
  options.connection.socket_timeout = 20s;
  streamll::RedisSink redis_sink(options);

  streamll::JsonlFileSinkOptions jsonl_options;
  jsonl_options.path = server.dir() + "/events.jsonl";
  jsonl_options.append = false;
  jsonl_options.queue_size = kChunk;
  streamll::JsonlFileSink jsonl_sink(jsonl_options);
  LineReader jsonl_lines(jsonl_options.path);

  DirectRedis redis = DirectRedis::tcp(server.port());
  EventGenerator generator(seed);
  const std::size_t boundary_stride = std::max<std::size_t>(count / kBoundarySizes.size(), 1);
  std::size_t next_boundary = 0;
  std::set<std::string> delivered_ids;

  for (std::size_t first = 0; first < count; first += kChunk) {
    std::vector<GeneratedEvent> chunk;
    for (std::size_t i = first; i < std::min(first + kChunk, count); ++i) {
      if (i % boundary_stride == 0 && next_boundary < kBoundarySizes.size()) {
        chunk.push_back(generator.sized(kBoundarySizes[next_boundary++]));
      } else {
        chunk.push_back(generator.next());
      }
      redis_sink.handle(chunk.back().event);
      jsonl_sink.handle(chunk.back().event);
    }
    REQUIRE(redis_sink.flush(30s));
    REQUIRE(jsonl_sink.flush(30s));

    const auto lines = jsonl_lines.new_lines();
    const auto entries = redis.xrange(options.stream_key);
    REQUIRE(lines.size() == chunk.size());
    REQUIRE(entries.size() == chunk.size());
    for (std::size_t i = 0; i < chunk.size(); ++i) {
      INFO("event " << first + i << " of the run, " << lines[i].size() << " bytes of JSON");
      const streamll::Event& sent = chunk[i].event;
      const std::string* event_field = entries[i].field("event");
      REQUIRE(event_field != nullptr);
      REQUIRE(*event_field == lines[i]);
      if (chunk[i].target_json_bytes != 0) REQUIRE(lines[i].size() == chunk[i].target_json_bytes);

      // The writer promises valid JSON whatever the input (invalid UTF-8 becomes U+FFFD).
      const auto json = nlohmann::json::parse(*event_field);
      REQUIRE(json.at("event_id") == sent.id.to_string());
      REQUIRE(delivered_ids.insert(sent.id.to_string()).second);
      if (chunk[i].valid_utf8) require_same_event(json, sent);

      REQUIRE(entries[i].fields.size() == (index_fields ? 4u : 1u));
      if (index_fields) {
        REQUIRE(*entries[i].field("event_type") == sent.type_name());
        REQUIRE(*entries[i].field("operation") == sent.operation());
        REQUIRE(*entries[i].field("execution_id") == sent.execution_id());
      }
    }
    // Keeps Redis small on long runs; the sink is idle after flush(), nothing is in flight.
    REQUIRE(redis.integer({"DEL", options.stream_key}) == 1);
  }

  REQUIRE(delivered_ids.size() == count);
  const auto stats = redis_sink.stats();
  CHECK(stats.enqueued == count);
  CHECK(stats.delivered == count);
  CHECK(stats.failed == 0);
  CHECK(stats.dropped() == 0);
  CHECK(stats.retried_batches == 0);
  CHECK(stats.transport_errors == 0);
  CHECK(stats.breaker_state == streamll::BreakerState::closed);
  CHECK(redis_sink.circuit_breaker().total_failures == 0);
  CHECK(jsonl_sink.written() == count);
  CHECK(jsonl_sink.dropped() == 0);
}
