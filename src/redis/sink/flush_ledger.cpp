#include "redis/sink/flush_ledger.hpp"

#include <algorithm>

namespace streamll::redis {

void FlushLedger::record_loss(std::uint64_t first, std::uint64_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  failures_.record(first, count);
}

std::uint64_t FlushLedger::open_window(std::uint64_t mark) {
  std::uint64_t start = window_start_.load();
  while (start < mark && !window_start_.compare_exchange_weak(start, mark)) {
  }
  flushes_running_.fetch_add(1);
  return std::min(start, mark);
}

bool FlushLedger::failed_in(std::uint64_t start, std::uint64_t mark) {
  std::lock_guard<std::mutex> lock(mutex_);
  const bool lost = failures_.any_in(start, mark);
  // Alone, this call may forget what no later call will ask about; with another one running,
  // that one may still ask about older events.
  if (flushes_running_.load() == 1) failures_.forget_below(start);
  return lost;
}

}  // namespace streamll::redis
