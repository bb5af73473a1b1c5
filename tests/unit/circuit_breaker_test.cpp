#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "manual_clock.hpp"
#include "support/backoff.hpp"
#include "support/circuit_breaker.hpp"

using namespace std::chrono_literals;
using streamll::BreakerState;
using streamll::detail::Backoff;
using streamll::detail::BackoffPolicy;
using streamll::detail::CircuitBreaker;
using streamll::detail::CircuitBreakerOptions;
using streamll::testing::ManualClock;

namespace {

// Returns the scripted values in turn, then repeats the last one.
streamll::detail::RandomSource scripted(std::vector<double> values) {
  auto state = std::make_shared<std::pair<std::vector<double>, std::size_t>>(std::move(values), 0);
  return [state] {
    auto& [v, i] = *state;
    const double x = v[std::min(i, v.size() - 1)];
    ++i;
    return x;
  };
}

struct Transitions {
  std::vector<std::pair<BreakerState, BreakerState>> seen;
  auto callback() {
    return [this](BreakerState from, BreakerState to) { seen.emplace_back(from, to); };
  }
};

// A breaker on a manual clock without jitter unless a test asks for it.
CircuitBreakerOptions options_on(ManualClock& clock, Transitions* transitions = nullptr) {
  CircuitBreakerOptions o;
  o.failure_threshold = 3;
  o.recovery_timeout = 30s;
  o.max_backoff = 300s;
  o.retry_initial_delay = 100ms;
  o.retry_max_delay = 5s;
  o.jitter = 0.0;
  o.clock = &clock;
  if (transitions) o.on_state_change = transitions->callback();
  return o;
}

// Drives the breaker to OPEN: threshold failures, advancing past each reconnect backoff.
void fail_until_open(CircuitBreaker& breaker, ManualClock& clock) {
  while (breaker.state() == BreakerState::closed) {
    clock.advance(breaker.next_attempt_in());
    REQUIRE(breaker.allow_request());
    breaker.record_failure();
  }
}

}  // namespace

// ---------------------------------------------------------------- Backoff

TEST_CASE("backoff doubles from the initial delay up to the cap", "[backoff]") {
  BackoffPolicy p{100ms, 1s, 0.0};
  std::vector<std::chrono::nanoseconds> expected{0ms, 100ms, 200ms, 400ms, 800ms, 1s, 1s};
  for (std::uint64_t n = 0; n < expected.size(); ++n) {
    CHECK(Backoff::nominal_delay(p, n) == expected[n]);
  }
  CHECK(Backoff::nominal_delay(p, 1000000) == 1s);  // no overflow for huge counts
  CHECK(Backoff::nominal_delay(BackoffPolicy{0ms, 1s, 0.0}, 50) == 0ms);
  // A cap below the initial delay means no growth.
  CHECK(Backoff::nominal_delay(BackoffPolicy{2s, 1s, 0.0}, 5) == 2s);
}

TEST_CASE("backoff gates attempts on the injected clock and resets on success", "[backoff]") {
  ManualClock clock;
  Backoff backoff(BackoffPolicy{100ms, 1s, 0.0}, clock);
  CHECK(backoff.ready());
  CHECK(backoff.remaining() == 0ms);

  CHECK(backoff.record_failure() == 100ms);
  CHECK_FALSE(backoff.ready());
  CHECK(backoff.remaining() == 100ms);
  clock.advance(99ms);
  CHECK_FALSE(backoff.ready());
  clock.advance(1ms);
  CHECK(backoff.ready());

  CHECK(backoff.record_failure() == 200ms);
  CHECK(backoff.record_failure() == 400ms);
  CHECK(backoff.failures() == 3);
  backoff.reset();
  CHECK(backoff.ready());
  CHECK(backoff.failures() == 0);
  CHECK(backoff.record_failure() == 100ms);
}

