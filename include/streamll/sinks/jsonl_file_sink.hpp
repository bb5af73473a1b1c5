#pragma once
// JsonlFileSink: one event per line in a file, each line exactly streamll::to_json(event) (the
// JSON RedisSink puts in a stream entry's `event` field), so `jq`, pandas or
// parse_event_json() read it back.
//
// It writes on the emitting thread: with JsonlFlushPolicy::buffered an event costs its JSON
// serialization and a copy into a buffer, plus a write(2) whenever the buffer fills; with
// every_event it costs one write(2) per event. Good for development, tests, batch jobs and
// audit trails at modest rates; for a hot production path use RedisSink.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "streamll/sink.hpp"

namespace streamll {

enum class JsonlFlushPolicy {
  /// Every event is written to the file before handle() returns: nothing is lost if the
  /// process crashes, but each event costs a system call.
  every_event,
  /// Events are buffered and written when the buffer fills, on flush() and on shutdown().
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
};

/// Thread-safe: lines from concurrent threads are written whole, never interleaved. Every
/// event handed to it ends up counted exactly once: written(), write_errors() or dropped()
/// (buffered events are counted when their buffer is written out).
class JsonlFileSink : public Sink {
 public:
  /// Opens the file. Throws ConfigError (option "path") naming the reason when it cannot.
  explicit JsonlFileSink(JsonlFileSinkOptions options);
  /// Shuts down: writes what is buffered and closes the file. Never throws.
  ~JsonlFileSink() override;
  JsonlFileSink(const JsonlFileSink&) = delete;
  JsonlFileSink& operator=(const JsonlFileSink&) = delete;

  /// Writes (or buffers) the event's JSON line. Never throws: a failed write (disk full, I/O
  /// error) counts the events it lost in write_errors() and logs through the spdlog logger
  /// "streamll.sinks.jsonl", rate-limited; the next write starts on a fresh line even if the
  /// failed one left a partial line behind. After shutdown() events are counted in dropped().
  void handle(const Event& event) override;
  /// Writes out the buffer (and fsyncs when asked to). False when a write failed or another
  /// thread held the file past `timeout`; a write already started is not interrupted.
  bool flush(std::chrono::milliseconds timeout) override;
  /// Flushes and closes the file; later events are dropped. Safe to call twice.
  bool shutdown(std::chrono::milliseconds timeout) override;
  bool is_running() const noexcept override;
  std::string name() const override { return "jsonl"; }

  const std::string& path() const noexcept;
  /// Events whose line reached the file (the OS, not necessarily the disk unless fsync).
  std::uint64_t written() const noexcept;
  /// Events lost to failed writes.
  std::uint64_t write_errors() const noexcept;
  /// Events not written because the sink was shut down (or, rarely, their JSON could not be
  /// built for lack of memory).
  std::uint64_t dropped() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace streamll
