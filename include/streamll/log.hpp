#pragma once
// streamll's own log: where its sinks report connections, breaker changes, dropped and failed
// events (rate-limited), and at debug level every batch. It goes through spdlog loggers named
// "streamll", "streamll.sinks.redis", "streamll.sinks.jsonl", ... (stderr unless the
// application registered its own logger of that name first, in the same spdlog library).
// They start at warn: problems (drops, failures, every circuit breaker change) show; routine
// lines such as "connected to ..." on every start are info and show only after
// set_log_level(LogLevel::info).

#include <string_view>

namespace streamll {

enum class LogLevel { trace, debug, info, warn, error, critical, off };

/// Sets the level of the streamll logger `name` or, when `name` is empty, of every streamll
/// logger (those not created yet get the level when they are). The guide's Debug Mode:
///   streamll::set_log_level(streamll::LogLevel::debug, "streamll.sinks.redis");
/// Works whichever spdlog the application uses itself (header-only spdlog keeps a registry of
/// its own, where spdlog::get("streamll.sinks.redis") finds nothing). Thread-safe.
void set_log_level(LogLevel level, std::string_view name = {});

}  // namespace streamll