TEST_CASE("backoff jitter stays within +-jitter and never exceeds the cap", "[backoff]") {
  ManualClock clock;
  SECTION("scripted extremes") {
    Backoff backoff(BackoffPolicy{100ms, 1s, 0.25}, clock, scripted({0.0, 0.5, 0.999999}));
    CHECK(backoff.record_failure() == 75ms);     // 100 * 0.75
    CHECK(backoff.record_failure() == 200ms);    // 200 * 1.0
    const auto high = backoff.record_failure();  // 400 * ~1.25
    CHECK(high > 499ms);
    CHECK(high <= 500ms);
  }
  SECTION("at the cap the spread only goes down") {
    Backoff backoff(BackoffPolicy{1s, 1s, 0.25}, clock, scripted({0.999999, 0.0}));
    CHECK(backoff.record_failure() == 1s);
    CHECK(backoff.record_failure() == 750ms);
  }
  SECTION("random draws over many failures") {
    Backoff backoff(BackoffPolicy{10ms, 10s, 0.2}, clock);
    for (int round = 0; round < 200; ++round) {
      backoff.reset();
      for (std::uint64_t n = 1; n <= 12; ++n) {
        const auto d = backoff.record_failure();
        const auto nominal = Backoff::nominal_delay(backoff.policy(), n);
        CHECK(d >= nominal * 8 / 10);
        CHECK(d <= std::min<std::chrono::nanoseconds>(nominal * 12 / 10, 10s));
      }
    }
  }
  SECTION("a random source out of range or throwing cannot break the bounds") {
    Backoff wild(BackoffPolicy{100ms, 1s, 0.5}, clock, scripted({-3.0, 7.0}));
    CHECK(wild.record_failure() == 50ms);
    CHECK(wild.record_failure() == 300ms);
    Backoff throwing(BackoffPolicy{100ms, 1s, 0.5}, clock,
                     []() -> double { throw std::runtime_error("no entropy"); });
    CHECK(throwing.record_failure() == 100ms);
  }
}

TEST_CASE("backoff rejects negative delays and bad jitter", "[backoff]") {
  CHECK_THROWS_AS(Backoff(BackoffPolicy{-1ms, 1s, 0.0}), streamll::ConfigError);
  CHECK_THROWS_AS(Backoff(BackoffPolicy{1ms, -1s, 0.0}), streamll::ConfigError);
  CHECK_THROWS_AS(Backoff(BackoffPolicy{1ms, 1s, 1.0}), streamll::ConfigError);
  CHECK_THROWS_AS(Backoff(BackoffPolicy{1ms, 1s, -0.1}), streamll::ConfigError);
}

// ---------------------------------------------------------------- CircuitBreaker

TEST_CASE("breaker state names", "[circuit_breaker]") {
  CHECK(streamll::to_string(BreakerState::closed) == "closed");
  CHECK(streamll::to_string(BreakerState::open) == "open");
  CHECK(streamll::to_string(BreakerState::half_open) == "half_open");
}

TEST_CASE("breaker options are validated with the option's name", "[circuit_breaker]") {
  const auto option_rejected = [](CircuitBreakerOptions o) -> std::string {
    try {
      CircuitBreaker breaker(std::move(o));
    } catch (const streamll::ConfigError& e) {
      return e.option();
    }
    return "";
  };
  CircuitBreakerOptions o;
  CHECK(option_rejected(o).empty());
  o.failure_threshold = 0;
  CHECK(option_rejected(o) == "failure_threshold");
  o = {};
  o.recovery_timeout = 0ms;
  CHECK(option_rejected(o) == "recovery_timeout");
  o = {};
  o.max_backoff = -1ms;
  CHECK(option_rejected(o) == "max_backoff");
  o = {};
  o.retry_initial_delay = -1ms;
  CHECK(option_rejected(o) == "retry_initial_delay");
  o = {};
  o.jitter = 1.5;
  CHECK(option_rejected(o) == "jitter");
}

TEST_CASE("breaker opens after failure_threshold consecutive failures", "[circuit_breaker]") {
  ManualClock clock;
  Transitions t;
  CircuitBreaker breaker(options_on(clock, &t));
  CHECK(breaker.state() == BreakerState::closed);
  CHECK_FALSE(breaker.last_failure_time().has_value());

  CHECK(breaker.allow_request());
  breaker.record_failure();
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(breaker.failure_count() == 1);
  CHECK(breaker.last_failure_time() == clock.system_now());
  // Below the threshold, the reconnect backoff spaces the retries out.
  CHECK_FALSE(breaker.allow_request());
  CHECK(breaker.next_attempt_in() == 100ms);
  clock.advance(100ms);
  CHECK(breaker.allow_request());
  breaker.record_failure();
  CHECK(breaker.next_attempt_in() == 200ms);
  clock.advance(200ms);
  CHECK(breaker.allow_request());
  breaker.record_failure();

  CHECK(breaker.state() == BreakerState::open);
  CHECK(breaker.is_open());
  CHECK(breaker.failure_count() == 3);
  CHECK(breaker.open_count() == 1);
  CHECK(t.seen == decltype(t.seen){{BreakerState::closed, BreakerState::open}});
  // Open: no attempts at all until recovery_timeout has passed.
  CHECK_FALSE(breaker.allow_request());
  CHECK(breaker.next_attempt_in() == 30s);
  clock.advance(29999ms);
  CHECK_FALSE(breaker.allow_request());
  CHECK(breaker.state() == BreakerState::open);
}

