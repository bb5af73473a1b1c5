// "No per-token allocation on the application thread" for the streaming figures (issue 14):
// counted with a replaced global operator new, in a binary of its own so no other test runs
// with it. A token that emits no event (mode summary, a sampled-out execution, no sink) does
// the clock read and the gap histogram's work only; the histogram is made once, at the first
// gap. Mode off returns at once.

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

#include <streamll/streamll.hpp>

namespace {
// Every allocation of this thread through operator new, counted.
thread_local std::size_t allocations = 0;

void* counted(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t size) { return counted(size); }
void* operator new[](std::size_t size) { return counted(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  ++allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  ++allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

struct DropSink final : streamll::Sink {
  void handle(const streamll::Event&) override {}
  std::string name() const override { return "drop"; }
};

// Allocations made by `tokens` token() calls after the call's first two tokens.
std::size_t allocations_per_tokens(streamll::Instrumentor& instrumentor, streamll::TokenMode mode,
                                   int tokens) {
  streamll::LlmCallOptions options;
  options.token_mode = mode;
  streamll::LlmCall call(instrumentor, "model", options);
  call.token("first");
  call.token("second");  // the first gap: the histogram is made here
  const std::size_t before = allocations;
  for (int i = 0; i < tokens; ++i) call.token("a token of some length, past any inline buffer");
  const std::size_t made = allocations - before;
  call.finish();
  return made;
}

std::shared_ptr<streamll::Instrumentor> instrumentor_with(double sample_rate, bool with_sink) {
  streamll::InstrumentorOptions options;
  if (with_sink) options.sinks = {std::make_shared<DropSink>()};
  options.sample_rate = sample_rate;
  return std::make_shared<streamll::Instrumentor>(std::move(options));
}

}  // namespace

TEST_CASE("the counter sees the allocations it should") {
  const std::size_t before = allocations;
  auto held = std::make_unique<int>(7);
  CHECK(allocations == before + 1);
  // An event built per token does allocate: the count is not stuck at zero.
  auto instrumentor = instrumentor_with(1.0, true);
  CHECK(allocations_per_tokens(*instrumentor, streamll::TokenMode::each, 100) >= 100);
}

TEST_CASE("a streamed token allocates nothing when it emits no event") {
  SECTION("summary mode") {
    auto instrumentor = instrumentor_with(1.0, true);
    CHECK(allocations_per_tokens(*instrumentor, streamll::TokenMode::summary, 10000) == 0);
  }
  SECTION("off mode") {
    auto instrumentor = instrumentor_with(1.0, true);
    CHECK(allocations_per_tokens(*instrumentor, streamll::TokenMode::off, 10000) == 0);
  }
  SECTION("each mode in a sampled-out execution") {
    auto instrumentor = instrumentor_with(0.0, true);
    streamll::Span root(instrumentor, "request");
    REQUIRE_FALSE(root.sampled());
    CHECK(allocations_per_tokens(*instrumentor, streamll::TokenMode::each, 10000) == 0);
  }
  SECTION("each mode without a sink") {
    auto instrumentor = instrumentor_with(1.0, false);
    CHECK(allocations_per_tokens(*instrumentor, streamll::TokenMode::each, 10000) == 0);
  }
}
