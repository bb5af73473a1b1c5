#pragma once
// Internal: how many fork()s this process descends through. An object that owns a thread
// records the generation it was made in; when the current one differs, it is a forked child's
// copy: its thread does not exist there, and any lock it shares with that thread may have been
// held at the fork forever. Such copies only count what they are handed and never wait.

#include <cstdint>

namespace streamll::detail {

/// The child of a fork counts one more than its parent did. Lock-free, async-signal-safe.
std::uint64_t current_fork_generation() noexcept;

}  // namespace streamll::detail
