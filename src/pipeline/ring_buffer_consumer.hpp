#pragma once
// RingBuffer's consumer side: taking batches, acknowledging them, and sleeping until there is
// work. Part of ring_buffer.hpp, which includes it; include that instead.

#include "pipeline/ring_buffer.hpp"

namespace streamll::detail {

template <typename T>
std::size_t RingBuffer<T>::take_batch(std::size_t max, std::vector<T>& out,
                                      std::uint64_t* first_sequence) {
  if (max == 0) return 0;
  out.reserve(out.size() + std::min(max, waiting_.load(std::memory_order_relaxed)));
  std::lock_guard<std::mutex> lock(mutex_);
  const std::size_t waiting = waiting_.load(std::memory_order_relaxed);
  const std::size_t count = std::min({max, waiting, out.capacity() - out.size()});
  if (count == 0) return 0;
  if (first_sequence) *first_sequence = first_waiting_sequence_;
  note_in_flight(first_waiting_sequence_, count);  // may throw: nothing changed yet
  for (std::size_t i = 0; i < count; ++i) {
    T* item = item_at(head_);
    out.push_back(std::move(*item));  // capacity reserved: cannot throw
    item->~T();
    head_ = next_index(head_);
  }
  first_waiting_sequence_ += count;
  waiting_.store(waiting - count, std::memory_order_relaxed);
  in_flight_.store(in_flight_.load(std::memory_order_relaxed) + count, std::memory_order_relaxed);
  return count;
}

template <typename T>
std::size_t RingBuffer<T>::acknowledge(std::size_t n) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::size_t in_flight = in_flight_.load(std::memory_order_relaxed);
  const std::size_t freed = std::min(n, in_flight);
  in_flight_.store(in_flight - freed, std::memory_order_relaxed);
  size_.store(size_.load(std::memory_order_relaxed) - freed, std::memory_order_relaxed);
  bump(acknowledged_, freed);
  for (std::size_t left = freed; left > 0;) {
    InFlightRange& oldest = in_flight_ranges_.front();
    const std::size_t now = std::min<std::size_t>(left, oldest.count);
    oldest.first += now;
    oldest.count -= now;
    left -= now;
    if (oldest.count == 0) in_flight_ranges_.pop_front();
  }
  return freed;
}

template <typename T>
typename RingBuffer<T>::WaitResult RingBuffer<T>::wait_for_events(
    std::size_t min_waiting, std::chrono::nanoseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  std::size_t threshold = min_waiting;
  if (threshold != no_event_wake) {
    threshold = std::max<std::size_t>(
        1, std::min(threshold, capacity_ - in_flight_.load(std::memory_order_relaxed)));
  }
  return wait_locked(lock, timeout, threshold, [&] {
    return threshold != no_event_wake && waiting_.load(std::memory_order_relaxed) >= threshold;
  });
}

template <typename T>
void RingBuffer<T>::wake_consumer() noexcept {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_requested_ = true;
    consumer_sleeping_ = false;
  }
  consumer_wakeup_.notify_one();
}

template <typename T>
template <typename Ready>
typename RingBuffer<T>::WaitResult RingBuffer<T>::wait_locked(std::unique_lock<std::mutex>& lock,
                                                              std::chrono::nanoseconds timeout,
                                                              std::size_t wake_at_waiting,
                                                              Ready ready) {
  const auto deadline = deadline_in(timeout);
  bool timed_out = false;
  while (!wake_requested_ && !ready() && !timed_out) {
    consumer_wake_at_ = wake_at_waiting;
    consumer_sleeping_ = true;
    timed_out = consumer_wakeup_.wait_until(lock, deadline) == std::cv_status::timeout;
  }
  consumer_sleeping_ = false;
  if (wake_requested_) {
    wake_requested_ = false;
    return WaitResult::woken;
  }
  return ready() ? WaitResult::ready : WaitResult::timed_out;
}

template <typename T>
void RingBuffer<T>::note_in_flight(std::uint64_t first, std::size_t count) {
  if (!in_flight_ranges_.empty()) {
    InFlightRange& last = in_flight_ranges_.back();
    if (last.first + last.count == first) {
      last.count += count;
      return;
    }
  }
  in_flight_ranges_.push_back(InFlightRange{first, count});
}

}  // namespace streamll::detail
