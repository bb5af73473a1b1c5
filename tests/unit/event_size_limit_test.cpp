// RedisSinkOptions::max_event_bytes: events over the limit have their longest string values
// cut with a visible marker (valid JSON, every key kept, UTF-8 intact), events that cannot fit
// are failed; checked on the XADD bytes the encoder writes (parsed back as RESP, the JSON by
// nlohmann) and through the sink's counters.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>

#include <map>
#include <string>

#include "eventually.hpp"
#include "fake_redis.hpp"
#include "injected.hpp"
#include "manual_clock.hpp"
#include "redis/sink/xadd_encoder.hpp"
#include "redis/transport/command_buffer.hpp"

using namespace std::chrono_literals;
using streamll::detail::Injected;
using streamll::redis::EncodeResult;
using streamll::testing::eventually;

namespace {

streamll::Event event_with(streamll::Fields data, streamll::Tags tags = {}) {
  auto context = std::make_shared<streamll::EventContext>(
      streamll::EventContext{"exec_size", "span1", "", "op", "", std::move(tags)});
  return streamll::Event::capture(streamll::EventType::custom, context, std::move(data),
                                  "size_test");
}

std::size_t json_size(const streamll::Event& event) { return streamll::to_json(event).size(); }

struct Encoded {
  EncodeResult result;
  std::string json;  // the XADD's `event` field, read back through its RESP bulk length
};

Encoded encode(const streamll::Event& event, std::size_t max_event_bytes) {
  streamll::RedisSinkOptions o;
  o.max_event_bytes = max_event_bytes;
  const streamll::redis::XaddEncoder encoder(o);
  streamll::redis::CommandBuffer commands;
  const EncodeResult result = encoder.append_command(event, commands);
  if (result != EncodeResult::ok && result != EncodeResult::truncated) {
    CHECK(commands.bytes().empty());
    return {result, {}};
  }
  const auto parsed = streamll::testing::parse_resp_commands(commands.bytes());
  REQUIRE(parsed.size() == 1);
  REQUIRE(parsed[0].size() == 8);
  CHECK(parsed[0][6] == "event");
  return {result, parsed[0][7]};
}

// The text before the marker and the count the marker names; the marker must end `value`.
struct Cut {
  std::string kept;
  std::size_t count;
};
Cut split_marker(const std::string& value) {
  const std::string prefix = "...[truncated ";
  const std::size_t at = value.rfind(prefix);
  REQUIRE(at != std::string::npos);
  REQUIRE(value.size() > at + prefix.size() + 7);
  REQUIRE(value.substr(value.size() - 7) == " bytes]");
  const std::string digits =
      value.substr(at + prefix.size(), value.size() - 7 - at - prefix.size());
  return {value.substr(0, at), std::stoul(digits)};
}

}  // namespace

TEST_CASE("max_event_bytes: an event just under, at and just over the limit", "[event_size]") {
  const std::string text(5000, 'x');
  const auto event = event_with({{"text", text}, {"n", 7}});
  const std::size_t full = json_size(event);
  const std::string expected = streamll::to_json(event);

  for (const std::size_t limit : {full + 1, full}) {
    const Encoded e = encode(event, limit);
    CHECK(e.result == EncodeResult::ok);
    CHECK(e.json == expected);
  }

  const Encoded over = encode(event, full - 1);
  REQUIRE(over.result == EncodeResult::truncated);
  CHECK(over.json.size() <= full - 1);
  const auto json = nlohmann::json::parse(over.json);
  CHECK(json["data"]["n"] == 7);
  const Cut cut = split_marker(json["data"]["text"].get<std::string>());
  CHECK(cut.kept == text.substr(0, cut.kept.size()));
  CHECK(cut.kept.size() + cut.count == text.size());
  CHECK(cut.count > 0);
}

TEST_CASE("max_event_bytes: 0 disables the limit", "[event_size]") {
  const auto event = event_with({{"text", std::string(3 << 20, 'y')}});
  const Encoded e = encode(event, 0);
  CHECK(e.result == EncodeResult::ok);
  CHECK(e.json == streamll::to_json(event));
}

