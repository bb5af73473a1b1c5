// UsageQuery::group_by_tag: llm_call events added up per value of a tag, the same through a
// full Event and through the JSON a sink writes (the fast decoder), the calls without the tag
// in "(none)", values past max_tag_values in "(other)", shards merged under the same cap in
// merge order, long values cut, and the fast decoder's tag value against parse_event_json's.

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

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

TEST_CASE("The decoder's tag value is parse_event_json's", "[analytics]") {
  // The oracle: the full parser, then Event::tag(). Escapes in keys and values, a key given
  // twice inside tags, tags given again as a string, null, then an object, and values spelt
  // like the buckets.
  const std::string head = R"({"event_type":"llm_call","data":{"model":"m"},)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"user_id", head + R"("tags":{"user_id":"plain"}})"},
      {"user_id", head + R"("tags":{"user\u005fid":"escaped key"}})"},
      {"user_id", head + R"("tags":{"user_id":"tab\there \"quoted\" \\ back"}})"},
      {"user_id", head + R"("tags":{"user_id":"\u00e9\u4e2d\ud83d\ude00"}})"},
      {"user_id", head + R"("tags":{"user_id":"\u0000nul"}})"},
      {"us\"er", head + R"("tags":{"us\"er":"quote in key"}})"},
      {"user_id", head + R"("tags":{"user_id":"first","user_id":"second"}})"},
      {"user_id", head + R"("tags":{"user_id":"first","env":"x","user_id":"second"}})"},
      {"user_id", head + R"("tags":"t","tags":null,"tags":{"user_id":"object last"}})"},
      {"user_id", head + R"("tags":null,"tags":{"user_id":"after null"}})"},
      {"user_id", head + R"("tags":{"user_id":"before null"},"tags":null})"},
      {"user_id", head + R"j("tags":{"user_id":"(none)"}})j"},
      {"user_id", head + R"j("tags":{"user_id":"(other)"}})j"},
      {"user_id", head + R"("tags":{"user_id":""}})"},
      {"user_id", head + R"("tags":{"USER_ID":"case"}})"},
      {"user_id", head + R"("tags":{}})"},
  };
  for (const auto& [key, json] : cases) {
    INFO(json);
    streamll::Event event;
    std::string error;
    const bool full = streamll::parse_event_json(json, event, &error);
    streamll::redis::UsageFields f;
    streamll::DecodeFailureKind kind{};
    std::string why;
    const bool fast = streamll::redis::decode_usage_fields(json, f, kind, why, key);
    REQUIRE(fast == full);
    REQUIRE(full);  // every case is a valid event: none may drop out of the comparison
    const streamll::TagValue oracle = event.tag(key);
    CHECK(f.tag_value.has_value() == oracle.has_value());
    if (oracle.has_value() && f.tag_value) CHECK(*f.tag_value == *oracle);
  }

  // Hostile bytes: both parsers must judge them alike, and agree on what they keep.
  const std::vector<std::string> hostile = {
      head + "\"tags\":{\"user_id\":\"raw\x01control\"}}",
      head + "\"tags\":{\"user_id\":\"bad \xff byte\"}}",
      head + "\"tags\":{\"user_id\":\"\xe4\xb8\"}}",  // a cut 3-byte character
      head + R"("tags":{"user_id":"lone \ud800 surrogate"}})",
      head + R"("tags":{"user_id":"cut \u12"}})",
      head + R"("tags":{"user_id":)",
  };
  int accepted = 0;
  for (const auto& json : hostile) {
    INFO(json);
    streamll::Event event;
    const bool full = streamll::parse_event_json(json, event);
    streamll::redis::UsageFields f;
    streamll::DecodeFailureKind kind{};
    std::string why;
    REQUIRE(streamll::redis::decode_usage_fields(json, f, kind, why, "user_id") == full);
    if (!full) continue;
    ++accepted;
    const streamll::TagValue oracle = event.tag("user_id");
    CHECK(f.tag_value.has_value() == oracle.has_value());
    if (oracle.has_value() && f.tag_value) CHECK(*f.tag_value == *oracle);
  }
  CHECK(accepted < static_cast<int>(hostile.size()));  // the cut document at least is refused
}

