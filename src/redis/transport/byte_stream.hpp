#pragma once
// Internal: a nonblocking byte stream (plain socket or TLS) and the deadline-bounded helpers
// the socket transport is built from. Every blocking point is a poll() that also watches a
// wake-up pipe, so another thread can interrupt it.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace streamll::redis {

struct ConnectionTarget;

using SteadyTime = std::chrono::steady_clock::time_point;

/// Outcome of one nonblocking read or write attempt.
struct IoStep {
  std::size_t bytes = 0;  ///< moved this time (0: would block, see `wait`)
  short wait = 0;         ///< poll events to wait for before retrying (POLLIN and/or POLLOUT)
  bool eof = false;       ///< the peer closed the stream cleanly (reads only)
};

/// What a blocked wait watches besides its socket. `wake_fd` becomes readable on interrupt().
struct WaitContext {
  int wake_fd = -1;
  SteadyTime deadline;
  const std::string* display = nullptr;  ///< redacted URL for messages
};

/// Waits until `fd` is ready for `events`. Throws TimeoutError at the deadline ("timed out
/// <doing>"), ClosedError when woken through wake_fd.
void wait_ready(int fd, short events, const WaitContext& wait, const char* doing);

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  /// Throw IoError / ClosedError / TlsError on failure; never block.
  virtual IoStep write_some(const char* data, std::size_t size) = 0;
  virtual IoStep read_some(char* data, std::size_t size) = 0;
  virtual int fd() const noexcept = 0;
};

/// Owns a socket file descriptor (closes it on destruction).
class SocketHandle {
 public:
  SocketHandle() = default;
  explicit SocketHandle(int fd) noexcept : fd_(fd) {}
  SocketHandle(SocketHandle&& other) noexcept : fd_(other.release()) {}
  SocketHandle& operator=(SocketHandle&& other) noexcept;
  SocketHandle(const SocketHandle&) = delete;
  SocketHandle& operator=(const SocketHandle&) = delete;
  ~SocketHandle();
  int get() const noexcept { return fd_; }
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

/// Connects a nonblocking, close-on-exec socket to the target's unix path or TCP host:port
/// (every address getaddrinfo returns, in order; TCP_NODELAY and keepalive on). Throws
/// IoError (refused, unreachable, name not found), TimeoutError, ClosedError (interrupted).
SocketHandle connect_socket(const ConnectionTarget& target, const WaitContext& wait);

/// The plain (non-TLS) stream over a connected socket; writes use MSG_NOSIGNAL.
std::unique_ptr<ByteStream> make_plain_stream(SocketHandle socket, const std::string& display);

/// Maps errno after a failed send/recv to the right exception and throws it.
[[noreturn]] void throw_socket_error(int error, const char* doing, const std::string& display);

}  // namespace streamll::redis
