// Value, Fields, Event, TagValue and SpanView print readably, so that a failed CHECK shows
// what was there instead of {?}.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <string>

#include <streamll/streamll.hpp>
#include <streamll/testing/catch2.hpp>

namespace {

template <typename T>
std::string printed(const T& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

TEST_CASE("a Value prints as JSON and a double always as a double", "[print]") {
  using streamll::Value;
  CHECK(printed(Value()) == "null");
  CHECK(printed(Value(true)) == "true");
  CHECK(printed(Value(false)) == "false");
  CHECK(printed(Value(15)) == "15");
  CHECK(printed(Value(-3)) == "-3");
  CHECK(printed(Value(14.0)) == "14.0");  // told apart from the integer 14
  CHECK(printed(Value(0.0001)) == "0.0001");
  CHECK(printed(Value(0.1)) == "0.1");  // the shortest form that reads back
  CHECK(printed(Value(1e300)) == "1e+300");
  CHECK(printed(Value(std::nan(""))) == "nan");
  CHECK(printed(Value(-std::numeric_limits<double>::infinity())) == "-inf");
  CHECK(printed(Value("tiny-model")) == "\"tiny-model\"");
  CHECK(printed(Value("say \"hi\"\n")) == "\"say \\\"hi\\\"\\n\"");
  CHECK(printed(Value(streamll::RawJson{"[1,2]"})) == "RawJson{[1,2]}");
}

TEST_CASE("Fields print as an object in their order", "[print]") {
  CHECK(printed(streamll::Fields{}) == "{}");
  CHECK(printed(streamll::Fields{{"model", "m"}, {"tokens_used", 15}, {"ok", true}}) ==
        R"({"model": "m", "tokens_used": 15, "ok": true})");
}

TEST_CASE("an Event prints its type and context and data on one line", "[print]") {
  auto context = std::make_shared<streamll::EventContext>();
  context->execution_id = "exec_1";
  context->span_id = "s2";
  context->parent_span_id = "s1";
  context->operation = "answer";
  context->tags = {{"tenant", "acme"}};
  const auto event = streamll::Event::capture(streamll::EventType::llm_call, context,
                                              {{"model", "m"}, {"cost_usd", 0.5}});
  CHECK(printed(event) ==
        R"(Event{type: "llm_call", operation: "answer", execution_id: "exec_1", span_id: "s2", )"
        R"(parent_span_id: "s1", tags: {"tenant": "acme"}, )"
        R"(data: {"model": "m", "cost_usd": 0.5}})");

  // Empty context fields are left out; a custom event shows its own name.
  const auto custom =
      streamll::Event::capture(streamll::EventType::custom, nullptr, {}, "cache_hit");
  CHECK(printed(custom) == R"(Event{type: "cache_hit", data: {}})");
  CHECK(printed(streamll::EventType::token) == "token");
  CHECK(printed(event.tag("tenant")) == "\"acme\"");
  CHECK(printed(event.tag("missing")) == "(no tag)");
}

TEST_CASE("Catch2 shows values and not {?}", "[print]") {
  using Catch::Detail::stringify;
  const streamll::Fields data{{"output_tokens", 3}};
  CHECK(stringify(data["output_tokens"]) == "3");
  CHECK(stringify(data) == R"({"output_tokens": 3})");
  // testing/catch2.hpp: the pointer find() returns shows its value, or that there was none.
  CHECK(stringify(data.find("output_tokens")) == "3");
  CHECK(stringify(data.find("outptu_tokens")) == "nullptr (no such key)");
  const auto event = streamll::Event::capture(streamll::EventType::end, nullptr, data);
  CHECK(stringify(event) == R"(Event{type: "end", data: {"output_tokens": 3}})");
  CHECK(stringify(std::vector<streamll::Event>{event}) ==
        R"({ Event{type: "end", data: {"output_tokens": 3}} })");
}
