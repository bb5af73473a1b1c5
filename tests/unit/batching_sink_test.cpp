// BatchingSink, driven with a scripted exporter: what flush() waits for and answers, how every
// event is accounted for, that giving up on a stuck exporter leaves nothing dangling, and how
// failures and partial answers are retried.

#include "streamll/sinks/batching_sink.hpp"

#include <catch2/catch.hpp>
#include <streamll/streamll.hpp>

#include <algorithm>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "manual_clock.hpp"
#include "pipeline/batching_sink_access.hpp"
#include "pipeline/pipeline_tuning.hpp"
#include "stalling_output.hpp"

namespace {

using streamll::BatchingSink;
using streamll::BatchingSinkOptions;
using streamll::Event;
using streamll::ExportBatch;
using streamll::ExportResult;
using streamll::OverflowStrategy;
using streamll::testing::finishes_within;
using streamll::testing::kPatience;

constexpr std::chrono::milliseconds kShortTimeout{50};

// One export_batch() call as the exporter saw it.
struct Call {
  int first_id;
  std::size_t size;
  unsigned attempt;
  std::uint64_t first_sequence;
  std::chrono::steady_clock::time_point at;
};

// What the scripted exporter was asked to do, and what it holds. Shared with the test, which
// reads it once flush() or shutdown() has returned.
struct Script {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> calls;  // "write 3", "flush", "close", "discard"
  std::vector<int> written_ids;
  bool gate_open = true;  // while closed, write() blocks
  bool blocked = false;
  bool flush_fails = false;
  std::uint64_t held = 0;  // events "buffered": reported by discard()
  int failures_left = 0;
  bool deferred = false;
  std::chrono::steady_clock::time_point defer_until{};
  std::vector<Call> exports;
  std::promise<void> destroyed;

  bool wait_until_blocked() {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, kPatience, [this] { return blocked; });
  }
  void open_gate() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      gate_open = true;
    }
    changed.notify_all();
  }
  std::vector<std::string> calls_so_far() {
    std::lock_guard<std::mutex> lock(mutex);
    return calls;
  }
};

// Events carry {"id": n}; those with {"fail": true} fail to write (failed twice: fail() is
// idempotent); the first one with {"defer": true} settles only the events before it, the rest
// to go again at `defer_until`; while `failures_left` > 0 a call answers failure().
class ScriptedExporter final : public streamll::Exporter {
 public:
  explicit ScriptedExporter(std::shared_ptr<Script> script) : script_(std::move(script)) {}
  ~ScriptedExporter() override { script_->destroyed.set_value(); }

  ExportResult export_batch(ExportBatch& batch) override {
    std::unique_lock<std::mutex> lock(script_->mutex);
    script_->calls.push_back("write " + std::to_string(batch.size()));
    script_->exports.push_back(Call{static_cast<int>(batch[0].data["id"].as_int()), batch.size(),
                                    batch.attempt(), batch.first_sequence(),
                                    std::chrono::steady_clock::now()});
    script_->changed.notify_all();
    if (!script_->gate_open) {
      script_->blocked = true;
      script_->changed.notify_all();
      script_->changed.wait(lock, [this] { return script_->gate_open; });
      script_->blocked = false;
    }
    if (script_->failures_left > 0) {
      --script_->failures_left;
      return ExportResult::failure("scripted failure");
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const Event& e = batch[i];
      if (batch.abandoned()) return ExportResult::retry_rest(i);
      if (e.data["defer"].as_bool() && !script_->deferred) {
        script_->deferred = true;
        return ExportResult::retry_rest(i, script_->defer_until, "deferred");
      }
      if (e.data["fail"].as_bool()) {
        batch.fail(i, "scripted");
        batch.fail(i, "scripted again");  // idempotent
      } else {
        script_->written_ids.push_back(static_cast<int>(e.data["id"].as_int()));
      }
    }
    return ExportResult::done();
  }
  bool flush(std::chrono::steady_clock::time_point) noexcept override {
    std::lock_guard<std::mutex> lock(script_->mutex);
    script_->calls.push_back("flush");
    return !script_->flush_fails;
  }
  bool close(std::chrono::steady_clock::time_point) noexcept override {
    std::lock_guard<std::mutex> lock(script_->mutex);
    script_->calls.push_back("close");
    return true;
  }
  std::uint64_t discard() noexcept override {
    std::lock_guard<std::mutex> lock(script_->mutex);
    script_->calls.push_back("discard");
    return script_->held;
  }
  std::string name() const override { return "scripted"; }

