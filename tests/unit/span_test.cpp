// Spans and per-thread context: which events a span produces, in which order, with which
// context fields, and how a context travels to another thread.

#include <catch2/catch.hpp>

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <streamll/streamll.hpp>

#include "throw_hook_expectation.hpp"

namespace {

using streamll::testing_support::expected_error_message;
using streamll::testing_support::expected_error_type;

using streamll::Event;
using streamll::EventType;

struct Recorder {
  std::shared_ptr<streamll::MemorySink> sink = std::make_shared<streamll::MemorySink>();
  streamll::Instrumentor instrumentor;

  explicit Recorder(streamll::Tags tags = {}, std::string module_name = {})
      : instrumentor(
            streamll::InstrumentorOptions{{sink}, std::move(tags), std::move(module_name)}) {}
};

// Puts the process-wide default back to "no sinks" so other tests are not affected.
struct DefaultInstrumentorGuard {
  ~DefaultInstrumentorGuard() { streamll::configure({}); }
};

const Event& only_of_type(const std::vector<Event>& events, EventType type) {
  const Event* found = nullptr;
  for (const auto& e : events) {
    if (e.type == type) {
      REQUIRE(found == nullptr);
      found = &e;
    }
  }
  REQUIRE(found != nullptr);
  return *found;
}

}  // namespace

