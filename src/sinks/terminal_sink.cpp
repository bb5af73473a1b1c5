#include "streamll/sinks/terminal_sink.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include "timed_mutex.hpp"

namespace streamll {

bool should_use_color(ColorMode mode, bool output_is_terminal) noexcept {
  switch (mode) {
    case ColorMode::always: return true;
    case ColorMode::never: return false;
    case ColorMode::automatic: break;
  }
  if (!output_is_terminal) return false;
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && no_color[0] != '\0') return false;
  const char* term = std::getenv("TERM");
  return term == nullptr || std::string_view(term) != "dumb";
}

bool is_terminal(const std::ostream& stream) noexcept {
  if (&stream == &std::cout) return ::isatty(STDOUT_FILENO) == 1;
  if (&stream == &std::cerr || &stream == &std::clog) return ::isatty(STDERR_FILENO) == 1;
  return false;
}

namespace {
TerminalFormat format_for(const TerminalSinkOptions& options, const std::ostream& out) {
  TerminalFormat format;
  format.color = should_use_color(options.color, is_terminal(out));
  format.show_data = options.show_data;
  format.utc = options.utc;
  return format;
}
}  // namespace

struct TerminalSink::State {
  State(std::ostream& stream, TerminalFormat format) : out(stream), renderer(format) {}

  // Writes and flushes; a failed stream is counted and cleared so the next event tries again.
  bool write_locked(const std::string& text) {
    try {
      if (!text.empty()) out.write(text.data(), static_cast<std::streamsize>(text.size()));
      out.flush();
      if (out) return true;
    } catch (...) {
      // A stream with exceptions() enabled: treated like any other failed write.
    }
    write_errors.fetch_add(1, std::memory_order_relaxed);
    try {
      out.clear();
    } catch (...) {
    }
    return false;
  }

  std::ostream& out;
  detail::TimedMutex mutex;
  TerminalRenderer renderer;  // guarded by mutex, like the stream and scratch
  std::string scratch;
  std::atomic<bool> running{true};  // written under mutex, read without it
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> write_errors{0};
};

TerminalSink::TerminalSink(TerminalSinkOptions options) {
  std::ostream& out = options.output ? *options.output : std::cout;
  state_ = std::make_unique<State>(out, format_for(options, out));
}

TerminalSink::~TerminalSink() {
  try {
    shutdown(std::chrono::seconds(1));
  } catch (...) {
  }
}

void TerminalSink::handle(const Event& event) {
  State& s = *state_;
  std::lock_guard<detail::TimedMutex> lock(s.mutex);
  if (!s.running.load(std::memory_order_relaxed)) {
    s.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  s.scratch.clear();
  s.renderer.render(event, s.scratch);
  s.write_locked(s.scratch);
}

bool TerminalSink::flush(std::chrono::milliseconds timeout) {
  State& s = *state_;
  std::unique_lock<detail::TimedMutex> lock(s.mutex, timeout);
  if (!lock.owns_lock()) return false;
  return s.write_locked({});
}

bool TerminalSink::shutdown(std::chrono::milliseconds timeout) {
  State& s = *state_;
  std::unique_lock<detail::TimedMutex> lock(s.mutex, timeout);
  if (!lock.owns_lock()) {
    // Stop anyway: the writer holding the lock will see it, and the open line stays open.
    s.running = false;
    return false;
  }
  if (!s.running.exchange(false)) return true;
  s.scratch.clear();
  s.renderer.end_line(s.scratch);
  return s.write_locked(s.scratch);
}

bool TerminalSink::is_running() const noexcept { return state_->running.load(); }
bool TerminalSink::colors_enabled() const noexcept { return state_->renderer.format().color; }
std::uint64_t TerminalSink::dropped() const noexcept { return state_->dropped.load(); }
std::uint64_t TerminalSink::write_errors() const noexcept { return state_->write_errors.load(); }

}  // namespace streamll
