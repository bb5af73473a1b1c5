#pragma once
// What talking to Redis can throw. Two families, because callers act on them differently:
//  - IoError and its children are transport failures (the connection is gone or stuck). They
//    feed the RedisSink's circuit breaker, and the connection that threw is closed: the next
//    attempt opens a new one.
//  - ReplyError is the server refusing a command (WRONGTYPE, OOM, NOPERM, ...). The connection
//    is fine. Inside a pipeline such refusals come back as error replies, not exceptions; the
//    exception form is used for the connection handshake and for one-off commands.
// No message ever contains a password or token. Like every public type, they are in namespace
// streamll; streamll::redis holds the library's internals (and, for one release, the old names).

#include <string>
#include <utility>

#include "streamll/errors.hpp"

namespace streamll {

/// Base of every Redis-specific error.
class RedisError : public Error {
 public:
  using Error::Error;
};

/// The connection failed: refused, reset, unexpected EOF, name resolution, protocol garbage.
class IoError : public RedisError {
 public:
  using RedisError::RedisError;
};

/// A connect, read or write did not finish within its timeout (for example a SIGSTOPped server).
class TimeoutError : public IoError {
 public:
  using IoError::IoError;
};

/// The connection was closed: by the peer (EOF), by close(), or by interrupt() from another thread.
class ClosedError : public IoError {
 public:
  using IoError::IoError;
};

/// The TLS layer failed: handshake, certificate verification ("certificate verify failed: ..."),
/// host name mismatch, unreadable client certificate. The message names the reason.
class TlsError : public IoError {
 public:
  using IoError::IoError;
};

/// The server answered with an error reply. `prefix()` is its first word when that is an
/// upper-case code ("WRONGTYPE", "OOM", "NOPERM", "NOGROUP", "BUSYGROUP", "ERR", ...), else
/// empty; `server_message()` is the reply text as the server sent it. what() is
/// `context + ": " + server_message` when a context is given.
class ReplyError : public RedisError {
 public:
  explicit ReplyError(std::string server_message, const std::string& context = {})
      : RedisError(context.empty() ? server_message : context + ": " + server_message),
        server_message_(std::move(server_message)),
        prefix_(prefix_of(server_message_)) {}

  const std::string& prefix() const noexcept { return prefix_; }
  const std::string& server_message() const noexcept { return server_message_; }

  /// The leading upper-case code of an error reply text ("" when there is none).
  static std::string prefix_of(const std::string& message) {
    std::string::size_type end = 0;
    while (end < message.size() &&
           ((message[end] >= 'A' && message[end] <= 'Z') || message[end] == '_' ||
            (end > 0 && message[end] >= '0' && message[end] <= '9'))) {
      ++end;
    }
    if (end == 0 || (end < message.size() && message[end] != ' ')) return {};
    return message.substr(0, end);
  }

 private:
  std::string server_message_;
  std::string prefix_;
};

/// Authentication was refused (WRONGPASS, NOAUTH, "invalid username-password pair", AUTH
/// without a configured password). The message says which user was tried, never the password.
class AuthError : public ReplyError {
 public:
  using ReplyError::ReplyError;
};

/// A command needs an existing stream and the key does not exist (analytics, the CLI).
class StreamNotFoundError : public RedisError {
 public:
  using RedisError::RedisError;
};

}  // namespace streamll

// Deprecated: the names these errors had up to 0.1, kept for one more release.
// The library's own build hides them (STREAMLL_NO_DEPRECATED_ALIASES) to use the new names only.
#ifndef STREAMLL_NO_DEPRECATED_ALIASES
namespace streamll::redis {
using RedisError [[deprecated("use streamll::RedisError")]] = streamll::RedisError;
using IoError [[deprecated("use streamll::IoError")]] = streamll::IoError;
using TimeoutError [[deprecated("use streamll::TimeoutError")]] = streamll::TimeoutError;
using ClosedError [[deprecated("use streamll::ClosedError")]] = streamll::ClosedError;
using TlsError [[deprecated("use streamll::TlsError")]] = streamll::TlsError;
using ReplyError [[deprecated("use streamll::ReplyError")]] = streamll::ReplyError;
using AuthError [[deprecated("use streamll::AuthError")]] = streamll::AuthError;
using StreamNotFoundError [[deprecated("use streamll::StreamNotFoundError")]] =
    streamll::StreamNotFoundError;
}  // namespace streamll::redis
#endif