namespace app {
// A user's own exception type: the error event must carry its demangled name.
struct RetrievalFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace app

TEST_CASE("a span gives exactly start then end, with duration_ms on the end", "[span]") {
  Recorder r;
  std::string span_id;
  {
    streamll::Span span(r.instrumentor, "retrieval");
    span_id = span.span_id();
    CHECK(span.is_open());
  }
  REQUIRE(r.sink->type_names() == std::vector<std::string>{"start", "end"});
  const auto events = r.sink->events();
  for (const auto& e : events) {
    CHECK(e.operation() == "retrieval");
    CHECK(e.span_id() == span_id);
    CHECK(e.parent_span_id().empty());
    CHECK(e.execution_id().rfind("exec_", 0) == 0);
  }
  CHECK(events[0].execution_id() == events[1].execution_id());
  CHECK(events[0].id != events[1].id);
  CHECK(events[0].data.empty());
  REQUIRE(events[1].data["duration_ms"].is_double());
  CHECK(events[1].data["duration_ms"].as_double() >= 0.0);
  CHECK(events[0].timestamp <= events[1].timestamp);
}

TEST_CASE("an exception gives start then error with its type and message, and propagates",
          "[span]") {
  Recorder r;
  SECTION("std::runtime_error") {
    REQUIRE_THROWS_AS(
        [&] {
          streamll::Span span(r.instrumentor, "answer_generation");
          throw std::runtime_error("model timed out");
        }(),
        std::runtime_error);
    REQUIRE(r.sink->type_names() == std::vector<std::string>{"start", "error"});
    const auto error = r.sink->events()[1];
    CHECK(error.data["error_type"].as_string() == expected_error_type("std::runtime_error"));
    CHECK(error.data["error_message"].as_string() == expected_error_message("model timed out"));
    CHECK(error.data["duration_ms"].is_double());
    CHECK(error.operation() == "answer_generation");
  }
  SECTION("a user's exception type is named, demangled") {
    REQUIRE_THROWS_AS(
        [&] {
          streamll::Span span(r.instrumentor, "retrieval");
          throw app::RetrievalFailed("index offline");
        }(),
        app::RetrievalFailed);
    const auto error = only_of_type(r.sink->events(), EventType::error);
    CHECK(error.data["error_type"].as_string() == expected_error_type("app::RetrievalFailed"));
    CHECK(error.data["error_message"].as_string() == expected_error_message("index offline"));
  }
  SECTION("a non-std exception has its type and an empty message") {
    REQUIRE_THROWS_AS(
        [&] {
          streamll::Span span(r.instrumentor, "retrieval");
          throw 42;
        }(),
        int);
    const auto error = only_of_type(r.sink->events(), EventType::error);
    CHECK(error.data["error_type"].as_string() == expected_error_type("int"));
    CHECK(error.data["error_message"].as_string().empty());
  }
  SECTION("set() data goes on the error event too") {
    REQUIRE_THROWS_AS(
        [&] {
          streamll::Span span(r.instrumentor, "retrieval");
          span.set("documents", 3);
          throw std::logic_error("bad query");
        }(),
        std::logic_error);
    const auto error = only_of_type(r.sink->events(), EventType::error);
    CHECK(error.data["error_type"].as_string() == expected_error_type("std::logic_error"));
    CHECK(error.data["documents"].as_int() == 3);
  }
  SECTION("a span created while unwinding ends normally") {
    struct EmitsOnDestruction {
      streamll::Instrumentor& instrumentor;
      ~EmitsOnDestruction() { streamll::Span cleanup(instrumentor, "cleanup"); }
    };
    REQUIRE_THROWS_AS(
        [&] {
          EmitsOnDestruction guard{r.instrumentor};
          throw std::runtime_error("boom");
        }(),
        std::runtime_error);
    CHECK(r.sink->type_names() == std::vector<std::string>{"start", "end"});
  }
}

TEST_CASE("the error names the exception unwinding the span, even if a sink threw meanwhile",
          "[span]") {
  // A sink throwing (and the Instrumentor catching) while the error events are emitted must
  // not change what the outer span reports.
  Recorder r;
  REQUIRE_THROWS_AS(
      [&] {
        streamll::Span outer(r.instrumentor, "outer");
        streamll::Span inner(r.instrumentor, "inner");
        r.sink->fail_next(1, "sink broke");
        throw app::RetrievalFailed("index offline");
      }(),
      app::RetrievalFailed);
  CHECK(r.instrumentor.sink_failures() == 1);
  const auto errors = r.sink->events_of_type(EventType::error);
  REQUIRE(errors.size() == 1);  // the inner one went to the failing sink
  CHECK(errors[0].operation() == "outer");
  CHECK(errors[0].data["error_type"].as_string() == expected_error_type("app::RetrievalFailed"));
  CHECK(errors[0].data["error_message"].as_string() == expected_error_message("index offline"));
}

TEST_CASE("the error names an exception rethrown with throw", "[span]") {
  Recorder r;
  REQUIRE_THROWS_AS(
      [&] {
        streamll::Span span(r.instrumentor, "outer");
        try {
          throw app::RetrievalFailed("first");
        } catch (const std::exception&) {
          try {
            throw std::logic_error("handled inside the handler");
          } catch (const std::logic_error&) {
          }
          throw;
        }
      }(),
      app::RetrievalFailed);
  const auto error = only_of_type(r.sink->events(), EventType::error);
  CHECK(error.data["error_type"].as_string() == expected_error_type("app::RetrievalFailed"));
  CHECK(error.data["error_message"].as_string() == expected_error_message("first"));
}

TEST_CASE("std::rethrow_exception is never reported as an older, caught exception", "[span]") {
  // rethrow_exception bypasses the throw hooks, so the type may be unknown, but never stale.
  Recorder r;
  std::exception_ptr stored;
  try {
    throw app::RetrievalFailed("stored");
  } catch (...) {
    stored = std::current_exception();
  }
  try {
    throw std::logic_error("older and already handled");
  } catch (const std::logic_error&) {
  }
  REQUIRE_THROWS_AS(
      [&] {
        streamll::Span span(r.instrumentor, "op");
        std::rethrow_exception(stored);
      }(),
      app::RetrievalFailed);
  const auto type = only_of_type(r.sink->events(), EventType::error).data["error_type"].as_string();
  CHECK((type == "app::RetrievalFailed" || type == "unknown exception"));
}

TEST_CASE("thread cancellation still unwinds through catch (...) { throw }", "[span]") {
  // The forced unwind of pthread_cancel passes through the __cxa_rethrow hook; the hook must
  // let it go on untouched (catching it without rethrowing aborts the process).
  Recorder r;
  struct Worker {
    // Not instrumented by ASan: the redzones of a frame that pthread_cancel unwinds from its
    // signal handler trip ASan's own stack check at the rethrow (google/sanitizers#1399, a
    // false positive that comes and goes with the frame's layout). Span's code still is.
    __attribute__((no_sanitize_address)) static void* run(void* arg) {
      auto* instrumentor = static_cast<streamll::Instrumentor*>(arg);
      streamll::Span span(*instrumentor, "cancelled_worker");
      try {
        for (;;) pause();  // a cancellation point
      } catch (...) {
        throw;
      }
      return nullptr;
    }
  };
  pthread_t thread;
  REQUIRE(pthread_create(&thread, nullptr, &Worker::run, &r.instrumentor) == 0);
  REQUIRE(pthread_cancel(thread) == 0);
  void* result = nullptr;
  REQUIRE(pthread_join(thread, &result) == 0);
  CHECK(result == PTHREAD_CANCELED);
  const auto events = r.sink->events();
  REQUIRE(events.size() == 2);
  CHECK(events[1].type == EventType::error);
  // Not a C++ exception: no type to report, and never the type of an earlier, caught one.
  CHECK(events[1].data["error_type"].as_string() == "unknown exception");
}

TEST_CASE("nested spans share the execution and record their parent", "[span]") {
  Recorder r;
  std::string outer_id, inner_id;
  {
    streamll::Span outer(r.instrumentor, "pipeline");
    outer_id = outer.span_id();
    outer.emit("retrieval_done", {{"documents", 4}});
    {
      streamll::Span inner(r.instrumentor, "generation");
      inner_id = inner.span_id();
      inner.emit("prompt_built", {{"chars", 1200}});
    }
  }
  REQUIRE(r.sink->type_names() == std::vector<std::string>{"start", "retrieval_done", "start",
                                                           "prompt_built", "end", "end"});
  const auto events = r.sink->events();
  std::set<std::string> executions;
  for (const auto& e : events) executions.insert(e.execution_id());
  CHECK(executions.size() == 1);
  CHECK(outer_id != inner_id);

  const std::vector<std::string> expected_span = {outer_id, outer_id, inner_id,
                                                  inner_id, inner_id, outer_id};
  for (std::size_t i = 0; i < events.size(); ++i) {
    INFO("event " << i);
    CHECK(events[i].span_id() == expected_span[i]);
    CHECK(events[i].parent_span_id() == (expected_span[i] == inner_id ? outer_id : ""));
    CHECK(events[i].operation() == (expected_span[i] == inner_id ? "generation" : "pipeline"));
  }
  CHECK(events[1].data["documents"].as_int() == 4);
  CHECK(events[3].data["chars"].as_int() == 1200);
}

TEST_CASE("a span started with the thread's context nests without naming an instrumentor",
          "[span][context]") {
  Recorder r;
  {
    streamll::Span outer(r.instrumentor, "outer");
    streamll::Span inner("inner");  // finds r.instrumentor through the thread's context
    CHECK(&inner.instrumentor() == &r.instrumentor);
    CHECK(inner.execution_id() == outer.execution_id());
    streamll::emit("checkpoint", {{"step", 1}});  // the free function: current span
  }
  REQUIRE(r.sink->type_names() ==
          std::vector<std::string>{"start", "start", "checkpoint", "end", "end"});
  const auto events = r.sink->events();
  CHECK(events[2].operation() == "inner");
  CHECK(events[2].parent_span_id() == events[0].span_id());
  CHECK(streamll::current_context().empty());
}

TEST_CASE("measured durations are plausible", "[span]") {
  Recorder r;
  {
    streamll::Span span(r.instrumentor, "slow_step");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the duration to be measured
  }
  const auto end = only_of_type(r.sink->events(), EventType::end);
  const double duration = end.data["duration_ms"].as_double();
  CHECK(duration >= 20.0);
  CHECK(duration < 2000.0);
  const auto start = only_of_type(r.sink->events(), EventType::start);
  const auto wall = std::chrono::duration<double, std::milli>(end.timestamp - start.timestamp);
  CHECK(wall.count() >= 19.0);
}

TEST_CASE("set() puts data on the end event, replacing earlier values", "[span]") {
  Recorder r;
  {
    streamll::Span span(r.instrumentor, "retrieval");
    span.set("documents", 3);
    span.set("query", "what is RAG?");
    span.set("documents", 5);
    span.set("score", 0.75);
  }
  const auto events = r.sink->events();
  CHECK(events[0].data.empty());
  const auto& data = events[1].data;
  CHECK(data.size() == 4);
  CHECK(data["documents"].as_int() == 5);
  CHECK(data["query"].as_string() == "what is RAG?");
  CHECK(data["score"].as_double() == 0.75);
  CHECK(data["duration_ms"].is_double());
}

TEST_CASE("SpanOptions: start data, module name, tags and execution id", "[span]") {
  Recorder r({{"environment", "test"}}, "rag");
  streamll::SpanOptions options;
  options.module_name = "retriever";
  options.tags = {{"user_id", "u1"}, {"environment", "staging"}};
  options.execution_id = "exec_given";
  options.data = {{"query", "q"}};
  { streamll::Span span(r.instrumentor, "retrieval", std::move(options)); }
  const auto events = r.sink->events();
  REQUIRE(events.size() == 2);
  for (const auto& e : events) {
    CHECK(e.module_name() == "retriever");
    CHECK(e.execution_id() == "exec_given");
    CHECK(e.tags() == streamll::Tags{{"environment", "staging"}, {"user_id", "u1"}});
  }
  CHECK(events[0].data["query"].as_string() == "q");
  CHECK_FALSE(events[1].data.contains("query"));
}

TEST_CASE("tag() applies to the span's later events and to child spans", "[span]") {
  Recorder r;
  {
    streamll::Span outer(r.instrumentor, "outer");
    outer.emit("before");
    outer.tag("user_id", "u42");
    outer.emit("after");
    streamll::Span child(r.instrumentor, "child");
    outer.tag("user_id", "u43");  // later than the child's start: the child keeps u42
  }
  const auto events = r.sink->events();
  REQUIRE(r.sink->type_names() ==
          std::vector<std::string>{"start", "before", "after", "start", "end", "end"});
  CHECK(events[0].tag("user_id") == nullptr);
  CHECK(events[1].tag("user_id") == nullptr);
  REQUIRE(events[2].tag("user_id") != nullptr);
  CHECK(*events[2].tag("user_id") == "u42");
  REQUIRE(events[3].tag("user_id") != nullptr);
  CHECK(*events[3].tag("user_id") == "u42");
  CHECK(*events[4].tag("user_id") == "u42");
  CHECK(*events[5].tag("user_id") == "u43");
}

TEST_CASE("tag() while a child span is open leaves the thread's context consistent",
          "[span][context]") {
  Recorder r;
  {
    streamll::Span outer(r.instrumentor, "outer");
    {
      streamll::Span child(r.instrumentor, "child");
      outer.tag("user_id", "u7");
    }
    // Started after the child ended: nests under outer (without the tag: documented limit).
    streamll::Span second(r.instrumentor, "second");
    CHECK(second.context()->parent_span_id == outer.span_id());
  }
  // Outer handed the thread back although the thread held an older copy of its context.
  CHECK(streamll::current_context().empty());
  streamll::Span next(r.instrumentor, "next");
  CHECK(next.context()->parent_span_id.empty());
  const auto outer_end = r.sink->events_for_operation("outer").back();
  CHECK(outer_end.type == EventType::end);
  REQUIRE(outer_end.tag("user_id") != nullptr);
  CHECK(*outer_end.tag("user_id") == "u7");
}

TEST_CASE("the instrumentor's default tags and module name reach every span", "[span]") {
  Recorder r({{"environment", "production"}, {"region", "eu"}}, "rag_pipeline");
  {
    streamll::Span outer(r.instrumentor, "outer");
    streamll::SpanOptions options;
    options.tags = {{"region", "us"}};
    streamll::Span inner(r.instrumentor, "inner", std::move(options));
  }
  const auto events = r.sink->events();
  REQUIRE(events.size() == 4);
  for (const auto& e : events) {
    CHECK(e.module_name() == "rag_pipeline");
    REQUIRE(e.tag("environment") != nullptr);
    CHECK(*e.tag("environment") == "production");
  }
  CHECK(*events[0].tag("region") == "eu");
  CHECK(*events[1].tag("region") == "us");
  CHECK(*events[3].tag("region") == "eu");
}

TEST_CASE("fail() replaces the end event with an error event", "[span]") {
  Recorder r;
  SECTION("with a type and message") {
    {
      streamll::Span span(r.instrumentor, "validation");
      span.set("attempt", 2);
      span.fail("ValidationError", "answer is empty");
      CHECK_FALSE(span.is_open());
      span.fail("Other", "ignored");
      span.end();
    }
    REQUIRE(r.sink->type_names() == std::vector<std::string>{"start", "error"});
    const auto error = r.sink->events()[1];
    CHECK(error.data["error_type"].as_string() == "ValidationError");
    CHECK(error.data["error_message"].as_string() == "answer is empty");
    CHECK(error.data["attempt"].as_int() == 2);
    CHECK(error.data["duration_ms"].is_double());
  }
  SECTION("with a caught exception: its dynamic type, inside or outside the handler") {
    app::RetrievalFailed stored("stored");
    {
      streamll::Span span(r.instrumentor, "a");
      try {
        throw app::RetrievalFailed("caught");
      } catch (const std::exception& e) {
        span.fail(e);
      }
    }
    {
      streamll::Span span(r.instrumentor, "b");
      span.fail(static_cast<const std::exception&>(stored));
    }
    const auto errors = r.sink->events_of_type(EventType::error);
    REQUIRE(errors.size() == 2);
    CHECK(errors[0].data["error_type"].as_string() == "app::RetrievalFailed");
    CHECK(errors[0].data["error_message"].as_string() == "caught");
    CHECK(errors[1].data["error_type"].as_string() == "app::RetrievalFailed");
    CHECK(errors[1].data["error_message"].as_string() == "stored");
  }
}

TEST_CASE("end() closes the span early and hands the thread back to its parent",
          "[span][context]") {
  Recorder r;
  {
    streamll::Span outer(r.instrumentor, "outer");
    streamll::Span first(r.instrumentor, "first");
    first.end();
    first.end();
    streamll::Span second(r.instrumentor, "second");
    CHECK(second.context()->parent_span_id == outer.span_id());
  }
  CHECK(r.sink->type_names() ==
        std::vector<std::string>{"start", "start", "end", "start", "end", "end"});
  CHECK(streamll::current_context().empty());
}

TEST_CASE("spans on concurrent threads never mix", "[span][context]") {
  Recorder r;
  constexpr int kThreads = 8;
  constexpr int kRounds = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&r, t] {
      for (int round = 0; round < kRounds; ++round) {
        streamll::SpanOptions options;
        options.tags = {{"thread", std::to_string(t)}};
        streamll::Span outer(r.instrumentor, "outer", std::move(options));
        outer.emit("step", {{"round", round}});
        streamll::Span inner(r.instrumentor, "inner");
        inner.emit("step", {{"round", round}});
      }
    });
  }
  for (auto& t : threads) t.join();

  const auto events = r.sink->events();
  REQUIRE(events.size() == static_cast<std::size_t>(kThreads * kRounds * 6));
  // Per execution: one thread's tag, one outer and one inner span, inner nested in outer.
  struct Execution {
    std::set<std::string> threads;
    std::set<std::string> outer_spans, inner_spans, inner_parents;
    int count = 0;
  };
  std::map<std::string, Execution> executions;
  for (const auto& e : events) {
    auto& x = executions[e.execution_id()];
    ++x.count;
    REQUIRE(e.tag("thread") != nullptr);
    x.threads.insert(*e.tag("thread"));
    if (e.operation() == "outer") {
      x.outer_spans.insert(e.span_id());
      CHECK(e.parent_span_id().empty());
    } else {
      x.inner_spans.insert(e.span_id());
      x.inner_parents.insert(e.parent_span_id());
    }
  }
  CHECK(executions.size() == static_cast<std::size_t>(kThreads * kRounds));
  for (const auto& [id, x] : executions) {
    INFO(id);
    CHECK(x.count == 6);
    CHECK(x.threads.size() == 1);
    CHECK(x.outer_spans.size() == 1);
    CHECK(x.inner_spans.size() == 1);
    CHECK(x.inner_parents == x.outer_spans);
  }
}

