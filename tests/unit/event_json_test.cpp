// The event's JSON form: the guide's schema, round trips through parse_event_json, and the
// rules that keep the output valid JSON whatever the input (bad UTF-8, NaN, control bytes).

#include <catch2/catch.hpp>

#include <cctype>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <streamll/streamll.hpp>

namespace {

using nlohmann::json;
using streamll::Event;
using streamll::EventContext;
using streamll::EventType;
using streamll::Fields;
using streamll::RawJson;
using streamll::Timestamp;

std::shared_ptr<const EventContext> make_context(std::string parent = "1122334455667788",
                                                 std::string module_name = "rag") {
  return std::make_shared<EventContext>(
      EventContext{"exec_0123456789abcdef",
                   "8877665544332211",
                   std::move(parent),
                   "answer_generation",
                   std::move(module_name),
                   {{"environment", "production"}, {"user_id", "u1"}}});
}

Timestamp at_micros(std::int64_t micros_since_epoch) {
  return Timestamp(std::chrono::duration_cast<streamll::Clock::duration>(
      std::chrono::microseconds(micros_since_epoch)));
}

// An independent check of well-formed UTF-8 (Unicode 15, table 3-7).
bool is_valid_utf8(const std::string& s) {
  std::size_t i = 0;
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < s.size()) {
    const unsigned c = at(i);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((at(i + k) & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (at(i + k) & 0x3F);
    }
    const std::uint32_t min_for_length[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_length[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// Serializes, checks the text is one line of valid UTF-8 JSON, and parses it back.
Event round_trip(const Event& e, json* doc_out = nullptr) {
  const std::string text = streamll::to_json(e);
  REQUIRE_FALSE(text.empty());
  CHECK(text.find('\n') == std::string::npos);
  CHECK(is_valid_utf8(text));
  const json doc = json::parse(text);  // throws (fails the test) on invalid JSON
  if (doc_out) *doc_out = doc;
  Event back;
  std::string error;
  REQUIRE(streamll::parse_event_json(text, back, &error));
  CHECK(error.empty());
  return back;
}

const std::string kReplacement = "\xEF\xBF\xBD";

// `pattern`: 'h' a lowercase hex digit, 'd' a decimal digit, 'v' one of 89ab, else literal.
// (std::regex trips GCC 12's -Wmaybe-uninitialized under ASan.)
bool matches(const std::string& text, const std::string& pattern) {
  if (text.size() != pattern.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool ok = pattern[i] == 'h'
                        ? std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f')
                    : pattern[i] == 'd' ? std::isdigit(static_cast<unsigned char>(c)) != 0
                    : pattern[i] == 'v' ? std::string("89ab").find(c) != std::string::npos
                                        : c == pattern[i];
    if (!ok) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("JSON has exactly the guide's fields plus span_id, parent_span_id, module_name",
          "[event][json]") {
  Event e = Event::capture(EventType::llm_call, make_context(),
                           {{"model", "gemini/gemini-2.0-flash"}, {"tokens_used", 287}});
  json doc;
  round_trip(e, &doc);
  std::set<std::string> keys;
  for (const auto& item : doc.items()) keys.insert(item.key());
  CHECK(keys == std::set<std::string>{"event_id", "event_type", "timestamp", "execution_id",
                                      "operation", "span_id", "parent_span_id", "module_name",
                                      "data", "tags"});
  CHECK(doc["event_type"] == "llm_call");
  CHECK(doc["execution_id"] == "exec_0123456789abcdef");
  CHECK(doc["operation"] == "answer_generation");
  CHECK(doc["span_id"] == "8877665544332211");
  CHECK(doc["parent_span_id"] == "1122334455667788");
  CHECK(doc["module_name"] == "rag");
  CHECK(doc["data"] == json{{"model", "gemini/gemini-2.0-flash"}, {"tokens_used", 287}});
  CHECK(doc["tags"] == json{{"environment", "production"}, {"user_id", "u1"}});

  CHECK(matches(doc["event_id"].get<std::string>(), "hhhhhhhh-hhhh-4hhh-vhhh-hhhhhhhhhhhh"));
  CHECK(matches(doc["timestamp"].get<std::string>(), "dddd-dd-ddTdd:dd:dd.ddddddZ"));

  SECTION("a root span has a null parent and no module_name unless one was given") {
    Event root = Event::capture(EventType::start, make_context("", ""));
    json root_doc;
    round_trip(root, &root_doc);
    CHECK(root_doc["parent_span_id"].is_null());
    CHECK_FALSE(root_doc.contains("module_name"));
    CHECK(root_doc["data"] == json::object());
  }
  SECTION("an event without context has empty strings and empty tags") {
    Event bare = Event::capture(EventType::custom, nullptr, {}, "heartbeat");
    json bare_doc;
    round_trip(bare, &bare_doc);
    CHECK(bare_doc["event_type"] == "heartbeat");
    CHECK(bare_doc["execution_id"] == "");
    CHECK(bare_doc["tags"] == json::object());
  }
}

TEST_CASE("the id and timestamp are fixed at capture and formatted the same every time",
          "[event][json]") {
  Event e = Event::capture(EventType::token, make_context(), {{"token", "hi"}, {"index", 0}});
  e.timestamp = at_micros(1705336245123456);
  const std::string first = streamll::to_json(e);
  CHECK(json::parse(first)["timestamp"] == "2024-01-15T16:30:45.123456Z");
  Event copy = e;  // what a second sink, or a retried batch, holds
  CHECK(streamll::to_json(copy) == first);
  CHECK(json::parse(first)["event_id"] == e.id.to_string());

  std::string appended = "prefix";
  REQUIRE(streamll::append_json(e, appended));
  CHECK(appended == "prefix" + first);
}

TEST_CASE("round trip keeps type, id, timestamp, context, data types and tags", "[event][json]") {
  Fields data{
      {"int", 42},
      {"negative", std::int64_t{-9007199254740993}},
      {"big", std::numeric_limits<std::int64_t>::max()},
      {"double", 0.1},
      {"one_point_zero", 1.0},
      {"tiny", 5e-324},
      {"huge", 1.7976931348623157e308},
      {"true", true},
      {"false", false},
      {"null", nullptr},
      {"string", "héllo \"world\"\n"},
      {"empty", ""},
      {"raw",
       RawJson{R"({"docs": [ {"id": 1, "score": 0.5}, {"id": 2} ], "b": null, "a": true})"}}};
  Event e = Event::capture(EventType::custom, make_context(), data, "retrieval_done");
  e.timestamp = at_micros(1705336245123456) + std::chrono::nanoseconds(789);
  const Event back = round_trip(e);

  CHECK(back.type == EventType::custom);
  CHECK(back.type_name() == "retrieval_done");
  CHECK(back.id == e.id);
  CHECK(back.timestamp == at_micros(1705336245123456));  // to the microsecond
  CHECK(back.execution_id() == e.execution_id());
  CHECK(back.span_id() == e.span_id());
  CHECK(back.parent_span_id() == e.parent_span_id());
  CHECK(back.operation() == e.operation());
  CHECK(back.module_name() == e.module_name());
  CHECK(back.tags() == e.tags());

  REQUIRE(back.data.size() == data.size());
  for (const auto& field : data) {
    INFO(field.key);
    const streamll::Value* got = back.data.find(field.key);
    REQUIRE(got != nullptr);
    if (field.value.is_raw_json()) {
      REQUIRE(got->is_raw_json());
      CHECK(json::parse(got->as_string()) == json::parse(field.value.as_string()));
    } else {
      CHECK(*got == field.value);  // same alternative: ints stay ints, 1.0 stays a double
    }
  }
  CHECK(back.data["one_point_zero"].is_double());
  CHECK(back.data["int"].is_int());

  SECTION("built-in types come back as built-in types") {
    for (auto type : {EventType::start, EventType::end, EventType::token, EventType::llm_call,
                      EventType::error}) {
      const Event b = round_trip(Event::capture(type, make_context()));
      CHECK(b.type == type);
      CHECK(b.custom_type.empty());
    }
  }
}

TEST_CASE("raw JSON is written compact and in its own key order, invalid raw JSON as a string",
          "[event][json]") {
  const auto write = [](RawJson raw) {
    return json::parse(streamll::to_json(Event::capture(EventType::end, nullptr, {{"v", raw}})));
  };
  const std::string text = streamll::to_json(Event::capture(
      EventType::end, nullptr, {{"v", RawJson{"{ \"z\" : [1, 2],\n \"a\" : \"x y\" }"}}}));
  CHECK(text.find(R"("v":{"z":[1,2],"a":"x y"})") != std::string::npos);

  CHECK(write(RawJson{"{\"unterminated\": "})["data"]["v"] == "{\"unterminated\": ");
  CHECK(write(RawJson{""})["data"]["v"] == "");
  CHECK(write(RawJson{"1 2"})["data"]["v"] == "1 2");
  CHECK(write(RawJson{"[\"\xFF\"]"})["data"]["v"] == "[\"" + kReplacement + "\"]");
  CHECK(write(RawJson{"nan"})["data"]["v"] == "nan");
  CHECK(write(RawJson{"3"})["data"]["v"] == 3);

  SECTION("absurdly deep raw JSON becomes a string instead of a stack overflow downstream") {
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    CHECK(write(RawJson{deep})["data"]["v"].is_string());
    const std::string ok = std::string(200, '[') + std::string(200, ']');
    CHECK(write(RawJson{ok})["data"]["v"].is_array());
  }
}

TEST_CASE("invalid UTF-8 of every kind becomes U+FFFD and the output stays valid",
          "[event][json]") {
  struct Case {
    const char* name;
    std::string input;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"lone continuation byte", "a\x80z", "a" + kReplacement + "z"},
      {"overlong two-byte slash", "\xC0\xAF", kReplacement + kReplacement},
      {"overlong three-byte", "\xE0\x80\xAF", kReplacement + kReplacement + kReplacement},
      {"surrogate half", "\xED\xA0\x80", kReplacement + kReplacement + kReplacement},
      {"above U+10FFFF", "\xF4\x90\x80\x80",
       kReplacement + kReplacement + kReplacement + kReplacement},
      {"truncated sequence at the end", "ok\xE2\x82", "ok" + kReplacement + kReplacement},
      {"invalid lead bytes", "\xFE\xFF\xF8", kReplacement + kReplacement + kReplacement},
      {"valid multi-byte kept", "é € 😀 \xF4\x8F\xBF\xBF \xED\x9F\xBF \xEE\x80\x80",
       "é € 😀 \xF4\x8F\xBF\xBF \xED\x9F\xBF \xEE\x80\x80"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto context = std::make_shared<EventContext>(
        EventContext{c.input, c.input, c.input, c.input, c.input, {{c.input, c.input}}});
    Event e = Event::capture(EventType::custom, context,
                             {{c.input, c.input}, {"raw", RawJson{"\"" + c.input + "\""}}}, "x");
    json doc;
    const Event back = round_trip(e, &doc);
    CHECK(back.execution_id() == c.expected);
    CHECK(back.operation() == c.expected);
    CHECK(back.module_name() == c.expected);
    CHECK(back.parent_span_id() == c.expected);
    REQUIRE(back.tags().size() == 1);
    CHECK(back.tags()[0].first == c.expected);
    CHECK(back.tags()[0].second == c.expected);
    CHECK(back.data[c.expected].as_string() == c.expected);
    CHECK(doc["data"]["raw"].get<std::string>().find(c.expected) != std::string::npos);
  }
}

TEST_CASE("NaN and infinities become null", "[event][json]") {
  Event e = Event::capture(EventType::llm_call, nullptr,
                           {{"nan", std::nan("")},
                            {"inf", std::numeric_limits<double>::infinity()},
                            {"minus_inf", -std::numeric_limits<double>::infinity()},
                            {"float_nan", std::numeric_limits<float>::quiet_NaN()},
                            {"fine", 2.5}});
  json doc;
  const Event back = round_trip(e, &doc);
  CHECK(doc["data"]["nan"].is_null());
  CHECK(doc["data"]["inf"].is_null());
  CHECK(doc["data"]["minus_inf"].is_null());
  CHECK(doc["data"]["float_nan"].is_null());
  CHECK(doc["data"]["fine"] == 2.5);
  CHECK(back.data["nan"].is_null());
}

TEST_CASE("doubles are written in their shortest exact form and stay doubles", "[event][json]") {
  const std::vector<std::pair<double, std::string>> known = {
      {0.0023, "0.0023"}, {1234.0, "1234.0"},
      {-0.0, "-0.0"},     {0.1, "0.1"},
      {1e21, "1e+21"},    {1e-7, "1e-07"},
      {5e-324, "5e-324"}, {24024024.024024025, "24024024.024024025"},
      {-2.5, "-2.5"},
  };
  for (const auto& [value, text] : known) {
    INFO(text);
    const std::string out =
        streamll::to_json(Event::capture(EventType::custom, nullptr, {{"v", value}}, "n"));
    CHECK(out.find("\"v\":" + text + "}") != std::string::npos);
    Event back;
    REQUIRE(streamll::parse_event_json(out, back));
    CHECK(back.data["v"].is_double());
    CHECK(std::signbit(back.data["v"].as_double()) == std::signbit(value));
    CHECK(back.data["v"].as_double() == value);
  }
}

TEST_CASE("a character needing care is found at every position of a long plain run",
          "[event][json]") {
  // The writer scans plain text eight bytes at a time; the special byte may sit anywhere.
  const std::vector<std::pair<std::string, std::string>> specials = {{"\"", "\""},
                                                                     {"\\", "\\"},
                                                                     {"\n", "\n"},
                                                                     {"\x1f", "\x1f"},
                                                                     {"\x7f", "\x7f"},
                                                                     {" ", " "},
                                                                     {"\xc3\xa9", "\xc3\xa9"},
                                                                     {"\xff", "\xef\xbf\xbd"},
                                                                     {"~", "~"}};
  for (const auto& [special, decoded] : specials) {
    for (std::size_t position = 0; position < 20; ++position) {
      const std::string text =
          std::string(position, 'a') + special + std::string(19 - position, 'b');
      Event e = Event::capture(EventType::custom, nullptr, {{"text", text}}, "probe");
      const std::string out = streamll::to_json(e);
      INFO("position " << position << ", json " << out);
      REQUIRE(json::accept(out));
      CHECK(json::parse(out)["data"]["text"] ==
            std::string(position, 'a') + decoded + std::string(19 - position, 'b'));
    }
  }
}

TEST_CASE("every control character is escaped", "[event][json]") {
  std::string all;
  for (int c = 0; c < 0x20; ++c) all.push_back(static_cast<char>(c));
  all += "\x7f\"\\/";
  Event e = Event::capture(EventType::custom, nullptr, {{"s", all}, {all, 1}}, "x");
  const std::string text = streamll::to_json(e);
  for (char c : text) CHECK(static_cast<unsigned char>(c) >= 0x20);
  const Event back = round_trip(e);
  CHECK(back.data["s"].as_string() == all);
  CHECK(back.data[all].as_int() == 1);
  CHECK(text.find(R"(\u0000\u0001)") != std::string::npos);
  CHECK(text.find(R"(\b\t\n\u000b\f\r)") != std::string::npos);
}

TEST_CASE("a 1 MB string stays valid and round-trips", "[event][json]") {
  std::string big;
  big.reserve(1 << 20);
  const std::string pattern = "tokens \"quoted\" \\ é😀\n\t";
  while (big.size() + pattern.size() <= (1u << 20)) big += pattern;
  Event e = Event::capture(EventType::token, make_context(), {{"token", big}, {"index", 0}});
  const Event back = round_trip(e);
  CHECK(back.data["token"].as_string() == big);

  std::string broken = big;
  broken[1000] = '\xFF';
  broken.back() = '\xE2';  // a truncated sequence at the very end
  std::string expected = broken;
  expected.replace(expected.size() - 1, 1, kReplacement);
  expected.replace(1000, 1, kReplacement);
  const Event repaired = round_trip(Event::capture(EventType::token, nullptr, {{"token", broken}}));
  CHECK(repaired.data["token"].as_string() == expected);
}

TEST_CASE("event ids are canonical v4 UUIDs, unique across events and threads", "[event][json]") {
  const streamll::EventId id = streamll::EventId::generate();
  const std::string text = id.to_string();
  for (int i = 0; i < 1000; ++i) {
    const std::string other = streamll::EventId::generate().to_string();
    if (!matches(other, "hhhhhhhh-hhhh-4hhh-vhhh-hhhhhhhhhhhh")) FAIL(other);
  }
  CHECK_FALSE(
      matches("0123456789ab-4def-8123-456789abcdef", "hhhhhhhh-hhhh-4hhh-vhhh-hhhhhhhhhhhh"));
  CHECK_FALSE(
      matches("01234567-89ab-4def-c123-456789abcdef", "hhhhhhhh-hhhh-4hhh-vhhh-hhhhhhhhhhhh"));
  streamll::EventId parsed;
  REQUIRE(streamll::EventId::parse(text, parsed));
  CHECK(parsed == id);
  std::string upper = text;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  REQUIRE(streamll::EventId::parse(upper, parsed));
  CHECK(parsed == id);
  for (const char* bad :
       {"", "not-a-uuid", "0123456789abcdef0123456789abcdef0123",
        "01234567-89ab-4def-8123-456789abcdeg", "01234567-89ab-4def-8123_456789abcdef",
        "{01234567-89ab-4def-8123-456789abcdef}"}) {
    CHECK_FALSE(streamll::EventId::parse(bad, parsed));
  }

  constexpr int kThreads = 4;
  constexpr int kPerThread = 25000;
  std::vector<std::vector<std::string>> per_thread(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&per_thread, t] {
      for (int i = 0; i < kPerThread; ++i) {
        per_thread[t].push_back(Event::capture(EventType::token, nullptr).id.to_string());
      }
    });
  }
  for (auto& t : threads) t.join();
  std::unordered_set<std::string> seen;
  for (const auto& ids : per_thread) seen.insert(ids.begin(), ids.end());
  CHECK(seen.size() == static_cast<std::size_t>(kThreads * kPerThread));
  for (int i = 0; i < 100000; ++i) seen.insert(streamll::EventId::generate().to_string());
  CHECK(seen.size() == static_cast<std::size_t>(kThreads * kPerThread + 100000));
}

TEST_CASE("custom event type names: 1 to 64 printable ASCII characters", "[event]") {
  const auto message_for = [](const std::string& name) -> std::string {
    try {
      streamll::validate_event_type_name(name);
    } catch (const streamll::InvalidEventType& e) {
      return e.what();
    }
    return "";
  };
  CHECK_THAT(message_for(""), Catch::Contains("empty"));
  CHECK_THAT(message_for(std::string(65, 'a')), Catch::Contains("65 characters"));
  CHECK_THAT(message_for("has space"), Catch::Contains("not printable ASCII"));
  CHECK_THAT(message_for("caf\xC3\xA9"), Catch::Contains("not printable ASCII"));
  CHECK_THAT(message_for("tab\there"), Catch::Contains("not printable ASCII"));
  CHECK_THAT(message_for(std::string("nul\0byte", 8)), Catch::Contains("not printable ASCII"));
  CHECK_THAT(message_for("bad\xFF"), Catch::Contains(kReplacement));  // message stays UTF-8

  std::string printable;
  for (char c = 0x21; c <= 0x7e; ++c) printable.push_back(c);
  CHECK(message_for(printable.substr(0, 64)) == "");
  CHECK(message_for(printable.substr(30)) == "");
  CHECK(message_for("x") == "");
  const Event e = Event::capture(EventType::custom, nullptr, {}, printable.substr(0, 64));
  CHECK(round_trip(e).type_name() == printable.substr(0, 64));
}

TEST_CASE("parse_event_json rejects what is not an event, with a reason", "[event][json]") {
  const std::string id = streamll::EventId::generate().to_string();
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "JSON"},
      {"[]", "object"},
      {"\"start\"", "object"},
      {"42", "object"},
      {"null", "object"},
      {"{}", "event_type"},
      {R"({"event_type":5})", "event_type"},
      {R"({"event_type":""})", "event_type"},
      {R"({"event_type":"has space"})", "event_type"},
      {R"({"event_type":"start","event_id":"not-a-uuid"})", "event_id"},
      {R"({"event_type":"start","event_id":123})", "event_id"},
      {R"({"event_type":"start","timestamp":"yesterday"})", "timestamp"},
      {R"({"event_type":"start","timestamp":1705336245})", "timestamp"},
      {R"({"event_type":"start","timestamp":"2023-02-29T00:00:00Z"})", "timestamp"},
      {R"({"event_type":"start","timestamp":"2024-01-15T16:30:45+01:00"})", "timestamp"},
      {R"({"event_type":"start","execution_id":7})", "execution_id"},
      {R"({"event_type":"start","parent_span_id":[]})", "parent_span_id"},
      {R"({"event_type":"start","data":[]})", "data"},
      {R"({"event_type":"start","tags":"x"})", "tags"},
      {R"({"event_type":"start","data":)" + std::string(1000, '[') + std::string(1000, ']') + "}",
       "nested"},
  };
  for (const auto& [text, reason] : bad) {
    INFO(text.substr(0, 80));
    Event out;
    std::string error;
    CHECK_FALSE(streamll::parse_event_json(text, out, &error));
    CHECK_THAT(error, Catch::Contains(reason));
  }
  Event minimal;
  REQUIRE(
      streamll::parse_event_json(R"({"event_type":"end","event_id":")" + id + R"("})", minimal));
  CHECK(minimal.type == EventType::end);
  CHECK(minimal.id.to_string() == id);
  CHECK(minimal.execution_id().empty());
  CHECK(minimal.data.empty());
}

TEST_CASE("parse_event_json never throws on garbage", "[event][json]") {
  std::mt19937_64 rng(20240115);
  std::uniform_int_distribution<int> byte(0, 255);
  const std::string valid = streamll::to_json(
      Event::capture(EventType::llm_call, make_context(),
                     {{"model", "m"}, {"cost_usd", 0.5}, {"raw", RawJson{"[1,{}]"}}}));
  int accepted = 0;
  for (int i = 0; i < 400; ++i) {
    std::string input;
    if (i % 2 == 0) {
      input.resize(static_cast<std::size_t>(byte(rng)));
      for (auto& c : input) c = static_cast<char>(byte(rng));
    } else {
      input = valid;  // a valid event with a few bytes changed
      for (int k = 0; k < 1 + i % 4; ++k) {
        input[static_cast<std::size_t>(rng() % input.size())] = static_cast<char>(byte(rng));
      }
    }
    Event out;
    std::string error;
    if (streamll::parse_event_json(input, out, &error)) {
      ++accepted;
      CHECK(json::accept(streamll::to_json(out)));  // whatever was accepted writes valid JSON
    } else {
      CHECK_FALSE(error.empty());
    }
  }
  CHECK(accepted < 400);
}

TEST_CASE("timestamps before 1970 and on leap days format and parse", "[event][json]") {
  const std::vector<std::pair<std::int64_t, std::string>> known = {
      {0, "1970-01-01T00:00:00.000000Z"},
      {-1, "1969-12-31T23:59:59.999999Z"},
      {-1000000, "1969-12-31T23:59:59.000000Z"},
      {-2208988800LL * 1000000, "1900-01-01T00:00:00.000000Z"},
      {-2077725172LL * 1000000 + 5, "1904-02-29T06:07:08.000005Z"},
      {1709164800LL * 1000000, "2024-02-29T00:00:00.000000Z"},
      {951825600LL * 1000000 + 999999, "2000-02-29T12:00:00.999999Z"},
      {1705336245123456, "2024-01-15T16:30:45.123456Z"},
  };
  for (const auto& [micros, text] : known) {
    INFO(text);
    CHECK(streamll::format_timestamp(at_micros(micros)) == text);
    Timestamp parsed;
    REQUIRE(streamll::parse_timestamp(text, parsed));
    CHECK(parsed == at_micros(micros));
  }
  // A time a fraction of a microsecond before the epoch belongs to the previous second.
  CHECK(streamll::format_timestamp(Timestamp(std::chrono::nanoseconds(-1))) ==
        "1969-12-31T23:59:59.999999Z");

  Timestamp t;
  REQUIRE(streamll::parse_timestamp("2024-01-15T16:30:45Z", t));
  CHECK(t == at_micros(1705336245000000));
  REQUIRE(streamll::parse_timestamp("2024-01-15t16:30:45.1+00:00", t));
  CHECK(t == at_micros(1705336245100000));
  REQUIRE(streamll::parse_timestamp("2024-01-15T16:30:45.123456789z", t));
  CHECK(t.time_since_epoch() == std::chrono::nanoseconds(1705336245123456789));
  for (const char* bad : {"2024-01-15T16:30:45", "2024-01-15T16:30:45.Z", "2024-01-15 16:30:45Z",
                          "2024-02-30T00:00:00Z", "1900-02-29T00:00:00Z", "2100-02-29T00:00:00Z",
                          "2024-04-31T00:00:00Z", "2024-00-10T00:00:00Z", "2024-01-15T24:00:00Z",
                          "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2024-1-15T16:30:45Z"}) {
    INFO(bad);
    CHECK_FALSE(streamll::parse_timestamp(bad, t));
  }
}

TEST_CASE("parse_event_json keeps the document's key order and a repeated key's last value",
          "[event][json]") {
  Event e;
  REQUIRE(streamll::parse_event_json(
      R"({"event_type":"custom_x","data":{"zeta":1,"alpha":"a","mid":[1, {"b" : 2}],"alpha":"A"},)"
      R"("tags":{"z":"1","a":"2","n":"3","a":"A"}})",
      e));
  std::vector<std::string> keys;
  for (const auto& field : e.data) keys.push_back(field.key);
  CHECK(keys == std::vector<std::string>{"zeta", "alpha", "mid"});
  CHECK(e.data["alpha"].as_string() == "A");
  CHECK(e.data["mid"] == streamll::Value(RawJson{R"([1,{"b":2}])"}));
  // (Tag values other than strings make the event invalid: tag_values_test.cpp.)
  REQUIRE(e.tags().size() == 3);
  CHECK(e.tags()[0] == std::pair<std::string, std::string>{"z", "1"});
  CHECK(e.tags()[1] == std::pair<std::string, std::string>{"a", "A"});
  CHECK(e.tags()[2] == std::pair<std::string, std::string>{"n", "3"});
}

TEST_CASE("parse_event_json judges a repeated top-level key by its last value", "[event][json]") {
  Event e;
  std::string error;
  CHECK_FALSE(streamll::parse_event_json(R"({"event_type":"x","event_type":5})", e, &error));
  CHECK(error == "event_type is missing or not a string");
  REQUIRE(streamll::parse_event_json(R"({"event_type":5,"event_type":"start"})", e));
  CHECK(e.type == EventType::start);
  REQUIRE(streamll::parse_event_json(R"({"event_type":"x","data":{"a":1},"data":{"b":2}})", e));
  REQUIRE(e.data.size() == 1);
  CHECK(e.data["b"].as_int() == 2);
  CHECK_FALSE(
      streamll::parse_event_json(R"({"event_type":"x","data":{"a":1},"data":[1]})", e, &error));
  CHECK(error == "data is not an object");
  REQUIRE(streamll::parse_event_json(R"({"event_type":"x","data":{"a":1},"data":null})", e));
  CHECK(e.data.empty());
  // Unknown keys, whatever they hold, are skipped; an array document is not an event.
  REQUIRE(streamll::parse_event_json(
      R"({"other":{"data":{"x":1}},"event_type":"x","list":[{"a":[]}]})", e));
  CHECK(e.data.empty());
  CHECK_FALSE(streamll::parse_event_json(R"([{"event_type":"x"}])", e, &error));
  CHECK(error == "not a JSON object");
  CHECK_FALSE(streamll::parse_event_json(R"("event_type")", e, &error));
  CHECK(error == "not a JSON object");
}

TEST_CASE("parse_event_json stays linear on an object with very many keys", "[event][json]") {
  std::string doc = R"({"event_type":"big","data":{)";
  constexpr int keys = 200000;
  for (int i = 0; i < keys; ++i) {
    if (i) doc += ',';
    doc += "\"k" + std::to_string(i % (keys / 2)) + "\":" + std::to_string(i);  // each key twice
  }
  doc += "}}";
  Event e;
  REQUIRE(streamll::parse_event_json(doc, e));
  CHECK(e.data.size() == keys / 2);
  CHECK(e.data["k0"].as_int() == keys / 2);  // the second occurrence wins
  CHECK(e.data.begin()->key == "k0");        // in its first position
}

TEST_CASE("raw JSON with a NUL byte after a valid prefix is written as a string", "[event][json]") {
  // nlohmann stops at a NUL, so the prefix "" alone used to pass as the whole text, and the
  // NUL and invalid UTF-8 after it were written raw (found by xadd_encoder_oracle_test).
  const std::string raw("\"\"\0\xff}", 5);
  const Event e = Event::capture(EventType::end, nullptr, {{"v", RawJson{raw}}});
  const json doc = json::parse(streamll::to_json(e));
  CHECK(doc.at("data").at("v").get<std::string>() == std::string("\"\"\0\xef\xbf\xbd}", 7));
}

TEST_CASE("parse_event_json keeps the document's key order in data and tags", "[event_json]") {
  // docs/event-schema.md promises document order, not sorted keys: a consumer that re-emits an
  // event writes its fields as the producer did.
  const std::string text =
      R"({"event_type":"custom_x","data":{"zeta":1,"alpha":2,"mid":3,"alpha":4},)"
      R"("tags":{"z":"1","a":"2","m":"3"}})";
  Event back;
  std::string error;
  REQUIRE(streamll::parse_event_json(text, back, &error));
  std::vector<std::string> data_keys;
  for (const auto& field : back.data) data_keys.push_back(field.key);
  CHECK(data_keys == std::vector<std::string>{"zeta", "alpha", "mid"});  // a repeat keeps its place
  CHECK(back.data["alpha"].as_int() == 4);                               // and takes its last value
  std::vector<std::string> tag_keys;
  for (const auto& [k, v] : back.tags()) tag_keys.push_back(std::string(k));
  CHECK(tag_keys == std::vector<std::string>{"z", "a", "m"});
}
