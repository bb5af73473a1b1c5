// Invalid custom event type names: repaired and counted by default (instrumentation never
// throws into the application), thrown as InvalidEventType only by a strict instrumentor.

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include <streamll/streamll.hpp>

namespace {

struct Recorder {
  std::shared_ptr<streamll::MemorySink> sink = std::make_shared<streamll::MemorySink>();
  streamll::Instrumentor instrumentor;

  explicit Recorder(bool strict = false) : instrumentor(options(sink, strict)) {}

  static streamll::InstrumentorOptions options(std::shared_ptr<streamll::MemorySink> sink,
                                               bool strict) {
    streamll::InstrumentorOptions o;
    o.sinks = {std::move(sink)};
    o.strict = strict;
    return o;
  }
};

}  // namespace

TEST_CASE("sanitize_event_type_name: the documented rule", "[event_type]") {
  using streamll::sanitize_event_type_name;
  CHECK(sanitize_event_type_name("cache_hit") == "cache_hit");  // valid names are kept
  CHECK(sanitize_event_type_name("cache miss") == "cache_miss");
  CHECK(sanitize_event_type_name("tab\there\n") == "tab_here_");
  CHECK(sanitize_event_type_name("caf\xc3\xa9") == "caf__");  // one '_' per non-ASCII byte
  CHECK(sanitize_event_type_name(std::string("a\0b", 3)) == "a_b");
  CHECK(sanitize_event_type_name("\x7f") == "_");
  CHECK(sanitize_event_type_name("") == "custom");
  CHECK(sanitize_event_type_name(std::string(65, 'x')) == std::string(64, 'x'));
  CHECK(sanitize_event_type_name(std::string(63, 'x') + " y") == std::string(63, 'x') + "_");
  const std::vector<std::string> invalid = {"a b", "", std::string(200, ' '), std::string("\0", 1)};
  for (const auto& name : invalid) {
    CHECK(streamll::is_valid_event_type_name(sanitize_event_type_name(name)));
  }
}

TEST_CASE("an invalid event type name is sanitized and counted and never throws",
          "[event_type][span]") {
  Recorder r;
  {
    streamll::Span span(r.instrumentor, "op");
    CHECK_NOTHROW(span.emit("cache miss", {{"key", "q:1"}}));
    CHECK_NOTHROW(span.emit(""));
    CHECK_NOTHROW(streamll::emit(std::string(70, 'x')));  // the thread's current span
    span.emit("cache_hit");                               // valid: not counted
    span.emit("token", {{"token", "t"}});                 // a built-in name stays built in
  }
  CHECK(r.sink->type_names() == std::vector<std::string>{"start", "cache_miss", "custom",
                                                         std::string(64, 'x'), "cache_hit", "token",
                                                         "end"});
  CHECK(r.instrumentor.invalid_event_types() == 3);
  const auto events = r.sink->events();
  CHECK(events[1].type == streamll::EventType::custom);
  CHECK(events[1].data["key"].as_string() == "q:1");  // the data is kept
  CHECK(events[1].span_id() == events[0].span_id());
  CHECK(events[5].type == streamll::EventType::token);
  CHECK(r.instrumentor.sink_failures() == 0);
}

TEST_CASE("a strict instrumentor throws InvalidEventType and emits nothing for it",
          "[event_type][span]") {
  Recorder r(/*strict=*/true);
  CHECK(r.instrumentor.strict());
  {
    streamll::Span span(r.instrumentor, "op");
    CHECK_THROWS_AS(span.emit(""), streamll::InvalidEventType);
    CHECK_THROWS_AS(span.emit("has space"), streamll::InvalidEventType);
    CHECK_THROWS_AS(streamll::emit(std::string(65, 'x')), streamll::InvalidEventType);
    span.emit("cache_hit");
  }
  CHECK(r.sink->type_names() == std::vector<std::string>{"start", "cache_hit", "end"});
  CHECK(r.instrumentor.invalid_event_types() == 0);
}

TEST_CASE("the default instrumentor is not strict", "[event_type]") {
  CHECK_FALSE(streamll::Instrumentor().strict());
  CHECK_FALSE(streamll::InstrumentorOptions().strict);
}
