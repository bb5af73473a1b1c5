#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "streamll/detail/wall_clock.hpp"
#include "streamll/event.hpp"

using streamll::detail::ExtrapolatedWallClock;

namespace {

constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t us = 1'000;

// A counter at `num / den` ticks per true nanosecond and a system clock at true time plus an
// offset, both moved by hand. Atomics: the concurrency test reads them from several threads.
struct FakeSources {
  static inline std::atomic<std::int64_t> true_ns{0};
  static inline std::atomic<std::int64_t> wall_offset_ns{0};
  static inline std::atomic<std::uint64_t> tick_anchor{0};
  static inline std::atomic<std::int64_t> true_anchor{0};
  static inline std::atomic<std::uint64_t> rate_num{5};
  static inline std::atomic<std::uint64_t> rate_den{2};
  static inline std::atomic<int> wall_reads{0};
  static inline std::atomic<bool> usable_answer{true};

  // Runs inside the next ticks() (single-threaded tests only): another thread's read landing
  // between this thread's tick read and the rest of its read.
  static inline std::function<void()> inside_next_tick;

  static std::uint64_t ticks() noexcept {
    const auto since = static_cast<std::uint64_t>(true_ns.load() - true_anchor.load());
    const std::uint64_t tick = tick_anchor.load() + since * rate_num.load() / rate_den.load();
    if (inside_next_tick) {  // after the counter was read
      const auto hook = std::move(inside_next_tick);
      inside_next_tick = nullptr;
      hook();
    }
    return tick;
  }
  static std::int64_t wall_ns() noexcept {
    wall_reads.fetch_add(1);
    return true_ns.load() + wall_offset_ns.load();
  }
  static bool usable() noexcept { return usable_answer.load(); }

  static std::int64_t wall_now() noexcept { return true_ns.load() + wall_offset_ns.load(); }

  static void reset() {
    true_ns = 1'790'000'000LL * 1'000'000'000LL;  // 2026
    wall_offset_ns = 0;
    tick_anchor = 123'456'789;
    true_anchor = true_ns.load();
    rate_num = 5;  // 2.5 GHz
    rate_den = 2;
    wall_reads = 0;
    usable_answer = true;
    inside_next_tick = nullptr;
  }
  static void advance(std::int64_t ns) { true_ns += ns; }
  // A new counter rate from now on, the counter continuing where it is.
  static void set_rate(std::uint64_t num, std::uint64_t den) {
    const std::uint64_t tick = ticks();
    true_anchor = true_ns.load();
    tick_anchor = tick;
    rate_num = num;
    rate_den = den;
  }
};

using FakeClock = ExtrapolatedWallClock<FakeSources>;

// Reads in steps until the calibration is done.
void calibrate(FakeClock& clock) {
  for (int i = 0; i < 200 && !clock.extrapolating(); ++i) {
    clock.now_ns();
    FakeSources::advance(100 * us);
  }
  REQUIRE(clock.extrapolating());
}

}  // namespace

TEST_CASE("wall clock: reads the system clock until calibrated, then extrapolates the counter without it",
          "[wall_clock]") {
  FakeSources::reset();
  FakeClock clock;
  CHECK(clock.now_ns() == FakeSources::wall_now());
  FakeSources::advance(5 * ms);
  CHECK(clock.now_ns() == FakeSources::wall_now());
  CHECK_FALSE(clock.extrapolating());
  FakeSources::advance(6 * ms);
  CHECK(clock.now_ns() == FakeSources::wall_now());  // the calibrating read itself
  REQUIRE(clock.extrapolating());

  FakeSources::wall_reads = 0;
  for (int i = 0; i < 1000; ++i) {
    FakeSources::advance(7 * us + i);
    const std::int64_t read = clock.now_ns();
    CHECK(read - FakeSources::wall_now() <= 2);  // the counter's 0.4 ns quantum, rounded down
    CHECK(read - FakeSources::wall_now() >= -2);
  }
  CHECK(FakeSources::wall_reads == 0);
}

