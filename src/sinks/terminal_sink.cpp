#include "streamll/sinks/terminal_sink.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

namespace streamll {

bool should_use_color(ColorMode mode, bool output_is_terminal) noexcept {
  switch (mode) {
    case ColorMode::always: return true;
    case ColorMode::never: return false;
    case ColorMode::automatic: break;
  }
  const char* no_color = std::getenv("NO_COLOR");
  return output_is_terminal && (no_color == nullptr || no_color[0] == '\0');
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

TerminalSink::TerminalSink(TerminalSinkOptions options)
    : out_(options.output ? *options.output : std::cout), renderer_(format_for(options, out_)) {}

TerminalSink::~TerminalSink() {
  try {
    shutdown(std::chrono::seconds(1));
  } catch (...) {
  }
}

void TerminalSink::handle(const Event& event) {
  std::lock_guard<std::timed_mutex> lock(mutex_);
  if (!running_) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  scratch_.clear();
  renderer_.render(event, scratch_);
  write_locked(scratch_);
}

bool TerminalSink::flush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::timed_mutex> lock(mutex_, timeout);
  if (!lock.owns_lock()) return false;
  return write_locked({});
}

bool TerminalSink::shutdown(std::chrono::milliseconds timeout) {
  std::unique_lock<std::timed_mutex> lock(mutex_, timeout);
  if (!lock.owns_lock()) {
    // Stop anyway: the writer holding the lock will see it, and the open line stays open.
    running_ = false;
    return false;
  }
  if (!running_.exchange(false)) return true;
  scratch_.clear();
  renderer_.end_line(scratch_);
  return write_locked(scratch_);
}

bool TerminalSink::is_running() const noexcept { return running_.load(); }

bool TerminalSink::write_locked(const std::string& text) {
  try {
    if (!text.empty()) out_.write(text.data(), static_cast<std::streamsize>(text.size()));
    out_.flush();
    if (out_) return true;
  } catch (...) {
    // A stream with exceptions() enabled: treated like any other failed write.
  }
  write_errors_.fetch_add(1, std::memory_order_relaxed);
  try {
    out_.clear();
  } catch (...) {
  }
  return false;
}

}  // namespace streamll
