// MemorySink::spans(): spans put back together from their events, as OpenTelemetry's in-memory
// exporter gives them to a test.

#include <catch2/catch.hpp>

#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <streamll/streamll.hpp>

namespace {

struct Recorder {
  std::shared_ptr<streamll::MemorySink> sink = std::make_shared<streamll::MemorySink>();
  streamll::Instrumentor instrumentor{streamll::InstrumentorOptions{{sink}, {}, "bot"}};
};

}  // namespace

TEST_CASE("spans(): name and parent and status and duration and attributes and child events",
          "[sinks][span_view]") {
  Recorder r;
  std::string answer_id, retrieval_id, call_id;
  {
    streamll::SpanOptions options;
    options.data = {{"question", "refunds"}};
    options.tags = {{"tenant", "acme"}};
    streamll::Span answer(r.instrumentor, "answer", std::move(options));
    answer_id = answer.span_id();
    {
      streamll::Span retrieval(r.instrumentor, "retrieval");
      retrieval_id = retrieval.span_id();
      retrieval.set("documents", 3);
      retrieval.emit("cache_hit", {{"key", "q:1"}});
    }
    streamll::LlmCall call(r.instrumentor, "tiny-model");
    call_id = call.context()->span_id;
    call.token("See");
    call.token(" FAQ");
    call.finish();
    answer.tag("user", "u1");
    answer.set("answered", true);
  }
  const auto spans = r.sink->spans();
  REQUIRE(spans.size() == 3);  // in the order each span's first event arrived

  const auto& answer = spans[0];
  CHECK(answer.name == "answer");
  CHECK(answer.span_id == answer_id);
  CHECK(answer.is_root());
  CHECK(answer.module_name == "bot");
  CHECK(answer.status == streamll::SpanStatus::ok);
  REQUIRE(answer.duration_ms);
  CHECK(*answer.duration_ms >= 0.0);
  CHECK(answer.attributes == streamll::Fields{{"question", "refunds"}, {"answered", true}});
  CHECK(answer.tags == streamll::Tags{{"tenant", "acme"}, {"user", "u1"}});  // the last event's
  CHECK(answer.events.empty());
  REQUIRE(answer.start_time);
  REQUIRE(answer.end_time);
  CHECK(*answer.start_time <= *answer.end_time);

  const auto& retrieval = spans[1];
  CHECK(retrieval.name == "retrieval");
  CHECK(retrieval.span_id == retrieval_id);
  CHECK(retrieval.parent_span_id == answer_id);
  CHECK(retrieval.execution_id == answer.execution_id);
  CHECK(retrieval.status == streamll::SpanStatus::ok);
  CHECK(retrieval.attributes == streamll::Fields{{"documents", 3}});  // duration_ms apart
  CHECK(retrieval.event_type_names() == std::vector<std::string>{"cache_hit"});
  CHECK(retrieval.events[0].data["key"].as_string() == "q:1");

  const auto& call = spans[2];  // an LlmCall guard: no start or end event of its own
  CHECK(call.span_id == call_id);
  CHECK(call.name == "answer");  // the enclosing span's operation
  CHECK(call.parent_span_id == answer_id);
  CHECK(call.status == streamll::SpanStatus::ok);
  CHECK_FALSE(call.start_time);
  CHECK(call.end_time);
  CHECK(call.duration_ms == call.events.back().data["response_time_ms"].as_double());
  CHECK(call.event_type_names() == std::vector<std::string>{"token", "token", "llm_call"});

  CHECK(r.sink->spans_for_operation("retrieval").size() == 1);
  CHECK(r.sink->spans_for_operation("answer").size() == 2);  // the span and its call
  CHECK(r.sink->spans_for_operation("nothing").empty());
}

TEST_CASE("spans(): an error and a failed call and a span still open", "[sinks][span_view]") {
  Recorder r;
  streamll::Span open(r.instrumentor, "open");
  {
    streamll::Span failed(r.instrumentor, "failed");
    failed.set("attempt", 2);
    failed.fail("ValidationError", "answer is empty");
  }
  {
    streamll::LlmCall call(r.instrumentor, "m", streamll::LlmCallOptions{"", "call", {}});
    call.fail("RateLimited", "slow down");
  }
  {
    streamll::LlmCall abandoned(r.instrumentor, "m", streamll::LlmCallOptions{"", "abandoned", {}});
  }
  const auto spans = r.sink->spans();
  REQUIRE(spans.size() == 4);

  CHECK(spans[0].name == "open");
  CHECK(spans[0].status == streamll::SpanStatus::open);
  CHECK_FALSE(spans[0].duration_ms);
  CHECK_FALSE(spans[0].end_time);

  CHECK(spans[1].name == "failed");
  CHECK(spans[1].status == streamll::SpanStatus::error);
  CHECK(spans[1].error_type == "ValidationError");
  CHECK(spans[1].error_message == "answer is empty");
  CHECK(spans[1].duration_ms);
  CHECK(spans[1].attributes == streamll::Fields{{"attempt", 2}});

  CHECK(spans[2].name == "call");
  CHECK(spans[2].status == streamll::SpanStatus::error);
  CHECK(spans[2].error_type == "RateLimited");
  CHECK(spans[2].error_message == "slow down");
  CHECK(spans[2].event_type_names() == std::vector<std::string>{"llm_call"});

  CHECK(spans[3].name == "abandoned");
  CHECK(spans[3].status == streamll::SpanStatus::error);  // success false
  CHECK(spans[3].error_type.empty());
}

TEST_CASE("spans(): a span unwound by an exception is an error in either throw hook setting",
          "[sinks][span_view]") {
  Recorder r;
  CHECK_THROWS_AS(
      [&] {
        streamll::Span span(r.instrumentor, "answer");
        throw std::runtime_error("model timed out");
      }(),
      std::runtime_error);
  const auto spans = r.sink->spans();
  REQUIRE(spans.size() == 1);
  CHECK(spans[0].status == streamll::SpanStatus::error);
  CHECK_FALSE(spans[0].error_type.empty());  // the type, or "unknown exception" without the hook
}

TEST_CASE("spans(): events outside any span belong to none and a SpanView prints",
          "[sinks][span_view][print]") {
  Recorder r;
  {
    streamll::ContextScope scope(streamll::Context(
        std::shared_ptr<streamll::Instrumentor>(std::shared_ptr<void>(), &r.instrumentor),
        nullptr));
    streamll::emit("startup");  // the root context: no span id
  }
  CHECK(r.sink->size() == 1);
  CHECK(r.sink->spans().empty());

  streamll::SpanView view;
  view.name = "answer";
  view.span_id = "s2";
  view.parent_span_id = "s1";
  view.status = streamll::SpanStatus::error;
  view.duration_ms = 1.5;
  view.error_type = "std::runtime_error";
  view.attributes = {{"documents", 3}};
  view.events.push_back(streamll::Event::capture(streamll::EventType::token, nullptr));
  std::ostringstream out;
  out << view;
  CHECK(out.str() ==
        R"(SpanView{name: "answer", status: error, span_id: "s2", parent_span_id: "s1", )"
        R"(duration_ms: 1.5, error_type: "std::runtime_error", attributes: {"documents": 3}, )"
        R"(events: ["token"]})");
  CHECK(Catch::Detail::stringify(streamll::SpanStatus::ok) == "ok");
}
