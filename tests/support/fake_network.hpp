#pragma once
// Several scripted Redis servers by address, behind the RedisTransport interface: for unit tests
// of Sentinel (sentinels and masters) and Cluster (nodes, redirections) without processes. Each
// server is a handler answering one command at a time; a server can be taken down. Every
// command is logged with the address it went to. Thread-safe (the sink's flusher connects and
// sends while the test thread scripts).

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fake_redis.hpp"
#include "redis/transport/transport.hpp"
#include "streamll/redis/endpoint.hpp"

namespace streamll::testing {

/// Per-connection state a handler may use (ASKING is a one-command flag of the connection).
struct FakeConnection {
  bool asking = false;
  std::size_t index_in_pipeline = 0;  ///< of the command being answered, from 0 per execute()
};

class FakeNetwork {
 public:
  using Handler = std::function<redis::RedisReply(const Command&, FakeConnection&)>;

  void serve(const RedisEndpoint& at, Handler handler) {
    std::lock_guard<std::mutex> lock(mutex_);
    servers_[at.to_string()] = std::move(handler);
  }
  void set_down(const RedisEndpoint& at, bool down) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (down) {
      down_.insert(at.to_string());
    } else {
      down_.erase(at.to_string());
    }
  }

  /// Every command sent, with where it went ("127.0.0.1:7000").
  std::vector<std::pair<std::string, Command>> log() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return log_;
  }
  /// The commands sent to `at` whose first word is `name`.
  int count(const RedisEndpoint& at, const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    int n = 0;
    for (const auto& [where, command] : log_)
      n += where == at.to_string() && !command.empty() && command[0] == name;
    return n;
  }
  int connects(const RedisEndpoint& at) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = connects_.find(at.to_string());
    return it == connects_.end() ? 0 : it->second;
  }

  std::unique_ptr<redis::RedisTransport> transport(const RedisEndpoint& at);

  // Transport side.
  void connect(const std::string& at) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (down_.count(at) || !servers_.count(at)) {
      throw IoError("cannot connect to " + at + ": Connection refused");
    }
    ++connects_[at];
  }
  void execute(const std::string& at, const redis::CommandBuffer& buffer,
               std::vector<redis::RedisReply>& replies, FakeConnection& connection) {
    Handler handler;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (down_.count(at)) throw IoError("connection reset by " + at);
      handler = servers_.at(at);
    }
    replies.clear();
    connection.index_in_pipeline = 0;
    for (auto& command : parse_resp_commands(buffer.bytes())) {
      redis::RedisReply reply = handler(command, connection);
      ++connection.index_in_pipeline;
      std::lock_guard<std::mutex> lock(mutex_);
      log_.emplace_back(at, std::move(command));
      replies.push_back(std::move(reply));
    }
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, Handler> servers_;
  std::set<std::string> down_;
  std::map<std::string, int> connects_;
  std::vector<std::pair<std::string, Command>> log_;
};

class NetworkTransport final : public redis::RedisTransport {
 public:
  NetworkTransport(FakeNetwork& network, std::string at) : network_(network), at_(std::move(at)) {}
  void connect(Clock::time_point) override {
    connected_ = false;
    if (interrupted_) throw ClosedError("interrupted");
    network_.connect(at_);
    connection_ = FakeConnection{};
    connected_ = true;
  }
  void connect() override { connect(Clock::now()); }
  bool is_connected() const noexcept override { return connected_; }
  void close() noexcept override { connected_ = false; }
  void interrupt() noexcept override { interrupted_ = true; }
  void clear_interrupt() noexcept override { interrupted_ = false; }
  void execute(const redis::CommandBuffer& commands, std::vector<redis::RedisReply>& replies,
               Clock::time_point) override {
    if (!connected_) throw ClosedError("not connected to " + at_);
    try {
      network_.execute(at_, commands, replies, connection_);
    } catch (...) {
      connected_ = false;
      throw;
    }
  }
  std::string describe() const override { return at_; }
  std::chrono::milliseconds socket_timeout() const noexcept override {
    return std::chrono::milliseconds(2000);
  }

 private:
  FakeNetwork& network_;
  std::string at_;
  FakeConnection connection_;
  bool connected_ = false;
  std::atomic<bool> interrupted_{false};
};

inline std::unique_ptr<redis::RedisTransport> FakeNetwork::transport(const RedisEndpoint& at) {
  return std::make_unique<NetworkTransport>(*this, at.to_string());
}

inline RedisEndpoint local(std::uint16_t port) { return RedisEndpoint{"127.0.0.1", port, false}; }

/// A reply array of bulk strings.
inline redis::RedisReply string_array(const std::vector<std::string>& items) {
  std::vector<redis::RedisReply> elements;
  for (const auto& i : items) elements.push_back(redis::RedisReply::make_string(i));
  return redis::RedisReply::make_array(std::move(elements));
}

}  // namespace streamll::testing
