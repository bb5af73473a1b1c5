#pragma once
// Internal: shuts several sinks down at once against one deadline. One after another, a sink
// that cannot deliver (a RedisSink with Redis down) would spend the whole bound and leave
// nothing for the sinks after it.

#include <chrono>
#include <cstddef>
#include <vector>

#include "streamll/sink.hpp"

namespace streamll::detail {

/// Calls shutdown() on every sink, each on its own thread (the last on the caller's), with
/// what is left until `deadline`, and joins them. Returns how many did not finish cleanly
/// (returned false or threw). Without a thread, a sink is shut down on the caller's thread.
std::size_t shutdown_in_parallel(const std::vector<SinkPtr>& sinks,
                                 std::chrono::steady_clock::time_point deadline) noexcept;

}  // namespace streamll::detail
