// The Instrumentor's fan-out: every sink gets every event, a misbehaving sink never reaches
// the application (except BufferOverflowError, by design), and flush/shutdown share a deadline.

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <streamll/streamll.hpp>

#include "logging.hpp"

namespace {

using std::chrono::milliseconds;
using streamll::Event;
using streamll::EventType;

// Writes "<name>:<event id>" into a shared journal, so the test sees the order of hand-offs
// across sinks.
class JournalSink : public streamll::Sink {
 public:
  JournalSink(std::string name, std::vector<std::string>& journal, std::mutex& mutex)
      : name_(std::move(name)), journal_(journal), mutex_(mutex) {}
  void handle(const Event& event) override {
    std::lock_guard<std::mutex> lock(mutex_);
    journal_.push_back(name_ + ":" + event.id.to_string());
  }
  std::string name() const override { return name_; }

 private:
  std::string name_;
  std::vector<std::string>& journal_;
  std::mutex& mutex_;
};

class ThrowingSink : public streamll::Sink {
 public:
  enum class What { overflow, non_standard };
  explicit ThrowingSink(What what) : what_(what) {}
  void handle(const Event&) override {
    if (what_ == What::overflow) throw streamll::BufferOverflowError("buffer full (raise_error)");
    throw 7;
  }
  bool flush(milliseconds) override { throw std::runtime_error("flush exploded"); }

 private:
  What what_;
};

// Overflows on end events only, so that a span can be made and then destroyed into it.
class OverflowOnEndSink : public streamll::Sink {
 public:
  void handle(const Event& event) override {
    if (event.type == EventType::end) throw streamll::BufferOverflowError("buffer full");
  }
};

// Records the time budget it is given and spends some of it.
class TimedFlushSink : public streamll::Sink {
 public:
  explicit TimedFlushSink(milliseconds spends) : spends_(spends) {}
  void handle(const Event&) override {}
  bool flush(milliseconds timeout) override {
    given.push_back(timeout);
    std::this_thread::sleep_for(std::min(spends_, timeout));  // spending it is the behaviour
    return spends_ <= timeout;
  }
  std::vector<milliseconds> given;

 private:
  milliseconds spends_;
};

streamll::Instrumentor make_instrumentor(std::vector<streamll::SinkPtr> sinks) {
  return streamll::Instrumentor(streamll::InstrumentorOptions{std::move(sinks), {}, {}});
}

}  // namespace

TEST_CASE("every sink gets every event, in order, with the same event id", "[instrumentor]") {
  std::vector<std::string> journal;
  std::mutex mutex;
  auto a = std::make_shared<JournalSink>("a", journal, mutex);
  auto memory = std::make_shared<streamll::MemorySink>();
  auto c = std::make_shared<JournalSink>("c", journal, mutex);
  auto instrumentor = make_instrumentor({a, memory, c});
  {
    streamll::Span span(instrumentor, "op");
    span.emit("custom");
  }
  const auto events = memory->events();
  REQUIRE(memory->type_names() == std::vector<std::string>{"start", "custom", "end"});
  std::vector<std::string> expected;
  for (const auto& e : events) {
    expected.push_back("a:" + e.id.to_string());
    expected.push_back("c:" + e.id.to_string());
  }
  CHECK(journal == expected);
  CHECK(instrumentor.sinks().size() == 3);
}

TEST_CASE("the last sink receives the event by move, with nothing lost", "[instrumentor]") {
  auto first = std::make_shared<streamll::MemorySink>();
  auto last = std::make_shared<streamll::MemorySink>();
  auto instrumentor = make_instrumentor({first, last});
  instrumentor.emit(Event::capture(EventType::custom, instrumentor.root_context(),
                                   {{"payload", std::string(100, 'x')}}, "big"));
  REQUIRE(first->size() == 1);
  REQUIRE(last->size() == 1);
  CHECK(first->events()[0].id == last->events()[0].id);
  CHECK(first->events()[0].data == last->events()[0].data);
  CHECK(last->events()[0].type_name() == "big");
}

