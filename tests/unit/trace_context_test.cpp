// W3C Trace Context: traceparent parsed against the spec's grammar (a regular expression as
// the oracle, over table cases and generated mutations), the execution id <-> trace id
// mapping, a trace that continues through a service and back, tracestate passed on, sampling
// following the caller's flag, and bind_context() carrying a context to other threads.

#include <catch2/catch.hpp>

#include <functional>
#include <future>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <streamll/streamll.hpp>

namespace {

using streamll::EventType;

struct Recorder {
  std::shared_ptr<streamll::MemorySink> sink = std::make_shared<streamll::MemorySink>();
  std::shared_ptr<streamll::Instrumentor> instrumentor;
  explicit Recorder(std::optional<double> rate = std::nullopt) {
    streamll::InstrumentorOptions options;
    options.sinks = {sink};
    options.tags = {{"environment", "test"}};
    options.module_name = "svc";
    options.sample_rate = rate;
    instrumentor = std::make_shared<streamll::Instrumentor>(std::move(options));
  }
};

// The spec's grammar (version 00 exactly; a later version may carry more after a dash),
// written apart from the parser: lowercase hex, version ff invalid, zero ids invalid.
// HTTP's optional whitespace around a value is not part of it.
std::string without_ows(const std::string& value) {
  const auto first = value.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return value.substr(first, value.find_last_not_of(" \t") - first + 1);
}

bool valid_by_spec(const std::string& value) {
  const std::string header = without_ows(value);
  static const std::regex v00("^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$");
  // After a later version's flags, anything at all: [\s\S], since '.' stops at a line end.
  static const std::regex later("^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-[\\s\\S]*)?$");
  const bool shape = header.compare(0, 2, "00") == 0 ? std::regex_match(header, v00)
                                                     : std::regex_match(header, later);
  if (!shape || header.compare(0, 2, "ff") == 0) return false;
  return header.substr(3, 32) != std::string(32, '0') &&
         header.substr(36, 16) != std::string(16, '0');
}

const std::string kValid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const std::string kLaterWithTail = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-tail";

}  // namespace

