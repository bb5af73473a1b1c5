// The real RedisTransport: socket (+ TLS) stream, RESP via RespReader, deadlines everywhere.
// Any exception out of connect() or execute() closes the connection first, so a half-read
// pipeline can never be mistaken for the replies of the next one.

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <stdexcept>

#include "redis/config/connection_target.hpp"
#include "redis/transport/byte_stream.hpp"
#include "redis/transport/resp_reader.hpp"
#include "redis/transport/tls_stream.hpp"
#include "redis/transport/transport.hpp"
#include "support/deadline.hpp"

namespace streamll::redis {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

class SocketTransport final : public RedisTransport {
 public:
  explicit SocketTransport(ConnectionTarget target) : target_(std::move(target)) {
    if (target_.tls) tls_ = std::make_unique<TlsContext>(target_);
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
      throw_socket_error(errno, "creating a wake-up pipe for", target_.display);
    wake_read_ = fds[0];
    wake_write_ = fds[1];
  }

  ~SocketTransport() override {
    close();
    ::close(wake_read_);
    ::close(wake_write_);
  }

  SocketTransport(const SocketTransport&) = delete;
  SocketTransport& operator=(const SocketTransport&) = delete;

  void connect(Clock::time_point deadline) override {
    close();
    throw_if_interrupted("connecting to");
    const WaitContext wait{wake_read_, deadline, &target_.display};
    try {
      SocketHandle socket = connect_socket(target_, wait);
      stream_ = tls_ ? tls_->handshake(std::move(socket), wait)
                     : make_plain_stream(std::move(socket), target_.display);
      handshake(wait);
    } catch (...) {
      close();
      throw;
    }
  }

  void connect() override { connect(detail::deadline_in(target_.connect_timeout)); }

  bool is_connected() const noexcept override { return stream_ != nullptr; }

  void close() noexcept override {
    stream_.reset();
    reader_.reset();
    outstanding_ = 0;
  }

  void interrupt() noexcept override {
    interrupted_.store(true);
    const char byte = 1;
    // A full pipe already wakes every poll; nothing else can go wrong worth reporting.
    [[maybe_unused]] const ssize_t n = ::write(wake_write_, &byte, 1);
  }

  void clear_interrupt() noexcept override {
    interrupted_.store(false);
    char buf[64];
    while (::read(wake_read_, buf, sizeof buf) > 0) {
    }
  }

  void execute(const CommandBuffer& commands, std::vector<RedisReply>& replies,
               Clock::time_point deadline) override {
    replies.clear();
    if (!commands.complete()) {
      throw std::logic_error("CommandBuffer holds a command with missing arguments");
    }
    throw_if_interrupted("sending to");
    if (!stream_) throw ClosedError("not connected to " + target_.display);
    if (outstanding_ > 0) throw std::logic_error("execute() while sent replies are outstanding");
    if (commands.empty()) return;
    try {
      run_pipeline(commands.bytes(), commands.command_count(), replies,
                   WaitContext{wake_read_, deadline, &target_.display});
    } catch (...) {
      close();
      throw;
    }
  }

  void send(const CommandBuffer& commands, Clock::time_point deadline) override {
    if (!commands.complete())
      throw std::logic_error("CommandBuffer holds a command with missing arguments");
    throw_if_interrupted("sending to");
    if (!stream_) throw ClosedError("not connected to " + target_.display);
    if (commands.empty()) return;
    try {
      // Redis buffers its replies without ever blocking on us, so writing everything before
      // reading anything cannot deadlock.
      const WaitContext wait{wake_read_, deadline, &target_.display};
      const std::string& bytes = commands.bytes();
      for (std::size_t written = 0; written < bytes.size();) {
        const IoStep step = stream_->write_some(bytes.data() + written, bytes.size() - written);
        written += step.bytes;
        if (step.bytes == 0)
          wait_ready(stream_->fd(), step.wait ? step.wait : short(POLLOUT), wait,
                     "sending commands to");
      }
      outstanding_ += commands.command_count();
    } catch (...) {
      close();
      throw;
    }
  }

  void receive(std::size_t count, std::vector<RedisReply>& replies,
               Clock::time_point deadline) override {
    replies.clear();
    throw_if_interrupted("reading from");
    if (!stream_) throw ClosedError("not connected to " + target_.display);
    if (count > outstanding_) throw std::logic_error("receive() of more replies than were sent");
    try {
      const WaitContext wait{wake_read_, deadline, &target_.display};
      if (!reader_) reader_ = std::make_unique<RespReader>();
      if (read_buffer_.size() < kReadChunk) read_buffer_.resize(kReadChunk);
      replies.reserve(count);
      while (replies.size() < count) {
        if (auto reply = reader_->next()) {
          replies.push_back(std::move(*reply));
          continue;
        }
        const IoStep step = stream_->read_some(read_buffer_.data(), read_buffer_.size());
        if (step.eof)
          throw ClosedError("connection closed by " + target_.display +
                            " while replies were outstanding");
        if (step.bytes == 0) {
          wait_ready(stream_->fd(), step.wait ? step.wait : short(POLLIN), wait,
                     "waiting for replies from");
          continue;
        }
        reader_->feed(read_buffer_.data(), step.bytes);
      }
      outstanding_ -= count;
    } catch (...) {
      close();
      throw;
    }
  }

