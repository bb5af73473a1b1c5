// InstrumentorOptions::capture_content: off, no event carries prompt, completion or token text
// (in every token mode), while counts, timings and ids stay; on by default, and from
// STREAMLL_CAPTURE_CONTENT.

#include <stdlib.h>
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <streamll/streamll.hpp>

#include "captured_log_text.hpp"
#include "recording_instrumentor.hpp"
#include "scoped_env.hpp"

using streamll::EventType;
using streamll::InstrumentorOptions;
using streamll::TokenMode;
using streamll::testing::ScopedEnv;

namespace {

using streamll::testing::RecordingInstrumentor;

RecordingInstrumentor capturing(std::optional<bool> capture) {
  return RecordingInstrumentor([&](InstrumentorOptions& o) { o.capture_content = capture; });
}

// A streamed answer whose every token is "SECRET", and an llm_call whose extra fields carry the
// prompt and the completion.
void streamed_call(streamll::Instrumentor& instrumentor, TokenMode mode) {
  streamll::LlmCallOptions options;
  options.token_mode = mode;
  streamll::LlmCall call(instrumentor, "m", std::move(options));
  for (int i = 0; i < 5; ++i) call.token("SECRET", i < 3 ? "" : "answer");
  streamll::LlmUsage usage;
  usage.output_tokens = 5;
  usage.extra.set("prompt", "SECRET prompt");
  usage.extra.set("completion", "SECRET completion");
  usage.extra.set("temperature", 0.5);
  call.finish(std::move(usage));
}

bool any_secret(const streamll::MemorySink& sink) {
  for (const auto& e : sink.events()) {
    if (streamll::to_json(e).find("SECRET") != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("capture off: no token text nor content field in any token mode", "[privacy]") {
  const TokenMode mode = GENERATE(TokenMode::each, TokenMode::chunked, TokenMode::summary);
  CAPTURE(static_cast<int>(mode));
  auto off = capturing(false);
  streamed_call(*off.instrumentor, mode);
  CHECK_FALSE(any_secret(*off.sink));
  CHECK(off.instrumentor->content_fields_removed() == 2);  // prompt and completion

  // Counts, timings and ids stay: the same events and keys as with capture on, less the text.
  auto on = capturing(true);
  streamed_call(*on.instrumentor, mode);
  CHECK(any_secret(*on.sink));
  CHECK(on.instrumentor->content_fields_removed() == 0);
  const auto off_events = off.sink->events();
  const auto on_events = on.sink->events();
  REQUIRE(off_events.size() == on_events.size());
  for (std::size_t i = 0; i < off_events.size(); ++i) {
    CAPTURE(i, on_events[i]);
    CHECK(off_events[i].type == on_events[i].type);
    CHECK_FALSE(off_events[i].id.is_nil());
    for (const auto& f : on_events[i].data) {
      CHECK(off_events[i].data.contains(f.key) ==
            !streamll::is_content_field(on_events[i].type, f));
    }
  }
  const auto call = off.sink->events_of_type(EventType::llm_call).at(0);
  CHECK(call.data.get<std::int64_t>("output_tokens") == 5);
  CHECK(call.data.get<double>("temperature") == 0.5);
  if (mode != TokenMode::summary) {
    CHECK(call.data.contains("ttft_ms"));
    const auto tokens = off.sink->events_of_type(EventType::token);
    REQUIRE_FALSE(tokens.empty());
    CHECK(tokens.back().data.get<std::string>("field") == "answer");
    CHECK(tokens.back().data.contains("index"));
  }
}

TEST_CASE("capture off removes content fields from spans and custom events", "[privacy]") {
  auto r = capturing(false);
  {
    streamll::Span span(*r.instrumentor, "rag");
    span.emit("retrieval", {{"input", "SECRET"},
                            {"messages", "SECRET"},
                            {"gen_ai.input.messages", "SECRET"},
                            {"gen_ai.tool.call.arguments", streamll::RawJson{R"({"q":"SECRET"})"}},
                            {"gen_ai.tool.call.result", "SECRET"},
                            {"gen_ai.tool.definitions", streamll::RawJson{R"(["SECRET"])"}},
                            {"documents", 3}});
    span.set("output", "SECRET");
    span.set("score", 0.9);
  }
  CHECK_FALSE(any_secret(*r.sink));
  CHECK(r.instrumentor->content_fields_removed() == 7);
  const auto custom = r.sink->events_of_type("retrieval").at(0);
  CHECK(custom.data.size() == 1);
  CHECK(custom.data.get<std::int64_t>("documents") == 3);
  // A "token" field is text only in a token event.
  r.instrumentor->emit("auth", r.instrumentor->root_context(), {{"token", "kept"}});
  CHECK(r.sink->events_of_type("auth").at(0).data.contains("token"));
}

TEST_CASE("capture off removes questions answers queries and text as the examples write them",
          "[privacy]") {
  auto r = capturing(false);
  {
    // examples/basic_setup.cpp and examples/rag_pipeline.cpp: "question", "answer", and a
    // "documents" count that must stay.
    streamll::Span span(*r.instrumentor, "rag");
    span.set("question", "SECRET question");
    span.set("answer", "SECRET answer");
    span.set("documents", 3);
    span.emit("retrieval", {{"query", "SECRET query"},
                            {"content", streamll::RawJson{R"(["SECRET"])"}},
                            {"text", "SECRET text"},
                            {"top_k", 5}});
  }
  CHECK_FALSE(any_secret(*r.sink));
  CHECK(r.instrumentor->content_fields_removed() == 5);
  const auto retrieval = r.sink->events_of_type("retrieval").at(0);
  CHECK(retrieval.data.size() == 1);
  CHECK(retrieval.data.get<std::int64_t>("top_k") == 5);
  const auto end = r.sink->events_of_type(EventType::end).at(0);
  CHECK(end.data.get<std::int64_t>("documents") == 3);
  CHECK_FALSE(end.data.contains("question"));
  CHECK_FALSE(end.data.contains("answer"));

  // A number or a flag under a content name is a count, not text.
  r.instrumentor->emit("search", r.instrumentor->root_context(),
                       {{"query", 2}, {"text", true}, {"answer", nullptr}});
  CHECK(r.sink->events_of_type("search").at(0).data.size() == 3);
}

TEST_CASE("InstrumentorOptions::content_fields adds names to the list", "[privacy]") {
  auto r = RecordingInstrumentor([](InstrumentorOptions& o) {
    o.capture_content = false;
    o.content_fields = {"user_query", "retrieved_text"};
  });
  CHECK(r.instrumentor->content_fields() ==
        std::vector<std::string>{"user_query", "retrieved_text"});
  r.instrumentor->emit("retrieval", r.instrumentor->root_context(),
                       {{"user_query", "SECRET"},
                        {"retrieved_text", streamll::RawJson{R"({"doc":"SECRET"})"}},
                        {"user_query_length", 6},
                        {"prompt", "SECRET"}});
  CHECK_FALSE(any_secret(*r.sink));
  CHECK(r.instrumentor->content_fields_removed() == 3);
  const auto e = r.sink->events_of_type("retrieval").at(0);
  CHECK(e.data.size() == 1);
  CHECK(e.data.get<std::int64_t>("user_query_length") == 6);

  // Ignored while capture is on.
  auto on = RecordingInstrumentor([](InstrumentorOptions& o) {
    o.capture_content = true;
    o.content_fields = {"user_query"};
  });
  on.instrumentor->emit("retrieval", on.instrumentor->root_context(), {{"user_query", "kept"}});
  CHECK(on.sink->events_of_type("retrieval").at(0).data.contains("user_query"));
}

TEST_CASE("remove_content_fields removes repeated keys and keeps the order", "[privacy]") {
  streamll::Event e;
  e.type = EventType::token;
  e.data.append_new("a", 1);
  e.data.append_new("token", "x");
  e.data.append_new("prompt", "p");
  e.data.append_new("b", 2);
  e.data.append_new("token", "y");
  CHECK(streamll::remove_content_fields(e) == 3);
  REQUIRE(e.data.size() == 2);
  CHECK(e.data.begin()->key == "a");
  CHECK((e.data.begin() + 1)->key == "b");
  CHECK(streamll::remove_content_fields(e) == 0);

  // A repeated key whose first value is a count: the count stays, the text goes.
  streamll::Event r;
  r.data.append_new("query", 2);
  r.data.append_new("query", "SECRET");
  r.data.append_new("mine", "x");
  CHECK(streamll::remove_content_fields(r, {"mine"}) == 2);
  REQUIRE(r.data.size() == 1);
  CHECK(r.data.begin()->value == streamll::Value(2));
}

TEST_CASE("content capture is on by default and follows STREAMLL_CAPTURE_CONTENT", "[privacy]") {
  {
    ScopedEnv unset("STREAMLL_CAPTURE_CONTENT", nullptr);
    CHECK(streamll::Instrumentor(InstrumentorOptions{}).capture_content());
  }
  CHECK(streamll::Instrumentor().capture_content());
  for (const char* no : {"0", "false", "OFF", "no", " off\t"}) {
    ScopedEnv env("STREAMLL_CAPTURE_CONTENT", no);
    CAPTURE(no);
    CHECK_FALSE(streamll::Instrumentor(InstrumentorOptions{}).capture_content());
    InstrumentorOptions options;
    options.capture_content = true;  // the option wins over the environment
    CHECK(streamll::Instrumentor(std::move(options)).capture_content());
  }
  // Spaces and tabs around the value are dropped; blank is as unset.
  for (const char* yes : {"1", "on", "TRUE", "", " 1", "\ton ", "  "}) {
    ScopedEnv env("STREAMLL_CAPTURE_CONTENT", yes);
    CAPTURE(yes);
    CHECK(streamll::Instrumentor(InstrumentorOptions{}).capture_content());
  }
}

TEST_CASE("an unreadable STREAMLL_CAPTURE_CONTENT turns capture off and says so", "[privacy]") {
  // A privacy switch fails closed: "disabled" or a typo of "false" was meant to turn it off.
  for (const char* unreadable : {"disabled", "flase", "maybe", "1 0", "o n"}) {
    CAPTURE(unreadable);
    streamll::testing::CapturedLog log("streamll");
    ScopedEnv env("STREAMLL_CAPTURE_CONTENT", unreadable);
    CHECK_FALSE(streamll::Instrumentor(InstrumentorOptions{}).capture_content());
    const std::string logged = log.text();
    INFO(logged);
    CHECK_THAT(logged, Catch::Contains("[warning]"));
    CHECK_THAT(logged, Catch::Contains(std::string("STREAMLL_CAPTURE_CONTENT='") + unreadable +
                                       "' is not a boolean"));
    CHECK_THAT(logged, Catch::Contains("using false"));
  }
  // The other switches keep ignoring such a value: STREAMLL_OTEL_GENAI_NAMES stays off.
  ScopedEnv genai("STREAMLL_OTEL_GENAI_NAMES", "maybe");
  CHECK_FALSE(streamll::Instrumentor(InstrumentorOptions{}).otel_genai_names());
  ScopedEnv genai_on("STREAMLL_OTEL_GENAI_NAMES", " yes ");
  CHECK(streamll::Instrumentor(InstrumentorOptions{}).otel_genai_names());
}

TEST_CASE("capture off holds in a sampled-out execution's failures", "[privacy][sampling]") {
  auto sink = std::make_shared<streamll::MemorySink>();
  InstrumentorOptions options;
  options.sinks = {sink};
  options.capture_content = false;
  options.sample_rate = 0.0;
  auto instrumentor = std::make_shared<streamll::Instrumentor>(std::move(options));
  {
    streamll::Span root(instrumentor, "request");
    streamll::Span step("step");
    step.set("prompt", "SECRET prompt");
    step.set("sampled_out", false);  // a span's own fields cannot unmark its error
    {
      streamll::LlmCall call("m");
      call.token("SECRET");
      call.fail("Refused", "no");
    }
    step.fail("Timeout", "took too long");
  }
  const auto events = sink->events();
  CHECK_FALSE(any_secret(*sink));
  // The failed call's error and llm_call, and the step's error: all marked, none with content.
  REQUIRE(events.size() == 3);
  CHECK(events[0].type == EventType::error);
  CHECK(events[1].type == EventType::llm_call);
  CHECK(events[2].type == EventType::error);
  for (const auto& e : events) CHECK(e.data.get<bool>("sampled_out") == true);
  CHECK(events[2].data.get<std::string>("error_type") == "Timeout");
  CHECK(instrumentor->content_fields_removed() == 1);  // the step's prompt
}

TEST_CASE("capture off holds under a caller's trace context", "[privacy][trace]") {
  auto sink = std::make_shared<streamll::MemorySink>();
  InstrumentorOptions options;
  options.sinks = {sink};
  options.capture_content = false;
  auto instrumentor = std::make_shared<streamll::Instrumentor>(std::move(options));
  const auto remote = streamll::extract_trace_context(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=abc", instrumentor);
  REQUIRE(remote.has_value());
  {
    streamll::ContextScope scope(*remote);
    streamll::emit("retrieval", {{"query", "SECRET query"}, {"documents", 2}});
    streamll::LlmCall call("m");
    call.token("SECRET");
    call.finish();
  }
  CHECK_FALSE(any_secret(*sink));
  const auto retrieval = sink->events_of_type("retrieval");
  REQUIRE(retrieval.size() == 1);
  CHECK(retrieval[0].data.get<std::int64_t>("documents") == 2);
  CHECK(retrieval[0].context->execution_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(sink->events_of_type(EventType::llm_call).size() == 1);
}