TEST_CASE("traceparent: the spec's valid and invalid examples") {
  struct Case {
    std::string header;
    bool valid;
  };
  const std::vector<Case> cases = {
      {kValid, true},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", true},  // unknown flag bits
      {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds", true},
      {"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
      {"", false},
      {"00", false},
      {"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false},
      {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
      {"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
      {"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", false},
      {"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", false},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", false},
      {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", false},
      {"0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
      // A later version's tail may hold any byte; version 00 has none.
      {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-\r\n", true},
      {std::string("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-\0x", 58), true},
      {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-\xff\x80", true},
      {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-\xff", false},
      {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.header);
    CHECK(valid_by_spec(c.header) == c.valid);  // the oracle agrees with the table
    CHECK(streamll::extract_trace_context(c.header).has_value() == c.valid);
  }
  // Optional whitespace around a header value, as HTTP allows.
  CHECK(streamll::extract_trace_context(" \t" + kValid + " ").has_value());
}

TEST_CASE("traceparent: generated mutations agree with the grammar") {
  std::mt19937 random(20261207);
  // Hostile bytes too: NUL, line ends, DEL, bytes that are not UTF-8.
  using namespace std::string_literals;
  const std::string alphabet = "0123456789abcdefABCF-xz _\0\r\n\x7f\x80\xff"s;
  int valid = 0;
  for (int i = 0; i < 20000; ++i) {
    // A quarter start from a later version with a tail, so hostile bytes reach the tail.
    std::string header = random() % 4 == 0 ? kLaterWithTail : kValid;
    const int edits = 1 + static_cast<int>(random() % 3);
    for (int e = 0; e < edits; ++e) {
      const auto at = random() % (header.size() + 1);
      switch (random() % 4) {
        case 0:  // replace
          if (at < header.size()) header[at] = alphabet[random() % alphabet.size()];
          break;
        case 1:  // insert
          header.insert(header.begin() + static_cast<long>(at),
                        alphabet[random() % alphabet.size()]);
          break;
        case 2:  // erase
          if (at < header.size()) header.erase(at, 1);
          break;
        default:  // a zero id or another version
          if (random() % 2) {
            header.replace(3, 32, std::string(32, '0'));
          } else {
            header.replace(0, 2, random() % 2 ? "ff" : "7a");
          }
      }
    }
    if (random() % 4 == 0) {  // HTTP's optional whitespace, which the parser trims
      const char* ows[] = {"", " ", "\t", "  ", " \t", "\t \t"};
      header = ows[random() % 6] + header + ows[random() % 6];
    }
    CAPTURE(header);
    const bool expected = valid_by_spec(header);
    const auto context = streamll::extract_trace_context(header);
    REQUIRE(context.has_value() == expected);
    header = without_ows(header);
    if (!expected) continue;
    ++valid;
    // What is extracted is injected again unchanged (as version 00, with the sampled bit only).
    streamll::ContextScope scope(*context);
    const auto headers = streamll::inject_trace_context();
    CHECK(headers.traceparent.substr(3, 50) == header.substr(3, 50));
    const bool sampled = (std::stoi(header.substr(53, 2), nullptr, 16) & 1) != 0;
    CHECK(headers.traceparent.substr(53) == (sampled ? "01" : "00"));
  }
  CHECK(valid > 100);
}

TEST_CASE("execution ids and trace ids map both ways") {
  for (int i = 0; i < 1000; ++i) {
    const std::string execution = streamll::new_execution_id();
    const std::string trace = streamll::trace_id_of_execution(execution);
    REQUIRE(trace.size() == 32);
    CHECK(trace.substr(16) == execution.substr(5));
    CHECK(trace.substr(0, 16) != std::string(16, '0'));
    CHECK(streamll::execution_id_of_trace(trace) == execution);
  }
  // A trace id from elsewhere is its own execution id, and maps back to itself.
  const std::string foreign = "4bf92f3577b34da6a3ce929d0e0e4736";
  CHECK(streamll::execution_id_of_trace(foreign) == foreign);
  CHECK(streamll::trace_id_of_execution(foreign) == foreign);
  // Other execution ids map one way, to a valid trace id, the same every time.
  for (const char* own : {"request-42", "", "exec_", "exec_0123", "EXEC_0123456789ABCDEF"}) {
    const std::string trace = streamll::trace_id_of_execution(own);
    CAPTURE(own, trace);
    CHECK(valid_by_spec("00-" + trace + "-00f067aa0ba902b7-01"));
    CHECK(trace == streamll::trace_id_of_execution(own));
  }
}

TEST_CASE("a trace continues through a service and back") {
  Recorder service;
  const auto remote = streamll::extract_trace_context(kValid, "vendor=abc,other=1");
  REQUIRE(remote.has_value());
  std::string handler_span;
  streamll::TraceHeaders downstream;
  {
    streamll::ContextScope scope(*remote);
    streamll::Span span(service.instrumentor, "handle_request");
    handler_span = span.span_id();
    downstream = streamll::inject_trace_context();
  }
  const auto events = service.sink->events();
  REQUIRE(events.size() == 2);
  for (const auto& e : events) {
    CHECK(e.context->execution_id == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(e.context->parent_span_id == "00f067aa0ba902b7");
    CHECK(e.tag("environment") == "test");
  }
  CHECK(downstream.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-" + handler_span + "-01");
  CHECK(downstream.tracestate == "vendor=abc,other=1");
  // Outside any span there is nothing to propagate.
  CHECK(streamll::inject_trace_context().traceparent.empty());
}

TEST_CASE("an execution started here is injected with its own trace id") {
  Recorder here;
  streamll::Span root(here.instrumentor, "request");
  const auto headers = streamll::inject_trace_context();
  CHECK(headers.traceparent == "00-" + streamll::trace_id_of_execution(root.execution_id()) + "-" +
                                   root.span_id() + "-01");
  CHECK(headers.tracestate.empty());
  // The next service extracts it, and its spans report in this execution.
  Recorder next;
  const auto remote = streamll::extract_trace_context(headers.traceparent, {}, next.instrumentor);
  REQUIRE(remote.has_value());
  {
    streamll::ContextScope scope(*remote);
    streamll::Span span("downstream");
  }
  const auto events = next.sink->events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].context->execution_id == root.execution_id());
  CHECK(events[0].context->parent_span_id == root.span_id());
  CHECK(events[0].context->module_name == "svc");
}

TEST_CASE("the caller's sampled flag decides, and a sampled-out span injects flag 00") {
  Recorder always(1.0);
  const std::string unsampled = kValid.substr(0, 53) + "00";
  const auto remote = streamll::extract_trace_context(unsampled, {}, always.instrumentor);
  REQUIRE(remote.has_value());
  {
    streamll::ContextScope scope(*remote);
    streamll::Span span("handle_request");
    CHECK_FALSE(span.sampled());
    CHECK(streamll::inject_trace_context().traceparent.substr(53) == "00");
  }
  CHECK(always.sink->events().empty());
  Recorder never(0.0);
  const auto sampled = streamll::extract_trace_context(kValid, {}, never.instrumentor);
  {
    streamll::ContextScope scope(*sampled);
    streamll::Span span("handle_request");
    CHECK(span.sampled());
  }
  CHECK(never.sink->events().size() == 2);
}

TEST_CASE("a tracestate that is too long or not printable is dropped") {
  const std::string longest(512, 'a');
  for (const auto& [state, kept] : std::vector<std::pair<std::string, bool>>{
           {"a=1", true},
           {longest, true},
           {longest + "a", false},
           {"a=\x01", false},
           // Passed on in the next request's headers: no header injection, no stray bytes.
           {"a=1\r\nX-Injected: 1", false},
           {"a=\x7f", false},
           {"a=\xff", false},
           // Trimmed before the length is judged.
           {" \t" + longest + "\t ", true},
           {" " + longest + "a ", false}}) {
    const auto remote = streamll::extract_trace_context(kValid, state);
    REQUIRE(remote.has_value());
    streamll::ContextScope scope(*remote);
    CHECK(streamll::inject_trace_context().tracestate ==
          (kept ? without_ows(state) : std::string()));
  }
}

TEST_CASE("bind_context runs work on other threads under the caller's span") {
  Recorder r;
  std::string parent;
  std::function<std::string(int)> task;
  {
    streamll::Span request(r.instrumentor, "request");
    parent = request.span_id();
    task = streamll::bind_context([](int n) {
      streamll::Span step("embed_" + std::to_string(n));
      return step.execution_id();
    });
  }
  // Called after the span ended, on two threads and on this one: each call is its child.
  auto a = std::async(std::launch::async, task, 1);
  auto b = std::async(std::launch::async, task, 2);
  const std::string here = task(3);
  CHECK(a.get() == here);
  CHECK(b.get() == here);
  CHECK(streamll::detail::thread_context().span() == nullptr);  // restored after the call
  int children = 0;
  for (const auto& e : r.sink->events()) {
    if (e.type == EventType::start && e.context->operation.rfind("embed_", 0) == 0) {
      ++children;
      CHECK(e.context->parent_span_id == parent);
    }
  }
  CHECK(children == 3);
}

TEST_CASE("an execution id of zeros never gives the all-zero trace id") {
  const std::string trace = streamll::trace_id_of_execution("exec_0000000000000000");
  CHECK(valid_by_spec("00-" + trace + "-00f067aa0ba902b7-01"));
}

TEST_CASE("calls and events directly under an extracted context") {
  Recorder service;
  const auto remote = streamll::extract_trace_context(kValid, {}, service.instrumentor);
  REQUIRE(remote.has_value());
  {
    streamll::ContextScope scope(*remote);
    streamll::LlmCall call("tiny-model");
    call.finish();
    streamll::emit("cache_hit", {{"key", "k"}});
  }
  const auto events = service.sink->events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].context->operation == "llm_call");
  CHECK(events[0].context->parent_span_id == "00f067aa0ba902b7");
  for (const auto& e : events) {
    CHECK(e.context->execution_id == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(e.tag("environment") == "test");
    CHECK(e.context->module_name == "svc");
  }
}
