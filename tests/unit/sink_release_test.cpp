// Releasing sinks never blocks an application thread: configure() replacing the default
// instrumentor, and a span or call guard dropping the last reference to an instrumentor, hand
// the sinks to the reaper thread, whose destructors may wait (RedisSink: shutdown_timeout).
// The sink here blocks in its destructor on a latch the test holds, for at most 5 s: before
// the reaper, each of these steps took those 5 s on the test's thread.

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include <streamll/streamll.hpp>

#include "sanitizers.hpp"
#include "sink_reaper.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kFast = 100ms;     // what an application thread may spend releasing a sink
constexpr auto kLatchBound = 5s;  // what the blocking destructor waits at most

struct Latch {
  std::mutex mutex;
  std::condition_variable changed;
  bool open = false;
  int destroyed = 0;
  std::thread::id destroyed_on;

  void release() {
    std::lock_guard<std::mutex> lock(mutex);
    open = true;
    changed.notify_all();
  }
  int destroyed_count() {
    std::lock_guard<std::mutex> lock(mutex);
    return destroyed;
  }
  bool wait_destroyed(int count) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, kLatchBound, [&] { return destroyed >= count; });
  }
};

// Its destructor waits until the latch opens, like a RedisSink's waits for Redis.
class LatchedSink : public streamll::Sink {
 public:
  explicit LatchedSink(std::shared_ptr<Latch> latch) : latch_(std::move(latch)) {}
  ~LatchedSink() override {
    std::unique_lock<std::mutex> lock(latch_->mutex);
    latch_->changed.wait_for(lock, kLatchBound, [&] { return latch_->open; });
    ++latch_->destroyed;
    latch_->destroyed_on = std::this_thread::get_id();
    latch_->changed.notify_all();
  }
  void handle(const streamll::Event&) override {}
  std::string name() const override { return "latched"; }

 private:
  std::shared_ptr<Latch> latch_;
};

streamll::InstrumentorOptions latched(const std::shared_ptr<Latch>& latch) {
  streamll::InstrumentorOptions options;
  options.sinks = {std::make_shared<LatchedSink>(latch)};
  return options;
}

template <typename Fn>
Clock::duration timed(Fn fn) {
  const auto start = Clock::now();
  fn();
  return Clock::now() - start;
}

}  // namespace

TEST_CASE("configure() replacing a sink whose release blocks returns at once", "[lifecycle]") {
  auto latch = std::make_shared<Latch>();
  streamll::configure(latched(latch));
  CHECK(timed([] { streamll::configure({}); }) < kFast);
  latch->release();
  REQUIRE(latch->wait_destroyed(1));
  CHECK(latch->destroyed_on != std::this_thread::get_id());
}

TEST_CASE("a span outliving configure() ends at once though its sink's release blocks",
          "[lifecycle]") {
  auto latch = std::make_shared<Latch>();
  streamll::configure(latched(latch));
  {
    streamll::Span span("opened before the second configure");
    CHECK(timed([] { streamll::configure({}); }) < kFast);
    CHECK(timed([&] { span.end(); }) < kFast);
    // The span still holds the old instrumentor: its sink is not released before it goes.
    CHECK(latch->destroyed_count() == 0);
    CHECK(timed([&] { streamll::Span discarded(std::move(span)); }) < kFast);
  }
  latch->release();
  REQUIRE(latch->wait_destroyed(1));
  CHECK(latch->destroyed_on != std::this_thread::get_id());
}

TEST_CASE("a call guard holding the last reference to an instrumentor ends at once",
          "[lifecycle]") {
  auto latch = std::make_shared<Latch>();
  auto own = std::make_shared<streamll::Instrumentor>(latched(latch));
  {
    streamll::LlmCall call(own, "gpt-test");
    own.reset();
    call.token("t");
    CHECK(timed([&] { streamll::LlmCall discarded(std::move(call)); }) < kFast);
  }
  latch->release();
  REQUIRE(latch->wait_destroyed(1));
  CHECK(latch->destroyed_on != std::this_thread::get_id());
}

TEST_CASE("sinks still used elsewhere or shut down already are released in place", "[lifecycle]") {
  auto latch = std::make_shared<Latch>();
  latch->release();  // nothing blocks: this test is about where the destructor runs
  auto shared = std::make_shared<LatchedSink>(latch);
  {
    streamll::InstrumentorOptions options;
    options.sinks = {shared};
    streamll::Instrumentor instrumentor(std::move(options));
  }
  CHECK(latch->destroyed_count() == 0);  // the test still holds it
  shared.reset();                        // the last reference, on this thread
  CHECK(latch->destroyed_count() == 1);

  auto memory = std::make_shared<streamll::MemorySink>();
  std::weak_ptr<streamll::MemorySink> watched = memory;
  {
    streamll::InstrumentorOptions options;
    options.sinks = {std::move(memory)};
    streamll::Instrumentor instrumentor(std::move(options));
    instrumentor.shutdown();
  }
  CHECK(watched.expired());  // shut down: nothing left to wait for, so no detour via the reaper
}

// TSan ends a child of a multi-threaded process that starts a thread (die_after_fork).
#ifndef STREAMLL_TEST_TSAN
TEST_CASE("a forked child releases sinks on its own reaper thread at once", "[lifecycle][fork]") {
  // The parent's reaper thread exists before the fork, and not in the child.
  auto warm = std::make_shared<Latch>();
  warm->release();
  streamll::detail::SinkReaper::instance().adopt(std::make_shared<LatchedSink>(warm));
  REQUIRE(warm->wait_destroyed(1));

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::alarm(20);  // a deadlock fails the test instead of hanging it
    auto latch = std::make_shared<Latch>();
    auto own = std::make_shared<streamll::Instrumentor>(latched(latch));
    const bool fast = timed([&] { own.reset(); }) < kFast;
    latch->release();
    if (!latch->wait_destroyed(1)) ::_exit(3);
    ::_exit(fast ? 0 : 2);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);  // 2: the release waited for the sink's destructor
}
#endif
