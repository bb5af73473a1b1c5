// The LLM-call guard: token events, the llm_call event's usage and timing fields, and what
// happens when a call fails or is abandoned.

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
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
  streamll::Instrumentor instrumentor{streamll::InstrumentorOptions{{sink}, {}, {}}};
};

Event the_llm_call(const streamll::MemorySink& sink) {
  const auto calls = sink.events_of_type(EventType::llm_call);
  REQUIRE(calls.size() == 1);
  return calls[0];
}

}  // namespace

TEST_CASE("tokens carry their text, index 0..n-1 and the optional field", "[llm_call]") {
  Recorder r;
  const std::vector<std::string> texts = {"The", " answer", " is", " 42", ""};
  {
    streamll::LlmCall call(r.instrumentor, "gpt-4o-mini");
    for (const auto& t : texts) call.token(t);
    call.token("{", "json_answer");
    CHECK(call.tokens_streamed() == 6);
    call.finish();
  }
  const auto tokens = r.sink->events_of_type(EventType::token);
  REQUIRE(tokens.size() == 6);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    INFO(i);
    REQUIRE(tokens[i].data["index"].is_int());
    CHECK(tokens[i].data["index"].as_int() == static_cast<std::int64_t>(i));
    if (i < texts.size()) {
      CHECK(tokens[i].data["token"].as_string() == texts[i]);
      CHECK_FALSE(tokens[i].data.contains("field"));
      CHECK(tokens[i].data.size() == 2);
    }
  }
  CHECK(tokens[5].data["token"].as_string() == "{");
  CHECK(tokens[5].data["field"].as_string() == "json_answer");
  CHECK(r.sink->type_names().back() == "llm_call");
  // The call's events share one span id of their own, so a dashboard can group them.
  const auto call = the_llm_call(*r.sink);
  for (const auto& t : tokens) CHECK(t.span_id() == call.span_id());
}

TEST_CASE("llm_call reports model, provider, usage, cost and finish reason", "[llm_call]") {
  Recorder r;
  {
    streamll::LlmCallOptions options;
    options.provider = "openai";
    streamll::LlmCall call(r.instrumentor, "gpt-4o-mini", std::move(options));
    call.token("hi");
    streamll::LlmUsage usage;
    usage.input_tokens = 120;
    usage.output_tokens = 30;
    usage.cost_usd = 0.0023;
    usage.finish_reason = "stop";
    usage.extra = {{"temperature", 0.2}};
    call.finish(std::move(usage));
  }
  const auto data = the_llm_call(*r.sink).data;
  CHECK(data["model"].as_string() == "gpt-4o-mini");
  CHECK(data["provider"].as_string() == "openai");
  CHECK(data["input_tokens"].as_int() == 120);
  CHECK(data["output_tokens"].as_int() == 30);
  CHECK(data["tokens_used"].as_int() == 150);
  CHECK(data["cost_usd"].as_double() == 0.0023);
  CHECK(data["finish_reason"].as_string() == "stop");
  CHECK(data["success"].as_bool() == true);
  CHECK(data["temperature"].as_double() == 0.2);
  CHECK_FALSE(data.contains("error_type"));
  CHECK(data["response_time_ms"].is_double());
  CHECK(data["ttft_ms"].is_double());
  CHECK(data["tokens_per_second"].is_double());
}

TEST_CASE("ttft_ms <= response_time_ms and tokens_per_second = output tokens / response time",
          "[llm_call]") {
  Recorder r;
  {
    streamll::LlmCall call(r.instrumentor, "local-llama");
    // Real time passes on purpose: the measured times must come from the clock.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    call.token("a");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    call.token("b");
    streamll::LlmUsage usage;
    usage.output_tokens = 40;
    call.finish(usage);
  }
  const auto data = the_llm_call(*r.sink).data;
  const double ttft = data["ttft_ms"].as_double();
  const double response = data["response_time_ms"].as_double();
  CHECK(ttft >= 5.0);
  CHECK(response >= 10.0);
  CHECK(ttft <= response);
  CHECK(response < 5000.0);
  CHECK(data["tokens_per_second"].as_double() == Approx(40 * 1000.0 / response).epsilon(1e-9));
}