  int reply_fd() const noexcept override { return stream_ ? stream_->fd() : -1; }

  std::string describe() const override { return target_.display; }

  std::chrono::milliseconds socket_timeout() const noexcept override {
    return target_.socket_timeout;
  }

 private:
  void throw_if_interrupted(const char* doing) {
    if (interrupted_.load()) {
      close();
      throw ClosedError(std::string("interrupted before ") + doing + " " + target_.display);
    }
  }

  // AUTH, SELECT and CLIENT SETNAME in one round trip.
  void handshake(const WaitContext& wait) {
    CommandBuffer commands;
    if (!target_.password.empty()) {
      if (target_.username.empty()) {
        commands.append({"AUTH", target_.password});
      } else {
        commands.append({"AUTH", target_.username, target_.password});
      }
    }
    const std::string db = target_.db ? std::to_string(*target_.db) : std::string();
    if (target_.db) commands.append({"SELECT", db});
    if (!target_.client_name.empty()) commands.append({"CLIENT", "SETNAME", target_.client_name});
    if (commands.empty()) return;

    std::vector<RedisReply> replies;
    run_pipeline(commands.bytes(), commands.command_count(), replies, wait);
    std::size_t next = 0;
    const std::string user = target_.username.empty() ? "default" : target_.username;
    if (!target_.password.empty()) {
      const RedisReply& auth = replies[next++];
      // Any AUTH refusal (WRONGPASS, "ERR AUTH <password> called without any password
      // configured", ...) is an authentication problem; Redis never echoes the password.
      if (auth.is_error()) {
        throw AuthError(auth.text,
                        "authentication as user '" + user + "' to " + target_.display + " failed");
      }
    }
    for (; next < replies.size(); ++next) {
      const RedisReply& reply = replies[next];
      if (!reply.is_error()) continue;
      if (reply.error_prefix() == "NOAUTH") {
        throw AuthError(reply.text,
                        target_.display + " requires a password and none is configured");
      }
      const bool is_select = target_.db && next == (target_.password.empty() ? 0u : 1u);
      // CLIENT SETNAME is a courtesy: a server (or proxy) refusing it is not worth failing for.
      if (is_select) throw ReplyError(reply.text, "SELECT " + db + " on " + target_.display);
    }
  }

  // Writes `bytes` and reads `expected` replies, interleaving both so neither side's buffers
  // can fill up and stall the other.
  void run_pipeline(const std::string& bytes, std::size_t expected,
                    std::vector<RedisReply>& replies, const WaitContext& wait) {
    if (!reader_) reader_ = std::make_unique<RespReader>();
    if (read_buffer_.size() < kReadChunk) read_buffer_.resize(kReadChunk);
    replies.reserve(expected);
    std::size_t written = 0;
    for (;;) {
      short wait_events = 0;
      bool progress = false;
      if (written < bytes.size()) {
        const IoStep step = stream_->write_some(bytes.data() + written, bytes.size() - written);
        written += step.bytes;
        progress |= step.bytes > 0;
        wait_events |= step.wait;
      }
      for (;;) {
        const IoStep step = stream_->read_some(read_buffer_.data(), read_buffer_.size());
        if (step.eof) {
          throw ClosedError("connection closed by " + target_.display + " after " +
                            std::to_string(replies.size()) + " of " + std::to_string(expected) +
                            " replies");
        }
        if (step.bytes == 0) {
          wait_events |= step.wait;
          break;
        }
        progress = true;
        reader_->feed(read_buffer_.data(), step.bytes);
        while (auto reply = reader_->next()) {
          if (replies.size() == expected) {
            throw IoError("protocol error: " + target_.display +
                          " sent more replies than commands");
          }
          replies.push_back(std::move(*reply));
        }
        if (step.bytes < read_buffer_.size()) break;
      }
      if (replies.size() == expected && written == bytes.size()) return;
      if (!progress) {
        wait_ready(stream_->fd(), wait_events ? wait_events : short(POLLIN), wait,
                   written < bytes.size() ? "sending commands to" : "waiting for replies from");
      } else if (std::chrono::steady_clock::now() >= wait.deadline) {
        throw TimeoutError("timed out exchanging commands with " + target_.display);
      }
    }
  }

  ConnectionTarget target_;
  std::unique_ptr<TlsContext> tls_;
  std::unique_ptr<ByteStream> stream_;
  std::unique_ptr<RespReader> reader_;
  std::vector<char> read_buffer_;
  int wake_read_ = -1;
  int wake_write_ = -1;
  std::atomic<bool> interrupted_{false};
  std::size_t outstanding_ = 0;  // replies of send() not yet taken by receive()
};

}  // namespace

std::unique_ptr<RedisTransport> make_socket_transport(const RedisConnectionOptions& options) {
  return std::make_unique<SocketTransport>(resolve_connection(options));
}

std::unique_ptr<RedisTransport> make_socket_transport(const ConnectionTarget& target) {
  return std::make_unique<SocketTransport>(target);
}

}  // namespace streamll::redis
