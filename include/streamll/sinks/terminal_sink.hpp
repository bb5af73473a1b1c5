#pragma once
// TerminalSink: events as readable, optionally colored lines, for watching a pipeline while
// developing it:
//
//   [16:31:42.156] ▶ document_retrieval (a1b2c3d4) {query="what is rag"}
//   [16:31:42.201] ■ document_retrieval (a1b2c3d4) 45.2ms {documents=5}
//   [16:31:42.205] » answer_generation (e5f6a7b8) Retrieval-augmented generation is ...
//   [16:31:43.410] ◆ answer_generation (e5f6a7b8) gpt-4o-mini · 150 tokens · $0.0045 · 1.21s · ttft 120.0ms
//   [16:31:43.411] ✖ answer_generation (c3d4e5f6) 1.3s std::runtime_error: model unavailable
//
// It writes synchronously on the emitting thread, under one lock, and flushes the stream after
// every event so streamed tokens appear as they arrive. That is the right trade for a developer
// watching a terminal and the wrong one for a hot production path: use RedisSink there.
//
// The rendering lives in TerminalRenderer and format_event_line() so that other front ends
// (the `streamll tail` command) print exactly the same thing.

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>

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
/// per output, used under the output's lock.
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
  /// Where lines go; null means std::cout. The stream must outlive the sink.
  std::ostream* output = nullptr;
  ColorMode color = ColorMode::automatic;
  /// Show data fields besides each event's summary.
  bool show_data = true;
  /// Timestamps in UTC instead of local time.
  bool utc = false;
};

/// A sink that prints events as they arrive (see the top of this file). Thread-safe: lines from
/// concurrent threads never interleave, though tokens streaming on two threads at once break
/// each other's lines. Cost: formatting plus a write and a flush of the stream per event, under
/// a lock.
class TerminalSink : public Sink {
 public:
  explicit TerminalSink(TerminalSinkOptions options = {});
  /// Ends an open token line and flushes.
  ~TerminalSink() override;
  TerminalSink(const TerminalSink&) = delete;
  TerminalSink& operator=(const TerminalSink&) = delete;

  /// Writes the event. After shutdown() events are not written; they are counted in
  /// dropped(). A stream that fails (badbit or failbit after the write) is counted in
  /// write_errors() and cleared, so the next event tries again.
  void handle(const Event& event) override;
  /// Flushes the stream; false when it failed or another thread held the sink past `timeout`.
  bool flush(std::chrono::milliseconds timeout) override;
  /// Ends an open token line, flushes and stops writing. Safe to call twice.
  bool shutdown(std::chrono::milliseconds timeout) override;
  bool is_running() const noexcept override;
  std::string name() const override { return "terminal"; }

  /// Whether this sink writes ANSI colors (decided once, at construction).
  bool colors_enabled() const noexcept;
  std::uint64_t dropped() const noexcept;
  std::uint64_t write_errors() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace streamll