TEST_CASE("tokens_used defaults", "[llm_call]") {
  Recorder r;
  const auto finish_with = [&r](streamll::LlmUsage usage, int streamed) {
    r.sink->clear();
    streamll::LlmCall call(r.instrumentor, "m");
    for (int i = 0; i < streamed; ++i) call.token("t");
    call.finish(std::move(usage));
    return the_llm_call(*r.sink).data;
  };
  streamll::LlmUsage both;
  both.input_tokens = 10;
  both.output_tokens = 5;
  CHECK(finish_with(both, 3)["tokens_used"].as_int() == 15);

  streamll::LlmUsage output_only;
  output_only.output_tokens = 5;
  const auto output_only_data = finish_with(output_only, 3);
  CHECK(output_only_data["tokens_used"].as_int() == 5);
  CHECK_FALSE(output_only_data.contains("input_tokens"));

  streamll::LlmUsage input_only;
  input_only.input_tokens = 10;
  CHECK(finish_with(input_only, 3)["tokens_used"].as_int() == 3);

  const auto nothing_known = finish_with({}, 4);
  CHECK(nothing_known["tokens_used"].as_int() == 4);
  CHECK_FALSE(nothing_known.contains("output_tokens"));
  CHECK_FALSE(nothing_known.contains("cost_usd"));
  CHECK_FALSE(nothing_known.contains("finish_reason"));

  streamll::LlmUsage explicit_total = both;
  explicit_total.tokens_used = 99;
  CHECK(finish_with(explicit_total, 3)["tokens_used"].as_int() == 99);

  const auto no_tokens = finish_with({}, 0);
  CHECK(no_tokens["tokens_used"].as_int() == 0);
  CHECK_FALSE(no_tokens.contains("ttft_ms"));
  CHECK_FALSE(no_tokens.contains("tokens_per_second"));
}

TEST_CASE("finish twice emits one llm_call", "[llm_call]") {
  Recorder r;
  {
    streamll::LlmCall call(r.instrumentor, "m");
    call.finish();
    CHECK_FALSE(call.is_open());
    call.finish();
    call.fail("X", "ignored after finish");
  }
  CHECK(r.sink->type_names() == std::vector<std::string>{"llm_call"});
}

TEST_CASE("an exception before finish gives an error and a failed llm_call, and propagates",
          "[llm_call]") {
  Recorder r;
  REQUIRE_THROWS_AS(
      [&] {
        streamll::Span span(r.instrumentor, "answer_generation");
        streamll::LlmCall call(r.instrumentor, "gpt-4o-mini");
        call.token("partial");
        throw std::runtime_error("connection reset");
      }(),
      std::runtime_error);
  REQUIRE(r.sink->type_names() ==
          std::vector<std::string>{"start", "token", "error", "llm_call", "error"});
  const auto events = r.sink->events();
  const auto& call_error = events[2];
  CHECK(call_error.data["error_type"].as_string() == expected_error_type("std::runtime_error"));
  CHECK(call_error.data["error_message"].as_string() == expected_error_message("connection reset"));
  CHECK(call_error.data["model"].as_string() == "gpt-4o-mini");
  const auto& call = events[3];
  CHECK(call.data["success"].as_bool() == false);
  CHECK(call.data["error_type"].as_string() == expected_error_type("std::runtime_error"));
  CHECK(call.data["tokens_used"].as_int() == 1);
  CHECK(call.data["ttft_ms"].as_double() <= call.data["response_time_ms"].as_double());
  CHECK(call_error.span_id() == call.span_id());
  // The enclosing span reports the same exception.
  CHECK(events[4].span_id() == events[0].span_id());
  CHECK(events[4].data["error_type"].as_string() == expected_error_type("std::runtime_error"));
}

TEST_CASE("fail() reports the error explicitly", "[llm_call]") {
  Recorder r;
  {
    streamll::LlmCall call(r.instrumentor, "m");
    call.fail("RateLimited", "429 from provider");
    CHECK_FALSE(call.is_open());
  }
  REQUIRE(r.sink->type_names() == std::vector<std::string>{"error", "llm_call"});
  const auto call = the_llm_call(*r.sink);
  CHECK(call.data["success"].as_bool() == false);
  CHECK(call.data["error_type"].as_string() == "RateLimited");
}

