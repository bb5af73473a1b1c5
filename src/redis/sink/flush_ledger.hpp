#pragma once
// What RedisSink::flush() answers for: the events enqueued since the previous call began, and
// which of them the flusher failed (evictions are the buffer's own to log). Each flush() call
// opens a window [start, mark) of sequence numbers and asks, once its events left the buffer,
// whether any of them was lost.

#include <atomic>
#include <cstdint>
#include <mutex>

#include "pipeline/loss_log.hpp"

namespace streamll::redis {

class FlushLedger {
 public:
  /// Flusher: `count` events from sequence `first` were lost for good.
  void record_loss(std::uint64_t first, std::uint64_t count);

  /// flush(): the window this call answers for ends at `mark`; returns where it starts (the
  /// previous call's mark: the fate of earlier events was that call's answer).
  std::uint64_t open_window(std::uint64_t mark);
  /// flush(): whether an event of [start, mark) failed. Forgets what no running call can ask
  /// about any more.
  bool failed_in(std::uint64_t start, std::uint64_t mark);
  /// flush(): this call is done; true when it was the last one running (the caller may then
  /// forget older evictions too).
  bool close_window() { return flushes_running_.fetch_sub(1) == 1; }

 private:
  std::mutex mutex_;  // guards failures_
  detail::LossLog failures_;
  std::atomic<std::uint64_t> window_start_{0};
  std::atomic<int> flushes_running_{0};
};

}  // namespace streamll::redis
