// The user-style example of docs/testing.md, compiled and run. The five blocks below are the
// page's code blocks, verbatim and in order; the last test case fails when the page and this
// file drift apart, so edit both together.

// Application code: a tiny FAQ bot with a retrieval step and one model call.
#include <streamll/streamll.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace faq_bot {

inline std::vector<std::string> retrieve(const std::string& question) {
  STREAMLL_SPAN_VAR(span, "retrieval");
  std::vector<std::string> documents = {"faq/" + question + ".md"};
  span.set("documents", documents.size());
  return documents;
}

inline std::string answer(const std::string& question) {
  STREAMLL_SPAN("answer");
  if (question.empty()) throw std::invalid_argument("empty question");
  const auto documents = retrieve(question);

  STREAMLL_LLM_CALL(call, "tiny-model");
  std::string text;
  for (const char* token : {"See", " the", " FAQ."}) {  // a streamed model reply
    call.token(token);
    text += token;
  }
  streamll::LlmUsage usage;
  usage.input_tokens = 12;
  usage.output_tokens = 3;
  usage.cost_usd = 0.0001;
  call.finish(usage);
  return text;
}

// Called at exit; false means some telemetry could not be delivered.
inline bool drain_telemetry(streamll::Instrumentor& instrumentor) {
  return instrumentor.shutdown(std::chrono::seconds(2));
}

}  // namespace faq_bot

// Test code (Catch2 here; any framework works the same way).
#include <catch2/catch.hpp>
#include <streamll/streamll.hpp>
#include <streamll/testing/catch2.hpp>  // optional: shows what data.find() points to

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

// Sends the events of spans started on this thread to `sink` while the fixture lives.
struct CapturedEvents {
  std::shared_ptr<streamll::MemorySink> sink = std::make_shared<streamll::MemorySink>();
  std::shared_ptr<streamll::Instrumentor> instrumentor =
      std::make_shared<streamll::Instrumentor>(streamll::InstrumentorOptions{{sink}, {}, {}});
  streamll::ContextScope scope{streamll::Context(instrumentor, nullptr)};
};

TEST_CASE("faq_bot: answer() reports retrieval and the model call", "[faq_bot][sinks]") {
  CapturedEvents captured;
  CHECK(faq_bot::answer("refunds") == "See the FAQ.");

  // The whole story in arrival order: the quickest thing to assert on.
  CHECK(captured.sink->type_names() == std::vector<std::string>{"start", "start", "end", "token",
                                                                "token", "token", "llm_call",
                                                                "end"});

  // Filter by operation ...
  const auto retrieval = captured.sink->events_for_operation("retrieval");
  REQUIRE(retrieval.size() == 2);
  CHECK(retrieval[1].data["documents"].as_int() == 1);

  // ... by event type ...
  const auto calls = captured.sink->events_of_type(streamll::EventType::llm_call);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].data["model"].as_string() == "tiny-model");
  CHECK(calls[0].data["tokens_used"].as_int() == 15);
  CHECK(calls[0].data["cost_usd"].as_double() == Approx(0.0001));

  // ... or by anything else.
  const auto nested = captured.sink->events_where(
      [](const streamll::Event& e) { return !e.parent_span_id().empty(); });
  CHECK(nested.size() == 6);  // everything but the start and end of "answer"

  // clear() starts over, e.g. between two steps of one test.
  captured.sink->clear();
  faq_bot::answer("shipping");
  CHECK(captured.sink->size() == 8);
}

TEST_CASE("faq_bot: a bad question is reported as an error", "[faq_bot][sinks]") {
  CapturedEvents captured;
  CHECK_THROWS_AS(faq_bot::answer(""), std::invalid_argument);

  CHECK(captured.sink->type_names() == std::vector<std::string>{"start", "error"});
  const auto errors = captured.sink->events_of_type("error");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].operation() == "answer");
  // The exception's type and message ("std::invalid_argument", "empty question") when the
  // library is built with STREAMLL_THROW_HOOK=ON; the generic "unknown exception" without.
  CHECK_FALSE(errors[0].data["error_type"].as_string().empty());
}

TEST_CASE("faq_bot: work on another thread joins the request's execution", "[faq_bot][sinks]") {
  CapturedEvents captured;
  streamll::Span request("request");
  std::thread worker([context = streamll::current_context()] {
    streamll::ContextScope scope(context);  // the worker's spans nest under `request`
    faq_bot::answer("refunds");
  });
  // Wait for events produced elsewhere instead of sleeping: wait_for returns as soon as they
  // are there (and false after the timeout).
  REQUIRE(captured.sink->wait_for(9, std::chrono::seconds(5)));
  worker.join();

  for (const auto& event : captured.sink->events()) {
    CHECK(event.execution_id() == request.execution_id());
  }
}