TEST_CASE("an abandoned call (destroyed without finish, no exception) is reported as such",
          "[llm_call]") {
  Recorder r;
  {
    streamll::LlmCall call(r.instrumentor, "m");
    call.token("x");
  }
  REQUIRE(r.sink->type_names() == std::vector<std::string>{"token", "llm_call"});
  const auto call = the_llm_call(*r.sink);
  CHECK(call.data["success"].as_bool() == false);
  CHECK(call.data["finish_reason"].as_string() == "abandoned");
  CHECK_FALSE(call.data.contains("error_type"));
  CHECK(call.data["tokens_used"].as_int() == 1);
}

TEST_CASE("a call belongs to the enclosing span, its operation is the span's or its own",
          "[llm_call]") {
  Recorder r;
  std::string span_id, execution_id;
  {
    streamll::Span span(r.instrumentor, "answer_generation");
    span_id = span.span_id();
    execution_id = span.execution_id();
    streamll::LlmCall inherits("m");  // instrumentor from the thread's context
    inherits.finish();
    streamll::LlmCallOptions options;
    options.operation = "rerank";
    options.tags = {{"stage", "2"}};
    streamll::LlmCall own(r.instrumentor, "m", std::move(options));
    own.finish();
  }
  const auto calls = r.sink->events_of_type(EventType::llm_call);
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].operation() == "answer_generation");
  CHECK(calls[1].operation() == "rerank");
  CHECK(*calls[1].tag("stage") == "2");
  for (const auto& c : calls) {
    CHECK(c.parent_span_id() == span_id);
    CHECK(c.execution_id() == execution_id);
    CHECK(c.span_id() != span_id);
  }
  CHECK(calls[0].span_id() != calls[1].span_id());
  // The guard is a leaf: it adds no start/end and does not become the current span.
  CHECK(r.sink->type_names() == std::vector<std::string>{"start", "llm_call", "llm_call", "end"});

  r.sink->clear();
  {
    streamll::LlmCall outside(r.instrumentor, "m");
    outside.finish();
  }
  const auto lone = the_llm_call(*r.sink);
  CHECK(lone.operation() == "llm_call");
  CHECK(lone.parent_span_id().empty());
  CHECK(lone.execution_id().rfind("exec_", 0) == 0);
}

TEST_CASE("a moved call emits once", "[llm_call]") {
  Recorder r;
  {
    streamll::LlmCall first(r.instrumentor, "m");
    first.token("a");
    streamll::LlmCall second(std::move(first));
    second.token("b");
    second.finish();
  }
  REQUIRE(r.sink->type_names() == std::vector<std::string>{"token", "token", "llm_call"});
  const auto tokens = r.sink->events_of_type(EventType::token);
  CHECK(tokens[1].data["index"].as_int() == 1);
  CHECK(the_llm_call(*r.sink).data["tokens_used"].as_int() == 2);
}

TEST_CASE("tokens into an instrumentor without sinks still count", "[llm_call]") {
  streamll::Instrumentor nothing;
  streamll::LlmCall call(nothing, "m");
  for (int i = 0; i < 3; ++i) call.token("t");
  CHECK(call.tokens_streamed() == 3);
  call.finish();
}

TEST_CASE("STREAMLL_LLM_CALL", "[llm_call]") {
  Recorder r;
  {
    STREAMLL_SPAN_VAR(span, r.instrumentor, "answer_generation");
    STREAMLL_LLM_CALL(call, "claude-3-haiku");
    call.token("Hello");
    streamll::LlmUsage usage;
    usage.finish_reason = "end_turn";
    call.finish(usage);
  }
  REQUIRE(r.sink->type_names() == std::vector<std::string>{"start", "token", "llm_call", "end"});
  const auto call = the_llm_call(*r.sink);
  CHECK(call.data["model"].as_string() == "claude-3-haiku");
  CHECK(call.data["finish_reason"].as_string() == "end_turn");
  CHECK(call.operation() == "answer_generation");
}