 private:
  std::shared_ptr<Script> script_;
};

Event event(int id, bool fail = false) {
  Event e = Event::capture(streamll::EventType::custom, nullptr, {{"id", id}}, "tick");
  if (fail) e.data.set("fail", true);
  return e;
}

BatchingSinkOptions options_like_the_development_sinks(std::size_t queue_size) {
  BatchingSinkOptions options;
  options.buffer_size = queue_size;
  options.overflow = OverflowStrategy::drop_newest;
  options.max_batch_size = 256;
  options.shutdown_timeout = std::chrono::milliseconds::zero();
  options.retry.circuit_breaker = false;
  options.logger = "streamll.test";
  return options;
}

std::unique_ptr<BatchingSink> make_writer(const std::shared_ptr<Script>& script,
                                          std::size_t queue_size = 100) {
  return std::make_unique<BatchingSink>(std::make_unique<ScriptedExporter>(script),
                                        options_like_the_development_sinks(queue_size));
}

}  // namespace

TEST_CASE("batching sink: flush writes what came before it, then runs the output's flush",
          "[sinks]") {
  auto script = std::make_shared<Script>();
  auto writer = make_writer(script);
  for (int i = 0; i < 3; ++i) writer->handle_owned(event(i));
  REQUIRE(writer->flush(kPatience));
  const auto calls = script->calls_so_far();
  REQUIRE(!calls.empty());
  CHECK(calls.back() == "flush");
  CHECK(script->written_ids == std::vector<int>{0, 1, 2});
  CHECK(writer->stats().delivered == 3);

  REQUIRE(writer->shutdown(kPatience));
  CHECK(script->calls_so_far().back() == "close");
  CHECK_FALSE(writer->is_running());
}

TEST_CASE("batching sink: flush reports each loss once", "[sinks]") {
  auto script = std::make_shared<Script>();
  auto writer = make_writer(script);
  writer->handle_owned(event(0));
  writer->handle_owned(event(1, /*fail=*/true));
  writer->handle_owned(event(2));
  CHECK_FALSE(writer->flush(kPatience));
  CHECK(writer->stats().delivered == 2);
  CHECK(writer->stats().failed == 1);
  CHECK(writer->flush(kPatience));  // nothing lost since

  {
    std::lock_guard<std::mutex> lock(script->mutex);
    script->flush_fails = true;
  }
  CHECK_FALSE(writer->flush(kPatience));
  {
    std::lock_guard<std::mutex> lock(script->mutex);
    script->flush_fails = false;
  }
  CHECK(writer->flush(kPatience));

  writer->handle_owned(event(3, /*fail=*/true));
  CHECK_FALSE(writer->shutdown(kPatience));  // shutdown answers like a flush
  CHECK(writer->stats().failed == 2);
  CHECK_FALSE(writer->flush(kPatience));  // after shutdown: its answer
}

TEST_CASE("batching sink: a loss found after a flush gave up waiting is reported by the next one",
          "[sinks]") {
  for (const bool by_shutdown : {false, true}) {
    INFO((by_shutdown ? "reported by shutdown" : "reported by flush"));
    auto script = std::make_shared<Script>();
    auto writer = make_writer(script);
    {
      std::lock_guard<std::mutex> lock(script->mutex);
      script->gate_open = false;
    }
    writer->handle_owned(event(0, /*fail=*/true));
    REQUIRE(script->wait_until_blocked());
    CHECK_FALSE(writer->flush(kShortTimeout));  // stuck: nothing lost yet, the write still runs
    script->open_gate();                        // ... and then fails
    // The writer serves the abandoned flush round; that alone reports nothing to anyone.
    if (by_shutdown) {
      CHECK_FALSE(writer->shutdown(kPatience));
    } else {
      CHECK_FALSE(writer->flush(kPatience));
      CHECK(writer->flush(kPatience));  // once
      CHECK(writer->shutdown(kPatience));
    }
    CHECK(writer->stats().failed == 1);
  }
}

