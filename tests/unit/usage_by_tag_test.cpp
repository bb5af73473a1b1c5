// UsageQuery::group_by_tag: llm_call events added up per value of a tag, the same through a
// full Event and through the JSON a sink writes (the fast decoder), the calls without the tag
// in "(none)", values past max_tag_values in "(other)", and shards merged under the same cap.

#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include <streamll/streamll.hpp>

#include "redis/analytics/usage_accumulator.hpp"

namespace {

using streamll::Event;
using streamll::EventType;

Event call_of(const std::string& user, double cost, double response_ms) {
  auto context = std::make_shared<streamll::EventContext>();
  context->tags = {{"env", "prod"}};
  if (!user.empty()) context->tags.emplace_back("user_id", user);
  return Event::capture(EventType::llm_call, std::move(context),
                        {{"model", "m"},
                         {"tokens_used", 10},
                         {"input_tokens", 8},
                         {"output_tokens", 2},
                         {"cached_input_tokens", 4},
                         {"reasoning_tokens", 1},
                         {"cost_usd", cost},
                         {"response_time_ms", response_ms}});
}

streamll::redis::StreamEntry entry_of(const Event& event) {
  streamll::redis::StreamEntry entry;
  entry.id = "1-0";
  entry.fields = {{"event", streamll::to_json(event)}};
  return entry;
}

streamll::UsageQuery by_user(std::size_t cap = 1000) {
  streamll::UsageQuery q;
  q.group_by_tag = "user_id";
  q.max_tag_values = cap;
  return q;
}

}  // namespace

TEST_CASE("Calls are added up per tag value through events and through JSON alike", "[analytics]") {
  streamll::redis::UsageAccumulator via_events(by_user()), via_json(by_user());
  for (const Event& e : {call_of("a", 1.0, 10), call_of("a", 2.0, 30), call_of("b", 0.5, 20),
                         call_of("", 4.0, 5), call_of("", 0.0, 5)}) {
    via_events.add(e);
    via_json.add_entry(entry_of(e));
  }
  // Another event type in no group; a tag of that name with another value elsewhere ignored.
  const Event error = Event::capture(EventType::error, nullptr, {{"error_type", "x"}});
  via_events.add(error);
  via_json.add_entry(entry_of(error));
  for (const auto* acc : {&via_events, &via_json}) {
    const streamll::UsageStats s = acc->result();
    CHECK(s.tag_key == "user_id");
    REQUIRE(s.by_tag.size() == 3);
    const auto& a = s.by_tag.at("a");
    CHECK(a.calls == 2);
    CHECK(a.total_tokens == 20);
    CHECK(a.input_tokens == 16);
    CHECK(a.output_tokens == 4);
    CHECK(a.cached_input_tokens == 8);
    CHECK(a.reasoning_tokens == 2);
    CHECK(a.total_cost_usd == Approx(3.0));
    CHECK(a.response_time_ms.count == 2);
    CHECK(a.response_time_ms.max == 30);
    CHECK(s.by_tag.at("b").calls == 1);
    CHECK(s.by_tag.at("(none)").calls == 2);
    CHECK(s.by_tag.at("(none)").total_cost_usd == Approx(4.0));
    CHECK(s.total_calls == 5);
  }
}

TEST_CASE("Without group_by_tag no tag grouping is made", "[analytics]") {
  streamll::redis::UsageAccumulator acc(streamll::UsageQuery{});
  acc.add_entry(entry_of(call_of("a", 1.0, 10)));
  const auto s = acc.result();
  CHECK(s.tag_key.empty());
  CHECK(s.by_tag.empty());
}

TEST_CASE("Tag values past max_tag_values are added up as (other)", "[analytics]") {
  const std::size_t cap = GENERATE(1, 2, 3);
  CAPTURE(cap);
  streamll::redis::UsageAccumulator acc(by_user(cap));
  // (none) first: it takes no value's place.
  acc.add_entry(entry_of(call_of("", 1.0, 1)));
  for (const char* user : {"u1", "u2", "u3", "u1", "u4"})
    acc.add_entry(entry_of(call_of(user, 1.0, 1)));
  const auto s = acc.result();
  CHECK(s.by_tag.at("(none)").calls == 1);
  CHECK(s.by_tag.at("u1").calls == 2);
  const std::size_t named = s.by_tag.size() - 1 - s.by_tag.count("(other)");
  CHECK(named == cap);
  const std::uint64_t other = s.by_tag.count("(other)") ? s.by_tag.at("(other)").calls : 0;
  CHECK(other == 4 - cap);  // u2..u4, one call each, minus those within the cap
}

TEST_CASE("Shards' tag groups merge under the same cap", "[analytics]") {
  streamll::redis::UsageAccumulator total(by_user(2)), one(by_user(2)), two(by_user(2));
  one.add_entry(entry_of(call_of("a", 1.0, 1)));
  one.add_entry(entry_of(call_of("", 1.0, 1)));
  two.add_entry(entry_of(call_of("a", 1.0, 1)));
  two.add_entry(entry_of(call_of("b", 1.0, 1)));
  two.add_entry(entry_of(call_of("c", 1.0, 1)));
  two.add_entry(entry_of(call_of("", 1.0, 1)));
  total.merge(one);
  total.merge(two);
  const auto s = total.result();
  CHECK(s.by_tag.at("a").calls == 2);
  CHECK(s.by_tag.at("b").calls == 1);
  CHECK(s.by_tag.at("(none)").calls == 2);
  CHECK(s.by_tag.at("(other)").calls == 1);
  CHECK(s.by_tag.size() == 4);
}

TEST_CASE("The decoder reads the last value of a repeated tags object", "[analytics]") {
  streamll::redis::UsageFields f;
  streamll::DecodeFailureKind kind{};
  std::string why;
  const std::string json =
      R"({"event_id":"414c53c5-f16d-43f2-a9fc-c0158f58797d","event_type":"llm_call",)"
      R"("timestamp":"2026-12-06T20:52:34.350133Z","data":{},)"
      R"("tags":{"user_id":"first"},"tags":{"env":"x"}})";
  REQUIRE(streamll::redis::decode_usage_fields(json, f, kind, why, "user_id"));
  CHECK_FALSE(f.tag_value.has_value());
  const std::string again = json.substr(0, json.size() - 1) + R"(,"tags":{"user_id":"last"}})";
  REQUIRE(streamll::redis::decode_usage_fields(again, f, kind, why, "user_id"));
  CHECK(f.tag_value == "last");
  REQUIRE(streamll::redis::decode_usage_fields(again, f, kind, why));
  CHECK_FALSE(f.tag_value.has_value());
}
