#pragma once
// One rule for every timeout the library accepts: longer than a year means "no deadline".
// Clamped in the timeout's own units, before any conversion: milliseconds::max() in
// nanoseconds, or added to now(), would overflow into the past.

#include <algorithm>
#include <chrono>
#include <ratio>
#include <type_traits>

namespace streamll::detail {

/// `timeout` with negative values as zero and anything longer than a year as a year.
template <typename Rep, typename Period>
std::chrono::duration<Rep, Period> clamp_to_a_year(
    std::chrono::duration<Rep, Period> timeout) noexcept {
  // A year must be representable, and a NaN could not be clamped: 64-bit signed counts of
  // at most hours, as every timeout of the library is.
  static_assert(std::is_integral_v<Rep> && std::is_signed_v<Rep> && sizeof(Rep) >= 8,
                "timeouts are 64-bit signed durations");
  static_assert(std::ratio_less_equal_v<Period, std::ratio<3600>>, "timeouts are at most hours");
  using Duration = std::chrono::duration<Rep, Period>;
  constexpr auto longest = std::chrono::duration_cast<Duration>(std::chrono::hours(24 * 365));
  return std::clamp(timeout, Duration::zero(), longest);
}

/// The steady-clock time `timeout` from now (clamp_to_a_year first).
template <typename Rep, typename Period>
std::chrono::steady_clock::time_point deadline_in(
    std::chrono::duration<Rep, Period> timeout) noexcept {
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(clamp_to_a_year(timeout));
}

}  // namespace streamll::detail
