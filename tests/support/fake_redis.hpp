#pragma once
// A scriptable stand-in for Redis behind the RedisTransport interface: records every command,
// answers XADD with ids, and fails, refuses or stalls on request. One FakeRedis is shared by all
// the transports a sink creates, like one server seen through successive connections.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "redis/transport/transport.hpp"

namespace streamll::testing {

using Command = std::vector<std::string>;

/// Parses RESP2 arrays of bulk strings, as CommandBuffer writes them.
inline std::vector<Command> parse_resp_commands(const std::string& bytes) {
  std::vector<Command> out;
  std::size_t pos = 0;
  auto read_line = [&]() {
    const std::size_t end = bytes.find("\r\n", pos);
    std::string line = bytes.substr(pos, end - pos);
    pos = end + 2;
    return line;
  };
  while (pos < bytes.size()) {
    const std::string header = read_line();
    const long argc = std::strtol(header.c_str() + 1, nullptr, 10);
    Command command;
    for (long i = 0; i < argc; ++i) {
      const std::string len_line = read_line();
      const auto len = static_cast<std::size_t>(std::strtol(len_line.c_str() + 1, nullptr, 10));
      command.push_back(bytes.substr(pos, len));
      pos += len + 2;
    }
    out.push_back(std::move(command));
  }
  return out;
}

class FakeRedis {
 public:
  // --- Behaviour switches (any thread) ---
  /// Connection attempts throw IoError("connection refused") while set.
  void set_down(bool down) {
    std::lock_guard<std::mutex> lock(mutex_);
    down_ = down;
  }
  /// The next `n` execute() calls throw IoError after "writing" (replies lost: the commands
  /// may or may not have been applied; here they are not).
  void fail_next_executes(int n) {
    std::lock_guard<std::mutex> lock(mutex_);
    fail_executes_ = n;
  }
  /// The next `n` execute() calls apply their commands and then throw IoError, as when a
  /// connection dies after Redis acted but before its replies arrived.
  void lose_replies_of_next_executes(int n) {
    std::lock_guard<std::mutex> lock(mutex_);
    lose_replies_ = n;
  }
  /// connect() throws AuthError(WRONGPASS ...) while set.
  void set_reject_auth(bool reject) {
    std::lock_guard<std::mutex> lock(mutex_);
    reject_auth_ = reject;
  }
  /// Every XADD is answered with this error reply while non-empty (e.g. "WRONGTYPE ...").
  void set_xadd_error(std::string error) {
    std::lock_guard<std::mutex> lock(mutex_);
    xadd_error_ = std::move(error);
  }
  /// The reply to XGROUP CREATE (default "+OK"; e.g. "BUSYGROUP ...").
  void set_xgroup_error(std::string error) {
    std::lock_guard<std::mutex> lock(mutex_);
    xgroup_error_ = std::move(error);
  }
  /// Every command named `name` (e.g. "HSET") is answered with `error` while it is non-empty.
  void set_command_error(std::string name, std::string error) {
    std::lock_guard<std::mutex> lock(mutex_);
    command_errors_[std::move(name)] = std::move(error);
  }
  /// WAIT is answered with this number of replicas (default 0), or this error when non-empty.
  void set_wait_replicas(long long replicas, std::string error = {}) {
    std::lock_guard<std::mutex> lock(mutex_);
    wait_replicas_ = replicas;
    wait_error_ = std::move(error);
  }
  /// The `number`-th execute() (counting from 1 since the server was made) blocks like after
  /// stall(), for a test to catch the sink with that write on the wire.
  void stall_execute_number(int number) {
    std::lock_guard<std::mutex> lock(mutex_);
    stall_at_ = number;
  }
  /// execute() blocks until release() or until the transport is interrupted (not at its
  /// deadline).
  void stall() {
    std::lock_guard<std::mutex> lock(mutex_);
    stalled_ = true;
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stalled_ = false;
    }
    changed_.notify_all();
  }

