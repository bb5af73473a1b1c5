#pragma once
// A clock that only moves when a test says so: timeouts and backoff are tested by advancing it,
// never by sleeping. Thread-safe, so a test thread can advance it while a sink's flusher reads.

#include <atomic>
#include <chrono>
#include <cstdint>

#include "support/clock.hpp"

namespace streamll::testing {

class ManualClock final : public detail::ClockSource {
 public:
  /// Starts at an arbitrary, fixed point: steady time well after its epoch (so code that uses a
  /// default-constructed time_point as "never" is not fooled) and wall time at
  /// 2024-01-15T16:30:45Z, so printed times are reproducible.
  ManualClock() noexcept = default;

  std::chrono::steady_clock::time_point steady_now() const noexcept override {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(steady_ticks_.load(std::memory_order_acquire)));
  }
  std::chrono::system_clock::time_point system_now() const noexcept override {
    return std::chrono::system_clock::time_point(
        std::chrono::system_clock::duration(system_ticks_.load(std::memory_order_acquire)));
  }

  /// Moves both clocks forward by `d` (negative durations are ignored: steady time never goes
  /// back).
  template <typename Rep, typename Period>
  void advance(std::chrono::duration<Rep, Period> d) noexcept {
    if (d <= d.zero()) return;
    steady_ticks_.fetch_add(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(d).count(),
        std::memory_order_acq_rel);
    system_ticks_.fetch_add(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(d).count(),
        std::memory_order_acq_rel);
  }

  /// Sets the wall clock alone (it may jump, as a real one does when NTP steps it).
  void set_system_time(std::chrono::system_clock::time_point t) noexcept {
    system_ticks_.store(t.time_since_epoch().count(), std::memory_order_release);
  }

 private:
  static constexpr std::chrono::steady_clock::rep initial_steady() noexcept {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::hours(1000))
        .count();
  }
  static constexpr std::chrono::system_clock::rep initial_system() noexcept {
    return std::chrono::duration_cast<std::chrono::system_clock::duration>(
               std::chrono::seconds(1705336245))  // 2024-01-15T16:30:45Z
        .count();
  }

  std::atomic<std::chrono::steady_clock::rep> steady_ticks_{initial_steady()};
  std::atomic<std::chrono::system_clock::rep> system_ticks_{initial_system()};
};

}  // namespace streamll::testing