TEST_CASE("batching sink: every event is written, failed or dropped", "[sinks]") {
  auto script = std::make_shared<Script>();
  script->gate_open = false;
  auto writer = make_writer(script, /*queue_size=*/4);
  writer->handle_owned(event(0));
  REQUIRE(script->wait_until_blocked());  // event 0 in the output's hands: 3 places left
  writer->handle_owned(event(1, /*fail=*/true));
  for (int i = 2; i < 10; ++i) writer->handle_owned(event(i));
  CHECK(writer->stats().dropped() == 6);  // 2..3 fit, 4..9 do not
  script->open_gate();
  CHECK_FALSE(writer->flush(kPatience));
  CHECK(writer->stats().delivered == 3);
  CHECK(writer->stats().failed == 1);
  CHECK(writer->stats().dropped() == 6);
  CHECK(script->written_ids == std::vector<int>{0, 2, 3});
  CHECK(writer->shutdown(kPatience));
  writer->handle_owned(event(10));
  CHECK(writer->stats().dropped() == 7);
}

TEST_CASE("batching sink: a stuck output is given up on and released when it returns", "[sinks]") {
  auto script = std::make_shared<Script>();
  script->gate_open = false;
  script->held = 2;  // say the output buffered two events it will never write
  auto destroyed = script->destroyed.get_future();
  auto writer = make_writer(script, /*queue_size=*/10);
  writer->handle_owned(event(0));
  REQUIRE(script->wait_until_blocked());
  for (int i = 1; i < 5; ++i) writer->handle_owned(event(i));

  bool shut_down = true;
  REQUIRE(finishes_within(
      kPatience, [&] { shut_down = writer->shutdown(kShortTimeout); },
      [&] { script->open_gate(); }));
  CHECK_FALSE(shut_down);
  CHECK(writer->stats().dropped() == 4);  // the waiting ones, never to be written
  // Destroying the writer leaves its thread stuck; the thread keeps the output alive.
  REQUIRE(finishes_within(
      kPatience, [&] { writer.reset(); }, [&] { script->open_gate(); }));
  CHECK(destroyed.wait_for(std::chrono::milliseconds(0)) == std::future_status::timeout);

  script->open_gate();  // the stuck write returns; the thread gives up and lets go
  REQUIRE(destroyed.wait_for(kPatience) == std::future_status::ready);
  // Destroyed by the detached thread: written after abandonment, so event 0 was discarded
  // rather than written, and no close() happened.
  const auto calls = script->calls_so_far();
  CHECK(calls == std::vector<std::string>{"write 1", "discard"});
  CHECK(script->written_ids.empty());
}

TEST_CASE("batching sink: the destructor is bounded without a shutdown", "[sinks]") {
  auto script = std::make_shared<Script>();
  script->gate_open = false;
  auto destroyed = script->destroyed.get_future();
  auto writer = make_writer(script);
  writer->handle_owned(event(0));
  REQUIRE(script->wait_until_blocked());
  REQUIRE(finishes_within(
      kPatience, [&] { writer.reset(); }, [&] { script->open_gate(); }));
  script->open_gate();
  REQUIRE(destroyed.wait_for(kPatience) == std::future_status::ready);
}

TEST_CASE("batching sink: buffer_size 0 is a configuration error", "[sinks]") {
  auto script = std::make_shared<Script>();
  try {
    make_writer(script, 0);
    FAIL("no exception");
  } catch (const streamll::ConfigError& e) {
    CHECK(e.option() == "buffer_size");
  }
}

TEST_CASE("batching sink: a failed export is retried once the breaker lets it", "[sinks]") {
  auto script = std::make_shared<Script>();
  script->failures_left = 1;
  streamll::testing::ManualClock clock;
  BatchingSinkOptions options = options_like_the_development_sinks(100);
  options.retry.circuit_breaker = true;
  options.retry.failure_threshold = 1;
  options.retry.recovery_timeout = std::chrono::seconds(10);
  streamll::detail::PipelineTuning tuning;
  tuning.clock = &clock;
  BatchingSink sink = streamll::detail::BatchingSinkAccess::make(
      std::make_unique<ScriptedExporter>(script), options, tuning);

  sink.handle_owned(event(0));
  {
    std::unique_lock<std::mutex> lock(script->mutex);
    REQUIRE(script->changed.wait_for(lock, kPatience, [&] { return !script->exports.empty(); }));
  }
  // The breaker is open for 8 to 12 s of the test clock, which does not move by itself.
  CHECK_FALSE(sink.flush(kShortTimeout));
  CHECK(sink.stats().breaker_state == streamll::BreakerState::open);
  clock.advance(std::chrono::seconds(13));
  CHECK(sink.flush(kPatience));  // the probe delivered it: nothing was lost

  const auto stats = sink.stats();
  CHECK(stats.delivered == 1);
  CHECK(stats.export_failures == 1);
  CHECK(stats.retried_batches == 1);
  CHECK(stats.export_calls == 2);
  CHECK(stats.breaker_state == streamll::BreakerState::closed);
  CHECK(stats.last_error == "scripted failure");
  CHECK(stats.last_error_time.has_value());
  std::lock_guard<std::mutex> lock(script->mutex);
  REQUIRE(script->exports.size() == 2);
  CHECK(script->exports[1].attempt == 1);
  CHECK(script->exports[1].first_sequence == 0);
  CHECK(script->written_ids == std::vector<int>{0});
}