TEST_CASE("a context carried to a worker thread joins the caller's execution", "[span][context]") {
  Recorder r(streamll::Tags{{"environment", "test"}});
  streamll::Span request(r.instrumentor, "request");
  const streamll::Context captured = streamll::current_context();
  CHECK(captured.span() == request.context());

  std::string worker_span_parent, worker_execution;
  bool empty_after = false;
  std::thread worker([&] {
    {
      streamll::ContextScope scope(captured);
      streamll::Span work("embed_chunk");  // no instrumentor named: the captured one
      worker_span_parent = work.context()->parent_span_id;
      worker_execution = work.execution_id();
      streamll::LlmCall call("embedder");
      call.finish();
    }
    empty_after = streamll::current_context().empty();
  });
  worker.join();
  request.end();

  CHECK(worker_execution == request.execution_id());
  CHECK(worker_span_parent == request.span_id());
  CHECK(empty_after);
  const auto events = r.sink->events_for_operation("embed_chunk");
  REQUIRE(events.size() == 3);  // start, llm_call (in the worker span), end
  for (const auto& e : events) {
    CHECK(e.execution_id() == request.execution_id());
    REQUIRE(e.tag("environment") != nullptr);
  }
}

TEST_CASE("ContextScope restores the previous context, also when nested", "[context]") {
  Recorder a, b;
  streamll::Span span_a(a.instrumentor, "a");
  const auto context_a = streamll::current_context();
  streamll::Context context_b;
  std::thread([&] {
    streamll::Span span_b(b.instrumentor, "b");
    context_b = streamll::current_context();
  }).join();

  {
    streamll::ContextScope outer_scope(context_b);
    CHECK(streamll::current_context().span() == context_b.span());
    {
      streamll::ContextScope inner_scope{streamll::Context{}};
      CHECK(streamll::current_context().empty());
    }
    CHECK(streamll::current_context().span() == context_b.span());
    streamll::Span in_b("joined_b");
    CHECK(&in_b.instrumentor() == &b.instrumentor);
  }
  CHECK(streamll::current_context().span() == context_a.span());
  CHECK(b.sink->events_for_operation("joined_b").size() == 2);
}

