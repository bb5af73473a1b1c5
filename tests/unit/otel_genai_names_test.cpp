// InstrumentorOptions::otel_genai_names: the llm_call event carries OpenTelemetry GenAI names
// beside streamll's, each equal to its counterpart (converted to OpenTelemetry's units), read
// back from the event's JSON with nlohmann; off by default, and from STREAMLL_OTEL_GENAI_NAMES.

#include <stdlib.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <streamll/streamll.hpp>

#include "recording_instrumentor.hpp"
#include "scoped_env.hpp"

using streamll::EventType;
using streamll::InstrumentorOptions;
using streamll::testing::ScopedEnv;

namespace {

struct Recorder : streamll::testing::RecordingInstrumentor {
  explicit Recorder(std::optional<bool> names)
      : RecordingInstrumentor([&](InstrumentorOptions& o) { o.otel_genai_names = names; }) {}
  // The only llm_call event, as a consumer reads it.
  nlohmann::json llm_call() const {
    const auto calls = sink->events_of_type(EventType::llm_call);
    REQUIRE(calls.size() == 1);
    return nlohmann::json::parse(streamll::to_json(calls[0])).at("data");
  }
};

bool has_otel_name(const nlohmann::json& data) {
  for (const auto& [key, value] : data.items()) {
    if (key.rfind("gen_ai.", 0) == 0 || key == "error.type") return true;
  }
  return false;
}

}  // namespace

TEST_CASE("llm_call carries OpenTelemetry GenAI names equal to streamll's own",
          "[llm_call][otel]") {
  Recorder r(true);
  {
    streamll::LlmCallOptions options;
    options.provider = "openai";
    streamll::LlmCall call(*r.instrumentor, "gpt-4o", std::move(options));
    for (int i = 0; i < 5; ++i) call.token("t");
    streamll::LlmUsage usage;
    usage.input_tokens = 120;
    usage.output_tokens = 5;
    usage.cached_input_tokens = 64;
    usage.reasoning_tokens = 2;
    usage.finish_reason = "stop";
    call.finish(std::move(usage));
  }
  const auto data = r.llm_call();
  CHECK(data.at("gen_ai.request.model") == data.at("model"));
  CHECK(data.at("gen_ai.provider.name") == "openai");
  CHECK(data.at("gen_ai.usage.input_tokens") == 120);
  CHECK(data.at("gen_ai.usage.output_tokens") == 5);
  CHECK(data.at("gen_ai.usage.cache_read.input_tokens") == 64);
  CHECK(data.at("gen_ai.usage.reasoning.output_tokens") == 2);
  CHECK(data.at("gen_ai.response.finish_reasons") == nlohmann::json::array({"stop"}));
  // Seconds, where streamll's own figures are milliseconds.
  CHECK(data.at("gen_ai.response.time_to_first_chunk").get<double>() * 1000.0 ==
        Approx(data.at("ttft_ms").get<double>()));
  CHECK_FALSE(data.contains("error.type"));
  // streamll's names stay, so its consumers and analytics read the event as before.
  for (const char* key : {"model", "provider", "input_tokens", "output_tokens", "finish_reason",
                          "ttft_ms", "tokens_used", "success"}) {
    CAPTURE(key);
    CHECK(data.contains(key));
  }
}

