#pragma once
// The interface every sink implements. A sink receives events from any number of application
// threads at once; it must return quickly and never do network I/O in handle().

#include <chrono>
#include <memory>
#include <string>

#include "streamll/event.hpp"

namespace streamll {

class Sink {
 public:
  virtual ~Sink() = default;

  /// Takes one event. Called concurrently from any thread; must not block on I/O. Exceptions
  /// it throws are caught and counted by the Instrumentor (BufferOverflowError excepted).
  virtual void handle(const Event& event) = 0;

  /// Same as handle() for an event the caller no longer needs: a sink that keeps events can
  /// move it instead of copying. The Instrumentor uses it for the last sink of its list.
  virtual void handle_owned(Event&& event) { handle(event); }

  /// Waits until every event handed over before the call has been passed on (written,
  /// acknowledged: whatever the sink promises), or until `timeout` passes. True when all was.
  virtual bool flush(std::chrono::milliseconds timeout) {
    (void)timeout;
    return true;
  }

  /// Flushes within `timeout`, then stops taking events. True when nothing was left behind.
  /// Must be safe to call twice and from a destructor.
  virtual bool shutdown(std::chrono::milliseconds timeout) { return flush(timeout); }

  /// False once the sink has shut down or failed for good.
  virtual bool is_running() const noexcept { return true; }

  /// A short name for logs and stats ("memory", "terminal", "redis", ...).
  virtual std::string name() const { return "sink"; }
};

using SinkPtr = std::shared_ptr<Sink>;

}  // namespace streamll