TEST_CASE("a throwing sink never reaches the application and is counted", "[instrumentor]") {
  auto failing = std::make_shared<streamll::MemorySink>();
  auto healthy = std::make_shared<streamll::MemorySink>();
  auto instrumentor = make_instrumentor({failing, healthy});

  failing->fail_next(3);
  CHECK_NOTHROW([&] {
    streamll::Span span(instrumentor, "op");
    span.emit("custom");
  }());
  CHECK(instrumentor.sink_failures() == 3);
  CHECK(failing->failures_thrown() == 3);
  CHECK(failing->size() == 0);
  CHECK(healthy->type_names() == std::vector<std::string>{"start", "custom", "end"});

  SECTION("also a non-std exception, and a throwing LlmCall path") {
    auto odd = std::make_shared<ThrowingSink>(ThrowingSink::What::non_standard);
    auto memory = std::make_shared<streamll::MemorySink>();
    auto mixed = make_instrumentor({odd, memory});
    CHECK_NOTHROW([&] {
      streamll::LlmCall call(mixed, "m");
      call.token("x");
      call.finish();
    }());
    CHECK(mixed.sink_failures() == 2);
    CHECK(memory->type_names() == std::vector<std::string>{"token", "llm_call"});
  }
}

TEST_CASE("BufferOverflowError reaches the caller after the other sinks got the event",
          "[instrumentor]") {
  auto before = std::make_shared<streamll::MemorySink>();
  auto overflowing = std::make_shared<ThrowingSink>(ThrowingSink::What::overflow);
  auto after = std::make_shared<streamll::MemorySink>();
  auto instrumentor = make_instrumentor({before, overflowing, after});

  CHECK_THROWS_AS(instrumentor.emit(Event::capture(EventType::custom, nullptr, {}, "x")),
                  streamll::BufferOverflowError);
  CHECK(before->size() == 1);
  CHECK(after->size() == 1);
  CHECK(instrumentor.sink_failures() == 0);

  SECTION("a span's start throws it, leaving no half-made span as the thread's current one") {
    CHECK_THROWS_AS(streamll::Span(instrumentor, "op"), streamll::BufferOverflowError);
    CHECK(streamll::current_context().empty());
  }
  SECTION("tokens throw it to the caller") {
    streamll::LlmCall call(instrumentor, "m");
    CHECK_THROWS_AS(call.token("x"), streamll::BufferOverflowError);
    CHECK(call.tokens_streamed() == 1);
    CHECK_THROWS_AS(call.finish(), streamll::BufferOverflowError);
  }
  SECTION("a span's destructor swallows it: destructors never throw") {
    auto memory = std::make_shared<streamll::MemorySink>();
    auto instrumentor_overflowing_on_end =
        make_instrumentor({std::make_shared<OverflowOnEndSink>(), memory});
    CHECK_NOTHROW([&] { streamll::Span span(instrumentor_overflowing_on_end, "op"); }());
    CHECK(memory->type_names() == std::vector<std::string>{"start", "end"});
    CHECK(streamll::current_context().empty());
  }
}

TEST_CASE("flush and shutdown share one deadline and report any sink's failure", "[instrumentor]") {
  SECTION("all sinks flushed, failure of one reported") {
    auto ok = std::make_shared<streamll::MemorySink>();
    auto failing = std::make_shared<streamll::MemorySink>();
    auto instrumentor = make_instrumentor({failing, ok});
    CHECK(instrumentor.flush(milliseconds(100)));
    failing->set_flush_fails(true);
    CHECK_FALSE(instrumentor.flush(milliseconds(100)));
    CHECK(ok->flush_count() == 2);  // flushed even though an earlier sink failed
    CHECK_FALSE(instrumentor.shutdown(milliseconds(100)));
    CHECK(ok->shutdown_count() == 1);
    CHECK(failing->shutdown_count() == 1);
    CHECK_FALSE(ok->is_running());
  }
  SECTION("the second sink gets what the first left of the budget") {
    auto slow = std::make_shared<TimedFlushSink>(milliseconds(60));
    auto next = std::make_shared<TimedFlushSink>(milliseconds(0));
    auto instrumentor = make_instrumentor({slow, next});
    CHECK(instrumentor.flush(milliseconds(1000)));
    REQUIRE(next->given.size() == 1);
    CHECK(slow->given[0] <= milliseconds(1000));
    CHECK(slow->given[0] >= milliseconds(990));
    CHECK(next->given[0] <= milliseconds(940));
  }
  SECTION("an exhausted budget gives zero, never a negative timeout") {
    auto slow = std::make_shared<TimedFlushSink>(milliseconds(30));
    auto next = std::make_shared<TimedFlushSink>(milliseconds(0));
    auto instrumentor = make_instrumentor({slow, next});
    CHECK_FALSE(instrumentor.flush(milliseconds(10)));
    REQUIRE(next->given.size() == 1);
    CHECK(next->given[0] == milliseconds(0));
  }
  SECTION("a timeout of milliseconds::max() is a long budget, not an overflow into the past") {
    auto sink = std::make_shared<TimedFlushSink>(milliseconds(0));
    auto instrumentor = make_instrumentor({sink});
    CHECK(instrumentor.flush(milliseconds::max()));
    REQUIRE(sink->given.size() == 1);
    CHECK(sink->given[0] >= std::chrono::hours(24));
  }
  SECTION("a sink whose flush throws counts as failed and as a sink failure") {
    auto thrower = std::make_shared<ThrowingSink>(ThrowingSink::What::overflow);
    auto ok = std::make_shared<streamll::MemorySink>();
    auto instrumentor = make_instrumentor({thrower, ok});
    CHECK_FALSE(instrumentor.flush(milliseconds(100)));
    CHECK(instrumentor.sink_failures() == 1);
    CHECK(ok->flush_count() == 1);
  }
}

