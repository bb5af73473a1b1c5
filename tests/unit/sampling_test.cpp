// Head sampling: the decision (its hash pinned against an independent implementation, its
// rate over many ids), whole executions kept or left out, what a sampled-out execution still
// emits when it fails, the counters, per-operation rates, the option checks and the
// environment variable.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <streamll/streamll.hpp>

#include "scoped_env.hpp"
#include "throw_hook_expectation.hpp"

namespace {

using streamll::Event;
using streamll::EventType;
using streamll::testing::ScopedEnv;
using streamll::testing_support::expected_error_type;

struct Sampled {
  std::shared_ptr<streamll::MemorySink> sink = std::make_shared<streamll::MemorySink>();
  std::shared_ptr<streamll::Instrumentor> instrumentor;

  explicit Sampled(double rate, std::vector<streamll::OperationSampleRate> per_operation = {}) {
    streamll::InstrumentorOptions options;
    options.sinks = {sink};
    options.sample_rate = rate;
    options.operation_sample_rates = std::move(per_operation);
    instrumentor = std::make_shared<streamll::Instrumentor>(std::move(options));
  }
  std::vector<Event> events() const { return sink->events(); }
};

std::vector<const Event*> of_type(const std::vector<Event>& events, EventType type) {
  std::vector<const Event*> out;
  for (const auto& e : events) {
    if (e.type == type) out.push_back(&e);
  }
  return out;
}

bool flag(const Event& e, const char* key) {
  const auto* v = e.data.find(key);
  return v != nullptr && v->is_bool() && v->as_bool();
}

}  // namespace

TEST_CASE("sampling hash matches an independent FNV-1a and splitmix64 implementation") {
  // Computed with Python's integers, outside this code: the hash is part of the contract, so
  // that every process (and version) decides the same for the same id.
  using streamll::detail::Sampler;
  CHECK(Sampler::hash("") == 0xf52a15e9a9b5e89bULL);
  CHECK(Sampler::hash("a") == 0x02c0bdbf481420f8ULL);
  CHECK(Sampler::hash("exec_0123456789abcdef") == 0xb4e64d0fa033ed2eULL);
}

TEST_CASE("sampling thresholds at the ends and in between") {
  using streamll::detail::Sampler;
  CHECK(Sampler::threshold(0.0) == 0);
  CHECK(Sampler::threshold(-0.0) == 0);
  CHECK(Sampler::threshold(std::numeric_limits<double>::denorm_min()) == 0);
  CHECK(Sampler::threshold(0.5) == (std::uint64_t{1} << 63));
  CHECK(Sampler::threshold(1.0) == ~std::uint64_t{0});
  CHECK(Sampler::threshold(std::nextafter(1.0, 0.0)) < ~std::uint64_t{0});
  // "exec_0123456789abcdef" hashes to 0.7066 of the range: kept at 0.71, left out at 0.70.
  CHECK(Sampler(0.71, {}).keeps("exec_0123456789abcdef", "op"));
  CHECK_FALSE(Sampler(0.70, {}).keeps("exec_0123456789abcdef", "op"));
  CHECK(Sampler(1.0, {}).keeps_everything());
  CHECK_FALSE(Sampler(0.999, {}).keeps_everything());
  CHECK_FALSE(Sampler(1.0, {{"health", 0.5}}).keeps_everything());
}

TEST_CASE("sampling keeps the configured share of executions") {
  for (const double rate : {0.01, 0.1, 0.5, 0.9}) {
    const streamll::detail::Sampler sampler(rate, {});
    int kept = 0;
    constexpr int kIds = 20000;
    for (int i = 0; i < kIds; ++i) {
      kept += sampler.keeps("exec_" + std::to_string(i), "op");
    }
    // Fixed ids, so the count is fixed; the bound is 4 standard deviations.
    const double expected = rate * kIds;
    const double sd = std::sqrt(kIds * rate * (1 - rate));
    INFO("rate " << rate << " kept " << kept);
    CHECK(std::abs(kept - expected) < 4 * sd);
  }
}

