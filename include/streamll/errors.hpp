#pragma once
// The exceptions streamll throws. Configuration problems throw at construction; delivery
// problems at run time never throw into the application, with one documented exception:
// BufferOverflowError under the `raise_error` overflow strategy.

#include <stdexcept>
#include <string>

namespace streamll {

/// Base of every exception streamll throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A bad setting. `option()` names it; the message also carries the rejected value, except
/// for secrets (passwords, tokens), which are never echoed.
class ConfigError : public Error {
 public:
  ConfigError(std::string option, const std::string& message)
      : Error(option + ": " + message), option_(std::move(option)) {}
  const std::string& option() const noexcept { return option_; }

 private:
  std::string option_;
};

/// A custom event type name that is empty, longer than 64 characters or not printable ASCII.
/// Thrown only by validate_event_type_name() and by a strict instrumentor (an ordinary one
/// repairs the name and counts it).
class InvalidEventType : public Error {
 public:
  using Error::Error;
};

/// Thrown to the emitting code by a sink whose buffer is full under the `raise_error` overflow
/// strategy. The Instrumentor lets this one through (after handing the event to every other
/// sink); every other exception a sink throws is caught and counted.
class BufferOverflowError : public Error {
 public:
  using Error::Error;
};

}  // namespace streamll
