// Ending a span on a thread other than the one that opened it never corrupts a thread's
// current context: the opening thread's next span nests under the ended span's parent (not
// under the ended span), and the ending thread's own context is left as it was.

#include <catch2/catch.hpp>

#include <memory>
#include <thread>
#include <utility>

#include <streamll/streamll.hpp>

namespace {

std::shared_ptr<streamll::Instrumentor> memory_instrumentor() {
  streamll::InstrumentorOptions options;
  options.sinks = {std::make_shared<streamll::MemorySink>()};
  return std::make_shared<streamll::Instrumentor>(std::move(options));
}

template <typename Fn>
void on_another_thread(Fn fn) {
  std::thread other(std::move(fn));
  other.join();
}

}  // namespace

TEST_CASE("a span ended on another thread is not the parent of the next one", "[span][context]") {
  auto instrumentor = memory_instrumentor();
  streamll::Span ended_elsewhere(instrumentor, "handed over");
  on_another_thread([&] { ended_elsewhere.end(); });

  streamll::Span next(instrumentor, "next");
  CHECK(next.context()->parent_span_id.empty());
  CHECK(next.execution_id() != ended_elsewhere.execution_id());
  next.end();
  CHECK(streamll::current_context().span() == nullptr);
}

TEST_CASE("a nested span ended on another thread hands its thread back to its parent",
          "[span][context]") {
  auto instrumentor = memory_instrumentor();
  streamll::Span parent(instrumentor, "parent");
  {
    auto child = std::make_unique<streamll::Span>(instrumentor, "child");
    on_another_thread([moved = std::move(child)]() mutable { moved.reset(); });
  }
  CHECK(streamll::current_context().span() == parent.context());
  streamll::Span next(instrumentor, "next");
  CHECK(next.context()->parent_span_id == parent.span_id());
}

TEST_CASE("ending another thread's span leaves the ending thread's context alone",
          "[span][context]") {
  auto instrumentor = memory_instrumentor();
  streamll::Span foreign(instrumentor, "opened on the test thread");
  on_another_thread([&] {
    streamll::Span own(instrumentor, "the worker's");
    foreign.end();
    CHECK(streamll::current_context().span() == own.context());
    streamll::Span inner(instrumentor, "inner");
    CHECK(inner.context()->parent_span_id == own.span_id());
  });
  streamll::Span next(instrumentor, "next");
  CHECK(next.context()->parent_span_id.empty());
}

TEST_CASE("a span ended while a context scope covers it is skipped when the scope ends",
          "[span][context]") {
  auto instrumentor = memory_instrumentor();
  streamll::Span outer(instrumentor, "outer");
  const streamll::Context elsewhere(instrumentor, nullptr);
  auto covered = std::make_unique<streamll::Span>(instrumentor, "covered");
  {
    streamll::ContextScope scope(elsewhere);
    covered.reset();  // current here is the scope's context, not the span
  }
  streamll::Span next(instrumentor, "next");
  CHECK(next.context()->parent_span_id == outer.span_id());
}

TEST_CASE("a captured context keeps its span as parent after that span ended", "[span][context]") {
  auto instrumentor = memory_instrumentor();
  auto span = std::make_unique<streamll::Span>(instrumentor, "request");
  const std::string request_id = span->span_id();
  const streamll::Context captured = streamll::current_context();
  span.reset();
  on_another_thread([&] {
    streamll::ContextScope scope(captured);
    streamll::Span late(instrumentor, "late work");
    CHECK(late.context()->parent_span_id == request_id);
  });
}