TEST_CASE("faq_bot: the spans of one answer", "[faq_bot][sinks]") {
  CapturedEvents captured;
  faq_bot::answer("refunds");

  // One SpanView per span, and per LlmCall guard, in the order they started.
  const auto spans = captured.sink->spans();
  REQUIRE(spans.size() == 3);
  const auto& answer = spans[0];
  CHECK(answer.name == "answer");
  CHECK(answer.is_root());
  CHECK(answer.status == streamll::SpanStatus::ok);
  CHECK(answer.duration_ms >= 0.0);

  const auto& retrieval = spans[1];
  CHECK(retrieval.parent_span_id == answer.span_id);
  CHECK(retrieval.attributes == streamll::Fields{{"documents", 1}});  // from span.set()

  const auto& call = spans[2];  // the model call, inside "answer"
  CHECK(call.parent_span_id == answer.span_id);
  CHECK(call.event_type_names() == std::vector<std::string>{"token", "token", "token", "llm_call"});

  // get<T> tells a missing key or another type from a zero, where as_int() cannot.
  const streamll::Fields& usage = call.events.back().data;
  CHECK(usage.get<std::int64_t>("output_tokens") == 3);
  CHECK(usage.get<std::int64_t>("outptu_tokens") == std::nullopt);  // misspelt: missing
  CHECK(usage.get<std::int64_t>("cost_usd") == std::nullopt);       // a double
  CHECK(usage.find("model") != nullptr);
}

TEST_CASE("faq_bot: a throwing sink never breaks answer()", "[faq_bot][sinks]") {
  CapturedEvents captured;
  captured.sink->fail_next(3);  // the next three handle() calls throw

  CHECK(faq_bot::answer("refunds") == "See the FAQ.");
  CHECK(captured.sink->failures_thrown() == 3);
  CHECK(captured.instrumentor->sink_failures() == 3);  // caught, counted and logged
  CHECK(captured.sink->size() == 5);                   // 8 events, 3 of them lost
}

TEST_CASE("faq_bot: a slow sink is felt by the caller", "[faq_bot][sinks]") {
  CapturedEvents captured;
  captured.sink->set_delay(std::chrono::milliseconds(2));  // every handle() takes 2 ms

  faq_bot::answer("refunds");
  // Sinks run on the emitting thread: "answer" handed 7 events over before its end event
  // measured its duration. streamll's own sinks (RedisSink, TerminalSink, JsonlFileSink)
  // only enqueue there, and write on a thread of their own, for this reason.
  const auto ends = captured.sink->events_of_type(streamll::EventType::end);
  REQUIRE(ends.size() == 2);
  CHECK(ends[1].operation() == "answer");
  CHECK(ends[1].data["duration_ms"].as_double() >= 14.0);
}

TEST_CASE("faq_bot: undelivered telemetry is reported at exit", "[faq_bot][sinks]") {
  CapturedEvents captured;
  faq_bot::answer("refunds");
  captured.sink->set_flush_fails(true);  // flush() and shutdown() now report failure

  CHECK_FALSE(faq_bot::drain_telemetry(*captured.instrumentor));
  CHECK(captured.sink->flush_count() == 1);
  CHECK(captured.sink->shutdown_count() == 1);
  CHECK_FALSE(captured.sink->is_running());

  // After shutdown nothing is stored, and every rejected event is counted.
  faq_bot::answer("refunds");
  CHECK(captured.sink->size() == 8);
  CHECK(captured.sink->rejected_after_shutdown() == 8);
}

TEST_CASE("faq_bot: the process-wide default instrumentor works too", "[faq_bot][sinks]") {
  auto sink = std::make_shared<streamll::MemorySink>();
  streamll::configure(streamll::InstrumentorOptions{{sink}, {}, {}});

  std::thread([] { faq_bot::answer("refunds"); }).join();  // no context handed over
  CHECK(sink->size() == 8);

  streamll::configure({});  // back to an instrumentor without sinks
}

// --- Keeps docs/testing.md and this file in step ---

#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("docs/testing.md: its code blocks are this file's code, verbatim", "[sinks]") {
  const std::filesystem::path tree = STREAMLL_SOURCE_DIR;
  const auto source = tree / "tests" / "unit" / "docs_testing_example_test.cpp";
  const auto doc = tree / "docs" / "testing.md";
  REQUIRE(std::filesystem::exists(source));
  REQUIRE(std::filesystem::exists(doc));
  const std::string page = read_text(doc);
  const std::string code = read_text(source);
  const std::string open = "```cpp\n", close = "\n```";
  int blocks = 0;
  for (auto start = page.find(open); start != std::string::npos; start = page.find(open, start)) {
    start += open.size();
    const auto end = page.find(close, start);
    REQUIRE(end != std::string::npos);
    const std::string block = page.substr(start, end - start);
    INFO("code block " << blocks << " of docs/testing.md:\n" << block);
    CHECK(code.find(block) != std::string::npos);
    ++blocks;
    start = end;
  }
  CHECK(blocks == 5);
}
