#include "parallel_shutdown.hpp"

#include <algorithm>
#include <thread>

namespace streamll::detail {
namespace {

bool shutdown_by(Sink& sink, std::chrono::steady_clock::time_point deadline) noexcept {
  const auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 deadline - std::chrono::steady_clock::now()),
                             std::chrono::milliseconds::zero());
  try {
    return sink.shutdown(left);
  } catch (...) {
    return false;
  }
}

}  // namespace

std::size_t shutdown_in_parallel(const std::vector<SinkPtr>& sinks,
                                 std::chrono::steady_clock::time_point deadline) noexcept {
  // One result per sink, written by its own thread only; read after the joins.
  std::vector<char> finished(sinks.size(), 0);
  std::vector<std::thread> threads;
  try {
    threads.reserve(sinks.size());
  } catch (...) {
  }
  for (std::size_t i = 0; i < sinks.size(); ++i) {
    if (!sinks[i]) {
      finished[i] = 1;
      continue;
    }
    const bool last = i + 1 == sinks.size();
    if (!last) {
      try {
        threads.emplace_back([&sinks, &finished, i, deadline] {
          finished[i] = shutdown_by(*sinks[i], deadline) ? 1 : 0;
        });
        continue;
      } catch (...) {
        // No thread: on this one, below.
      }
    }
    finished[i] = shutdown_by(*sinks[i], deadline) ? 1 : 0;
  }
  for (std::thread& thread : threads) thread.join();
  return static_cast<std::size_t>(std::count(finished.begin(), finished.end(), 0));
}

}  // namespace streamll::detail