TEST_CASE("the same execution id gets the same decision from every instrumentor") {
  Sampled a(0.5), b(0.5);
  int kept = 0;
  for (int i = 0; i < 200; ++i) {
    streamll::SpanOptions options;
    options.execution_id = "exec_shared_" + std::to_string(i);
    const std::string id = options.execution_id;
    { streamll::Span root(a.instrumentor, "request", options); }
    { streamll::Span root(b.instrumentor, "request", options); }
    const bool in_a = a.instrumentor->samples_in(id, "request");
    CHECK(in_a == b.instrumentor->samples_in(id, "request"));
    kept += in_a;
  }
  CHECK(kept > 0);
  CHECK(kept < 200);
  CHECK(a.events().size() == b.events().size());
  CHECK(a.events().size() == static_cast<std::size_t>(2 * kept));
  CHECK(a.instrumentor->sampled_out_executions() == static_cast<std::uint64_t>(200 - kept));
}

TEST_CASE("a sampled-out execution emits nothing when it succeeds and counts what it left out") {
  Sampled s(0.0);
  {
    streamll::Span root(s.instrumentor, "request");
    CHECK_FALSE(root.sampled());
    CHECK_FALSE(root.span_id().empty());
    streamll::Span child("retrieve");
    CHECK_FALSE(child.sampled());
    CHECK(child.span_id().empty());
    CHECK(child.execution_id().empty());
    CHECK_FALSE(child.context()->sampled);
    CHECK(child.operation() == "retrieve");
    CHECK(&child.instrumentor() == s.instrumentor.get());
    {
      streamll::Span grandchild("rerank");
      grandchild.set("documents", 5);
      grandchild.emit("retrieval_stats", {{"documents", 5}});
      streamll::emit("note", {{"k", 1}});
    }
    streamll::LlmCall call("tiny-model");
    call.token("a");
    call.token("b");
    call.finish(streamll::LlmUsage{3, 2});
  }
  CHECK(s.events().empty());
  CHECK(s.instrumentor->sampled_out_executions() == 1);
  // root, child, grandchild: start and end each; two custom events; the llm_call event.
  CHECK(s.instrumentor->sampled_out_events() == 6 + 2 + 1);
  CHECK(s.instrumentor->sampled_out_tokens() == 2);
}

TEST_CASE("a kept execution is kept whole with no orphan") {
  Sampled s(0.5);
  for (int i = 0; i < 100; ++i) {
    streamll::Span root(s.instrumentor, "request");
    streamll::Span child("retrieve");
    { streamll::Span grandchild("rerank"); }
    streamll::LlmCall call("tiny-model");
    call.token("x");
    call.finish();
  }
  const auto events = s.events();
  std::map<std::string, int> per_execution;
  std::set<std::string> spans;
  for (const auto& e : events) {
    ++per_execution[e.context->execution_id];
    if (e.type == EventType::start) spans.insert(e.context->span_id);
  }
  // start and end of three spans, one token, one llm_call.
  for (const auto& [execution, count] : per_execution) CHECK(count == 8);
  for (const auto& e : events) {
    if (!e.context->parent_span_id.empty()) CHECK(spans.count(e.context->parent_span_id) == 1);
    CHECK_FALSE(flag(e, "sampled_out"));
  }
  CHECK(per_execution.size() + s.instrumentor->sampled_out_executions() == 100);
  CHECK(s.instrumentor->sampled_out_events() ==
        7 * s.instrumentor->sampled_out_executions());  // 6 span events + 1 llm_call
}

TEST_CASE("a failure inside a sampled-out execution still reports its errors") {
  Sampled s(0.0);
  std::string root_span, execution;
  try {
    streamll::Span root(s.instrumentor, "request", {{}, {{"tenant", "acme"}}});
    root_span = root.span_id();
    execution = root.execution_id();
    streamll::Span middle("retrieve");
    streamll::Span inner("rerank", {{}, {{"index", "products"}}});
    inner.tag("stage", "2");
    inner.set("documents", 5);
    throw std::runtime_error("index unavailable");
  } catch (const std::runtime_error&) {
  }
  const auto events = s.events();
  const auto errors = of_type(events, EventType::error);
  REQUIRE(errors.size() == 3);
  REQUIRE(events.size() == 3);
  // Innermost first, as the exception crossed them.
  CHECK(errors[0]->context->operation == "rerank");
  CHECK(errors[1]->context->operation == "retrieve");
  CHECK(errors[2]->context->operation == "request");
  for (const Event* e : errors) {
    CHECK(e->context->execution_id == execution);
    CHECK(flag(*e, "sampled_out"));
    CHECK(e->tag("tenant") == "acme");
  }
  // The spans inside report as children of the root, the one span recorded; without the
  // clock they never read, they have no duration.
  CHECK(errors[0]->context->parent_span_id == root_span);
  CHECK(errors[1]->context->parent_span_id == root_span);
  CHECK(errors[2]->context->span_id == root_span);
  CHECK(errors[0]->tag("index") == "products");
  CHECK(errors[0]->tag("stage") == "2");
  CHECK(errors[0]->data.find("documents") != nullptr);
  CHECK(errors[0]->data.find("duration_ms") == nullptr);
  CHECK(errors[2]->data.find("duration_ms") != nullptr);
  // Starts of all three and nothing else left out.
  CHECK(s.instrumentor->sampled_out_events() == 3);
}

