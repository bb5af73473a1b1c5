// The development sinks' writer thread, driven with a scripted output: what flush() waits for
// and answers, how every event is accounted for, and that giving up on a stuck output leaves
// nothing dangling.

#include "sinks/background_writer.hpp"

#include <catch2/catch.hpp>
#include <streamll/streamll.hpp>

#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "stalling_output.hpp"

namespace {

using streamll::Event;
using streamll::detail::BackgroundWriter;
using streamll::detail::OutputResult;
using streamll::testing::finishes_within;
using streamll::testing::kPatience;

constexpr std::chrono::milliseconds kShortTimeout{50};

// What the scripted output was asked to do, and what it holds. Shared with the test, which
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

// Events carry {"id": n}; those with {"fail": true} fail to write.
class ScriptedOutput final : public streamll::detail::SinkOutput {
 public:
  explicit ScriptedOutput(std::shared_ptr<Script> script) : script_(std::move(script)) {}
  ~ScriptedOutput() override { script_->destroyed.set_value(); }

  OutputResult write(const std::vector<Event>& events,
                     const std::atomic<bool>& abandoned) noexcept override {
    std::unique_lock<std::mutex> lock(script_->mutex);
    script_->calls.push_back("write " + std::to_string(events.size()));
    if (!script_->gate_open) {
      script_->blocked = true;
      script_->changed.notify_all();
      script_->changed.wait(lock, [this] { return script_->gate_open; });
      script_->blocked = false;
    }
    OutputResult result;
    for (const Event& e : events) {
      if (abandoned.load()) {
        ++result.discarded;
      } else if (e.data["fail"].as_bool()) {
        ++result.failed;
      } else {
        ++result.written;
        script_->written_ids.push_back(static_cast<int>(e.data["id"].as_int()));
      }
    }
    return result;
  }
  OutputResult flush() noexcept override {
    std::lock_guard<std::mutex> lock(script_->mutex);
    script_->calls.push_back("flush");
    OutputResult result;
    result.ok = !script_->flush_fails;
    return result;
  }
  OutputResult close() noexcept override {
    std::lock_guard<std::mutex> lock(script_->mutex);
    script_->calls.push_back("close");
    return {};
  }
  std::uint64_t discard() noexcept override {
    std::lock_guard<std::mutex> lock(script_->mutex);
    script_->calls.push_back("discard");
    return script_->held;
  }

 private:
  std::shared_ptr<Script> script_;
};

Event event(int id, bool fail = false) {
  Event e = Event::capture(streamll::EventType::custom, nullptr, {{"id", id}}, "tick");
  if (fail) e.data.set("fail", true);
  return e;
}

std::unique_ptr<BackgroundWriter> make_writer(const std::shared_ptr<Script>& script,
                                              std::size_t queue_size = 100) {
  return std::make_unique<BackgroundWriter>(std::make_unique<ScriptedOutput>(script), queue_size,
                                            "test writer", "streamll.test");
}

}  // namespace

TEST_CASE("background writer: flush writes what came before it, then runs the output's flush",
          "[sinks]") {
  auto script = std::make_shared<Script>();
  auto writer = make_writer(script);
  for (int i = 0; i < 3; ++i) writer->push(event(i));
  REQUIRE(writer->flush(kPatience));
  const auto calls = script->calls_so_far();
  REQUIRE(!calls.empty());
  CHECK(calls.back() == "flush");
  CHECK(script->written_ids == std::vector<int>{0, 1, 2});
  CHECK(writer->written() == 3);

  REQUIRE(writer->shutdown(kPatience));
  CHECK(script->calls_so_far().back() == "close");
  CHECK_FALSE(writer->is_running());
}

TEST_CASE("background writer: flush reports each loss once", "[sinks]") {
  auto script = std::make_shared<Script>();
  auto writer = make_writer(script);
  writer->push(event(0));
  writer->push(event(1, /*fail=*/true));
  writer->push(event(2));
  CHECK_FALSE(writer->flush(kPatience));
  CHECK(writer->written() == 2);
  CHECK(writer->write_errors() == 1);
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

  writer->push(event(3, /*fail=*/true));
  CHECK_FALSE(writer->shutdown(kPatience));  // shutdown answers like a flush
  CHECK(writer->write_errors() == 2);
  CHECK_FALSE(writer->flush(kPatience));  // after shutdown: its answer
}

TEST_CASE(
    "background writer: a loss found after a flush gave up waiting is reported by the next one",
    "[sinks]") {
  for (const bool by_shutdown : {false, true}) {
    INFO((by_shutdown ? "reported by shutdown" : "reported by flush"));
    auto script = std::make_shared<Script>();
    auto writer = make_writer(script);
    {
      std::lock_guard<std::mutex> lock(script->mutex);
      script->gate_open = false;
    }
    writer->push(event(0, /*fail=*/true));
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
    CHECK(writer->write_errors() == 1);
  }
}

TEST_CASE("background writer: every event is written, failed or dropped", "[sinks]") {
  auto script = std::make_shared<Script>();
  script->gate_open = false;
  auto writer = make_writer(script, /*queue_size=*/4);
  writer->push(event(0));
  REQUIRE(script->wait_until_blocked());  // event 0 in the output's hands: 3 places left
  writer->push(event(1, /*fail=*/true));
  for (int i = 2; i < 10; ++i) writer->push(event(i));
  CHECK(writer->dropped() == 6);  // 2..3 fit, 4..9 do not
  script->open_gate();
  CHECK_FALSE(writer->flush(kPatience));
  CHECK(writer->written() == 3);
  CHECK(writer->write_errors() == 1);
  CHECK(writer->dropped() == 6);
  CHECK(script->written_ids == std::vector<int>{0, 2, 3});
  CHECK(writer->shutdown(kPatience));
  writer->push(event(10));
  CHECK(writer->dropped() == 7);
}

TEST_CASE("background writer: a stuck output is given up on and released when it returns",
          "[sinks]") {
  auto script = std::make_shared<Script>();
  script->gate_open = false;
  script->held = 2;  // say the output buffered two events it will never write
  auto destroyed = script->destroyed.get_future();
  auto writer = make_writer(script, /*queue_size=*/10);
  writer->push(event(0));
  REQUIRE(script->wait_until_blocked());
  for (int i = 1; i < 5; ++i) writer->push(event(i));

  bool shut_down = true;
  REQUIRE(finishes_within(
      kPatience, [&] { shut_down = writer->shutdown(kShortTimeout); },
      [&] { script->open_gate(); }));
  CHECK_FALSE(shut_down);
  CHECK(writer->dropped() == 4);  // the waiting ones, never to be written
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

TEST_CASE("background writer: the destructor is bounded without a shutdown", "[sinks]") {
  auto script = std::make_shared<Script>();
  script->gate_open = false;
  auto destroyed = script->destroyed.get_future();
  auto writer = make_writer(script);
  writer->push(event(0));
  REQUIRE(script->wait_until_blocked());
  REQUIRE(finishes_within(
      kPatience, [&] { writer.reset(); }, [&] { script->open_gate(); }));
  script->open_gate();
  REQUIRE(destroyed.wait_for(kPatience) == std::future_status::ready);
}

TEST_CASE("background writer: queue_size 0 is a configuration error", "[sinks]") {
  auto script = std::make_shared<Script>();
  try {
    make_writer(script, 0);
    FAIL("no exception");
  } catch (const streamll::ConfigError& e) {
    CHECK(e.option() == "queue_size");
  }
}
