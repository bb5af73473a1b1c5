#pragma once
// TerminalSink: events as readable, optionally colored lines, for watching a pipeline while
// developing it:
//
//   [16:31:42.156] ▶ document_retrieval (a1b2c3d4) {query="what is rag"}
//   [16:31:42.201] ■ document_retrieval (a1b2c3d4) 45.2ms {documents=5}
//   [16:31:42.205] » answer_generation (e5f6a7b8) Retrieval-augmented generation is ...
//   [16:31:43.410] ◆ answer_generation (e5f6a7b8) gpt-4o-mini · 150 tokens · 1.21s · ttft 120.0ms
//   [16:31:43.411] ✖ answer_generation (c3d4e5f6) 1.30s std::runtime_error: model unavailable
//
// The emitting thread only copies (or moves) the event into a bounded queue; the sink's own
// thread formats it, writes it and flushes the stream after each burst, so streamed tokens
// appear as they arrive, and a terminal paused with Ctrl-S, an `app | less` nobody scrolls or a
// full pipe stalls that thread, never the application. Made for a developer watching a pipeline;
// for a production path use RedisSink, which also survives an outage of its destination.
//
// The rendering lives in TerminalRenderer and format_event_line() so that other front ends
// (the `streamll tail` command) print exactly the same thing.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>

#include "streamll/redact.hpp"
#include "streamll/sink.hpp"

namespace streamll {

/// How a renderer formats events. Plain data; the defaults give colorless local-time output.
struct TerminalFormat {
  /// ANSI colors (SGR escape sequences) around markers, ids and timestamps.
  bool color = false;
  /// Show each event's data fields ({key=value, ...}) besides the summary.
  bool show_data = true;
  /// Timestamps in UTC instead of the local time zone.
  bool utc = false;
};

/// One event as one line, without a trailing newline. Token events are shown on a line of
/// their own; newlines and other control characters anywhere in the result are made visible
/// (`\n`, `\x1b`, `\u009b`) and invalid UTF-8 becomes U+FFFD, so the line is safe to print.
/// Stateless and thread-safe.
std::string format_event_line(const Event& event, const TerminalFormat& format);

/// Turns a sequence of events into terminal text, streaming tokens inline: consecutive token
/// events of the same span (and output field) continue one line; any other event, or a token
/// of another span, ends it. Inside token text newlines and tabs are kept as they are (CRLF
/// becomes LF); every other control character is made visible. Not thread-safe: one renderer
/// per output, used by one thread at a time (TerminalSink's own thread).
class TerminalRenderer {
 public:
  explicit TerminalRenderer(TerminalFormat format = {}) : format_(format) {}

  /// Appends the text for `event` to `out`: complete lines ending in '\n', except for token
  /// events, which leave their line open for the next token.
  void render(const Event& event, std::string& out);
  /// Ends an open token line, if any (appends '\n').
  void end_line(std::string& out);
  /// True while a token line is open.
  bool streaming() const noexcept { return streaming_; }
  const TerminalFormat& format() const noexcept { return format_; }

