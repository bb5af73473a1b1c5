#pragma once
// Internal: the connection to one Redis server, behind an interface so the RedisSink and the
// consumers can be unit-tested with a fake. The real one (make_socket_transport) owns the bytes:
// POSIX sockets (TCP via getaddrinfo incl. IPv6, or AF_UNIX), optional OpenSSL TLS, hiredis's
// redisReader for RESP parsing. Every wait is bounded by a deadline (nonblocking sockets + poll):
// a stopped or silent server yields TimeoutError, never a hang.

#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "redis/transport/command_buffer.hpp"
#include "redis/transport/reply.hpp"
#include "streamll/redis/errors.hpp"
#include "streamll/redis/options.hpp"
#include "support/deadline.hpp"

namespace streamll::redis {

/// One connection. Used by one thread at a time (the owner), except interrupt(), which any
/// thread may call. Errors:
///  - transport failures throw IoError / TimeoutError / ClosedError / TlsError and leave the
///    transport closed (is_connected() false; connect() again to retry);
///  - error replies inside execute() do NOT throw: they come back as ReplyType::error replies
///    at their command's position, so the caller can count them per command;
///  - handshake refusals in connect() throw AuthError (AUTH) or ReplyError (SELECT, ...).
class RedisTransport {
 public:
  using Clock = std::chrono::steady_clock;

  virtual ~RedisTransport() = default;

  /// Opens the connection: TCP or unix connect, TLS handshake when configured, then AUTH
  /// (username+password, or password alone), SELECT db when set, CLIENT SETNAME when a client
  /// name is set, all in one round trip. Everything finishes before `deadline`. Closes any
  /// previous connection first.
  virtual void connect(Clock::time_point deadline) = 0;
  /// connect() bounded by the options' connect_timeout.
  virtual void connect() = 0;

  virtual bool is_connected() const noexcept = 0;

  /// Closes the connection (idempotent, never throws).
  virtual void close() noexcept = 0;

  /// Thread-safe: makes a connect() or execute() blocked in another thread fail promptly with
  /// ClosedError (and leaves the transport closed), e.g. for a bounded shutdown. Sticky: every
  /// later connect()/execute() fails the same way until the owner calls clear_interrupt().
  virtual void interrupt() noexcept = 0;
  virtual void clear_interrupt() noexcept = 0;

  /// Writes every command in `commands` (one pipelined write) and reads exactly
  /// commands.command_count() replies into `replies` (cleared first), all before `deadline`.
  /// Throws ClosedError when not connected, std::logic_error when a command in `commands` is
  /// missing arguments (a bug in the caller). An empty buffer returns at once.
  virtual void execute(const CommandBuffer& commands, std::vector<RedisReply>& replies,
                       Clock::time_point deadline) = 0;

  /// Split pipelining, so a caller can work while Redis does: send() writes `commands`
  /// without waiting for their replies; receive() reads the next `count` replies of what was
  /// sent, in order (fewer than sent is fine: the rest stay for the next receive()). execute()
  /// must not be called while sent replies are outstanding. Failures close the connection
  /// like execute(). The default runs each sent buffer with execute() inside receive() (same
  /// results, no overlap), which is all a test fake needs; the socket transport overrides it.
  virtual void send(const CommandBuffer& commands, Clock::time_point /*deadline*/) {
    if (!commands.empty()) sent_.push_back(commands);
  }
  virtual void receive(std::size_t count, std::vector<RedisReply>& replies,
                       Clock::time_point deadline) {
    replies.clear();
    std::vector<RedisReply> batch;
    for (const CommandBuffer& commands : sent_) {
      execute(commands, batch, deadline);
      for (auto& r : batch) unclaimed_.push_back(std::move(r));
    }
    sent_.clear();
    while (replies.size() < count && !unclaimed_.empty()) {
      replies.push_back(std::move(unclaimed_.front()));
      unclaimed_.erase(unclaimed_.begin());
    }
    if (replies.size() < count)
      throw ClosedError("receive(): fewer replies outstanding than asked for");
  }

  /// A descriptor that becomes readable once a reply to what send() wrote starts to arrive,
  /// or -1 when there is none (not connected, or a transport without one: a test fake). Lets a
  /// caller wait for the first of several connections' blocking reads with one poll(). Only
  /// meaningful while every earlier reply has been received (none is buffered unread here).
  virtual int reply_fd() const noexcept { return -1; }

  /// execute() bounded by the options' socket_timeout.
  void execute(const CommandBuffer& commands, std::vector<RedisReply>& replies) {
    execute(commands, replies, detail::deadline_in(socket_timeout()));
  }
  std::vector<RedisReply> execute(const CommandBuffer& commands) {
    std::vector<RedisReply> replies;
    execute(commands, replies);
    return replies;
  }

  /// One-off command (PING, XGROUP CREATE, XLEN). Returns the reply even when it is an error
  /// reply; use throw_if_error() to turn that into a ReplyError. Costs one allocation or so.
  RedisReply command(std::initializer_list<std::string_view> args) {
    CommandBuffer buffer;
    buffer.append(args);
    std::vector<RedisReply> replies;
    execute(buffer, replies);
    return replies.empty() ? RedisReply{} : std::move(replies.front());
  }

  /// Where this transport connects, for logs: the URL with its password redacted.
  virtual std::string describe() const = 0;

  /// The per-call bound execute() and command() use when given none.
  virtual std::chrono::milliseconds socket_timeout() const noexcept = 0;

 private:
  std::vector<CommandBuffer> sent_;  // the default send()/receive() only
  std::vector<RedisReply> unclaimed_;
};

/// The real transport for `options` (validated here: throws ConfigError when invalid). Does not
/// connect; call connect(). Loads TLS certificates when TLS is on (TlsError when they fail).
std::unique_ptr<RedisTransport> make_socket_transport(const RedisConnectionOptions& options);

struct ConnectionTarget;
/// The real transport for an already resolved target (its host and port are dialled as they
/// are: no provider, Sentinel or Cluster logic here; see Connector).
std::unique_ptr<RedisTransport> make_socket_transport(const ConnectionTarget& target);

/// Makes the (unconnected) transport for a target; tests substitute fakes.
using TransportMaker = std::function<std::unique_ptr<RedisTransport>(const ConnectionTarget&)>;

}  // namespace streamll::redis
