#pragma once
// Event timestamps. Reading the system clock costs about 25 ns through the vDSO on the machines
// we measure on (a serialized TSC read plus the kernel's conversion), which was a third of a
// token event's cost. Where the kernel itself keeps time with the CPU's time-stamp counter
// (clocksource "tsc": invariant and synchronized across CPUs), we read the counter unserialized
// (about 10 ns) and convert it with our own calibration, re-read against the system clock every
// 100 ms. Low-latency loggers take timestamps the same way.
//
// What a reader gets: the system clock's time to within a few microseconds (the drift of the
// counter against the system clock over one 100 ms interval), never going backwards within a
// thread while the system clock does not: a disagreement found at a re-read is absorbed over
// the next interval (slewed), and only one of over a millisecond (the system clock was set) is
// stepped. A read after two intervals without any restarts the line from the system clock. Anywhere the counter is not the kernel's clocksource, off x86-64, or with
// STREAMLL_WALL_CLOCK=system in the environment, every read is the system clock's.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace streamll::detail {

// Products of a tick count and a fixed-point rate need 128 bits in the slow paths.
__extension__ typedef unsigned __int128 uint128;

/// The wall clock extrapolated from a tick counter between periodic reads of a real wall clock.
/// `Sources` provides `static std::uint64_t ticks() noexcept`, `static std::int64_t wall_ns()
/// noexcept` (nanoseconds since the epoch) and `static bool usable() noexcept` (whether the
/// ticks may be trusted at all; asked once). Tests give it sources they move by hand.
/// Thread-safe; constant-initialized, so one can be a global used during static initialization.
template <typename Sources>
class ExtrapolatedWallClock {
 public:
  static constexpr std::int64_t calibration_ns = 10'000'000;  // first frequency estimate
  static constexpr std::int64_t resync_ns = 100'000'000;
  static constexpr std::int64_t step_threshold_ns = 1'000'000;
  static constexpr std::int64_t max_sample_gap_ns = 20'000;

  constexpr ExtrapolatedWallClock() noexcept = default;
  ExtrapolatedWallClock(const ExtrapolatedWallClock&) = delete;
  ExtrapolatedWallClock& operator=(const ExtrapolatedWallClock&) = delete;

  /// Nanoseconds since the epoch.
  std::int64_t now_ns() noexcept {
    std::int64_t value = 0;
    const Reading reading = read_line(Sources::ticks(), value);
    if (reading == Reading::fresh) return value;
    return slow_now_ns(reading, value);
  }