TEST_CASE("an instrumentor without sinks accepts everything and does nothing", "[instrumentor]") {
  streamll::Instrumentor empty;
  CHECK(empty.sinks().empty());
  CHECK_NOTHROW(empty.emit(Event::capture(EventType::custom, nullptr, {}, "x")));
  CHECK_NOTHROW([&] {
    streamll::Span span(empty, "op");
    span.emit("custom");
    streamll::LlmCall call(empty, "m");
    call.token("t");
    call.finish();
  }());
  CHECK(empty.flush(milliseconds(0)));
  CHECK(empty.shutdown(milliseconds(0)));
  CHECK(empty.sink_failures() == 0);

  auto with_nulls = make_instrumentor({nullptr, std::make_shared<streamll::MemorySink>(), nullptr});
  CHECK(with_nulls.sinks().size() == 1);
}

TEST_CASE("default tags and module name live in the root context", "[instrumentor]") {
  auto memory = std::make_shared<streamll::MemorySink>();
  streamll::Instrumentor instrumentor(
      streamll::InstrumentorOptions{{memory}, {{"environment", "production"}}, "rag"});
  CHECK(instrumentor.tags() == streamll::Tags{{"environment", "production"}});
  CHECK(instrumentor.module_name() == "rag");
  instrumentor.emit(Event::capture(EventType::custom, instrumentor.root_context(), {}, "boot"));
  const auto e = memory->events().at(0);
  CHECK(*e.tag("environment") == "production");
  CHECK(e.module_name() == "rag");
  CHECK(e.execution_id().empty());
}

TEST_CASE("emitting from many threads into shared sinks loses nothing", "[instrumentor]") {
  auto memory = std::make_shared<streamll::MemorySink>();
  auto flaky = std::make_shared<streamll::MemorySink>();
  auto instrumentor = make_instrumentor({flaky, memory});
  flaky->fail_next(100);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        streamll::LlmCall call(instrumentor, "m");
        call.token("x");
        call.finish();
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(memory->size() == 4000);
  CHECK(flaky->size() == 3900);
  CHECK(instrumentor.sink_failures() == 100);
  CHECK(memory->wait_for(4000, milliseconds(0)));
}

TEST_CASE("set_log_level sets one streamll logger, or all of them including later ones", "[log]") {
  streamll::set_log_level(streamll::LogLevel::debug, "streamll.sinks.redis");
  CHECK(spdlog::get("streamll.sinks.redis")->level() == spdlog::level::debug);
  streamll::set_log_level(streamll::LogLevel::warn);
  CHECK(spdlog::get("streamll")->level() == spdlog::level::warn);
  CHECK(spdlog::get("streamll.sinks.redis")->level() == spdlog::level::warn);
  CHECK(streamll::detail::get_logger("streamll.test.later")->level() == spdlog::level::warn);
  streamll::set_log_level(streamll::LogLevel::info);
  CHECK(spdlog::get("streamll.test.later")->level() == spdlog::level::info);
  spdlog::drop("streamll.test.later");
  streamll::set_log_level(streamll::LogLevel::warn);  // the default, for the tests after this one
}