TEST_CASE("max_event_bytes: a cut keeps valid JSON, every key, and whole UTF-8 characters",
          "[event_size]") {
  std::string accented;
  for (int i = 0; i < 3000; ++i) accented += "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // é € 😀
  std::string quoted;
  for (int i = 0; i < 2000; ++i) quoted += "a\"\\\n";  // escapes: JSON longer than the bytes
  streamll::Fields data{{"accented", accented}, {"quoted", quoted}, {"short", "kept"},
                        {"flag", true},         {"ratio", 0.25},    {"nothing", nullptr}};
  const auto event = event_with(std::move(data), {{"env", "prod"}});

  for (const std::size_t limit : {std::size_t{20000}, std::size_t{9000}, std::size_t{2000}}) {
    INFO("limit " << limit);
    const Encoded e = encode(event, limit);
    REQUIRE(e.result == EncodeResult::truncated);
    CHECK(e.json.size() <= limit);
    const auto json = nlohmann::json::parse(e.json);  // throws on invalid UTF-8 as well
    for (const char* key : {"accented", "quoted", "short", "flag", "ratio", "nothing"}) {
      CHECK(json["data"].contains(key));
    }
    CHECK(json["data"]["short"] == "kept");
    CHECK(json["data"]["flag"] == true);
    CHECK(json["data"]["ratio"] == 0.25);
    CHECK(json["tags"]["env"] == "prod");
    CHECK(json["event_type"] == "size_test");
    const Cut cut = split_marker(json["data"]["accented"].get<std::string>());
    CHECK(cut.kept == accented.substr(0, cut.kept.size()));
    CHECK(cut.kept.size() + cut.count == accented.size());  // whole characters: parse passed
  }
}

TEST_CASE("max_event_bytes: longest values are cut first", "[event_size]") {
  const std::string a(60000, 'a'), b(40000, 'b'), c(300, 'c');
  const auto event = event_with({{"c", c}, {"b", b}, {"a", a}});
  const std::size_t full = json_size(event);

  SECTION("a small excess cuts the longest value only") {
    const Encoded e = encode(event, full - 10000);
    REQUIRE(e.result == EncodeResult::truncated);
    const auto json = nlohmann::json::parse(e.json);
    CHECK(split_marker(json["data"]["a"].get<std::string>()).count >= 10000);
    CHECK(json["data"]["b"] == b);
    CHECK(json["data"]["c"] == c);
  }
  SECTION("an excess larger than the longest value cuts the next one too") {
    const Encoded e = encode(event, 20000);
    REQUIRE(e.result == EncodeResult::truncated);
    CHECK(e.json.size() <= 20000);
    const auto json = nlohmann::json::parse(e.json);
    const Cut cut_a = split_marker(json["data"]["a"].get<std::string>());
    CHECK(cut_a.kept.empty());
    CHECK(cut_a.count == a.size());
    const Cut cut_b = split_marker(json["data"]["b"].get<std::string>());
    CHECK(cut_b.kept == b.substr(0, cut_b.kept.size()));
    CHECK_FALSE(cut_b.kept.empty());
    CHECK(json["data"]["c"] == c);
  }
}