  std::chrono::system_clock::time_point now() noexcept {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(now_ns())));
  }

  /// True once reads are extrapolated (calibrated, and the sources usable).
  bool extrapolating() const noexcept {
    return mode_.load(std::memory_order_acquire) == Mode::extrapolating;
  }

 private:
  enum class Mode : std::uint8_t { unknown, calibrating, extrapolating, system_only };
  enum class Reading : std::uint8_t {
    fresh,  ///< within the interval
    due,    ///< a re-read is due; the value is still good (up to a second interval)
    none,   ///< no line, or too old: the value is not usable
  };
  struct Sample {
    std::uint64_t tick;
    std::int64_t wall_ns;
    std::uint64_t gap;  // the bracket of ticks around the wall reading
  };
  // What the sequence lock guards: wall time is base_ns + (tick - base_tick) * ns_per_tick.
  struct Line {
    std::uint64_t base_tick;
    std::int64_t base_ns;
    std::uint64_t ns_per_tick;  // Q32; 0: no line
    std::uint64_t interval;     // resync_ns in ticks, kept to spare readers a division
  };

  // False while a writer rewrites the line. Every field is an atomic, so a torn read is
  // detected, never undefined. Acquire loads keep the second sequence read after the fields (a
  // fence would do, but ThreadSanitizer does not model fences; on x86 these are plain loads
  // either way).
  bool load_line(Line& line) const noexcept {
    const std::uint32_t sequence = sequence_.load(std::memory_order_acquire);
    line.base_tick = base_tick_.load(std::memory_order_acquire);
    line.base_ns = base_ns_.load(std::memory_order_acquire);
    line.ns_per_tick = ns_per_tick_q32_.load(std::memory_order_acquire);
    line.interval = interval_ticks_.load(std::memory_order_acquire);
    return (sequence & 1U) == 0 && sequence_.load(std::memory_order_relaxed) == sequence;
  }

  Reading read_line(std::uint64_t tick, std::int64_t& value) const noexcept {
    Line line;
    if (!load_line(line)) return Reading::none;
    // Unsigned: a tick before base_tick (read just before a re-read published) wraps to a huge
    // value and counts as too old. Within two intervals the product cannot overflow.
    const std::uint64_t elapsed = tick - line.base_tick;
    if (elapsed >= 2 * line.interval) return Reading::none;
    value = line.base_ns + static_cast<std::int64_t>((elapsed * line.ns_per_tick) >> 32);
    return elapsed < line.interval ? Reading::fresh : Reading::due;
  }

  // Past the interval, before calibration, or when disabled.
  __attribute__((noinline, cold)) std::int64_t slow_now_ns(Reading reading, std::int64_t value) noexcept {
    Mode mode = mode_.load(std::memory_order_acquire);
    if (mode == Mode::unknown) {
      const Mode decided = Sources::usable() ? Mode::calibrating : Mode::system_only;
      if (mode_.compare_exchange_strong(mode, decided, std::memory_order_acq_rel)) mode = decided;
    }
    if (mode == Mode::system_only) return Sources::wall_ns();
    if (reading == Reading::due) {
      // The line is still good: answer from it, and have one thread re-read meanwhile (unless
      // one just did). The new line starts above where this one is at publication, so no
      // reader steps back.
      if (!updating_.exchange(true, std::memory_order_acquire)) {
        std::int64_t unused = 0;
        if (read_line(Sources::ticks(), unused) != Reading::fresh) update(unused);
        updating_.store(false, std::memory_order_release);
      }
      return value;
    }
    // No usable line (calibrating, or idle for two intervals): one thread builds it; the others
    // wait the few hundred nanoseconds that takes.
    for (int attempt = 0; attempt < 2000; ++attempt) {
      if (attempt > 0 && read_line(Sources::ticks(), value) == Reading::fresh) return value;
      if (!updating_.exchange(true, std::memory_order_acquire)) {
        std::int64_t wall = 0;
        const bool fresh = read_line(Sources::ticks(), value) == Reading::fresh;
        const bool published = !fresh && update(wall);
        updating_.store(false, std::memory_order_release);
        if (fresh || (published && read_line(Sources::ticks(), value) == Reading::fresh)) return value;
        return fallback(wall);
      }
      if (mode_.load(std::memory_order_acquire) != Mode::extrapolating) return Sources::wall_ns();
    }
    return fallback(Sources::wall_ns());
  }

  // When no fresh line could be had. Before calibration: `wall`. While extrapolating, what keeps
  // this thread's reads from stepping back: within two intervals of the line's base, the line
  // (mixing in the real clock could step back by the error being slewed); past them, the real
  // clock but no lower than the most the line handed out, which is where the next line starts
  // at the earliest (update()).
  std::int64_t fallback(std::int64_t wall) const noexcept {
    if (mode_.load(std::memory_order_acquire) != Mode::extrapolating) return wall;
    Line line;
    bool loaded = load_line(line);
    for (int attempt = 0; !loaded && attempt < 1000; ++attempt) loaded = load_line(line);
    const std::uint64_t tick = Sources::ticks();
    if (!loaded || line.ns_per_tick == 0 || tick < line.base_tick) return wall;
    const std::uint64_t horizon = line.base_tick + 2 * line.interval;
    const std::int64_t most = along(line.base_ns, line.base_tick, std::min(tick, horizon), line.ns_per_tick);
    if (tick < horizon) return most;
    return wall > most ? wall : most + 1;
  }

  // Reads the real clock between two tick reads, three times, and keeps the tightest bracket:
  // the tick of its middle is the wall reading's tick to within half the bracket (some 15 ns
  // undisturbed).
  static Sample take_sample() noexcept {
    Sample best{0, 0, ~std::uint64_t{0}};
    for (int attempt = 0; attempt < 3; ++attempt) {
      const std::uint64_t before = Sources::ticks();
      const std::int64_t wall = Sources::wall_ns();
      const std::uint64_t after = Sources::ticks();
      if (after >= before && after - before < best.gap) {
        best = Sample{before + (after - before) / 2, wall, after - before};
      }
    }
    if (best.gap == ~std::uint64_t{0}) best = Sample{Sources::ticks(), Sources::wall_ns(), best.gap};
    return best;
  }

  // A sample whose bracket was disturbed (the thread preempted between its reads) would put the
  // line off by half the disturbance: such samples are not used.
  static bool tight(const Sample& sample, std::uint64_t ns_per_tick) noexcept {
    return ((static_cast<uint128>(sample.gap) * ns_per_tick) >> 32) <= max_sample_gap_ns;
  }

  // Only the thread holding `updating_`. True when it published a line (the caller reads it);
  // false with `wall` set to a real clock reading otherwise (still calibrating, or the sample
  // was disturbed: the old line stays and the next slow read tries again).
  bool update(std::int64_t& wall) noexcept {
    const Mode mode = mode_.load(std::memory_order_acquire);  // only updates change it
    if (mode == Mode::calibrating && have_reference_) {
      // Until the calibration interval has passed, one real read is all a caller needs.
      wall = Sources::wall_ns();
      if (wall >= reference_.wall_ns && wall - reference_.wall_ns < calibration_ns) return false;
    }
    const Sample sample = take_sample();
    wall = sample.wall_ns;
    if (mode == Mode::calibrating) {
      const std::uint64_t rate = have_reference_ ? measured_rate(reference_, sample) : 0;
      if (rate == 0 || !tight(reference_, rate) || !tight(sample, rate)) {
        reference_ = sample;  // start the calibration from here
        have_reference_ = true;
        return false;
      }
      if (sample.wall_ns - reference_.wall_ns < calibration_ns) return false;
      reference_ = sample;
      // Not below a reading of the real clock taken now: callers were given such readings
      // until this moment, and the sample may be a few nanoseconds behind them.
      publish(rate, [&](std::uint64_t tick) {
        const std::int64_t extrapolated = along(sample.wall_ns, sample.tick, tick, rate);
        const std::int64_t real = Sources::wall_ns();
        return extrapolated > real ? extrapolated : real;
      });
      mode_.store(Mode::extrapolating, std::memory_order_release);
      return true;
    }

    // Extrapolating: where the line says we are, against where the real clock says.
    Line line;
    load_line(line);  // only this thread writes it: never torn here
    const std::uint64_t line_rate = line.ns_per_tick;
    const std::uint64_t base_tick = line.base_tick;
    const std::int64_t base_ns = line.base_ns;
    if (!tight(sample, line_rate)) return false;
    if (sample.tick < base_tick || sample.tick < reference_.tick) {
      // The counter went backwards (a migrated VM, a reset): start over.
      reference_ = sample;
      mode_.store(Mode::calibrating, std::memory_order_release);
      publish(0, [](std::uint64_t) { return std::int64_t{0}; });
      return false;
    }
    // The rate, measured over at least half an interval: over less, the samples' own jitter
    // would dominate it. Otherwise the line's.
    std::uint64_t rate = line_rate;
    if (line_rate != 0 && sample.tick - reference_.tick >= line.interval / 2) {
      if (const std::uint64_t measured = measured_rate(reference_, sample)) rate = measured;
      reference_ = sample;
    }
    if (sample.tick - base_tick >= 2 * line.interval) {
      // Idle for two intervals or more. The line's slew was meant for one interval and has run
      // for longer, so its error says nothing now (slewing against it diverged); and readers
      // were handed its values only up to two intervals past its base (later ones come through
      // this update). Restart from the real clock, no lower than the most the line handed out,
      // unless the real clock is below that by more than a step (it was set back).
      const std::int64_t most_handed_out =
          along(base_ns, base_tick, base_tick + 2 * line.interval, line_rate) + 1;
      // A rate far from the line's (slews change it by 1% at most) was measured across a
      // setting of the clock.
      const std::uint64_t deviation = rate > line_rate ? rate - line_rate : line_rate - rate;
      const std::uint64_t restart_rate = deviation > line_rate / 50 ? line_rate : rate;
      reference_ = sample;
      publish(restart_rate, [&](std::uint64_t tick) {
        const std::int64_t real = along(sample.wall_ns, sample.tick, tick, restart_rate);
        const bool set_back = most_handed_out - real > step_threshold_ns;
        return real >= most_handed_out || set_back ? real : most_handed_out;
      });
      return true;
    }
    std::int64_t predicted = 0;
    if (!along(base_ns, base_tick, sample.tick, line_rate, predicted)) {
      predicted = sample.wall_ns - 2 * step_threshold_ns;  // idle for ages: step
    }
    const std::int64_t error = sample.wall_ns - predicted;
    if (error > step_threshold_ns || error < -step_threshold_ns) {
      // The system clock was set (or the line was far off after a long stall): follow it, at
      // the line's rate (a rate measured across a setting of the clock is meaningless).
      reference_ = sample;
      publish(line_rate, [&](std::uint64_t tick) { return along(sample.wall_ns, sample.tick, tick, line_rate); });
      return true;
    }
    // Slew: continue from where the line is, at a rate that closes the error over the next
    // interval, so that no reader sees time step back.
    const std::int64_t target = resync_ns + error;  // |error| <= 1 ms: at least 99 ms
    const std::uint64_t slewed = static_cast<std::uint64_t>(
        (static_cast<uint128>(rate) * static_cast<std::uint64_t>(target)) /
        static_cast<std::uint64_t>(resync_ns));
    // One nanosecond up: the old line, floored, may be a nanosecond ahead of the new one.
    publish(slewed == 0 ? rate : slewed, [&](std::uint64_t tick) {
      return along(base_ns, base_tick, tick, line_rate) + 1;
    });
    return true;
  }

  // The line through (from_tick, from_ns) at `rate`, at `tick` (a tick before from_tick counts
  // as from_tick). False when so far along (idle for ages) that the answer would overflow.
  static bool along(std::int64_t from_ns, std::uint64_t from_tick, std::uint64_t tick,
                    std::uint64_t rate, std::int64_t& out) noexcept {
    const std::uint64_t since = tick > from_tick ? tick - from_tick : 0;
    const uint128 elapsed_ns = (static_cast<uint128>(since) * rate) >> 32;
    if (elapsed_ns > static_cast<uint128>(INT64_MAX / 2)) return false;
    out = from_ns + static_cast<std::int64_t>(elapsed_ns);
    return true;
  }
  // The same, where the distance is bounded (within two intervals of the base, or a
  // publication moments after a sample).
  static std::int64_t along(std::int64_t from_ns, std::uint64_t from_tick, std::uint64_t tick,
                            std::uint64_t rate) noexcept {
    std::int64_t out = from_ns;
    along(from_ns, from_tick, tick, rate, out);
    return out;
  }

  // Nanoseconds per tick, fixed point with 32 fractional bits; 0 when unusable.
  static std::uint64_t measured_rate(const Sample& from, const Sample& to) noexcept {
    if (to.tick <= from.tick || to.wall_ns <= from.wall_ns) return 0;
    const uint128 rate =
        (static_cast<uint128>(to.wall_ns - from.wall_ns) << 32) / (to.tick - from.tick);
    // Counters from 1 MHz to beyond 100 GHz; anything else is a broken source.
    if (rate == 0 || rate > (static_cast<uint128>(1000) << 32)) return 0;
    return static_cast<std::uint64_t>(rate);
  }

  // Publishes a line at `ns_per_tick` (0: none) whose base is the tick read once readers can see
  // the line changing, valued at `base_at(tick)`: readers that still use the old line read
  // their tick before it, so the new line, continuing the old one, is never below them.
  template <typename BaseAt>
  void publish(std::uint64_t ns_per_tick, BaseAt base_at) noexcept {
    const std::uint32_t sequence = sequence_.load(std::memory_order_relaxed);
    // A read-modify-write (a full barrier) rather than a store and a fence, which
    // ThreadSanitizer does not model.
    sequence_.exchange(sequence + 1, std::memory_order_seq_cst);
    const std::uint64_t base_tick = Sources::ticks();
    const std::int64_t base_ns = base_at(base_tick);
    // Release stores: a reader that sees any new field also sees the odd sequence before it.
    base_tick_.store(base_tick, std::memory_order_release);
    base_ns_.store(base_ns, std::memory_order_release);
    ns_per_tick_q32_.store(ns_per_tick, std::memory_order_release);
    interval_ticks_.store(ns_per_tick == 0 ? 0 : interval_for(ns_per_tick), std::memory_order_release);
    sequence_.store(sequence + 2, std::memory_order_release);
  }

  static std::uint64_t interval_for(std::uint64_t ns_per_tick) noexcept {
    return static_cast<std::uint64_t>((static_cast<uint128>(resync_ns) << 32) / ns_per_tick);
  }

  std::atomic<std::uint32_t> sequence_{0};
  std::atomic<std::uint64_t> base_tick_{0};
  std::atomic<std::int64_t> base_ns_{0};
  std::atomic<std::uint64_t> ns_per_tick_q32_{0};
  std::atomic<std::uint64_t> interval_ticks_{0};  // 0: every read takes the slow path
  std::atomic<Mode> mode_{Mode::unknown};
  std::atomic<bool> updating_{false};
  // Guarded by updating_.
  Sample reference_{0, 0, 0};  // the last real-clock sample, for the next rate measurement
  bool have_reference_ = false;
};

/// The machine's sources: the time-stamp counter and the system clock.
struct HardwareClockSources {
  static std::uint64_t ticks() noexcept {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    return __builtin_ia32_rdtsc();
#else
    return 0;
#endif
  }
  static std::int64_t wall_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  /// x86-64, the kernel's clocksource is "tsc", and STREAMLL_WALL_CLOCK is not "system".
  /// Out of line (src/wall_clock.cpp): it reads a file and the environment, once.
  static bool usable() noexcept;
};

inline ExtrapolatedWallClock<HardwareClockSources> event_wall_clock;

/// What event timestamps are read with.
inline std::chrono::system_clock::time_point event_timestamp_now() noexcept {
  return event_wall_clock.now();
}

}  // namespace streamll::detail
