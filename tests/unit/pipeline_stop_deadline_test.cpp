// The pipeline's flusher at shutdown()'s deadline, with an engine whose every round fails at
// once. Every call an engine makes is bounded by that deadline (Pipeline::deadline_after), so a
// round begun past it fails for want of time, not because of the destination: the Redis engine
// counted a transport error per such round (and closed a sound connection) until shutdown()
// noticed the deadline. The flusher must give up by itself, before another round.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "eventually.hpp"
#include "pipeline/pipeline.hpp"
#include "streamll/event.hpp"

namespace {

using streamll::detail::BatchEngine;
using streamll::detail::BufferedItem;
using streamll::detail::Pipeline;
using SteadyClock = std::chrono::steady_clock;

struct Rounds {
  std::atomic<int> started{0};
  std::atomic<int> started_past_deadline{0};
  std::atomic<bool> holding{false};
};

// Takes one batch and never settles it; each round fails at once and asks for the next.
class FailingFastEngine final : public BatchEngine {
 public:
  FailingFastEngine(Pipeline& pipeline, std::shared_ptr<Rounds> rounds)
      : pipeline_(pipeline), rounds_(std::move(rounds)) {}

  bool step() noexcept override {
    const auto now = SteadyClock::now();
    rounds_->started.fetch_add(1);
    if (now >= pipeline_.stop_deadline()) rounds_->started_past_deadline.fetch_add(1);
    if (held_.empty()) {
      try {
        pipeline_.ring().take_batch(100, held_, nullptr);
      } catch (...) {
      }
      rounds_->holding.store(!held_.empty());
    }
    return true;
  }
  bool holds_batches() const noexcept override { return !held_.empty(); }
  void give_up() noexcept override {
    pipeline_.count_given_up(held_.size());
    pipeline_.acknowledge(held_.size());
    held_.clear();
  }

 private:
  Pipeline& pipeline_;
  std::shared_ptr<Rounds> rounds_;
  std::vector<BufferedItem> held_;
};

streamll::Event event(int id) {
  return streamll::Event::capture(streamll::EventType::custom, nullptr, {{"id", id}}, "tick");
}

}  // namespace

TEST_CASE("Pipeline: past shutdown's deadline the flusher gives up instead of going on",
          "[pipeline][shutdown]") {
  auto rounds = std::make_shared<Rounds>();
  const streamll::BatchingSinkOptions options;
  streamll::detail::PipelineTuning tuning;
  tuning.log_name = "stop deadline test";
  // A flusher starved of CPU past the deadline is still joined, not detached, so that the
  // counts below are final.
  tuning.join_grace = std::chrono::seconds(30);
  auto pipeline = Pipeline::start(
      [&](Pipeline& p) { return std::make_unique<FailingFastEngine>(p, rounds); }, options, tuning);
  for (int i = 0; i < 3; ++i) REQUIRE(pipeline->push(event(i)));
  // The batch is held and rounds run before the deadline is set.
  REQUIRE(streamll::testing::eventually([&] { return rounds->holding && rounds->started >= 2; }));

  const auto started = SteadyClock::now();
  CHECK_FALSE(pipeline->shutdown(std::chrono::milliseconds(50)));
  CHECK(SteadyClock::now() - started >= std::chrono::milliseconds(50));

  // None of the rounds began after the deadline but the one that raced with it. A flusher that went
  // on until shutdown()'s thread woke up ran rounds for as long as that took (dozens or more).
  CHECK(rounds->started_past_deadline.load() <= 1);
  const streamll::BatchingSinkStats stats = pipeline->stats();
  CHECK(stats.dropped_on_shutdown == 3);
  CHECK(stats.delivered == 0);
  CHECK(stats.buffered == 0);
}