TEST_CASE("a span inside a sampled-out execution opened while unwinding") {
  // Opened in a destructor that an exception runs: it fails only through an exception of
  // its own, not the one already unwinding.
  Sampled s(0.0);
  struct OpensSpansOnDestruction {
    ~OpensSpansOnDestruction() {
      { streamll::Span cleanup("cleanup"); }
      try {
        streamll::Span flush("flush");
        throw std::runtime_error("disk full");
      } catch (const std::runtime_error&) {
      }
    }
  };
  try {
    streamll::Span root(s.instrumentor, "request");
    OpensSpansOnDestruction guard;
    throw std::logic_error("bad request");
  } catch (const std::logic_error&) {
  }
  const auto events = s.events();
  const auto errors = of_type(events, EventType::error);
  REQUIRE(events.size() == 2);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0]->context->operation == "flush");
  CHECK(errors[1]->context->operation == "request");
  CHECK(errors[0]->data["error_type"].as_string() == expected_error_type("std::runtime_error"));
  CHECK(errors[1]->data["error_type"].as_string() == expected_error_type("std::logic_error"));
  // request's start; cleanup's start and end; flush's start.
  CHECK(s.instrumentor->sampled_out_events() == 4);
}

TEST_CASE("a failed call inside a sampled-out execution emits its error and llm_call") {
  Sampled s(0.0);
  {
    streamll::Span root(s.instrumentor, "request");
    streamll::Span inner("generate");
    streamll::LlmCall call("tiny-model", {"openai"});
    call.token("partial");
    call.fail("RateLimited", "429");
  }
  const auto events = s.events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].type == EventType::error);
  CHECK(events[1].type == EventType::llm_call);
  CHECK(flag(events[0], "sampled_out"));
  CHECK(flag(events[1], "sampled_out"));
  CHECK(events[1].data.find("success")->as_bool() == false);
  CHECK(events[1].data.find("error_type")->as_string() == "RateLimited");
  CHECK(events[1].data.find("ttft_ms") != nullptr);
  CHECK(s.instrumentor->sampled_out_tokens() == 1);
}

TEST_CASE("an abandoned call inside a sampled-out execution still reports") {
  Sampled s(0.0);
  { streamll::LlmCall call(*s.instrumentor, "tiny-model"); }
  const auto events = s.events();  // of_type points into it: it must outlive `calls`
  const auto calls = of_type(events, EventType::llm_call);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0]->data.find("finish_reason")->as_string() == "abandoned");
  CHECK(flag(*calls[0], "sampled_out"));
  CHECK(s.instrumentor->sampled_out_executions() == 1);  // a call outside any span is a root
}

TEST_CASE("custom error and llm_call events pass a sampled-out execution") {
  Sampled s(0.0);
  {
    streamll::Span root(s.instrumentor, "request");
    streamll::Span inner("step");
    inner.emit("error", {{"error_type", "Timeout"}});
    root.emit("progress", {{"pct", 50}});
  }
  const auto events = s.events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::error);
  CHECK(events[0].data.find("error_type")->as_string() == "Timeout");
}

TEST_CASE("a sampled-out execution stays out on the threads it is carried to") {
  Sampled s(0.0);
  {
    streamll::Span root(s.instrumentor, "request");
    const streamll::Context captured = streamll::current_context();
    std::thread worker([&] {
      streamll::ContextScope scope(captured);
      streamll::Span step("embed");
      CHECK_FALSE(step.sampled());
    });
    worker.join();
    // The worker's start and end were added when its scope ended.
    CHECK(s.instrumentor->sampled_out_events() == 1 + 2);
  }
  CHECK(s.events().empty());
  CHECK(s.instrumentor->sampled_out_events() == 4);
}

