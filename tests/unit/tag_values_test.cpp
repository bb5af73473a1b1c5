// Tags are string to string (docs/event-schema.md): an event whose tags hold any other value is
// rejected as invalid by parse_event_json, and so counted as invalid_event by consumers and
// analytics, whose fast decoder must agree. Judged on each key's last value, as a JSON
// document means.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <streamll/streamll.hpp>

#include "redis/analytics/usage_accumulator.hpp"
#include "redis/analytics/usage_decoder.hpp"
#include "redis/consumer/stream_entries.hpp"

namespace {

std::string event_with_tags(const std::string& tags) {
  return R"({"event_type":"llm_call","data":{"cost_usd":1.0},"tags":)" + tags + "}";
}

// What a consumer and analytics make of `json`: the usage decoder and decode_entry must agree
// with parse_event_json.
void check_rejected(const std::string& json, const std::string& reason) {
  INFO(json);
  streamll::Event event;
  std::string error;
  CHECK_FALSE(streamll::parse_event_json(json, event, &error));
  CHECK(error == reason);

  streamll::redis::UsageFields fields;
  streamll::DecodeFailureKind kind{};
  std::string why;
  CHECK_FALSE(streamll::redis::decode_usage_fields(json, fields, kind, why));
  CHECK(kind == streamll::DecodeFailureKind::invalid_event);

  streamll::redis::StreamEntry entry;
  entry.fields = {{"event", json}};
  streamll::DecodeFailure failure;
  CHECK_FALSE(streamll::redis::decode_entry(entry, event, failure));
  CHECK(failure.kind == streamll::DecodeFailureKind::invalid_event);

  streamll::redis::UsageAccumulator usage{streamll::UsageQuery{}};
  usage.add_entry(entry);
  const auto s = usage.result();
  CHECK(s.undecodable.invalid_event == 1);
  CHECK(s.events == 0);
  CHECK(s.total_cost_usd == 0);
}

void check_accepted(const std::string& json, const streamll::Tags& tags) {
  INFO(json);
  streamll::Event event;
  std::string error;
  REQUIRE(streamll::parse_event_json(json, event, &error));
  CHECK(event.tags() == tags);
  streamll::redis::UsageFields fields;
  streamll::DecodeFailureKind kind{};
  std::string why;
  CHECK(streamll::redis::decode_usage_fields(json, fields, kind, why));
}

}  // namespace

TEST_CASE("A tag value that is not a string makes the event invalid", "[json][tags]") {
  for (const std::string value : {"1", "-2.5", "1e3", "18446744073709551615", "true", "false",
                                  "null", R"({"x":"y"})", "{}", R"(["a"])", "[]"}) {
    check_rejected(event_with_tags(R"({"ok":"v","k":)" + value + "}"),
                   R"(tags value of "k" is not a string)");
  }
  // The first offending key in document order is named; the key is escaped as JSON.
  check_rejected(event_with_tags(R"({"a\nb":1,"c":2})"), R"(tags value of "a\nb" is not a string)");
}

TEST_CASE("A repeated tag key is judged on its last value", "[json][tags]") {
  check_accepted(event_with_tags(R"({"k":1,"other":"o","k":"s"})"), {{"k", "s"}, {"other", "o"}});
  check_rejected(event_with_tags(R"({"k":"s","k":1})"), R"(tags value of "k" is not a string)");
  // A later tags object replaces an earlier one, and null tags are none at all.
  check_accepted(R"({"event_type":"x","tags":{"k":1},"tags":{"k":"v"}})", {{"k", "v"}});
  check_accepted(R"({"event_type":"x","tags":{"k":[1]},"tags":null})", {});
  check_rejected(R"({"event_type":"x","tags":{"k":"v"},"tags":{"k":{}}})",
                 R"(tags value of "k" is not a string)");
}

TEST_CASE("String tags, empty or not, are accepted", "[json][tags]") {
  check_accepted(event_with_tags(R"({"environment":"production","empty":"","n":"1"})"),
                 {{"environment", "production"}, {"empty", ""}, {"n", "1"}});
  check_accepted(event_with_tags("{}"), {});
}