TEST_CASE("batching sink: retry_rest settles a prefix and offers the rest again in order",
          "[sinks]") {
  auto script = std::make_shared<Script>();
  const auto not_before = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
  script->defer_until = not_before;
  auto writer = make_writer(script);
  Event deferred = event(2);
  deferred.data.set("defer", true);
  writer->handle_owned(event(0));
  writer->handle_owned(event(1, /*fail=*/true));
  writer->handle_owned(std::move(deferred));
  writer->handle_owned(event(3));
  CHECK_FALSE(writer->flush(kPatience));  // event 1 failed

  const auto stats = writer->stats();
  CHECK(stats.delivered == 3);
  CHECK(stats.failed == 1);
  CHECK(stats.retried_batches == 0);  // not a failure
  CHECK(stats.export_failures == 0);
  std::lock_guard<std::mutex> lock(script->mutex);
  CHECK(script->written_ids == std::vector<int>{0, 2, 3});
  // The deferred event came back first in a batch of its own, at or after its time, as a
  // further attempt with its own sequence number.
  // Found by what it holds, not taken as the last call: the flusher may have taken event 3 in
  // a batch of its own.
  const auto again =
      std::find_if(script->exports.begin(), script->exports.end(),
                   [](const Call& call) { return call.first_id == 2 && call.attempt >= 1; });
  REQUIRE(again != script->exports.end());
  CHECK(again->first_sequence == 2);
  CHECK(again->at >= not_before);
}

TEST_CASE("batching sink: an event failed in a batch that goes again is counted once", "[sinks]") {
  // Fails event 0 of its first call and answers failure(): the event stays in the batch, is
  // offered again marked failed, and is counted in `failed` once, when the batch settles.
  struct FailsThenFails final : streamll::Exporter {
    std::mutex mutex;
    std::condition_variable pushed;
    bool both_pushed = false;  // the first call waits for it: no push runs during stats()
    BatchingSink* sink = nullptr;
    std::vector<bool> first_marked;  // per call: batch.failed(0)
    std::vector<bool> sum_holds;     // per call: every event counted exactly once meanwhile
    ExportResult export_batch(ExportBatch& batch) override {
      std::unique_lock<std::mutex> lock(mutex);
      pushed.wait_for(lock, kPatience, [this] { return both_pushed; });
      first_marked.push_back(batch.failed(0));
      const auto s = sink->stats();
      sum_holds.push_back(s.enqueued == s.delivered + s.failed + s.dropped() + s.buffered);
      if (first_marked.size() == 1) {
        batch.fail(0, "refused");
        return ExportResult::failure("down");
      }
      return ExportResult::done();
    }
  };
  auto exporter = std::make_unique<FailsThenFails>();
  FailsThenFails* seen = exporter.get();
  BatchingSink sink(std::move(exporter), options_like_the_development_sinks(100));
  {
    std::lock_guard<std::mutex> lock(seen->mutex);
    seen->sink = &sink;
  }
  sink.handle_owned(event(0));
  sink.handle_owned(event(1));
  {
    std::lock_guard<std::mutex> lock(seen->mutex);
    seen->both_pushed = true;
  }
  seen->pushed.notify_all();
  CHECK_FALSE(sink.flush(kPatience));  // event 0 was lost
  const auto stats = sink.stats();
  CHECK(stats.enqueued == 2);
  CHECK(stats.failed == 1);
  CHECK(stats.delivered == 1);
  CHECK(stats.buffered == 0);
  CHECK(stats.dropped() == 0);
  CHECK(stats.export_failures == 1);
  std::lock_guard<std::mutex> lock(seen->mutex);
  REQUIRE(seen->first_marked.size() >= 2);
  CHECK_FALSE(seen->first_marked[0]);
  CHECK(seen->first_marked[1]);  // the retry: event 0 again, marked
  // While it waited for the retry, event 0 was buffered, not also failed.
  CHECK(seen->sum_holds == std::vector<bool>(seen->sum_holds.size(), true));
}