TEST_CASE("per-operation rates apply to the root's operation only") {
  Sampled s(1.0, {{"healthcheck", 0.0}});
  { streamll::Span probe(s.instrumentor, "healthcheck"); }
  {
    streamll::Span request(s.instrumentor, "request");
    streamll::Span inner("healthcheck");  // not a root: its execution is kept
  }
  {
    streamll::LlmCall call(*s.instrumentor, "m", {{}, "healthcheck"});
    call.finish();
  }
  const auto events = s.events();
  REQUIRE(events.size() == 4);
  for (const auto& e : events) CHECK(e.context->execution_id == events[0].context->execution_id);
  CHECK(s.instrumentor->sampled_out_executions() == 2);
}

TEST_CASE("sampling rates outside 0 to 1 are configuration errors") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const double bad : {-0.1, 1.5, nan, std::numeric_limits<double>::infinity()}) {
    streamll::InstrumentorOptions options;
    options.sample_rate = bad;
    CHECK_THROWS_AS(streamll::Instrumentor(std::move(options)), streamll::ConfigError);
    streamll::InstrumentorOptions per_operation;
    per_operation.operation_sample_rates = {{"healthcheck", bad}};
    try {
      streamll::Instrumentor rejected(std::move(per_operation));
      FAIL("accepted " << bad);
    } catch (const streamll::ConfigError& e) {
      CHECK(e.option() == "operation_sample_rates");
      CHECK(std::string(e.what()).find("healthcheck") != std::string::npos);
    }
  }
  streamll::InstrumentorOptions edges;
  edges.sample_rate = 0.0;
  edges.operation_sample_rates = {{"a", 1.0}};
  CHECK_NOTHROW(streamll::Instrumentor(std::move(edges)));
}

TEST_CASE("STREAMLL_SAMPLE_RATE sets the rate when the option is unset") {
  auto spans_kept = [](streamll::InstrumentorOptions options) {
    auto sink = std::make_shared<streamll::MemorySink>();
    options.sinks = {sink};
    streamll::Instrumentor instrumentor(std::move(options));
    for (int i = 0; i < 50; ++i) streamll::Span root(instrumentor, "request");
    return sink->events().size() / 2;
  };
  {
    ScopedEnv env("STREAMLL_SAMPLE_RATE", "0");
    CHECK(spans_kept({}) == 0);
    streamll::InstrumentorOptions explicit_rate;
    explicit_rate.sample_rate = 1.0;
    CHECK(spans_kept(std::move(explicit_rate)) == 50);  // the option wins
  }
  {
    ScopedEnv env("STREAMLL_SAMPLE_RATE", " 0\t");  // spaces and tabs around it are dropped
    CHECK(spans_kept({}) == 0);
  }
  for (const char* ignored : {"abc", "1.5", "-1", "0.5x", "nan", "", " \t", "0 .5"}) {
    ScopedEnv env("STREAMLL_SAMPLE_RATE", ignored);
    CHECK(spans_kept({}) == 50);
  }
  {
    ScopedEnv env("STREAMLL_SAMPLE_RATE", "0.5");
    const auto kept = spans_kept({});
    CHECK(kept > 0);
    CHECK(kept < 50);
  }
}

TEST_CASE("a span inside a sampled-out execution: fail emit and accessors") {
  Sampled s(0.0);
  {
    streamll::Span root(s.instrumentor, "request");
    streamll::Span inner("step");
    CHECK(inner.context() != nullptr);  // never null: a shared context without ids
    CHECK_FALSE(inner.context()->sampled);
    CHECK(inner.span_id().empty());
    inner.emit("llm_call", {{"model", "m"}});
    inner.emit("progress", {{"pct", 1}});
    inner.fail("Timeout", "took too long");
    CHECK_FALSE(inner.is_open());
    CHECK_FALSE(inner.span_id().empty());  // the ids of its error event
    inner.end();                           // no effect once failed
    inner.fail("Again", "");
  }
  const auto events = s.events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].type == EventType::llm_call);
  CHECK(flag(events[0], "sampled_out"));
  CHECK(events[1].type == EventType::error);
  CHECK(events[1].data.find("error_type")->as_string() == "Timeout");
  CHECK(flag(events[1], "sampled_out"));
  // root start and end, the inner span's start, the custom event.
  CHECK(s.instrumentor->sampled_out_events() == 4);
}

