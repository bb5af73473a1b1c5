#pragma once
// Internal: what moves batches from a Pipeline's buffer to their destination. The Pipeline owns
// the buffer, the flusher thread, flush(), shutdown(), the fork rule and the counters every sink
// shares; an engine owns the batches it took until it settles them (Pipeline::count_settled, then
// Pipeline::acknowledge). Two
// exist: ExporterEngine runs a public Exporter, one batch at a time; the Redis sink's engine
// keeps a second batch on the wire while Redis answers the first.
//
// Threading: every call comes from the flusher thread, except interrupt().

#include <chrono>

namespace streamll::detail {

class BatchEngine {
 public:
  virtual ~BatchEngine() = default;
  /// One round: take a batch if none is held, send it, settle what was answered, or wait for
  /// the turn of the batch held (no longer than a few milliseconds, cut short by
  /// RingBuffer::wake_consumer). True when the flusher should go on at once.
  virtual bool step() noexcept = 0;
  /// Whether it holds events taken from the buffer and not settled yet.
  virtual bool holds_batches() const noexcept = 0;
  /// flush(): every event enqueued before it was settled; make them durable as the
  /// destination promises. False: flush() answers false.
  virtual bool flush(std::chrono::steady_clock::time_point /*deadline*/) noexcept { return true; }
  /// The last call of a clean shutdown. False: shutdown() answers false.
  virtual bool close(std::chrono::steady_clock::time_point /*deadline*/) noexcept { return true; }
  /// shutdown() gave up waiting: count what the engine holds (Pipeline::count_given_up) and
  /// start no new I/O.
  virtual void give_up() noexcept = 0;
  /// Any thread: shutdown() gave up; make a blocked call return soon.
  virtual void interrupt() noexcept {}
  /// How long the flusher may sleep when idle: `longest` (flush_interval), or less when the
  /// engine has something of its own to do by then (the Redis sink's heartbeat).
  virtual std::chrono::nanoseconds idle_wait(std::chrono::nanoseconds longest) const noexcept {
    return longest;
  }
};

}  // namespace streamll::detail
