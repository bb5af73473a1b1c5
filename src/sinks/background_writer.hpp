#pragma once
// Internal: the thread that does a development sink's output, so that the application's thread
// only moves an event into a bounded queue (ARCHITECTURE: "an emit never waits on I/O"). The
// TerminalSink and the JsonlFileSink each own one; what they write, and how, is their
// SinkOutput, called on this thread only.
//
// Queue: a detail::RingBuffer<Event> under drop_newest. A full queue refuses the new event
// (counted) and keeps the older ones, so what is written is always in emission order with gaps
// at most, and an output that stalls resumes with the events from the moment it stalled rather
// than from some later moment. The bound counts the batch being written too: while a write is
// stuck, at most `queue_size` events are held in all.
//
// Accounting: every event pushed ends up in exactly one of written(), write_errors(),
// dropped() or still queued (waiting, being written, or held in the output's own buffer).
//
// flush() is answered on the writer thread: it writes every event enqueued before the call,
// then runs the output's flush work (stream flush, buffered write-out, fsync), then reports.
// shutdown() lets the writer drain and close the output until its deadline; a writer stuck in
// a write past it is told to give up and, if it cannot (a pipe nobody reads), is detached: it
// owns the queue and the output through a shared_ptr, so nothing it touches dangles, and it
// never starts another write.
//
// fork(): a child's copy has no writer thread, and the parent's threads may have held any of
// its locks at the fork. There push() only counts the event in dropped(); flush(), shutdown()
// and the destructor return at once, take no lock and leave the inherited state alone
// (leaked: nothing may run its destructors).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "streamll/event.hpp"

namespace streamll::detail {

/// What an output did with events. A buffering output may resolve an event in a later call
/// than the one that handed it over.
struct OutputResult {
  std::uint64_t written = 0;    ///< reached the output
  std::uint64_t failed = 0;     ///< lost to a failed write
  std::uint64_t discarded = 0;  ///< never attempted (writer given up on, JSON out of memory)
  bool ok = true;               ///< flush()/close(): the output's own flush work succeeded
};

/// A sink's output, driven by a BackgroundWriter: every call comes from the writer thread, one
/// at a time. Implementations never throw; they report failures in the result.
class SinkOutput {
 public:
  virtual ~SinkOutput() = default;
  /// Renders and writes `events`, in order. `abandoned` turns true when shutdown() has given up
  /// waiting: start no new write then (finishing the one in progress is fine) and report the
  /// events not attempted as discarded.
  virtual OutputResult write(const std::vector<Event>& events,
                             const std::atomic<bool>& abandoned) noexcept = 0;
  /// Makes everything written so far durable as the sink promises (flush, write-out, fsync).
  virtual OutputResult flush() noexcept = 0;
  /// The last call at a clean shutdown: flush, end what is open, release the output.
  virtual OutputResult close() noexcept = 0;
  /// The last call when the writer was given up on: events the output holds and will never
  /// write, which it drops; it may release the output.
  virtual std::uint64_t discard() noexcept = 0;
};

class BackgroundWriter {
 public:
  /// Starts the writer thread. `name` ("TerminalSink", "JsonlFileSink 'events.jsonl'") and
  /// `logger` are for log lines. Throws ConfigError("queue_size", ...) for a queue of 0 or one
  /// that cannot be allocated, std::system_error when no thread can be started.
  BackgroundWriter(std::unique_ptr<SinkOutput> output, std::size_t queue_size, std::string name,
                   std::string logger);
  /// shutdown(0) if nobody shut it down. Bounded; never throws.
  ~BackgroundWriter();
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  /// Queues the event (moving from it), or counts it as dropped when the queue is full or
  /// shutdown() has begun. Any thread; cost: one short uncontended lock and a move, no I/O,
  /// no allocation; a syscall only to wake an idle writer.
  void push(Event&& event) noexcept;

  /// Waits until every event pushed before the call has been written and the output's flush
  /// work has run after them, or `timeout` passes. False on timeout, or when since the
  /// previous flush (or shutdown) the writer completed any event was lost: a failed write, a
  /// full queue, a failed flush. Each loss is reported once: a call that returned false, even
  /// on its timeout, answered for the losses known when it returned. After shutdown(): shutdown()'s
  /// answer, once the writer is done (so a flush after a shutdown that gave up waits for the stuck
  /// write, within `timeout`). Any thread.
  bool flush(std::chrono::milliseconds timeout);

  /// Stops taking events, writes what is queued, closes the output. Returns within `timeout`
  /// plus a short grace (kJoinGrace in the .cpp); true when everything was written and nothing
  /// was lost since the previous flush. Past the deadline the writer is given up on: it finishes
  /// the write it is in, if it ever returns, and writes nothing more; what it never wrote is
  /// counted in dropped(). Safe to call twice (the second call returns the first's answer) and
  /// concurrently.
  bool shutdown(std::chrono::milliseconds timeout);

  /// False once shutdown() has begun.
  bool is_running() const noexcept;

  // Counters: any thread, lock-free. Each is exact at some instant; read them together only
  // after flush() or shutdown() returned, when the writer is quiet.
  std::uint64_t written() const noexcept;
  std::uint64_t write_errors() const noexcept;
  /// Queue full, pushed after shutdown began, left unwritten by a shutdown, or pushed to a
  /// forked child's copy.
  std::uint64_t dropped() const noexcept;

 private:
  bool forked() const noexcept;

  struct Leaked;
  static std::atomic<Leaked*> leaked_in_child;

  const std::uint64_t created_in_generation_;
  std::atomic<std::uint64_t> dropped_after_fork_{0};
  struct State;
  std::shared_ptr<State> state_;
  std::thread thread_;
  std::mutex shutdown_mutex_;  // serializes shutdown() callers
  bool shut_down_ = false;
  bool shutdown_result_ = false;
};

}  // namespace streamll::detail
