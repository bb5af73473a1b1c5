#pragma once
// Instrumentation macros. Under STREAMLL_DISABLE they expand to empty stand-ins whose
// arguments are never evaluated, so instrumented code costs nothing. Calls on the stand-ins
// (`call.token(next_token())`, `span.set("k", compute())`) are ordinary C++ calls: their
// arguments are still evaluated (the empty functions themselves compile away). Keep work that
// exists only for observability inside the macros' arguments, or under `#ifndef
// STREAMLL_DISABLE`.

#include "streamll/llm_call.hpp"
#include "streamll/span.hpp"

#define STREAMLL_DETAIL_CONCAT2(a, b) a##b
#define STREAMLL_DETAIL_CONCAT(a, b) STREAMLL_DETAIL_CONCAT2(a, b)

#ifndef STREAMLL_DISABLE
/// An anonymous span covering the rest of the enclosing scope.
#define STREAMLL_SPAN(...) \
  ::streamll::Span STREAMLL_DETAIL_CONCAT(streamll_span_, __LINE__)(__VA_ARGS__)
/// A named span, for set(), tag(), emit() and fail().
#define STREAMLL_SPAN_VAR(var, ...) ::streamll::Span var(__VA_ARGS__)
/// An LLM-call guard named `var`.
#define STREAMLL_LLM_CALL(var, ...) ::streamll::LlmCall var(__VA_ARGS__)
#else
// Arguments are not evaluated and the stand-ins are empty: no code, no events.
#define STREAMLL_SPAN(...) static_cast<void>(0)
#define STREAMLL_SPAN_VAR(var, ...) [[maybe_unused]] ::streamll::NoopSpan var
#define STREAMLL_LLM_CALL(var, ...) [[maybe_unused]] ::streamll::NoopLlmCall var
#endif
