// Nonblocking socket connect (TCP via getaddrinfo, or AF_UNIX) and the plain byte stream.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "redis/config/connection_target.hpp"
#include "redis/transport/byte_stream.hpp"
#include "streamll/redis/errors.hpp"

namespace streamll::redis {
namespace {

std::string errno_text(int error) {
  char buf[256];
  // GNU strerror_r returns the message pointer (which may not be buf).
  return ::strerror_r(error, buf, sizeof buf);
}

int remaining_ms(SteadyTime deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return 0;
  // Round up so poll never returns just before the deadline and spins.
  return static_cast<int>(std::min<long long>(left.count() + 1, 1 << 30));
}

struct AddrInfoDeleter {
  void operator()(addrinfo* ai) const noexcept {
    if (ai) ::freeaddrinfo(ai);
  }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

// getaddrinfo has no timeout. Numeric hosts resolve inline; names resolve on a detached thread
// so a slow resolver cannot hold connect() past its deadline (the thread finishes on its own
// and frees what it found if nobody waits any more).
AddrInfoPtr resolve(const ConnectionTarget& target, const WaitContext& wait) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  const std::string port = std::to_string(target.port);
  addrinfo* found = nullptr;
  if (::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &found) == 0)
    return AddrInfoPtr(found);

  struct Lookup {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    bool abandoned = false;
    int status = 0;
    addrinfo* result = nullptr;
  };
  auto lookup = std::make_shared<Lookup>();
  hints.ai_flags =
      AI_NUMERICSERV;  // not AI_ADDRCONFIG: it hides localhost on hosts with only loopback
  std::thread([lookup, host = target.host, port, hints] {
    addrinfo* result = nullptr;
    const int status = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &result);
    std::lock_guard<std::mutex> lock(lookup->mutex);
    if (lookup->abandoned) {
      if (result) ::freeaddrinfo(result);
    } else {
      lookup->status = status;
      lookup->result = result;
    }
    lookup->done = true;
    lookup->done_cv.notify_all();
  }).detach();

  std::unique_lock<std::mutex> lock(lookup->mutex);
  if (!lookup->done_cv.wait_until(lock, wait.deadline, [&] { return lookup->done; })) {
    lookup->abandoned = true;
    throw TimeoutError("timed out resolving host '" + target.host + "' for " + *wait.display);
  }
  if (lookup->status != 0) {
    throw IoError("cannot resolve host '" + target.host + "' for " + *wait.display + ": " +
                  ::gai_strerror(lookup->status));
  }
  return AddrInfoPtr(lookup->result);
}

void set_tcp_options(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}

// One nonblocking connect attempt; returns the socket or throws with the errno of the failure.
SocketHandle connect_one(int family, const sockaddr* addr, socklen_t addr_len,
                         const WaitContext& wait) {
  SocketHandle sock(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) throw_socket_error(errno, "creating a socket for", *wait.display);
  if (family != AF_UNIX) set_tcp_options(sock.get());
  if (::connect(sock.get(), addr, addr_len) != 0) {
    const int error = errno;
    if (error != EINPROGRESS && error != EAGAIN && error != EINTR) {
      throw IoError("cannot connect to " + *wait.display + ": " + errno_text(error));
    }
    wait_ready(sock.get(), POLLOUT, wait, "connecting to");
    int so_error = 0;
    socklen_t len = sizeof so_error;
    ::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
      throw IoError("cannot connect to " + *wait.display + ": " + errno_text(so_error));
    }
  }
  return sock;
}

class PlainStream final : public ByteStream {
 public:
  PlainStream(SocketHandle socket, std::string display)
      : socket_(std::move(socket)), display_(std::move(display)) {}

  IoStep write_some(const char* data, std::size_t size) override {
    for (;;) {
      const ssize_t n = ::send(socket_.get(), data, size, MSG_NOSIGNAL);
      if (n >= 0) return {static_cast<std::size_t>(n), 0, false};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {0, POLLOUT, false};
      throw_socket_error(errno, "writing to", display_);
    }
  }

  IoStep read_some(char* data, std::size_t size) override {
    for (;;) {
      const ssize_t n = ::recv(socket_.get(), data, size, 0);
      if (n > 0) return {static_cast<std::size_t>(n), 0, false};
      if (n == 0) return {0, 0, true};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {0, POLLIN, false};
      throw_socket_error(errno, "reading from", display_);
    }
  }

  int fd() const noexcept override { return socket_.get(); }

 private:
  SocketHandle socket_;
  std::string display_;
};

}  // namespace

SocketHandle& SocketHandle::operator=(SocketHandle&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

SocketHandle::~SocketHandle() {
  if (fd_ >= 0) ::close(fd_);
}

void throw_socket_error(int error, const char* doing, const std::string& display) {
  const std::string message = std::string(doing) + " " + display + ": " + errno_text(error);
  if (error == EPIPE || error == ECONNRESET || error == ENOTCONN || error == ESHUTDOWN) {
    throw ClosedError("connection lost " + message);
  }
  throw IoError("I/O error " + message);
}

void wait_ready(int fd, short events, const WaitContext& wait, const char* doing) {
  for (;;) {
    pollfd fds[2] = {{fd, events, 0}, {wait.wake_fd, POLLIN, 0}};
    const nfds_t count = wait.wake_fd >= 0 ? 2 : 1;
    const int timeout = remaining_ms(wait.deadline);
    const int n = ::poll(fds, count, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_socket_error(errno, "waiting on", *wait.display);
    }
    if (count == 2 && (fds[1].revents & POLLIN)) {
      throw ClosedError(std::string("interrupted while ") + doing + " " + *wait.display);
    }
    // Errors and hang-ups count as ready: the next read/write reports them precisely.
    if (n > 0 && fds[0].revents != 0) return;
    if (std::chrono::steady_clock::now() >= wait.deadline) {
      throw TimeoutError(std::string("timed out ") + doing + " " + *wait.display);
    }
  }
}

SocketHandle connect_socket(const ConnectionTarget& target, const WaitContext& wait) {
  if (!target.socket_path.empty()) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (target.socket_path.size() >= sizeof addr.sun_path) {
      throw IoError("unix socket path too long: " + target.socket_path);
    }
    std::memcpy(addr.sun_path, target.socket_path.c_str(), target.socket_path.size() + 1);
    return connect_one(AF_UNIX, reinterpret_cast<const sockaddr*>(&addr), sizeof addr, wait);
  }
  const AddrInfoPtr addresses = resolve(target, wait);
  std::string failures;
  for (const addrinfo* ai = addresses.get(); ai != nullptr; ai = ai->ai_next) {
    try {
      return connect_one(ai->ai_family, ai->ai_addr, ai->ai_addrlen, wait);
    } catch (const TimeoutError&) {
      throw;
    } catch (const ClosedError&) {
      throw;
    } catch (const IoError& e) {
      // Try the next address (localhost is often ::1 then 127.0.0.1); report the last failure.
      failures = e.what();
    }
  }
  throw IoError(failures.empty() ? "no address found for " + *wait.display : failures);
}

std::unique_ptr<ByteStream> make_plain_stream(SocketHandle socket, const std::string& display) {
  return std::make_unique<PlainStream>(std::move(socket), display);
}

}  // namespace streamll::redis