TEST_CASE("OpenTelemetry names appear only for what the call knows", "[llm_call][otel]") {
  Recorder r(true);
  SECTION("a failed call without tokens nor usage") {
    {
      streamll::LlmCall call(*r.instrumentor, "m");
      call.fail("TimeoutError", "no answer");
    }
    const auto data = r.llm_call();
    CHECK(data.at("gen_ai.request.model") == "m");
    CHECK(data.at("error.type") == "TimeoutError");
    for (const char* key :
         {"gen_ai.provider.name", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
          "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.reasoning.output_tokens",
          "gen_ai.response.finish_reasons", "gen_ai.response.time_to_first_chunk"}) {
      CAPTURE(key);
      CHECK_FALSE(data.contains(key));
    }
  }
  SECTION("fail() with an empty error type is still a failure, not an abandoned call") {
    {
      streamll::LlmCall call(*r.instrumentor, "m");
      call.fail("", "no type given");
    }
    const auto data = r.llm_call();
    CHECK(data.at("error_type") == "error");
    CHECK(data.at("error.type") == "error");
    CHECK(data.at("success") == false);
    CHECK_FALSE(data.contains("finish_reason"));
    const auto errors = r.sink->events_of_type(EventType::error);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].data["error_type"].as_string() == "error");
  }
  SECTION("one token: a time to first chunk") {
    {
      streamll::LlmCall call(*r.instrumentor, "m");
      call.token("only");
      call.finish();
    }
    const auto data = r.llm_call();
    CHECK(data.contains("gen_ai.response.time_to_first_chunk"));
  }
  SECTION("abandoned: error.type, and no finish reason the model did not give") {
    {
      streamll::LlmCall call(*r.instrumentor, "m");
      call.token("t");
    }
    const auto data = r.llm_call();
    CHECK(data.at("finish_reason") == "abandoned");
    CHECK(data.at("success") == false);
    CHECK(data.at("error.type") == "abandoned");
    CHECK_FALSE(data.contains("gen_ai.response.finish_reasons"));
  }
  SECTION("unwound by an exception: error.type as the llm_call's error_type") {
    try {
      streamll::LlmCall call(*r.instrumentor, "m");
      throw std::runtime_error("model went away");
    } catch (const std::runtime_error&) {
    }
    const auto data = r.llm_call();
    REQUIRE(data.contains("error_type"));
    CHECK(data.at("error.type") == data.at("error_type"));
  }
  SECTION("LlmUsage::extra may replace an OpenTelemetry name, as any key") {
    {
      streamll::LlmCall call(*r.instrumentor, "m");
      streamll::LlmUsage usage;
      usage.extra.set("gen_ai.request.model", "deployment-7");
      usage.extra.set("gen_ai.operation.name", "chat");
      call.finish(std::move(usage));
    }
    const auto data = r.llm_call();
    CHECK(data.at("gen_ai.request.model") == "deployment-7");
    CHECK(data.at("gen_ai.operation.name") == "chat");
    CHECK(data.at("model") == "m");
  }
  SECTION("a finish reason that JSON must escape, or that is not UTF-8") {
    const std::string reason = GENERATE(std::string("a\"b\\c\n"), std::string("st\xffop"));
    {
      streamll::LlmCall call(*r.instrumentor, "m");
      streamll::LlmUsage usage;
      usage.finish_reason = reason;
      call.finish(std::move(usage));
    }
    const auto data = r.llm_call();
    const auto& reasons = data.at("gen_ai.response.finish_reasons");
    REQUIRE(reasons.is_array());
    REQUIRE(reasons.size() == 1);
    CHECK(reasons[0] == data.at("finish_reason"));  // written alike, U+FFFD included
  }
}

TEST_CASE("OpenTelemetry names are off by default and follow STREAMLL_OTEL_GENAI_NAMES",
          "[llm_call][otel]") {
  const auto names_in_a_call = [](std::optional<bool> option) {
    Recorder r(option);
    {
      streamll::LlmCall call(*r.instrumentor, "m");
      call.finish();
    }
    return has_otel_name(r.llm_call());
  };
  {
    ScopedEnv unset("STREAMLL_OTEL_GENAI_NAMES", nullptr);
    CHECK_FALSE(names_in_a_call(std::nullopt));
  }
  CHECK_FALSE(streamll::Instrumentor().otel_genai_names());
  {
    ScopedEnv env("STREAMLL_OTEL_GENAI_NAMES", "on");
    CHECK(names_in_a_call(std::nullopt));
    CHECK_FALSE(names_in_a_call(false));  // the option wins over the environment
  }
  for (const char* yes : {"1", "true", "TRUE", "yes"}) {
    ScopedEnv env("STREAMLL_OTEL_GENAI_NAMES", yes);
    CAPTURE(yes);
    CHECK(InstrumentorOptions{}.otel_genai_names == std::nullopt);
    CHECK(streamll::Instrumentor(InstrumentorOptions{}).otel_genai_names());
  }
  for (const char* no : {"0", "false", "off", "maybe", ""}) {
    ScopedEnv env("STREAMLL_OTEL_GENAI_NAMES", no);
    CAPTURE(no);
    CHECK_FALSE(streamll::Instrumentor(InstrumentorOptions{}).otel_genai_names());
  }
  CHECK(names_in_a_call(true));
}

TEST_CASE("llm_call carries cached input and reasoning tokens when the call reports them",
          "[llm_call][usage]") {
  Recorder r(false);
  const bool reported = GENERATE(false, true);
  CAPTURE(reported);
  {
    streamll::LlmCall call(*r.instrumentor, "o3-mini");
    streamll::LlmUsage usage;
    usage.input_tokens = 1000;
    usage.output_tokens = 300;
    if (reported) {
      usage.cached_input_tokens = 768;
      usage.reasoning_tokens = 192;
    }
    call.finish(std::move(usage));
  }
  const auto data = r.llm_call();
  CHECK(data.contains("cached_input_tokens") == reported);
  CHECK(data.contains("reasoning_tokens") == reported);
  if (reported) {
    CHECK(data.at("cached_input_tokens") == 768);
    CHECK(data.at("reasoning_tokens") == 192);
  }
  CHECK(data.at("tokens_used") == 1300);  // parts of input and output, not added again
}
