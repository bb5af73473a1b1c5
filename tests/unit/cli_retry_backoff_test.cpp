// `streamll consume`'s pause after failed events: doubling from the base, capped, reset by a
// success; and the pause that a signal cuts short.

#include <catch2/catch.hpp>

#include <thread>

#include "cli/args.hpp"
#include "cli/retry_backoff.hpp"

using namespace std::chrono_literals;
using streamll::cli::consume_backoff;
using streamll::cli::InterruptiblePause;
using streamll::cli::RetryBackoff;

TEST_CASE("RetryBackoff doubles from the base up to the cap and a success resets it", "[cli]") {
  RetryBackoff backoff(100ms, 1s);
  CHECK(backoff.failed() == 100ms);
  CHECK(backoff.failed() == 200ms);
  CHECK(backoff.failed() == 400ms);
  CHECK(backoff.failed() == 800ms);
  CHECK(backoff.failed() == 1s);
  for (int i = 0; i < 100; ++i) CHECK(backoff.failed() == 1s);  // no overflow however long
  CHECK(backoff.consecutive_failures() == 105);
  backoff.succeeded();
  CHECK(backoff.consecutive_failures() == 0);
  CHECK(backoff.failed() == 100ms);
}

TEST_CASE("RetryBackoff with base 0 never pauses and a cap below the base is the base", "[cli]") {
  RetryBackoff off(0ms, 1s);
  CHECK(off.failed() == 0ms);
  CHECK(off.failed() == 0ms);
  RetryBackoff flat(300ms, 10ms);
  CHECK(flat.failed() == 300ms);
  CHECK(flat.failed() == 300ms);
}

TEST_CASE("consume's longest pause stays below --claim-idle by default and is refused otherwise",
          "[cli]") {
  // The default cap: 10 s, well below the default claim-idle of 60 s; half a shorter one.
  CHECK(consume_backoff(std::nullopt, std::nullopt, 60s).longest() == 10s);
  CHECK(consume_backoff(std::nullopt, std::nullopt, 4s).longest() == 2s);
  CHECK(consume_backoff(std::nullopt, std::nullopt, 0ms).longest() == 10s);  // never claimed
  CHECK(consume_backoff(0ms, std::nullopt, 1ms).longest() == 0ms);
  CHECK(consume_backoff(std::nullopt, std::nullopt, 1ms).longest() == 0ms);  // defaults always fit
  CHECK(consume_backoff(std::nullopt, 500ms, 60s).failed() == 500ms);
  CHECK(consume_backoff(100ms, 59s, 60s).longest() == 59s);
  // A pause as long as claim-idle lets another worker claim the rest of the batch.
  CHECK_THROWS_AS(consume_backoff(std::nullopt, 60s, 60s), streamll::cli::UsageError);
  CHECK_THROWS_AS(consume_backoff(90s, std::nullopt, 60s), streamll::cli::UsageError);
  CHECK_NOTHROW(consume_backoff(std::nullopt, 3600s, 0ms));
}

TEST_CASE("InterruptiblePause returns at once after stop", "[cli]") {
  InterruptiblePause pause;
  CHECK(pause.wait_for(0ms));
  std::thread stopper([&pause] { pause.stop(); });
  // Bounded by the stop, not by the hour: the test would time out otherwise.
  CHECK_FALSE(pause.wait_for(std::chrono::hours(1)));
  stopper.join();
  CHECK_FALSE(pause.wait_for(std::chrono::hours(1)));  // sticky
}