TEST_CASE("max_event_bytes: raw JSON and tag values are cut as strings", "[event_size]") {
  std::string array = "[";
  for (int i = 0; i < 3000; ++i) array += (i ? ",\"item" : "\"item") + std::to_string(i) + "\"";
  array += "]";
  const std::string prompt(20000, 'p');
  const auto event = event_with({{"documents", streamll::RawJson{array}}, {"n", 1}},
                                {{"prompt", prompt}, {"env", "prod"}});
  const std::size_t full = json_size(event);
  REQUIRE(full > 50000);

  // Cut, the raw JSON is a string whose quotes are escaped: longer than its bytes.
  const Encoded partly = encode(event, 30000);
  REQUIRE(partly.result == EncodeResult::truncated);
  CHECK(partly.json.size() <= 30000);
  auto json = nlohmann::json::parse(partly.json);
  REQUIRE(json["data"]["documents"].is_string());
  const Cut docs = split_marker(json["data"]["documents"].get<std::string>());
  CHECK(docs.kept == array.substr(0, docs.kept.size()));
  CHECK_FALSE(docs.kept.empty());
  CHECK(json["tags"]["prompt"] == prompt);

  const Encoded both = encode(event, 4096);
  REQUIRE(both.result == EncodeResult::truncated);
  CHECK(both.json.size() <= 4096);
  json = nlohmann::json::parse(both.json);
  const Cut tag = split_marker(json["tags"]["prompt"].get<std::string>());
  CHECK(tag.kept == std::string(tag.kept.size(), 'p'));
  CHECK(tag.kept.size() + tag.count == prompt.size());
  CHECK(json["tags"]["env"] == "prod");
  CHECK(json["data"]["n"] == 1);
}

TEST_CASE("max_event_bytes: an event that no cut makes fit is too large", "[event_size]") {
  streamll::Fields data;
  for (int i = 0; i < 2000; ++i) data.append_new("field_" + std::to_string(i), "v");
  const auto event = event_with(std::move(data));
  CHECK(encode(event, 4096).result == EncodeResult::too_large);
  CHECK(encode(event, 0).result == EncodeResult::ok);
}

TEST_CASE("max_event_bytes: compaction cuts an event once and holds it cut", "[event_size]") {
  streamll::Fields data;
  data.set("text", std::string(10000, 't'));
  for (int i = 0; i < 60; ++i) data.set("a_long_field_name_" + std::to_string(i), i * 0.5);
  streamll::redis::BufferedEvent item = event_with(std::move(data));
  streamll::RedisSinkOptions o;
  o.max_event_bytes = 4096;
  const streamll::redis::XaddEncoder encoder(o);
  std::string scratch;
  CHECK(encoder.compact(item, scratch) == EncodeResult::truncated);
  REQUIRE(std::holds_alternative<std::string>(item));
  streamll::redis::CommandBuffer commands;
  CHECK(encoder.append_command(item, commands) == EncodeResult::ok);  // not cut (counted) again
  const auto parsed = streamll::testing::parse_resp_commands(commands.bytes());
  REQUIRE(parsed.size() == 1);
  const auto json = nlohmann::json::parse(parsed[0].at(7));
  CHECK(split_marker(json["data"]["text"].get<std::string>()).count > 0);
  CHECK(json["data"]["a_long_field_name_59"] == 29.5);
}

TEST_CASE("RedisSink counts truncated and too-large events and flush reports the loss",
          "[event_size][redis_sink]") {
  streamll::RedisSinkOptions o;
  o.connection.url = "redis://127.0.0.1:6379";
  o.max_event_bytes = 4096;
  o.heartbeat_interval = std::chrono::milliseconds(0);  // counted here: round trips, commands
  o.shutdown_timeout = 500ms;
  streamll::testing::ManualClock clock;
  auto server = std::make_shared<streamll::testing::FakeRedis>();
  streamll::RedisSink sink =
      Injected::redis_sink(o, streamll::testing::fake_transport_factory(server), clock);

  streamll::Fields many;
  for (int i = 0; i < 2000; ++i) many.append_new("field_" + std::to_string(i), i);
  sink.handle(event_with({{"n", 0}}));
  sink.handle(event_with({{"n", 1}, {"text", std::string(50000, 'x')}}));
  sink.handle(event_with(std::move(many)));
  sink.handle(event_with({{"n", 3}}));
  CHECK_FALSE(sink.flush(5s));  // resolved, one event lost

  const auto stats = sink.stats();
  CHECK(stats.delivered == 3);
  CHECK(stats.truncated == 1);
  CHECK(stats.failed == 1);
  CHECK(stats.failed_too_large == 1);
  CHECK(stats.buffered == 0);
  CHECK(stats.last_error.find("max_event_bytes") != std::string::npos);
  const auto stream = server->stream();
  REQUIRE(stream.size() == 3);
  for (const auto& entry : stream) CHECK(entry.size() <= 4096);
  CHECK(nlohmann::json::parse(stream[1])["data"]["n"] == 1);

  sink.handle(event_with({{"n", 4}}));
  CHECK(sink.flush(5s));  // the next window has no loss
  CHECK(sink.stats().truncated == 1);
}

