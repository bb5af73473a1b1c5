// At exit the sinks are shut down in parallel against one deadline: a sink that spends the
// whole bound (a RedisSink with Redis down) must not leave nothing for the others. Here the
// first sink's shutdown waits until the second one's started: one after another, it would
// wait out the bound and the second would get zero.

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <streamll/sink.hpp>

#include "parallel_shutdown.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Meeting {
  std::mutex mutex;
  std::condition_variable changed;
  bool second_started = false;
  std::chrono::milliseconds second_given{-1};
};

class WaitsForSecond : public streamll::Sink {
 public:
  explicit WaitsForSecond(std::shared_ptr<Meeting> meeting) : meeting_(std::move(meeting)) {}
  void handle(const streamll::Event&) override {}
  bool shutdown(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(meeting_->mutex);
    return meeting_->changed.wait_for(lock, timeout, [&] { return meeting_->second_started; });
  }

 private:
  std::shared_ptr<Meeting> meeting_;
};

class Second : public streamll::Sink {
 public:
  explicit Second(std::shared_ptr<Meeting> meeting) : meeting_(std::move(meeting)) {}
  void handle(const streamll::Event&) override {}
  bool shutdown(std::chrono::milliseconds timeout) override {
    std::lock_guard<std::mutex> lock(meeting_->mutex);
    meeting_->second_started = true;
    meeting_->second_given = timeout;
    meeting_->changed.notify_all();
    return true;
  }

 private:
  std::shared_ptr<Meeting> meeting_;
};

class Throws : public streamll::Sink {
 public:
  void handle(const streamll::Event&) override {}
  bool shutdown(std::chrono::milliseconds) override { throw std::runtime_error("broken"); }
};

}  // namespace

TEST_CASE("sinks shut down at exit run in parallel against one deadline", "[lifecycle]") {
  auto meeting = std::make_shared<Meeting>();
  const std::vector<streamll::SinkPtr> sinks{std::make_shared<WaitsForSecond>(meeting),
                                             std::make_shared<Second>(meeting)};
  const auto unfinished = streamll::detail::shutdown_in_parallel(sinks, Clock::now() + 2s);
  CHECK(unfinished == 0);
  std::lock_guard<std::mutex> lock(meeting->mutex);
  CHECK(meeting->second_given > 1s);  // not what the first one left
}

TEST_CASE("a sink whose shutdown throws or fails counts as unfinished", "[lifecycle]") {
  auto meeting = std::make_shared<Meeting>();  // nobody starts the second: it times out
  const std::vector<streamll::SinkPtr> sinks{std::make_shared<Throws>(),
                                             std::make_shared<WaitsForSecond>(meeting), nullptr};
  CHECK(streamll::detail::shutdown_in_parallel(sinks, Clock::now()) == 2);
}