TEST_CASE("wall clock: re-reads the system clock about once per interval", "[wall_clock]") {
  FakeSources::reset();
  FakeClock clock;
  calibrate(clock);
  FakeSources::wall_reads = 0;
  for (int i = 0; i < 1000; ++i) {  // one second in 1 ms steps
    FakeSources::advance(1 * ms);
    clock.now_ns();
  }
  // Ten re-reads of three samples each (the tightest bracket of three is kept).
  CHECK(FakeSources::wall_reads >= 27);
  CHECK(FakeSources::wall_reads <= 36);
}

TEST_CASE("wall clock: a counter drifting against the system clock stays within microseconds and never goes back",
          "[wall_clock]") {
  const auto [num, den, bound] = GENERATE(table<std::uint64_t, std::uint64_t, std::int64_t>({
      {2'500'125, 1'000'000, 10 * us},   // +50 ppm
      {2'498'750, 1'000'000, 100 * us},  // -500 ppm, the most NTP ever slews
  }));
  FakeSources::reset();
  FakeClock clock;
  calibrate(clock);
  FakeSources::set_rate(num, den);
  std::int64_t previous = clock.now_ns();
  std::int64_t worst = 0;
  for (int i = 0; i < 20'000; ++i) {  // two seconds in 100 us steps
    FakeSources::advance(100 * us);
    const std::int64_t read = clock.now_ns();
    CHECK(read >= previous);
    previous = read;
    const std::int64_t error = read - FakeSources::wall_now();
    worst = std::max(worst, error < 0 ? -error : error);
  }
  CHECK(worst <= bound);
  // And converged: the last interval's error is far below the first's.
  FakeSources::advance(200 * ms);
  clock.now_ns();
  FakeSources::advance(50 * ms);
  const std::int64_t settled = clock.now_ns() - FakeSources::wall_now();
  CHECK(settled <= bound / 10);
  CHECK(settled >= -bound / 10);
}

TEST_CASE("wall clock: a re-read that lands inside another read is not repeated by it", "[wall_clock]") {
  FakeSources::reset();
  FakeClock clock;
  calibrate(clock);
  FakeSources::advance(150 * ms);  // a re-read is due
  int inner_wall_reads = 0;
  FakeSources::inside_next_tick = [&] {
    FakeSources::advance(1 * us);
    const int before = FakeSources::wall_reads;
    clock.now_ns();  // re-reads and publishes a line based after the outer read's tick
    inner_wall_reads = FakeSources::wall_reads - before;
  };
  const int before = FakeSources::wall_reads;
  const std::int64_t outer = clock.now_ns();
  CHECK(inner_wall_reads == 3);                          // one re-read: three samples
  CHECK(FakeSources::wall_reads - before == inner_wall_reads);  // and the outer read did none
  CHECK(clock.extrapolating());
  std::int64_t previous = outer;
  for (int i = 0; i < 3000; ++i) {  // 300 ms on: the line is as good as before
    FakeSources::advance(100 * us);
    const std::int64_t read = clock.now_ns();
    CHECK(read >= previous);
    CHECK(read - FakeSources::wall_now() <= 2);
    CHECK(read - FakeSources::wall_now() >= -2);
    previous = read;
  }
}

TEST_CASE("wall clock: reads further apart than two intervals stay on time with a drifting counter",
          "[wall_clock]") {
  // Each read finds the line off by the drift since the last one. Slewing that error over one
  // interval, when the next read comes two and a half intervals later, overshoots by more than
  // it corrects: the error would grow at every read.
  FakeSources::reset();
  FakeClock clock;
  calibrate(clock);
  FakeSources::set_rate(2'498'750, 1'000'000);  // -500 ppm
  std::int64_t previous = clock.now_ns();
  for (int i = 0; i < 40; ++i) {  // ten seconds
    FakeSources::advance(250 * ms);
    const std::int64_t read = clock.now_ns();
    CHECK(read >= previous);
    CHECK(read - FakeSources::wall_now() <= 10 * us);
    CHECK(read - FakeSources::wall_now() >= -10 * us);
    previous = read;
  }
  CHECK(clock.extrapolating());
}