TEST_CASE("a success below the threshold resets the consecutive count", "[circuit_breaker]") {
  ManualClock clock;
  auto o = options_on(clock);
  o.retry_initial_delay = 0ms;
  CircuitBreaker breaker(o);
  breaker.record_failure();
  breaker.record_failure();
  breaker.record_success();
  CHECK(breaker.failure_count() == 0);
  CHECK(breaker.total_failures() == 2);
  breaker.record_failure();
  breaker.record_failure();
  CHECK(breaker.state() == BreakerState::closed);  // 2 consecutive, not 4
  CHECK(breaker.allow_request());                  // retry delay 0: at once
  breaker.record_failure();
  CHECK(breaker.state() == BreakerState::open);
}

TEST_CASE("half-open allows exactly one probe, its success closes the breaker",
          "[circuit_breaker]") {
  ManualClock clock;
  Transitions t;
  CircuitBreaker breaker(options_on(clock, &t));
  fail_until_open(breaker, clock);
  clock.advance(30s);
  CHECK(breaker.state() == BreakerState::open);  // turns half-open when the probe is taken
  CHECK(breaker.next_attempt_in() == 0ms);

  CHECK(breaker.allow_request());
  CHECK(breaker.state() == BreakerState::half_open);
  CHECK(breaker.is_open());
  CHECK_FALSE(breaker.allow_request());  // the probe is still out
  CHECK_FALSE(breaker.allow_request());

  breaker.record_success();
  CHECK(breaker.state() == BreakerState::closed);
  CHECK_FALSE(breaker.is_open());
  CHECK(breaker.failure_count() == 0);
  CHECK(breaker.total_failures() == 3);
  CHECK(breaker.allow_request());
  CHECK(t.seen == decltype(t.seen){{BreakerState::closed, BreakerState::open},
                                   {BreakerState::open, BreakerState::half_open},
                                   {BreakerState::half_open, BreakerState::closed}});

  // After closing, a new outage starts from recovery_timeout again, not the grown period.
  fail_until_open(breaker, clock);
  CHECK(breaker.next_attempt_in() == 30s);
}

TEST_CASE("each failed probe doubles the open period, up to max_backoff", "[circuit_breaker]") {
  ManualClock clock;
  Transitions t;
  auto o = options_on(clock, &t);
  o.max_backoff = 100s;
  CircuitBreaker breaker(o);
  fail_until_open(breaker, clock);

  const std::vector<std::chrono::seconds> periods{30s, 60s, 100s, 100s};
  for (std::size_t i = 0; i < periods.size(); ++i) {
    INFO("open period " << i);
    CHECK(breaker.current_open_period() == periods[i]);
    CHECK(breaker.next_attempt_in() == periods[i]);
    clock.advance(periods[i] - 1ms);
    CHECK_FALSE(breaker.allow_request());
    clock.advance(1ms);
    REQUIRE(breaker.allow_request());
    breaker.record_failure();  // the probe failed
    CHECK(breaker.state() == BreakerState::open);
  }
  CHECK(breaker.open_count() == 5);
  CHECK(t.seen.size() == 1 + 2 * periods.size());
  CHECK(t.seen.back() == std::make_pair(BreakerState::half_open, BreakerState::open));
}

TEST_CASE("open periods are jittered within +-jitter and capped", "[circuit_breaker]") {
  ManualClock clock;
  auto o = options_on(clock);
  o.retry_initial_delay = 0ms;  // keep the scripted numbers for the open periods
  o.jitter = 0.2;
  o.max_backoff = 60s;
  o.random = scripted({0.0, 0.999999, 0.999999});
  CircuitBreaker breaker(o);
  fail_until_open(breaker, clock);
  CHECK(breaker.current_open_period() == 24s);  // 30s * 0.8
  clock.advance(breaker.next_attempt_in());
  REQUIRE(breaker.allow_request());
  breaker.record_failure();
  const auto doubled = breaker.current_open_period();  // 60s * ~1.2, capped at 60s
  CHECK(doubled == 60s);
  clock.advance(doubled);
  REQUIRE(breaker.allow_request());
  breaker.record_failure();
  CHECK(breaker.current_open_period() == 60s);
}

TEST_CASE("a failure while open does not extend the wait", "[circuit_breaker]") {
  ManualClock clock;
  CircuitBreaker breaker(options_on(clock));
  fail_until_open(breaker, clock);
  clock.advance(10s);
  breaker.record_failure();  // e.g. a write that was already under way
  CHECK(breaker.total_failures() == 4);
  CHECK(breaker.next_attempt_in() == 20s);
  CHECK(breaker.state() == BreakerState::open);
}

