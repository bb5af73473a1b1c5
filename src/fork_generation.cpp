#include "fork_generation.hpp"

#include <pthread.h>

#include <atomic>

namespace streamll::detail {
namespace {

std::atomic<std::uint64_t> fork_generation{0};

}  // namespace

std::uint64_t current_fork_generation() noexcept {
  // Registered by the first object that records a generation: a fork before that has nothing
  // to tell apart.
  static const bool counting = [] {
    return ::pthread_atfork(nullptr, nullptr,
                            [] { fork_generation.fetch_add(1, std::memory_order_relaxed); }) == 0;
  }();
  (void)counting;
  return fork_generation.load(std::memory_order_relaxed);
}

}  // namespace streamll::detail