TEST_CASE("wall clock: a system clock set forward or back is followed at the next re-read", "[wall_clock]") {
  const std::int64_t jump = GENERATE(5'000 * ms, -5'000 * ms, 2 * ms);
  FakeSources::reset();
  FakeClock clock;
  calibrate(clock);
  FakeSources::wall_offset_ns = jump;
  for (int i = 0; i < 150; ++i) {  // past one interval
    FakeSources::advance(1 * ms);
    clock.now_ns();
  }
  const std::int64_t error = clock.now_ns() - FakeSources::wall_now();
  CHECK(error <= 1 * us);
  CHECK(error >= -1 * us);
  CHECK(clock.extrapolating());
}

TEST_CASE("wall clock: a counter that jumps back is not extrapolated from until calibrated again",
          "[wall_clock]") {
  FakeSources::reset();
  FakeClock clock;
  calibrate(clock);
  FakeSources::advance(1 * ms);
  clock.now_ns();
  // The counter restarts low (a VM moved to another host, say).
  FakeSources::true_anchor = FakeSources::true_ns.load();
  FakeSources::tick_anchor = 1'000;
  FakeSources::advance(1 * us);
  CHECK(clock.now_ns() == FakeSources::wall_now());
  CHECK_FALSE(clock.extrapolating());
  for (int i = 0; i < 5; ++i) {
    FakeSources::advance(1 * ms);
    CHECK(clock.now_ns() == FakeSources::wall_now());
  }
  calibrate(clock);
  FakeSources::advance(3 * ms);
  const std::int64_t error = clock.now_ns() - FakeSources::wall_now();
  CHECK(error <= 2);
  CHECK(error >= -2);
}

TEST_CASE("wall clock: without a usable counter every read is the system clock's", "[wall_clock]") {
  FakeSources::reset();
  FakeSources::usable_answer = false;
  FakeClock clock;
  for (int i = 0; i < 100; ++i) {
    FakeSources::advance(1 * ms);
    CHECK(clock.now_ns() == FakeSources::wall_now());
  }
  CHECK(FakeSources::wall_reads == 100);
  CHECK_FALSE(clock.extrapolating());
}

TEST_CASE("wall clock: readers on several threads during re-reads each see time go forward",
          "[wall_clock][concurrency]") {
  FakeSources::reset();
  FakeClock clock;
  calibrate(clock);
  std::atomic<bool> stop{false};
  std::atomic<int> backwards{0};
  std::atomic<int> far_off{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      std::int64_t previous = 0;
      while (!stop.load()) {
        const std::int64_t before = FakeSources::wall_now();
        const std::int64_t read = clock.now_ns();
        const std::int64_t after = FakeSources::wall_now();
        if (read < previous) backwards.fetch_add(1);
        // The line is built from samples whose reads the driver may advance between (as a
        // preemption would): up to 20 us apart, so a few tens of microseconds off at worst.
        if (read < before - 100 * us || read > after + 100 * us) far_off.fetch_add(1);
        previous = read;
      }
    });
  }
  // Three seconds of fake time in 10 us steps: about thirty re-reads raced by the readers.
  for (int i = 0; i < 300'000; ++i) FakeSources::advance(10 * us);
  stop = true;
  for (auto& r : readers) r.join();
  CHECK(backwards == 0);
  CHECK(far_off == 0);
}

TEST_CASE("wall clock: event timestamps agree with the system clock on this machine", "[wall_clock]") {
  using std::chrono::system_clock;
  // A quarter of a second of reads covers the calibration and two re-reads.
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(250);
  system_clock::time_point previous{};
  int reads = 0;
  int far_off = 0;
  int backwards = 0;
  while (std::chrono::steady_clock::now() < end) {
    const auto before = system_clock::now();
    const auto stamp = streamll::detail::event_timestamp_now();
    const auto after = system_clock::now();
    // Microseconds in practice; a millisecond of slack for a thread preempted mid-calibration.
    if (stamp < before - std::chrono::milliseconds(1) || stamp > after + std::chrono::milliseconds(1)) ++far_off;
    if (stamp < previous) ++backwards;
    previous = stamp;
    ++reads;
  }
  CHECK(reads > 1000);
  CHECK(far_off == 0);
  CHECK(backwards == 0);
  CHECK(streamll::detail::event_wall_clock.extrapolating() ==
        streamll::detail::HardwareClockSources::usable());
  INFO("extrapolating: " << streamll::detail::event_wall_clock.extrapolating());
}
