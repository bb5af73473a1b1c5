// STREAMLL_DISABLE in one translation unit: the macros compile to nothing there, emit no
// events and do not evaluate their arguments, while the rest of the program is unaffected.

#define STREAMLL_DISABLE
#include <streamll/streamll.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace {

int evaluations = 0;

// Used only in macro arguments, which are never evaluated here: hence maybe_unused.
[[maybe_unused]] std::string counted(const char* text) {
  ++evaluations;
  return text;
}

struct DefaultInstrumentorGuard {
  ~DefaultInstrumentorGuard() { streamll::configure({}); }
};

}  // namespace

static_assert(std::is_empty_v<streamll::NoopSpan>, "a disabled span must hold no state");
static_assert(std::is_empty_v<streamll::NoopLlmCall>, "a disabled call must hold no state");

TEST_CASE("with STREAMLL_DISABLE the macros emit nothing and evaluate no arguments", "[disable]") {
  DefaultInstrumentorGuard restore;
  auto sink = std::make_shared<streamll::MemorySink>();
  streamll::configure({{sink}, {}, {}});
  evaluations = 0;

  {
    STREAMLL_SPAN(counted("retrieval"));
    STREAMLL_SPAN_VAR(answer, counted("answer_generation"));
    answer.set("documents", 3);
    answer.tag("user_id", "u1");
    answer.emit("custom_event", {{"k", 1}});
    STREAMLL_LLM_CALL(call, counted("gpt-4o-mini"));
    call.token("hello");
    call.token("world", "field");
    call.finish({});
    call.finish(streamll::LlmUsage{});
    CHECK(call.tokens_streamed() == 0);
    CHECK_FALSE(answer.is_open());
    answer.fail("X", "y");
    answer.end();
  }
  REQUIRE_THROWS_AS(
      [] {
        STREAMLL_SPAN(counted("failing"));
        STREAMLL_LLM_CALL(call, counted("m"));
        throw std::runtime_error("boom");
      }(),
      std::runtime_error);

  CHECK(evaluations == 0);
  CHECK(sink->size() == 0);

  // The library itself still works in this translation unit when used without the macros.
  { streamll::Span explicit_span("explicit"); }
  CHECK(sink->type_names() == std::vector<std::string>{"start", "end"});
}
