#include "streamll/sinks/terminal_sink.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string_view>
#include <vector>

#include "background_writer.hpp"
#include "logging.hpp"

namespace streamll {

bool should_use_color(ColorMode mode, bool output_is_terminal) noexcept {
  switch (mode) {
    case ColorMode::always:
      return true;
    case ColorMode::never:
      return false;
    case ColorMode::automatic:
      break;
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

// The stream side of a TerminalSink, on the sink's thread: renders each event, writes it, and
// flushes the stream once per batch, so a burst costs one flush and a lone token still shows
// at once. An event counts as written once the stream took its text and the flush after it
// succeeded.
class TerminalOutput final : public detail::SinkOutput {
 public:
  TerminalOutput(std::ostream& out, TerminalFormat format) : out_(out), renderer_(format) {}

  detail::OutputResult write(const std::vector<Event>& events,
                             const std::atomic<bool>& abandoned) noexcept override {
    detail::OutputResult result;
    std::uint64_t unflushed = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (abandoned.load(std::memory_order_acquire)) {
        result.discarded += events.size() - i;
        break;
      }
      bool ok = false;
      try {
        text_.clear();
        renderer_.render(events[i], text_);
        ok = put(text_);
      } catch (...) {
        // Out of memory while rendering: this event is lost, the next may fit.
      }
      if (ok) {
        ++unflushed;
      } else {
        ++result.failed;
      }
    }
    if (abandoned.load(std::memory_order_acquire)) {
      // Given up on while writing: what the stream took is in its hands, and flushing would
      // be one more write to a stream the application may be about to destroy.
      result.written += unflushed;
    } else if (flush_stream()) {
      result.written += unflushed;
    } else {
      result.failed += unflushed;
    }
    report(result.failed);
    return result;
  }

  detail::OutputResult flush() noexcept override {
    detail::OutputResult result;
    result.ok = flush_stream();
    return result;
  }

  detail::OutputResult close() noexcept override {
    detail::OutputResult result;
    bool ok = true;
    try {
      text_.clear();
      renderer_.end_line(text_);
      ok = put(text_);
    } catch (...) {
      ok = false;
    }
    result.ok = flush_stream() && ok;
    return result;
  }

  std::uint64_t discard() noexcept override { return 0; }  // nothing held beyond the stream

 private:
  // A failed stream is cleared so that the next write tries again.
  bool put(const std::string& text) noexcept {
    try {
      if (!text.empty()) out_.write(text.data(), static_cast<std::streamsize>(text.size()));
      if (out_) return true;
    } catch (...) {
      // A stream with exceptions() enabled: treated like any other failed write.
    }
    clear();
    return false;
  }

  bool flush_stream() noexcept {
    try {
      out_.flush();
      if (out_) return true;
    } catch (...) {
    }
    clear();
    return false;
  }

  void clear() noexcept {
    try {
      out_.clear();
    } catch (...) {
    }
  }

  void report(std::uint64_t lost) noexcept {
    if (lost == 0) return;
    total_lost_ += lost;
    try {  // building the message may run out of memory
      log_.log(spdlog::level::err, "TerminalSink: writing to the output stream failed; " +
                                       std::to_string(lost) + " event(s) lost (" +
                                       std::to_string(total_lost_) + " in total)");
    } catch (...) {
    }
  }

  std::ostream& out_;
  TerminalRenderer renderer_;
  std::string text_;
  std::uint64_t total_lost_ = 0;
  detail::RateLimitedLog log_{"streamll.sinks.terminal"};
};

}  // namespace

struct TerminalSink::State {
  State(std::ostream& out, TerminalFormat format, std::size_t queue_size)
      : color(format.color),
        writer(std::make_unique<TerminalOutput>(out, format), queue_size, "TerminalSink",
               "streamll.sinks.terminal") {}

  const bool color;
  detail::BackgroundWriter writer;
};

TerminalSink::TerminalSink(TerminalSinkOptions options) {
  std::ostream& out = options.output ? *options.output : std::cout;
  state_ = std::make_unique<State>(out, format_for(options, out), options.queue_size);
}

TerminalSink::~TerminalSink() {
  try {
    shutdown(std::chrono::seconds(1));
  } catch (...) {
  }
}

void TerminalSink::handle(const Event& event) { state_->writer.push(Event(event)); }
void TerminalSink::handle_owned(Event&& event) { state_->writer.push(std::move(event)); }

bool TerminalSink::flush(std::chrono::milliseconds timeout) {
  return state_->writer.flush(timeout);
}

bool TerminalSink::shutdown(std::chrono::milliseconds timeout) {
  return state_->writer.shutdown(timeout);
}

bool TerminalSink::is_running() const noexcept { return state_->writer.is_running(); }
bool TerminalSink::colors_enabled() const noexcept { return state_->color; }
std::uint64_t TerminalSink::written() const noexcept { return state_->writer.written(); }
std::uint64_t TerminalSink::write_errors() const noexcept { return state_->writer.write_errors(); }
std::uint64_t TerminalSink::dropped() const noexcept { return state_->writer.dropped(); }

}  // namespace streamll
