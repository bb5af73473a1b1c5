#pragma once
// JsonlFileSink: one event per line in a file, each line exactly streamll::to_json(event) (the
// JSON RedisSink puts in a stream entry's `event` field), so `jq`, pandas or
// parse_event_json() read it back.
//
// The emitting thread only copies (or moves) the event into a bounded queue; the sink's own
// thread serializes it and writes the file, so a slow disk, a hung network file system or a
// FIFO nobody reads never holds up the application. Good for development, tests, batch jobs
// and audit trails; for a production path to other services use RedisSink.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "streamll/redact.hpp"
#include "streamll/sink.hpp"

namespace streamll {

enum class JsonlFlushPolicy {
  /// The sink's thread writes each event to the file (hands it to the OS) as soon as it takes
  /// it from the queue, a burst in one write(2): a crash of the process loses at most what was
  /// still queued. handle() itself never waits for the write.
  every_event,
  /// The sink's thread collects lines in a buffer and writes it when it fills, on flush() and
  /// on shutdown(): fewer system calls, more lost if the process crashes.
  buffered,
};

struct JsonlFileSinkOptions {
  /// The file to write; created if missing (mode 0644, less the umask). Required.
  std::string path;
  /// Append to an existing file (true) or truncate it (false).
  bool append = true;
  JsonlFlushPolicy flush_policy = JsonlFlushPolicy::every_event;
  /// With the buffered policy: write out once this many bytes are waiting.
  std::size_t buffer_bytes = 64 * 1024;
  /// flush() and shutdown() also fsync(2) the file, so written events survive a power loss.
  bool fsync = false;
  /// Events waiting for the sink's thread, counting those it is writing (not those in the
  /// buffered policy's buffer). When the file cannot keep up (or a write is stuck) and the
  /// queue is full, new events are dropped and counted in dropped(); those already queued keep
  /// their order. At least 1.
  std::size_t queue_size = 10000;
  /// Runs on the sink's thread over each event before it is written (EventRedactor). Empty:
  /// none.
  EventRedactor redact = {};
};

/// Thread-safety: handle() from any number of threads at once; lines are written whole, never
/// interleaved, and each thread's events in the order it emitted them.
/// Cost on the emitting thread: a copy of the event (handle_owned(): a move) into the queue
/// under a short lock; no JSON, no I/O. The sink's thread does the rest.
/// Accounting: every event handed over ends up in written(), write_errors() or dropped(), or is
/// still queued or buffered; the counters are exact once flush() or shutdown() has returned.
class JsonlFileSink : public Sink {
 public:
  /// Opens the file and starts the sink's thread. Throws ConfigError naming the option: "path"
  /// with the reason when the file cannot be opened, "queue_size" for a queue size of 0.
  explicit JsonlFileSink(JsonlFileSinkOptions options);
  /// shutdown(5 s): writes what is queued and buffered and closes the file. Never throws.
  ~JsonlFileSink() override;
  JsonlFileSink(const JsonlFileSink&) = delete;
  JsonlFileSink& operator=(const JsonlFileSink&) = delete;

  /// Queues the event for the sink's thread and returns; never waits for the file. Dropped
  /// (and counted in dropped()) when the queue is full, after shutdown(), or in a forked child
  /// (the sink's thread is the parent's: see docs/design.md, fork). A failed write
  /// (disk full, I/O error) counts the events it lost in write_errors() and is logged through
  /// the spdlog logger "streamll.sinks.jsonl", rate-limited; the next write starts on a fresh
  /// line even if the failed one left a partial line behind.
  void handle(const Event& event) override;
  void handle_owned(Event&& event) override;
  /// Waits until every event handed over before the call is written (the buffer too) and,
  /// with `fsync`, synced. False after `timeout`, or when an event was lost (failed write,
  /// full queue) or an fsync failed since the previous flush(). A call that returned false,
  /// even on its timeout, has answered for the losses known by then; the next one does not
  /// report them again. A write already started is not interrupted.
  bool flush(std::chrono::milliseconds timeout) override;
  /// Stops taking events, writes what is queued and buffered, syncs (with `fsync`) and closes
  /// the file, within `timeout` (plus at most about 100 ms). True when all was written and
  /// nothing was lost since the previous flush(). When a write is stuck past the deadline (a
  /// FIFO nobody reads), the sink's thread is left to finish it and writes nothing after it;
  /// the file is closed when it does. Safe to call twice.
  bool shutdown(std::chrono::milliseconds timeout) override;
  bool is_running() const noexcept override;
  std::string name() const override { return "jsonl"; }

  const std::string& path() const noexcept;
  /// Events whose line reached the file (the OS, not necessarily the disk unless fsync).
  std::uint64_t written() const noexcept;
  /// Events lost to failed writes, or (rarely) whose JSON could not be built for lack of
  /// memory.
  std::uint64_t write_errors() const noexcept;
  /// Events not written: the queue was full, they came after shutdown(), shutdown() gave up
  /// on a stuck write before writing them, or they were handed to a forked child's copy.
  std::uint64_t dropped() const noexcept;
  /// Events whose redactor (options' `redact`) threw: written with their data replaced by
  /// {"redaction_failed": true} and without tags (EventRedactor says what stays).
  std::uint64_t redaction_failures() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace streamll