TEST_CASE("Tag values spelt (none) or (other) join those buckets", "[analytics]") {
  streamll::redis::UsageAccumulator acc(by_user(5));
  for (const char* user : {"(none)", "(other)", "", "a"})
    acc.add_entry(entry_of(call_of(user, 1, 1)));
  const auto s = acc.result();
  CHECK(s.by_tag.at("(none)").calls == 2);
  CHECK(s.by_tag.at("(other)").calls == 1);
  CHECK(s.by_tag.at("a").calls == 1);
  CHECK(s.by_tag.size() == 3);
}

TEST_CASE("max_tag_values 0 puts every value in (other) and keeps (none)", "[analytics]") {
  streamll::redis::UsageAccumulator acc(by_user(0));
  for (const char* user : {"a", "b", "", "a"}) acc.add_entry(entry_of(call_of(user, 1, 1)));
  const auto s = acc.result();
  REQUIRE(s.by_tag.size() == 2);
  CHECK(s.by_tag.at("(other)").calls == 3);
  CHECK(s.by_tag.at("(none)").calls == 1);
}

TEST_CASE("A model named (none) takes a place under max_models", "[analytics]") {
  // The (none) exemption is the tag grouping's: for models and event types it is a name.
  streamll::UsageQuery q = by_user();
  q.max_models = 1;
  streamll::redis::UsageAccumulator acc(q);
  streamll::Event named_none = call_of("a", 1, 1);
  named_none.data.set("model", "(none)");
  acc.add(named_none);
  acc.add(call_of("a", 1, 1));  // model "m": past the cap
  const auto s = acc.result();
  CHECK(s.models.size() == 2);
  CHECK(s.models.at("(none)").calls == 1);
  CHECK(s.models.at("(other)").calls == 1);
  CHECK(s.calls_per_model.count("m") == 0);
}

TEST_CASE("Long tag values are cut to kMaxTagValueBytes at a character boundary", "[analytics]") {
  constexpr std::size_t cap = streamll::kMaxTagValueBytes;
  streamll::redis::UsageAccumulator acc(by_user());
  const std::string exact(cap, 'x');
  acc.add_entry(entry_of(call_of(exact, 1, 1)));             // kept whole
  acc.add_entry(entry_of(call_of(exact + "tail-1", 1, 1)));  // cut: joins it
  acc.add_entry(entry_of(call_of(exact + "tail-2", 1, 1)));  // cut: joins it
  // A two-byte character across the limit is not split: cut before it.
  const std::string accented = std::string(cap - 1, 'y') + "\xc3\xa9" + "z";
  acc.add_entry(entry_of(call_of(accented, 1, 1)));
  const std::string below(cap - 1, 'w');
  acc.add_entry(entry_of(call_of(below, 1, 1)));
  const auto s = acc.result();
  CHECK(s.by_tag.at(exact).calls == 3);
  CHECK(s.by_tag.at(std::string(cap - 1, 'y')).calls == 1);
  CHECK(s.by_tag.at(below).calls == 1);
  CHECK(s.by_tag.size() == 3);
  for (const auto& [value, usage] : s.by_tag) CHECK(value.size() <= cap);
  // Through an Event alike.
  streamll::redis::UsageAccumulator via_event(by_user());
  via_event.add(call_of(exact + "tail-1", 1, 1));
  CHECK(via_event.result().by_tag.count(exact) == 1);
}

TEST_CASE("Shards' tag values keep their places in merge order", "[analytics]") {
  // The values of the shard merged first are counted apart, whatever the times of the calls.
  streamll::redis::UsageAccumulator one(by_user(1)), two(by_user(1));
  one.add_entry(entry_of(call_of("from-one", 1, 1)));
  two.add_entry(entry_of(call_of("from-two", 1, 1)));
  streamll::redis::UsageAccumulator one_first(by_user(1)), two_first(by_user(1));
  one_first.merge(one);
  one_first.merge(two);
  two_first.merge(two);
  two_first.merge(one);
  CHECK(one_first.result().by_tag.count("from-one") == 1);
  CHECK(one_first.result().by_tag.at("(other)").calls == 1);
  CHECK(two_first.result().by_tag.count("from-two") == 1);
  CHECK(two_first.result().by_tag.at("(other)").calls == 1);
}