TEST_CASE("RedisSink counts an event cut while Redis was down once", "[event_size][redis_sink]") {
  streamll::RedisSinkOptions o;
  o.connection.url = "redis://127.0.0.1:6379";
  o.max_event_bytes = 4096;
  o.heartbeat_interval = std::chrono::milliseconds(0);  // counted here: round trips, commands
  o.failure_threshold = 1;
  o.recovery_timeout = 30s;
  o.shutdown_timeout = 500ms;
  streamll::testing::ManualClock clock;
  auto server = std::make_shared<streamll::testing::FakeRedis>();
  streamll::RedisSink sink =
      Injected::redis_sink(o, streamll::testing::fake_transport_factory(server), clock);
  server->set_down(true);
  sink.handle(event_with({{"n", 0}}));  // taken into the first batch before the breaker opened
  REQUIRE(eventually([&] {
    clock.advance(1s);
    sink.flush(0ms);
    return sink.circuit_breaker().state == streamll::BreakerState::open;
  }));
  for (int i = 1; i <= 3; ++i) {
    streamll::Fields data;
    data.set("n", i);
    data.set("text", std::string(10000, 't'));
    for (int k = 0; k < 60; ++k) data.set("a_long_field_name_" + std::to_string(k), k * 0.5);
    sink.handle(event_with(std::move(data)));
  }
  REQUIRE(eventually([&] {
    sink.flush(0ms);
    return sink.stats().buffered_compacted == 3 && sink.stats().truncated == 3;
  }));  // counted when cut, at compaction

  server->set_down(false);
  clock.advance(120s);
  REQUIRE(eventually([&] {
    clock.advance(1s);
    return sink.flush(20ms);
  }));
  const auto stats = sink.stats();
  CHECK(stats.delivered == 4);
  CHECK(stats.truncated == 3);  // not again when sent
  CHECK(stats.failed == 0);
}

TEST_CASE("max_event_bytes: validation, default and STREAMLL_MAX_EVENT_BYTES", "[event_size]") {
  streamll::RedisSinkOptions o;
  CHECK(o.max_event_bytes == 1048576);
  o.max_event_bytes = 0;
  CHECK_NOTHROW(o.validate());
  o.max_event_bytes = 1024;
  CHECK_NOTHROW(o.validate());
  o.max_event_bytes = 1023;
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("max_event_bytes") && Catch::Contains("1023"));
  CHECK(streamll::to_string(o).find("max_event_bytes=1023") != std::string::npos);

  const auto from = [](std::map<std::string, std::string> vars) {
    return streamll::RedisSinkOptions::from_env(
        [vars](const char* name) -> std::optional<std::string> {
          const auto it = vars.find(name);
          if (it == vars.end()) return std::nullopt;
          return it->second;
        });
  };
  CHECK(from({}).max_event_bytes == 1048576);
  CHECK(from({{"STREAMLL_MAX_EVENT_BYTES", "65536"}}).max_event_bytes == 65536);
  CHECK(from({{"STREAMLL_MAX_EVENT_BYTES", "0"}}).max_event_bytes == 0);
  CHECK_THROWS_WITH(from({{"STREAMLL_MAX_EVENT_BYTES", "1MB"}}),
                    Catch::Contains("STREAMLL_MAX_EVENT_BYTES") && Catch::Contains("1MB"));
  CHECK_THROWS_WITH(from({{"STREAMLL_MAX_EVENT_BYTES", "500"}}).validate(),
                    Catch::Contains("max_event_bytes"));
}
