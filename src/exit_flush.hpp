#pragma once
// Internal: delivery at process exit for programs that never call streamll::shutdown().

#include <chrono>
#include <optional>
#include <string_view>

namespace streamll::detail {

/// Default bound of the exit flush, when neither the option nor the environment sets one.
inline constexpr std::chrono::milliseconds kDefaultExitFlushTimeout{2000};

/// Registers, once, the exit flush with std::atexit and std::at_quick_exit: it shuts down the
/// default instrumentor's sinks, and the sinks the reaper still holds, within one bound
/// (InstrumentorOptions::exit_flush_timeout, else STREAMLL_EXIT_FLUSH_TIMEOUT_MS, else 2 s).
void arrange_exit_flush() noexcept;

/// STREAMLL_EXIT_FLUSH_TIMEOUT_MS's value: milliseconds as a non-negative integer. nullopt
/// when `text` is not one.
std::optional<std::chrono::milliseconds> parse_exit_flush_timeout(std::string_view text) noexcept;

}  // namespace streamll::detail