TEST_CASE("reset forces the breaker closed from any state", "[circuit_breaker]") {
  ManualClock clock;
  Transitions t;
  CircuitBreaker breaker(options_on(clock, &t));

  breaker.reset();  // already closed: no transition to report
  CHECK(t.seen.empty());

  fail_until_open(breaker, clock);
  const auto last_failure = breaker.last_failure_time();
  breaker.reset();
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(breaker.allow_request());
  CHECK(breaker.failure_count() == 0);
  CHECK(breaker.total_failures() == 3);  // history is kept
  CHECK(breaker.last_failure_time() == last_failure);
  CHECK(t.seen.back() == std::make_pair(BreakerState::open, BreakerState::closed));

  // From half-open too, and the guide's idiom (record_success) does the same as reset().
  fail_until_open(breaker, clock);
  clock.advance(30s);
  REQUIRE(breaker.allow_request());
  breaker.reset();
  CHECK(breaker.state() == BreakerState::closed);
  CHECK(breaker.allow_request());
  fail_until_open(breaker, clock);
  breaker.record_success();
  CHECK(breaker.state() == BreakerState::closed);
  // c->o, o->c, c->o, o->h, h->c, c->o, o->c; the reset while closed reported nothing.
  CHECK(t.seen.size() == 7);
}

TEST_CASE("disabled breaker never opens but still backs off between attempts",
          "[circuit_breaker][backoff]") {
  ManualClock clock;
  Transitions t;
  auto o = options_on(clock, &t);
  o.enabled = false;
  o.retry_max_delay = 1s;
  CircuitBreaker breaker(o);

  const std::vector<std::chrono::milliseconds> delays{100ms, 200ms, 400ms, 800ms, 1s, 1s};
  for (auto delay : delays) {
    REQUIRE(breaker.allow_request());
    breaker.record_failure();
    CHECK(breaker.state() == BreakerState::closed);
    CHECK_FALSE(breaker.is_open());
    CHECK(breaker.next_attempt_in() == delay);
    clock.advance(delay - 1ms);
    CHECK_FALSE(breaker.allow_request());
    clock.advance(1ms);
  }
  CHECK(breaker.failure_count() == delays.size());
  CHECK(breaker.open_count() == 0);
  CHECK(t.seen.empty());

  REQUIRE(breaker.allow_request());
  breaker.record_success();
  CHECK(breaker.failure_count() == 0);
  breaker.record_failure();
  CHECK(breaker.next_attempt_in() == 100ms);  // back to the first delay
}

TEST_CASE("the state callback runs once per change, outside the breaker's lock",
          "[circuit_breaker]") {
  ManualClock clock;
  auto o = options_on(clock);
  CircuitBreaker* self = nullptr;
  std::vector<BreakerState> observed_inside;
  int calls = 0;
  o.on_state_change = [&](BreakerState, BreakerState to) {
    ++calls;
    // Both calls take the breaker's mutex: they would deadlock if it were still held.
    (void)self->next_attempt_in();
    (void)self->current_open_period();
    observed_inside.push_back(self->state());
    CHECK(to == self->state());
  };
  CircuitBreaker breaker(o);
  self = &breaker;
  fail_until_open(breaker, clock);
  breaker.record_failure();  // open -> open: nothing to report
  clock.advance(30s);
  breaker.allow_request();
  breaker.allow_request();  // refused; no state change
  breaker.record_success();
  breaker.record_success();  // already closed
  CHECK(calls == 3);
  CHECK(observed_inside == std::vector<BreakerState>{BreakerState::open, BreakerState::half_open,
                                                     BreakerState::closed});
}

TEST_CASE("a throwing state callback does not break the breaker", "[circuit_breaker]") {
  ManualClock clock;
  auto o = options_on(clock);
  o.on_state_change = [](BreakerState, BreakerState) { throw std::runtime_error("log failed"); };
  CircuitBreaker breaker(o);
  fail_until_open(breaker, clock);
  CHECK(breaker.state() == BreakerState::open);
}

TEST_CASE("breaker counters can be read from other threads while the flusher drives it",
          "[circuit_breaker]") {
  ManualClock clock;
  auto o = options_on(clock);
  o.retry_initial_delay = 0ms;
  o.recovery_timeout = 1ms;
  CircuitBreaker breaker(o);
  std::atomic<bool> stop{false};
  std::uint64_t max_seen = 0;
  std::thread reader([&] {
    while (!stop.load()) {
      max_seen = std::max(max_seen, breaker.total_failures());
      (void)breaker.state();
      (void)breaker.is_open();
      (void)breaker.failure_count();
      (void)breaker.last_failure_time();
      (void)breaker.next_attempt_in();
    }
  });
  for (int i = 0; i < 2000; ++i) {
    clock.advance(breaker.next_attempt_in());
    if (breaker.allow_request()) breaker.record_failure();
    if (i % 7 == 0) breaker.reset();
    if (i % 11 == 0) breaker.record_success();
  }
  stop = true;
  reader.join();
  CHECK(max_seen <= breaker.total_failures());
  CHECK(breaker.total_failures() > 0);
}