TEST_CASE("a span inside a sampled-out execution can be moved and still counts once") {
  Sampled s(0.0);
  {
    streamll::Span root(s.instrumentor, "request");
    std::optional<streamll::Span> moved;
    {
      streamll::Span inner("step");
      moved.emplace(std::move(inner));
    }
    CHECK(moved->is_open());
    CHECK(moved->operation() == "step");
  }
  CHECK(s.events().empty());
  CHECK(s.instrumentor->sampled_out_events() == 4);
}

TEST_CASE("a span given its own execution id inside a sampled-out one is decided on it") {
  // Rate 0.5: find an id the sampler keeps, then open it inside a sampled-out execution.
  Sampled s(0.5);
  std::string kept_id;
  for (int i = 0; kept_id.empty(); ++i) {
    const std::string id = "exec_own_" + std::to_string(i);
    if (s.instrumentor->samples_in(id, "batch")) kept_id = id;
  }
  std::string out_id;
  for (int i = 0; out_id.empty(); ++i) {
    const std::string id = "exec_parent_" + std::to_string(i);
    if (!s.instrumentor->samples_in(id, "request")) out_id = id;
  }
  {
    streamll::SpanOptions root_options;
    root_options.execution_id = out_id;
    streamll::Span root(s.instrumentor, "request", root_options);
    CHECK_FALSE(root.sampled());
    streamll::SpanOptions own;
    own.execution_id = kept_id;
    streamll::Span batch("batch", own);
    CHECK(batch.sampled());
    CHECK(batch.execution_id() == kept_id);
  }
  const auto events = s.events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].context->execution_id == kept_id);
}

TEST_CASE("sampled-out calls count their tokens in every mode") {
  using streamll::TokenMode;
  for (const auto& [mode, counted] :
       std::vector<std::pair<TokenMode, std::uint64_t>>{{TokenMode::each, 5},
                                                        {TokenMode::chunked, 5},
                                                        {TokenMode::summary, 0},
                                                        {TokenMode::off, 0}}) {
    Sampled s(0.0);
    {
      streamll::LlmCallOptions options;
      options.token_mode = mode;
      streamll::LlmCall call(*s.instrumentor, "m", options);
      for (int i = 0; i < 5; ++i) call.token("t");
      call.finish();
    }
    CAPTURE(streamll::token_mode_name(mode));
    CHECK(s.events().empty());
    CHECK(s.instrumentor->sampled_out_tokens() == counted);
    CHECK(s.instrumentor->sampled_out_events() == 1);
  }
}

TEST_CASE("a sampled-out root ended on another thread leaves the counts to its own thread") {
  Sampled s(0.0);
  std::optional<streamll::Span> root;
  root.emplace(s.instrumentor, "request");
  { streamll::Span inner("step"); }
  std::thread([&] { root->end(); }).join();
  // The root's own two events are counted; the inner span's wait on this thread.
  CHECK(s.instrumentor->sampled_out_events() == 2);
  root.reset();
  streamll::Span next(s.instrumentor, "request");
  next.end();  // the next root to end on this thread adds them
  CHECK(s.instrumentor->sampled_out_events() == 2 + 2 + 2);
  CHECK(s.events().empty());
}

TEST_CASE("a span inside a sampled-out execution failing on another thread is its own root") {
  Sampled s(0.0);
  std::optional<streamll::Span> inner;
  {
    streamll::Span root(s.instrumentor, "request");
    // Named: a span inside a sampled-out execution made without one reports to the
    // instrumentor of the thread it fails on.
    inner.emplace(*s.instrumentor, "step");
  }
  std::thread([&] { inner->fail("Timeout", ""); }).join();
  const auto events = s.events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::error);
  CHECK(events[0].context->parent_span_id.empty());
  CHECK(flag(events[0], "sampled_out"));
  CHECK(s.instrumentor->sampled_out_executions() == 1);  // not decided again
}

TEST_CASE("events handed to emit directly obey the execution's sampling") {
  Sampled s(0.0);
  streamll::Span root(s.instrumentor, "request");
  s.instrumentor->emit(streamll::Event::capture(EventType::custom, root.context(), {}, "x"));
  s.instrumentor->emit(streamll::Event::capture(EventType::error, root.context(), {}));
  const auto events = s.events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::error);
  CHECK(s.instrumentor->sampled_out_events() == 2);  // the root's start, the custom event
}
