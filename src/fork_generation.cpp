#include "fork_generation.hpp"

#include <pthread.h>

#include <atomic>

namespace streamll::detail {
namespace {

std::atomic<std::uint64_t> fork_generation{0};

}  // namespace

std::uint64_t current_fork_generation() noexcept {
  // A function-local static, registered at load (below): a fork while another thread ran its
  // first initialization would leave the child waiting on its guard forever.
  static const bool counting = [] {
    return ::pthread_atfork(nullptr, nullptr,
                            [] { fork_generation.fetch_add(1, std::memory_order_relaxed); }) == 0;
  }();
  (void)counting;
  return fork_generation.load(std::memory_order_relaxed);
}

namespace {
[[maybe_unused]] const bool counting_from_load = (current_fork_generation(), true);
}  // namespace

}  // namespace streamll::detail
