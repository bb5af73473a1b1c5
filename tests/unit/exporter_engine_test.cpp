// ExporterEngine stepped by the test thread (no flusher) on a manual clock: how the retries of
// failures that spare the breaker (counts_for_breaker = false) are paced.

#include "pipeline/exporter_engine.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <vector>

#include "manual_clock.hpp"
#include "pipeline/pipeline.hpp"
#include "streamll/event.hpp"

namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using streamll::ExportBatch;
using streamll::ExportResult;
using streamll::detail::ExporterEngine;
using streamll::detail::Pipeline;
using streamll::testing::ManualClock;

// What the exporter answers, call by call (done() once the script runs out), and the test
// clock's time of each call.
struct Script {
  std::deque<ExportResult> answers;
  std::vector<std::chrono::steady_clock::time_point> calls;
};

class ScriptedExporter final : public streamll::Exporter {
 public:
  ScriptedExporter(const ManualClock& clock, Script& script) : clock_(clock), script_(script) {}
  ExportResult export_batch(ExportBatch&) override {
    script_.calls.push_back(clock_.steady_now());
    if (script_.answers.empty()) return ExportResult::done();
    ExportResult answer = script_.answers.front();
    script_.answers.pop_front();
    return answer;
  }

 private:
  const ManualClock& clock_;
  Script& script_;
};

ExportResult spared_failure(std::size_t settled = 0) {
  ExportResult result;
  result.settled = settled;
  result.rest = ExportResult::Rest::retry_after_failure;
  result.counts_for_breaker = false;
  result.reason = "the exporter's own trouble";
  return result;
}

streamll::Event event(int id) {
  return streamll::Event::capture(streamll::EventType::custom, nullptr, {{"id", id}}, "tick");
}

struct Rig {
  ManualClock clock;
  Script script;
  Pipeline pipeline;
  ExporterEngine engine;

  Rig() : pipeline(options(), tuning(clock)), engine(pipeline, exporter()) {}

  static streamll::BatchingSinkOptions options() {
    streamll::BatchingSinkOptions o;
    o.retry.circuit_breaker = true;
    o.retry.failure_threshold = 1;  // one counted failure would open it
    o.retry.initial_delay = milliseconds(100);
    o.retry.max_delay = milliseconds(1000);
    o.logger = "streamll.test";
    return o;
  }
  static streamll::detail::PipelineTuning tuning(const ManualClock& clock) {
    streamll::detail::PipelineTuning t;
    t.log_name = "exporter engine test";
    t.clock = &clock;
    t.random = [] { return 0.5; };  // no jitter: every delay is its nominal value
    return t;
  }
  std::unique_ptr<streamll::Exporter> exporter() {
    return std::make_unique<ScriptedExporter>(clock, script);
  }

  // The engine calls the exporter again `delay` after its last call, and not a tick sooner
  // however often it steps meanwhile (a step that is not ready may sleep on the real clock).
  void expect_next_call_after(nanoseconds delay) {
    const std::size_t before = script.calls.size();
    REQUIRE(before > 0);
    clock.advance(delay - nanoseconds(1));
    for (int i = 0; i < 3; ++i) CHECK_FALSE(engine.step());
    CHECK(script.calls.size() == before);
    clock.advance(nanoseconds(1));
    CHECK(engine.step());
    REQUIRE(script.calls.size() == before + 1);
    CHECK((script.calls[before] - script.calls[before - 1]).count() ==
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(delay).count());
  }
};

}  // namespace

TEST_CASE("exporter engine: failures that spare the breaker back off up to max_delay",
          "[pipeline][retry]") {
  Rig rig;
  for (int i = 0; i < 6; ++i) rig.script.answers.push_back(spared_failure());
  rig.script.answers.push_back(ExportResult::done());
  REQUIRE(rig.pipeline.push(event(0)));

  REQUIRE(rig.engine.step());
  // Doubling from initial_delay (100 ms), capped at max_delay (1 s); the 7th call succeeds.
  for (const auto delay : {100, 200, 400, 800, 1000, 1000}) {
    rig.expect_next_call_after(milliseconds(delay));
  }
  CHECK(rig.script.calls.size() == 7);

  // The success ended the run: the next spared failure waits initial_delay again.
  rig.script.answers.push_back(spared_failure());
  REQUIRE(rig.pipeline.push(event(1)));
  REQUIRE(rig.engine.step());
  rig.expect_next_call_after(milliseconds(100));

  const auto stats = rig.pipeline.stats();
  CHECK(stats.delivered == 2);
  CHECK(stats.export_failures == 7);
  CHECK(stats.retried_batches == 7);
  CHECK(stats.breaker_state == streamll::BreakerState::closed);
  CHECK(rig.pipeline.breaker().failure_count() == 0);
  CHECK(rig.pipeline.breaker().open_count() == 0);
}

TEST_CASE("exporter engine: a spared failure that settles events backs off from the start",
          "[pipeline][retry]") {
  Rig rig;
  rig.script.answers = {spared_failure(), spared_failure(), spared_failure(/*settled=*/1)};
  for (int i = 0; i < 3; ++i) REQUIRE(rig.pipeline.push(event(i)));

  REQUIRE(rig.engine.step());
  rig.expect_next_call_after(milliseconds(100));
  rig.expect_next_call_after(milliseconds(200));
  // The third call settled an event before failing: progress, so 100 ms again, not 400.
  rig.expect_next_call_after(milliseconds(100));

  const auto stats = rig.pipeline.stats();
  CHECK(stats.delivered == 3);
  CHECK(stats.buffered == 0);
  CHECK(stats.breaker_state == streamll::BreakerState::closed);
}

TEST_CASE("exporter engine: reset_circuit_breaker ends a spared failures' backoff",
          "[pipeline][retry]") {
  Rig rig;
  for (int i = 0; i < 4; ++i) rig.script.answers.push_back(spared_failure());
  REQUIRE(rig.pipeline.push(event(0)));
  REQUIRE(rig.engine.step());
  rig.expect_next_call_after(milliseconds(100));
  rig.expect_next_call_after(milliseconds(200));
  // 400 ms to wait on the test clock; the reset lets the batch go without the clock moving (a
  // step may still wait out the shortest retry pause, 1 ms on the real clock).
  rig.pipeline.reset_circuit_breaker();
  for (int i = 0; i < 100 && rig.script.calls.size() < 4; ++i) rig.engine.step();
  REQUIRE(rig.script.calls.size() == 4);
  CHECK(rig.script.calls[3] == rig.script.calls[2]);
  // The run starts over: the fourth spared failure waits initial_delay, not 800 ms.
  rig.expect_next_call_after(milliseconds(100));
  CHECK(rig.pipeline.stats().delivered == 1);
}
