#pragma once
// The three states of the RedisSink's circuit breaker, as reported in its stats.

#include <string_view>

namespace streamll {

/// - closed:    normal operation; writes go through (after any reconnect backoff).
/// - open:      too many consecutive transport failures; no connection attempts, events keep
///              buffering until the recovery timeout passes.
/// - half_open: the recovery timeout passed; exactly one probe is under way. Its success
///              closes the breaker, its failure opens it again for a longer wait.
/// The underlying type stays `int` (the default) so headers can forward-declare it.
enum class BreakerState { closed, open, half_open };

/// "closed" | "open" | "half_open".
constexpr std::string_view to_string(BreakerState state) noexcept {
  switch (state) {
    case BreakerState::closed:
      return "closed";
    case BreakerState::open:
      return "open";
    case BreakerState::half_open:
      return "half_open";
  }
  return "closed";
}

}  // namespace streamll
