// A key given twice in an event's data (or inside raw JSON) is written once: at its first
// position, with its last value. Oracles: nlohmann's parser, which reports every key as it
// reads it (so a repeat cannot hide), a plain model of the rule, and parse_event_json.

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <streamll/streamll.hpp>

namespace {

using streamll::Event;
using streamll::EventType;
using streamll::Fields;

// The keys of the top-level `data` object in the order the text holds them, repeats included.
std::vector<std::string> data_keys_as_written(const std::string& json) {
  std::vector<std::string> keys;
  std::string top_key;
  nlohmann::json::parser_callback_t record = [&](int depth, nlohmann::json::parse_event_t event,
                                                 nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::key) {
      if (depth == 1) top_key = parsed.get<std::string>();
      if (depth == 2 && top_key == "data") keys.push_back(parsed.get<std::string>());
    }
    return true;
  };
  const nlohmann::json doc = nlohmann::json::parse(json, record);
  REQUIRE(doc.is_object());
  return keys;
}

// The rule, written the obvious way: first position, last value.
std::vector<std::pair<std::string, std::int64_t>> merged(
    const std::vector<std::pair<std::string, std::int64_t>>& fields) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (const auto& [key, value] : fields) {
    bool found = false;
    for (auto& kept : out) {
      if (kept.first == key) kept.second = value, found = true;
    }
    if (!found) out.emplace_back(key, value);
  }
  return out;
}

Event event_with(Fields data) {
  return Event::capture(EventType::custom, nullptr, std::move(data), "x");
}

struct Recorder {
  std::shared_ptr<streamll::MemorySink> sink = std::make_shared<streamll::MemorySink>();
  streamll::Instrumentor instrumentor{streamll::InstrumentorOptions{{sink}, {}, {}}};
};

}  // namespace

TEST_CASE("A data key appended twice is written once, first position, last value", "[json]") {
  Fields data;
  data.append_new("k", 1);
  data.append_new("other", "x");
  data.append_new("k", 2);
  const std::string json = streamll::to_json(event_with(std::move(data)));
  CHECK(data_keys_as_written(json) == std::vector<std::string>{"k", "other"});
  const auto doc = nlohmann::json::parse(json);
  CHECK(doc["data"]["k"] == 2);
  CHECK(doc["data"]["other"] == "x");

  Event back;
  REQUIRE(streamll::parse_event_json(json, back));
  CHECK(back.data == Fields{{"k", 2}, {"other", "x"}});
}

TEST_CASE("Repeated data keys in any number and order follow the rule", "[json]") {
  std::mt19937 rng(11);
  for (int round = 0; round < 300; ++round) {
    // Up to 90 fields (past the 64 the quick check handles) from pools of 1 to 100 keys, so
    // that some events repeat nothing, some repeat everything.
    const int pool = 1 + static_cast<int>(rng() % 100);
    const int count = static_cast<int>(rng() % 91);
    std::vector<std::pair<std::string, std::int64_t>> given;
    Fields data;
    for (int i = 0; i < count; ++i) {
      std::string key = "k" + std::to_string(rng() % static_cast<unsigned>(pool));
      given.emplace_back(key, i);
      data.append_new(key, i);
    }
    INFO("round " << round << ", " << count << " fields from " << pool << " keys");
    const std::string json = streamll::to_json(event_with(std::move(data)));
    const auto expected = merged(given);
    std::vector<std::string> expected_keys;
    for (const auto& kv : expected) expected_keys.push_back(kv.first);
    REQUIRE(data_keys_as_written(json) == expected_keys);
    const auto doc = nlohmann::json::parse(json);
    for (const auto& [key, value] : expected) CHECK(doc["data"][key] == value);

    Event back;
    REQUIRE(streamll::parse_event_json(json, back));
    Fields expected_fields;
    for (const auto& [key, value] : expected) expected_fields.append_new(key, value);
    CHECK(back.data == expected_fields);
  }
}

TEST_CASE("Distinct keys that look alike to the quick check are all written", "[json]") {
  // "ad" and "ba": same length, and 3 * first byte + last byte is 391 for both.
  const std::string json = streamll::to_json(event_with(Fields{{"ad", 1}, {"ba", 2}, {"", 3}}));
  CHECK(data_keys_as_written(json) == std::vector<std::string>{"ad", "ba", ""});
}

TEST_CASE("Span and LLM call fields set twice are one key with the last value", "[json]") {
  Recorder r;
  {
    streamll::Span span(r.instrumentor, "op");
    span.set("k", 1);
    span.set("k", 2);
    span.set("duration_ms", -1);  // the span's own duration replaces it
  }
  {
    streamll::Span span(r.instrumentor, "failing");
    span.set("error_type", "mine");
    span.fail("Theirs", "message");
  }
  {
    streamll::LlmCall call(r.instrumentor, "model-a");
    streamll::LlmUsage usage;
    usage.cost_usd = 0.5;
    usage.extra = {{"model", "model-b"}, {"cost_usd", 0.25}};
    call.finish(std::move(usage));
  }
  const auto end = r.sink->events_of_type(EventType::end);
  const auto error = r.sink->events_of_type(EventType::error);
  const auto call = r.sink->events_of_type(EventType::llm_call);
  REQUIRE(end.size() == 1);
  REQUIRE(error.size() == 1);
  REQUIRE(call.size() == 1);

  const std::string end_json = streamll::to_json(end[0]);
  CHECK(data_keys_as_written(end_json) == std::vector<std::string>{"k", "duration_ms"});
  const auto end_doc = nlohmann::json::parse(end_json);
  CHECK(end_doc["data"]["k"] == 2);
  CHECK(end_doc["data"]["duration_ms"].get<double>() >= 0);

  const std::string error_json = streamll::to_json(error[0]);
  const auto error_keys = data_keys_as_written(error_json);
  CHECK(std::count(error_keys.begin(), error_keys.end(), "error_type") == 1);
  CHECK(nlohmann::json::parse(error_json)["data"]["error_type"] == "mine");

  const std::string call_json = streamll::to_json(call[0]);
  const auto call_keys = data_keys_as_written(call_json);
  CHECK(std::count(call_keys.begin(), call_keys.end(), "model") == 1);
  CHECK(std::count(call_keys.begin(), call_keys.end(), "cost_usd") == 1);
  const auto call_doc = nlohmann::json::parse(call_json);
  CHECK(call_doc["data"]["model"] == "model-b");
  CHECK(call_doc["data"]["cost_usd"] == 0.25);
}

