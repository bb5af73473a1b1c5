// Application-thread cost of RingBuffer::push, the RedisSink's whole hot path apart from
// building the event. A consumer thread drains the buffer the way the flusher does (batches of
// 256, acknowledged at once) so the producers measure the steady state, not a full buffer.
//
//   streamll_benchmarks --benchmark_filter=RingBuffer --benchmark_repetitions=10
//     --benchmark_report_aggregates_only=true
// Times are wall-clock per push per producer thread; compare BM_RingBufferPush with
// BM_EventBuildOnly (same event construction, no push) to isolate the push.

#include <benchmark/benchmark.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "pipeline/ring_buffer.hpp"
#include "streamll/event.hpp"

namespace {

using streamll::Event;
using streamll::OverflowStrategy;
using streamll::detail::RingBuffer;

constexpr std::size_t buffer_capacity = 1 << 16;
constexpr std::size_t consumer_batch = 256;

// A token event as a span emits it, minus the payload allocation: a context pointer copy,
// a timestamp and an id. Keeps the measured loop dominated by the push itself.
Event make_token_event(const std::shared_ptr<const streamll::EventContext>& context) {
  Event e;
  e.type = streamll::EventType::token;
  e.timestamp = streamll::Clock::now();
  e.id = streamll::EventId::generate();
  e.context = context;
  return e;
}

struct Fixture {
  RingBuffer<Event> buffer{buffer_capacity, OverflowStrategy::drop_oldest};
  std::atomic<bool> stop{false};
  std::thread consumer;
  std::shared_ptr<const streamll::EventContext> context = std::make_shared<streamll::EventContext>(
      streamll::EventContext{"exec_0123456789abcdef", "0123456789abcdef", "", "generate", "", {}});

  Fixture() {
    consumer = std::thread([this] {
      std::vector<Event> batch;
      batch.reserve(consumer_batch);
      while (!stop.load(std::memory_order_relaxed)) {
        buffer.wait_for_events(consumer_batch, std::chrono::milliseconds(1));
        buffer.take_batch(consumer_batch, batch);
        buffer.acknowledge(batch.size());
        batch.clear();
      }
    });
  }
  ~Fixture() {
    stop = true;
    buffer.wake_consumer();
    consumer.join();
  }
};

std::unique_ptr<Fixture> fixture;  // shared by the threads of one benchmark run

void BM_RingBufferPush(benchmark::State& state) {
  if (state.thread_index() == 0) fixture = std::make_unique<Fixture>();
  // Google Benchmark holds every thread at the loop's start until thread 0's setup is done.
  for (auto _ : state) {
    auto result = fixture->buffer.push(make_token_event(fixture->context));
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  if (state.thread_index() == 0) {
    state.counters["evicted"] = static_cast<double>(fixture->buffer.evicted_oldest());
    fixture.reset();
  }
}
BENCHMARK(BM_RingBufferPush)->Threads(1)->Threads(4)->UseRealTime();

void BM_EventBuildOnly(benchmark::State& state) {
  auto context = std::make_shared<const streamll::EventContext>();
  for (auto _ : state) {
    Event e = make_token_event(context);
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_EventBuildOnly)->Threads(1)->Threads(4)->UseRealTime();

// The buffer alone, with a trivially movable item and no consumer: after the first 65536 pushes
// every push evicts the oldest (the steady state of an outage under drop_oldest). Its intrinsic
// cost: lock, counters, index arithmetic, nothing to construct or destroy.
void BM_RingBufferPushInt(benchmark::State& state) {
  static std::unique_ptr<RingBuffer<std::uint64_t>> buffer;
  if (state.thread_index() == 0) {
    buffer =
        std::make_unique<RingBuffer<std::uint64_t>>(buffer_capacity, OverflowStrategy::drop_oldest);
  }
  std::uint64_t i = 0;
  for (auto _ : state) {
    auto result = buffer->push(std::uint64_t{i++});
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  if (state.thread_index() == 0) buffer.reset();
}
BENCHMARK(BM_RingBufferPushInt)->Threads(1)->Threads(4)->UseRealTime();

}  // namespace