TEST_CASE("batching sink: drop_oldest with every place in flight refuses and counts the event",
          "[sinks]") {
  auto script = std::make_shared<Script>();
  script->gate_open = false;
  BatchingSinkOptions options = options_like_the_development_sinks(1);
  options.overflow = OverflowStrategy::drop_oldest;
  BatchingSink sink(std::make_unique<ScriptedExporter>(script), options);
  sink.handle_owned(event(0));
  REQUIRE(script->wait_until_blocked());  // the only place is in flight
  sink.handle_owned(event(9));            // nothing waits to be evicted: refused
  script->open_gate();
  CHECK_FALSE(sink.flush(kPatience));  // event 9 was lost
  const auto stats = sink.stats();
  CHECK(stats.enqueued == 2);
  CHECK(stats.delivered == 1);
  CHECK(stats.dropped_oldest == 1);
  CHECK(stats.dropped() == 1);
  CHECK(stats.buffered == 0);
  std::lock_guard<std::mutex> lock(script->mutex);
  CHECK(script->written_ids == std::vector<int>{0});
}

TEST_CASE("batching sink: every overflow strategy accounts for every event", "[sinks]") {
  for (const auto strategy : {OverflowStrategy::drop_oldest, OverflowStrategy::drop_newest,
                              OverflowStrategy::raise_error}) {
    INFO(std::string(streamll::to_string(strategy)));
    auto script = std::make_shared<Script>();
    script->gate_open = false;
    BatchingSinkOptions options = options_like_the_development_sinks(4);
    options.overflow = strategy;
    BatchingSink sink(std::make_unique<ScriptedExporter>(script), options);
    sink.handle_owned(event(0));
    REQUIRE(script->wait_until_blocked());  // event 0 in flight: 3 places left
    int thrown = 0;
    for (int i = 1; i < 10; ++i) {
      try {
        sink.handle_owned(event(i));
      } catch (const streamll::BufferOverflowError&) {
        ++thrown;
      }
    }
    script->open_gate();
    CHECK_FALSE(sink.flush(kPatience));  // six were lost
    const auto stats = sink.stats();
    CHECK(stats.enqueued == 10);
    CHECK(stats.delivered == 4);
    CHECK(stats.buffered == 0);
    CHECK(stats.dropped() == 6);
    CHECK(stats.enqueued == stats.delivered + stats.failed + stats.dropped() + stats.buffered);
    CHECK(thrown == (strategy == OverflowStrategy::raise_error ? 6 : 0));
    CHECK(stats.dropped_oldest == (strategy == OverflowStrategy::drop_oldest ? 6U : 0U));
    CHECK(stats.dropped_newest == (strategy == OverflowStrategy::drop_newest ? 6U : 0U));
    CHECK(stats.dropped_raise_error == (strategy == OverflowStrategy::raise_error ? 6U : 0U));
    const std::vector<int> kept = strategy == OverflowStrategy::drop_oldest
                                      ? std::vector<int>{0, 7, 8, 9}
                                      : std::vector<int>{0, 1, 2, 3};
    std::lock_guard<std::mutex> lock(script->mutex);
    CHECK(script->written_ids == kept);
  }
}

TEST_CASE("batching sink: an exception from export_batch counts as a failure", "[sinks]") {
  struct Throwing final : streamll::Exporter {
    int calls = 0;
    ExportResult export_batch(ExportBatch&) override {
      if (++calls == 1) throw std::runtime_error("boom");
      return ExportResult::done();
    }
  };
  BatchingSinkOptions options = options_like_the_development_sinks(10);
  options.retry.initial_delay = std::chrono::milliseconds::zero();
  BatchingSink sink(std::make_unique<Throwing>(), options);
  sink.handle_owned(event(0));
  CHECK(sink.flush(kPatience));
  const auto stats = sink.stats();
  CHECK(stats.delivered == 1);
  CHECK(stats.export_failures == 1);
  CHECK(stats.last_error == "boom");
  CHECK(sink.name() == "exporter");
}