TEST_CASE("Raw JSON with a repeated key is written with the key once, last value", "[json]") {
  const std::string json = streamll::to_json(
      event_with(Fields{{"raw", streamll::RawJson{R"({"a": 1, "b": {"x": 1, "x": [2]}, "a": 3})"}},
                        {"list", streamll::RawJson{R"([{"y": true, "y": false}])"}},
                        {"kept", streamll::RawJson{R"({ "n": 1.50, "m": 1E2 })"}},
                        {"bad", streamll::RawJson{R"({"a": 1,)"}}}));
  // Exact text: the merged objects in their first keys' order; one without a repeat keeps
  // its bytes (numbers as written); one that does not parse is a string.
  CHECK(json.find(R"("raw":{"a":3,"b":{"x":[2]}})") != std::string::npos);
  CHECK(json.find(R"("list":[{"y":false}])") != std::string::npos);
  CHECK(json.find(R"("kept":{"n":1.50,"m":1E2})") != std::string::npos);
  CHECK(json.find(R"("bad":"{\"a\": 1,")") != std::string::npos);

  Event back;
  REQUIRE(streamll::parse_event_json(json, back));
  CHECK(back.data["raw"] == streamll::Value(streamll::RawJson{R"({"a":3,"b":{"x":[2]}})"}));
  CHECK(back.data["list"] == streamll::Value(streamll::RawJson{R"([{"y":false}])"}));
}

// A redactor that set()s or erase()s a key must reach every repeat of it: the writer sends a
// repeated key's last value, so touching only the first would leak the value it meant to hide.
TEST_CASE("set and erase reach every repeat of a key", "[json][privacy]") {
  for (int repeats = 1; repeats <= 4; ++repeats) {
    Fields data;
    data.append_new("before", 0);
    for (int i = 0; i < repeats; ++i) {
      data.append_new("secret", "value-" + std::to_string(i));
      data.append_new("gap" + std::to_string(i), i);
    }

    Fields replaced = data;
    replaced.set("secret", "[REDACTED]");
    CHECK(replaced.size() == data.size());
    for (const auto& f : replaced) {
      if (f.key == "secret") CHECK(f.value == streamll::Value("[REDACTED]"));
    }
    const std::string json = streamll::to_json(event_with(std::move(replaced)));
    CHECK(json.find("value-") == std::string::npos);
    const auto keys = data_keys_as_written(json);
    REQUIRE(keys.size() == static_cast<std::size_t>(2 + repeats));
    CHECK(keys[1] == "secret");  // the first position is kept
    CHECK(nlohmann::json::parse(json)["data"]["secret"] == "[REDACTED]");

    Fields erased = data;
    CHECK(erased.erase("secret"));
    CHECK_FALSE(erased.contains("secret"));
    CHECK(erased.size() == static_cast<std::size_t>(1 + repeats));
    CHECK(streamll::to_json(event_with(Fields(erased))).find("value-") == std::string::npos);
    CHECK_FALSE(erased.erase("secret"));
  }
}

TEST_CASE("set and erase take a key that views one of the fields", "[json][privacy]") {
  // Keys longer than a short-string buffer, so a moved-from key would be visibly emptied.
  const std::string a(40, 'a');
  const std::string b(40, 'b');
  Fields data;
  data.append_new(a, 1);
  data.append_new(b, 2);
  data.append_new(b, 3);
  data.append_new(a, 4);

  Fields erased = data;
  CHECK(erased.erase(erased.begin()->key));
  REQUIRE(erased.size() == 2);
  CHECK(erased.begin()->key == b);
  CHECK(std::next(erased.begin())->key == b);

  Fields replaced = data;
  replaced.set(std::prev(replaced.end())->key, 9);
  REQUIRE(replaced.size() == 4);
  CHECK(replaced.get<std::int64_t>(a) == 9);
  CHECK(nlohmann::json::parse(streamll::to_json(event_with(std::move(replaced))))["data"][a] == 9);
}

TEST_CASE("a redactor may set fields while it iterates over them", "[json][privacy]") {
  Fields data;
  data.append_new("secret", "one");
  data.append_new("kept", 1);
  data.append_new("secret", "two");
  std::size_t visited = 0;
  for (const auto& f : data) {
    ++visited;
    if (f.key == "secret") data.set(f.key, "[X]");
  }
  CHECK(visited == 3);
  const std::string json = streamll::to_json(event_with(std::move(data)));
  CHECK(json.find("one") == std::string::npos);
  CHECK(json.find("two") == std::string::npos);
  CHECK(nlohmann::json::parse(json)["data"]["secret"] == "[X]");
}