 private:
  TerminalFormat format_;
  bool streaming_ = false;
  bool at_line_start_ = true;  // the open token line's text ended in a newline
  std::string stream_span_id_;
  std::string stream_field_;
};

enum class ColorMode {
  /// Colors when the output is a terminal, the NO_COLOR environment variable is unset or
  /// empty (https://no-color.org) and TERM is not "dumb".
  automatic,
  always,
  never,
};

/// Whether to color output under `mode`, for an output that is (or is not) a terminal. Reads
/// NO_COLOR and TERM in automatic mode.
bool should_use_color(ColorMode mode, bool output_is_terminal) noexcept;

/// True when `stream` is std::cout, std::cerr or std::clog and the matching file descriptor is
/// a terminal. Any other stream (files, string streams) gives false: there is no portable way
/// to know where it ends up.
bool is_terminal(const std::ostream& stream) noexcept;

struct TerminalSinkOptions {
  /// Where lines go; null means std::cout. The stream must outlive the sink (and a write its
  /// thread is stuck in when shutdown() gives up). It is written from the sink's thread: when
  /// the application writes to it too, that must be safe from two threads (it is for std::cout
  /// and std::cerr unless std::ios::sync_with_stdio(false) was called), and the sink's lines
  /// come out when its thread gets to them; call flush() first where the order matters.
  std::ostream* output = nullptr;
  ColorMode color = ColorMode::automatic;
  /// Show data fields besides each event's summary.
  bool show_data = true;
  /// Timestamps in UTC instead of local time.
  bool utc = false;
  /// Events waiting for the sink's thread, counting those it is writing. When the output
  /// cannot keep up (or is stalled) and the queue is full, new events are dropped and counted
  /// in dropped(); those already queued keep their order. At least 1.
  std::size_t queue_size = 10000;
  /// Runs on the sink's thread over each event before it is printed (EventRedactor). Empty:
  /// none.
  EventRedactor redact = {};
};

/// A sink that prints events as they arrive (see the top of this file).
///
/// Thread-safety: handle() from any number of threads at once; lines never interleave, though
/// tokens streaming on two spans at once break each other's lines. Each thread's events are
/// written in the order it emitted them.
/// Cost on the emitting thread: a copy of the event (handle_owned(): a move) into the queue
/// under a short lock; no formatting, no I/O, no allocation beyond the copy. The sink's thread
/// does the rest.
/// Accounting: every event handed over ends up in written(), write_errors() or dropped(), or is
/// still queued; the counters are exact once flush() or shutdown() has returned.
class TerminalSink : public Sink {
 public:
  /// Starts the sink's thread. Throws ConfigError ("queue_size") for a queue size of 0.
  explicit TerminalSink(TerminalSinkOptions options = {});
  /// shutdown(1 s): writes what is queued and ends an open token line. Never throws.
  ~TerminalSink() override;
  TerminalSink(const TerminalSink&) = delete;
  TerminalSink& operator=(const TerminalSink&) = delete;

  /// Queues the event for the sink's thread and returns; never waits for the output. Dropped
  /// (and counted in dropped()) when the queue is full, after shutdown(), or in a forked child
  /// (the sink's thread is the parent's: see docs/design.md, fork). A stream that fails
  /// (badbit or failbit once written and flushed) costs the events of that write, counted in
  /// write_errors(); it is cleared, so the next write tries again.
  void handle(const Event& event) override;
  void handle_owned(Event&& event) override;
  /// Waits until every event handed over before the call is written and the stream flushed.
  /// False after `timeout` (a stalled output), or when an event was lost (dropped, failed
  /// write) since the previous flush(). A call that returned false, even on its timeout, has
  /// answered for the losses known by then; the next one does not report them again.
  bool flush(std::chrono::milliseconds timeout) override;
  /// Stops taking events, writes what is queued, ends an open token line and flushes, within
  /// `timeout` (plus at most about 100 ms). True when all was written and nothing was lost
  /// since the previous flush(). When the output is stalled past the deadline, the sink's
  /// thread is left to finish the write it is stuck in and writes nothing after it: the stream
  /// must stay valid until that write returns (std::cout and std::cerr always do; a later
  /// flush() returns once it has). Safe to call twice.
  bool shutdown(std::chrono::milliseconds timeout) override;
  bool is_running() const noexcept override;
  std::string name() const override { return "terminal"; }

  /// Whether this sink writes ANSI colors (decided once, at construction).
  bool colors_enabled() const noexcept;
  /// Events whose text the stream took and flushed.
  std::uint64_t written() const noexcept;
  /// Events lost to a failing stream.
  std::uint64_t write_errors() const noexcept;
  /// Events not written: the queue was full, they came after shutdown(), or shutdown() gave up
  /// on a stalled output before writing them, or they were handed to a forked child's copy.
  std::uint64_t dropped() const noexcept;
  /// Events whose redactor (options' `redact`) threw: written with their data replaced by
  /// {"redaction_failed": true} and without tags (EventRedactor says what stays).
  std::uint64_t redaction_failures() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace streamll