TEST_CASE("a moved span emits its events once", "[span]") {
  Recorder r;
  SECTION("move construction") {
    {
      streamll::Span first(r.instrumentor, "moved");
      streamll::Span second(std::move(first));
      CHECK_FALSE(
          first.is_open());  // NOLINT(bugprone-use-after-move): checking the moved-from state
      CHECK(second.is_open());
      second.set("k", 1);
    }
    REQUIRE(r.sink->type_names() == std::vector<std::string>{"start", "end"});
    CHECK(r.sink->events()[1].data["k"].as_int() == 1);
  }
  SECTION("returned from a function and kept in an optional") {
    auto make = [&r] {
      streamll::Span s(r.instrumentor, "made");
      return s;
    };
    {
      std::optional<streamll::Span> holder;
      holder.emplace(make());
      streamll::Span child(r.instrumentor, "child");
      CHECK(child.context()->parent_span_id == holder->span_id());
    }
    CHECK(r.sink->type_names() == std::vector<std::string>{"start", "start", "end", "end"});
    CHECK(streamll::current_context().empty());
  }
}

TEST_CASE("configure() sets the instrumentor for spans that name none", "[span]") {
  DefaultInstrumentorGuard restore;
  auto sink = std::make_shared<streamll::MemorySink>();
  auto configured = streamll::configure({{sink}, {{"environment", "ci"}}, "app"});
  CHECK(streamll::default_instrumentor() == configured);
  {
    streamll::Span span("default_span");
    streamll::emit("custom_outside_nothing");
  }
  streamll::emit("outside_any_span", {{"k", true}});
  REQUIRE(sink->type_names() ==
          std::vector<std::string>{"start", "custom_outside_nothing", "end", "outside_any_span"});
  const auto events = sink->events();
  CHECK(*events[0].tag("environment") == "ci");
  CHECK(events[0].module_name() == "app");
  CHECK(events[3].execution_id().empty());
  CHECK(events[3].module_name() == "app");

  // A span keeps the instrumentor it started with when the default is replaced.
  auto second_sink = std::make_shared<streamll::MemorySink>();
  {
    streamll::Span span("long_running");
    streamll::configure({{second_sink}, {}, {}});
  }
  CHECK(sink->events_for_operation("long_running").size() == 2);
  CHECK(second_sink->size() == 0);
}

TEST_CASE("STREAMLL_SPAN and STREAMLL_SPAN_VAR", "[span]") {
  Recorder r;
  {
    STREAMLL_SPAN(r.instrumentor, "retrieval");
    STREAMLL_SPAN_VAR(answer, r.instrumentor, "answer_generation");
    answer.set("tokens", 12);
    answer.tag("user_id", "u1");
    STREAMLL_SPAN("nested_by_context");
  }
  REQUIRE(r.sink->type_names() ==
          std::vector<std::string>{"start", "start", "start", "end", "end", "end"});
  const auto events = r.sink->events();
  CHECK(events[0].operation() == "retrieval");
  CHECK(events[1].operation() == "answer_generation");
  CHECK(events[1].parent_span_id() == events[0].span_id());
  CHECK(events[2].operation() == "nested_by_context");
  CHECK(events[2].parent_span_id() == events[1].span_id());
  CHECK(events[4].operation() == "answer_generation");
  CHECK(events[4].data["tokens"].as_int() == 12);
  CHECK(*events[4].tag("user_id") == "u1");
}