  // --- What happened ---
  std::vector<Command> commands() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return commands_;
  }
  /// The `event` JSON of every XADD that was applied, in order.
  std::vector<std::string> stream() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stream_;
  }
  std::size_t stream_size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stream_.size();
  }
  int connects() const { return connects_.load(); }
  int connect_attempts() const { return connect_attempts_.load(); }
  int executes() const { return executes_.load(); }
  int stalled_executes() const { return stalled_executes_.load(); }

  // --- Transport side ---
  void on_connect(const std::atomic<bool>& interrupted) {
    ++connect_attempts_;
    std::lock_guard<std::mutex> lock(mutex_);
    if (interrupted) throw ClosedError("interrupted");
    if (down_) throw IoError("connect to 127.0.0.1:6379 failed: Connection refused");
    if (reject_auth_) {
      throw AuthError("WRONGPASS invalid username-password pair or user is disabled.", "AUTH");
    }
    ++connects_;
  }

  void on_execute(const redis::CommandBuffer& buffer, std::vector<redis::RedisReply>& replies,
                  std::chrono::steady_clock::time_point deadline,
                  const std::atomic<bool>& interrupted) {
    const int number = ++executes_;
    std::unique_lock<std::mutex> lock(mutex_);
    if (number == stall_at_) stalled_ = true;
    if (stalled_) {
      ++stalled_executes_;
      // Until release() or interrupt(), whatever the deadline: a test's stall must not turn into
      // a timeout (and a retry backoff on the manual clock) because the machine is slow.
      (void)deadline;
      changed_.wait(lock, [&] { return !stalled_ || interrupted; });
      if (interrupted) throw ClosedError("interrupted");
    }
    if (down_) throw IoError("connection reset by peer");
    if (fail_executes_ > 0) {
      --fail_executes_;
      throw IoError("connection reset by peer");
    }
    replies.clear();
    for (auto& command : parse_resp_commands(buffer.bytes())) {
      const auto refused =
          command.empty() ? command_errors_.end() : command_errors_.find(command[0]);
      if (refused != command_errors_.end() && !refused->second.empty()) {
        replies.push_back(redis::RedisReply::make_error(refused->second));
      } else if (!command.empty() && command[0] == "XADD") {
        if (!xadd_error_.empty()) {
          replies.push_back(redis::RedisReply::make_error(xadd_error_));
        } else {
          // The field after "event" is the JSON.
          for (std::size_t i = 2; i + 1 < command.size(); ++i) {
            if (command[i] == "event") {
              stream_.push_back(command[i + 1]);
              break;
            }
          }
          replies.push_back(redis::RedisReply::make_string(std::to_string(stream_.size()) + "-0"));
        }
      } else if (!command.empty() && command[0] == "WAIT") {
        replies.push_back(wait_error_.empty() ? redis::RedisReply::make_integer(wait_replicas_)
                                              : redis::RedisReply::make_error(wait_error_));
      } else if (command.size() >= 2 && command[0] == "XGROUP") {
        replies.push_back(xgroup_error_.empty() ? redis::RedisReply::make_status("OK")
                                                : redis::RedisReply::make_error(xgroup_error_));
      } else {
        replies.push_back(redis::RedisReply::make_status("OK"));
      }
      commands_.push_back(std::move(command));
    }
    if (lose_replies_ > 0) {
      --lose_replies_;
      replies.clear();
      throw IoError("connection reset by peer (after the commands were applied)");
    }
  }

  void notify_interrupt() { changed_.notify_all(); }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool down_ = false;
  bool reject_auth_ = false;
  bool stalled_ = false;
  int stall_at_ = 0;
  int fail_executes_ = 0;
  int lose_replies_ = 0;
  std::string xadd_error_;
  std::string xgroup_error_;
  std::map<std::string, std::string> command_errors_;
  long long wait_replicas_ = 0;
  std::string wait_error_;
  std::vector<Command> commands_;
  std::vector<std::string> stream_;
  std::atomic<int> connects_{0};
  std::atomic<int> connect_attempts_{0};
  std::atomic<int> executes_{0};
  std::atomic<int> stalled_executes_{0};
};

/// A transport to an in-memory server model (FakeRedis, FakeStreamRedis): connects and
/// exchanges through the model's on_connect() / on_execute(), which fail as the test says.
template <typename Server>
class FakeServerTransport : public redis::RedisTransport {
 public:
  FakeServerTransport(std::shared_ptr<Server> server, std::string name)
      : server_(std::move(server)), name_(std::move(name)) {}

  void connect(Clock::time_point) override {
    connected_ = false;
    server_->on_connect(interrupted_);
    connected_ = true;
  }
  void connect() override { connect(Clock::now() + socket_timeout()); }
  bool is_connected() const noexcept override { return connected_; }
  void close() noexcept override { connected_ = false; }
  void interrupt() noexcept override {
    interrupted_ = true;
    server_->notify_interrupt();
  }
  void clear_interrupt() noexcept override { interrupted_ = false; }
  void execute(const redis::CommandBuffer& commands, std::vector<redis::RedisReply>& replies,
               Clock::time_point deadline) override {
    if (!connected_) throw ClosedError("not connected");
    try {
      server_->on_execute(commands, replies, deadline, interrupted_);
    } catch (...) {
      connected_ = false;
      throw;
    }
  }
  std::string describe() const override { return name_; }
  std::chrono::milliseconds socket_timeout() const noexcept override {
    return std::chrono::milliseconds(2000);
  }

 private:
  std::shared_ptr<Server> server_;
  const std::string name_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> interrupted_{false};
};

class FakeTransport final : public FakeServerTransport<FakeRedis> {
 public:
  explicit FakeTransport(std::shared_ptr<FakeRedis> server)
      : FakeServerTransport(std::move(server), "fake://redis") {}
};

/// A RedisSinkTransportFactory for detail::Injected::redis_sink.
inline std::function<std::unique_ptr<redis::RedisTransport>()> fake_transport_factory(
    std::shared_ptr<FakeRedis> server) {
  return [server] { return std::make_unique<FakeTransport>(server); };
}

}  // namespace streamll::testing
