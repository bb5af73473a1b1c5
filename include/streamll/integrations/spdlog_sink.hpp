#pragma once
// An spdlog sink that turns the application's log lines into `log` events in the thread's
// current span, so that a request's log lines sit in its execution beside its spans and calls.
// Optional and header-only: include it only in a program that uses spdlog and links it
// (spdlog::spdlog); the library itself never includes it. docs/integrations.md has the rules.
//
//   auto logger = std::make_shared<spdlog::logger>("app", spdlog::sinks_init_list{
//       std::make_shared<spdlog::sinks::stderr_color_sink_mt>(),
//       std::make_shared<streamll::SpdlogSink>()});
//   { streamll::Span span("answer"); logger->info("cache miss for {}", key); }  // a log event

#include <spdlog/sinks/sink.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "streamll/span.hpp"

namespace streamll {

struct SpdlogSinkOptions {
  /// Records below this level make no event: the sink's spdlog level (set_level() changes it
  /// later). The logger's own level filters first.
  spdlog::level::level_enum level = spdlog::level::info;
  /// A record logged with no current span on its thread (docs/integrations.md): false drops it
  /// and counts it in dropped_outside_span(); true emits it with the instrumentor's root
  /// context (empty execution and span ids, the default tags).
  bool emit_outside_span = false;
};

namespace detail {
/// Set while this thread is inside a SpdlogSink: a line logged from there (an instrumentor's
/// sink reporting through a logger that writes to this sink) is dropped, not recursed into.
/// One flag per thread, shared by every SpdlogSink: a record that reaches a second SpdlogSink
/// while the thread is inside a first one is dropped too (counted by the second).
inline bool& inside_spdlog_sink() noexcept {
  thread_local bool inside = false;
  return inside;
}
/// streamll's own loggers ("streamll", "streamll.sinks.redis", ...; streamll/log.hpp).
constexpr bool is_streamll_logger_name(std::string_view name) noexcept {
  return name == "streamll" || name.substr(0, 9) == "streamll.";
}
/// Fixed names, whatever SPDLOG_LEVEL_NAMES the application compiled spdlog with.
constexpr std::string_view spdlog_level_name(spdlog::level::level_enum level) noexcept {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}
}  // namespace detail

/// Each record at or above the level becomes a custom event named `log` with data `level`,
/// `logger`, `message` (the formatted payload, without any pattern) and, when the call site
/// passed one (SPDLOG_INFO and the other macros), `source_file`, `source_line` and
/// `source_function`; its timestamp is the record's. It goes where streamll::emit() would: the
/// thread's current span and its instrumentor. In a sampled-out execution it is left out and
/// counted in the instrumentor's sampled_out_events(), like every custom event.
///
/// Never throws into the logging call and never waits: it takes no lock of its own (unlike
/// spdlog's base_sink, whose mutex a line logged from inside the sink would wait on forever),
/// builds the event and hands it to the instrumentor, whose sinks queue it (a user's sink doing
/// I/O in handle() is one that may wait). Records from streamll's own loggers, and records
/// logged while this thread is inside a SpdlogSink (this one or another), are dropped and
/// counted in dropped_recursive(). Use a synchronous logger: an async logger's records are
/// handled on spdlog's thread, where no span is current. Thread-safe: one sink may serve any
/// number of loggers and threads. It formats nothing, so set_pattern() and set_formatter() are
/// ignored.
class SpdlogSink final : public spdlog::sinks::sink {
  static_assert(std::is_same_v<spdlog::log_clock::time_point, Timestamp>,
                "a record's time is used as the event's timestamp");

 public:
  explicit SpdlogSink(SpdlogSinkOptions options = {})
      : emit_outside_span_(options.emit_outside_span) {
    set_level(options.level);
  }

  /// Records handed to the instrumentor as events.
  std::uint64_t forwarded() const noexcept { return forwarded_.load(std::memory_order_relaxed); }
  /// Records logged with no current span, dropped (emit_outside_span false).
  std::uint64_t dropped_outside_span() const noexcept {
    return dropped_outside_span_.load(std::memory_order_relaxed);
  }
  /// Records from streamll's own loggers or logged from inside this sink, dropped.
  std::uint64_t dropped_recursive() const noexcept {
    return dropped_recursive_.load(std::memory_order_relaxed);
  }
  /// Records whose event could not be made (out of memory), or whose emit() threw: a sink
  /// with the `raise_error` overflow strategy refusing it (BufferOverflowError). In that case
  /// the instrumentor's other sinks may still have received the event: this counts the
  /// exception, not a record lost everywhere.
  std::uint64_t failed() const noexcept { return failed_.load(std::memory_order_relaxed); }

  void log(const spdlog::details::log_msg& msg) override {
    const std::string_view logger(msg.logger_name.data(), msg.logger_name.size());
    bool& inside = detail::inside_spdlog_sink();
    if (inside || detail::is_streamll_logger_name(logger)) {
      dropped_recursive_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    inside = true;
    struct Leave {
      bool& flag;
      ~Leave() { flag = false; }
    } leave{inside};
    try {
      const Context& current = detail::thread_context();
      if (!current.span() && !emit_outside_span_) {
        dropped_outside_span_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      auto [instrumentor, context] = detail::current_emit_target();
      if (!context->sampled) {
        // Left out before the event is built: a sampled-out request's lines cost a count.
        instrumentor->count_sampled_out_events(1);
        return;
      }
      Fields data;
      data.reserve(msg.source.empty() ? 3 : 6);
      data.append_new("level", detail::spdlog_level_name(msg.level));
      data.append_new("logger", logger);
      data.append_new("message", std::string_view(msg.payload.data(), msg.payload.size()));
      if (!msg.source.empty()) {
        data.append_new("source_file", msg.source.filename ? msg.source.filename : "");
        data.append_new("source_line", msg.source.line);
        if (msg.source.funcname) data.append_new("source_function", msg.source.funcname);
      }
      instrumentor->emit(Event::capture_at(msg.time, EventType::custom, std::move(context),
                                           std::move(data), "log"));
      forwarded_.fetch_add(1, std::memory_order_relaxed);
    } catch (...) {
      failed_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  // streamll delivers on its own schedule (Instrumentor::flush, shutdown); a logger's flush
  // must not wait for Redis.
  void flush() override {}
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

 private:
  const bool emit_outside_span_;
  std::atomic<std::uint64_t> forwarded_{0};
  std::atomic<std::uint64_t> dropped_outside_span_{0};
  std::atomic<std::uint64_t> dropped_recursive_{0};
  std::atomic<std::uint64_t> failed_{0};
};

}  // namespace streamll
