#include "streamll/sinks/terminal_sink.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string_view>
#include <vector>

#include "pipeline/batching_sink_access.hpp"
#include "streamll/sinks/batching_sink.hpp"

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

// Events per write: enough to amortize a stream flush over a burst, few enough that a flush()
// or shutdown() waiting behind a burst is served soon.
constexpr std::size_t kMaxBatch = 256;

TerminalFormat format_for(const TerminalSinkOptions& options, const std::ostream& out) {
  TerminalFormat format;
  format.color = should_use_color(options.color, is_terminal(out));
  format.show_data = options.show_data;
  format.utc = options.utc;
  return format;
}

// The stream side of a TerminalSink, on its BatchingSink's flusher: renders each event, writes
// it, and flushes the stream once per batch, so a burst costs one flush and a lone token still
// shows at once. An event is delivered once the stream took its text and the flush after it
// succeeded; a failed write or flush fails the events it cost (never retried: a stream that
// failed is cleared and the next batch tries again).
class TerminalExporter final : public Exporter {
 public:
  TerminalExporter(std::ostream& out, TerminalFormat format) : out_(out), renderer_(format) {}

  ExportResult export_batch(ExportBatch& batch) override {
    std::size_t attempted = 0;
    for (; attempted < batch.size() && !batch.abandoned(); ++attempted) {
      bool ok = false;
      try {
        text_.clear();
        renderer_.render(batch[attempted], text_);
        ok = put(text_);
      } catch (...) {
        // Out of memory while rendering: this event is lost, the next may fit.
      }
      if (!ok) batch.fail(attempted, "writing to the output stream failed");
    }
    // Given up on while writing: what the stream took is in its hands, and flushing would be
    // one more write to a stream the application may be about to destroy.
    if (!batch.abandoned() && !flush_stream()) {
      for (std::size_t i = 0; i < attempted; ++i) {
        batch.fail(i, "flushing the output stream failed");  // no-op for those failed already
      }
    }
    // Events not attempted are dropped by the pipeline, which gave up on this sink.
    return attempted == batch.size() ? ExportResult::done() : ExportResult::retry_rest(attempted);
  }

  bool flush(std::chrono::steady_clock::time_point) noexcept override { return flush_stream(); }

  bool close(std::chrono::steady_clock::time_point) noexcept override {
    bool ok = true;
    try {
      text_.clear();
      renderer_.end_line(text_);
      ok = put(text_);
    } catch (...) {
      ok = false;
    }
    return flush_stream() && ok;
  }

  std::string name() const override { return "terminal"; }

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

  std::ostream& out_;
  TerminalRenderer renderer_;
  std::string text_;
};

BatchingSinkOptions pipeline_options(const TerminalSinkOptions& options) {
  BatchingSinkOptions o;
  o.buffer_size = options.queue_size;
  // A full queue refuses the new event and keeps the older ones, so what is written is in
  // emission order with gaps at most, and a stalled output resumes from where it stalled.
  o.overflow = OverflowStrategy::drop_newest;
  o.max_batch_size = kMaxBatch;
  o.shutdown_timeout = std::chrono::seconds(1);
  o.retry.circuit_breaker = false;  // never asked to retry
  o.logger = "streamll.sinks.terminal";
  o.redact = options.redact;
  return o;
}

detail::PipelineTuning pipeline_tuning() {
  detail::PipelineTuning t;
  t.log_name = "TerminalSink";
  t.buffer_size_option = "queue_size";
  return t;
}

}  // namespace

struct TerminalSink::State {
  State(std::ostream& out, TerminalFormat format, const TerminalSinkOptions& options)
      : color(format.color),
        writer(detail::BatchingSinkAccess::make(std::make_unique<TerminalExporter>(out, format),
                                                pipeline_options(options), pipeline_tuning())) {}

  const bool color;
  BatchingSink writer;
};

TerminalSink::TerminalSink(TerminalSinkOptions options) {
  std::ostream& out = options.output ? *options.output : std::cout;
  state_ = std::make_unique<State>(out, format_for(options, out), options);
}

TerminalSink::~TerminalSink() {
  try {
    shutdown(std::chrono::seconds(1));
  } catch (...) {
  }
}

void TerminalSink::handle(const Event& event) { state_->writer.handle(event); }
void TerminalSink::handle_owned(Event&& event) { state_->writer.handle_owned(std::move(event)); }

bool TerminalSink::flush(std::chrono::milliseconds timeout) {
  return state_->writer.flush(timeout);
}

bool TerminalSink::shutdown(std::chrono::milliseconds timeout) {
  return state_->writer.shutdown(timeout);
}

bool TerminalSink::is_running() const noexcept { return state_->writer.is_running(); }
bool TerminalSink::colors_enabled() const noexcept { return state_->color; }
std::uint64_t TerminalSink::written() const noexcept { return state_->writer.stats().delivered; }
std::uint64_t TerminalSink::write_errors() const noexcept { return state_->writer.stats().failed; }
std::uint64_t TerminalSink::dropped() const noexcept { return state_->writer.stats().dropped(); }
std::uint64_t TerminalSink::redaction_failures() const noexcept {
  return state_->writer.stats().redaction_failures;
}

}  // namespace streamll
