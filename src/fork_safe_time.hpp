#pragma once
// Internal: time conversions that a fork() cannot catch halfway. glibc converts a time_t to a
// calendar time (localtime_r, gmtime_r, hence spdlog's log-line timestamps) under one
// process-wide lock that fork() does not reset. A child forked while one of streamll's threads
// converts a time (the TerminalSink renders one per event) inherits that lock held by a thread
// it does not have, and hangs in its first conversion: its own, or a log line's. So streamll's
// threads convert under a mutex that fork() takes first (pthread_atfork): no conversion of
// ours is ever in progress at a fork.
//
// spdlog's console mutex is taken around fork() with it, first: console sinks (streamll's
// loggers write through one) convert a line's timestamp and write it under that mutex, and a
// child that inherited it held hung in its first log line.
//
// The mutex is a leaf: nothing else is locked while it is held. Its fork handler is registered
// before any other of streamll's (see time_conversion_mutex()), so that it runs last in the
// prepare phase: a thread holding another streamll lock while it converts or logs is never
// waited on by a fork that already holds this one (or the console mutex).

#include <ctime>
#include <mutex>

namespace streamll::detail {

/// Held while converting; registers the fork handlers (this mutex and spdlog's console mutex)
/// on first use. Leaked (used at exit).
std::mutex& time_conversion_mutex() noexcept;

/// gmtime_r (utc) or localtime_r under time_conversion_mutex(). False when glibc cannot
/// represent `t` (out of range).
bool calendar_time(std::time_t t, bool utc, std::tm& out) noexcept;

}  // namespace streamll::detail
