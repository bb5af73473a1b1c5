#pragma once
// RingBuffer::transform_waiting(): outage compaction, the consumer rewriting waiting items
// (the RedisSink serializes events while Redis is unreachable) with producers still pushing
// and evicting. Part of ring_buffer.hpp, which includes it; include that instead.

#include "pipeline/ring_buffer.hpp"

namespace streamll::detail {

template <typename T>
template <typename Transform>
std::size_t RingBuffer<T>::transform_waiting(std::uint64_t& cursor, std::size_t max,
                                             std::vector<T>& scratch, Transform&& transform) {
  scratch.clear();
  scratch.reserve(max);
  std::uint64_t first = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    first = std::max(cursor, first_waiting_sequence_);
    const std::uint64_t end = first_waiting_sequence_ + waiting_.load(std::memory_order_relaxed);
    const std::size_t count =
        first >= end ? 0 : static_cast<std::size_t>(std::min<std::uint64_t>(max, end - first));
    // While a slot's item is outside, the slot holds its moved-from shell: a valid T that an
    // evicting producer may move and destroy like any other.
    for (std::size_t i = 0; i < count; ++i)
      scratch.push_back(std::move(*item_at(slot_of(first + i))));
  }
  if (scratch.empty()) return 0;
  for (T& item : scratch) transform(item);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::uint64_t end = first_waiting_sequence_ + waiting_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < scratch.size(); ++i) {
      const std::uint64_t sequence = first + i;
      if (sequence < first_waiting_sequence_ || sequence >= end) continue;  // evicted meanwhile
      T* slot = item_at(slot_of(sequence));
      slot->~T();
      ::new (static_cast<void*>(slot)) T(std::move(scratch[i]));
    }
  }
  const std::size_t visited = scratch.size();
  cursor = first + visited;
  scratch.clear();  // shells and evicted copies, destroyed unlocked
  return visited;
}

}  // namespace streamll::detail
