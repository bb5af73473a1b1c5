#pragma once
// Test support: a Sentinel-managed deployment on loopback: one master, N replicas and three
// sentinels, all throwaway processes on free ports (RedisServer). Timeouts are shortened
// (down-after-milliseconds 1000, failover-timeout 3000) so a kill -9 of the master is followed
// by a promoted replica within a few seconds.
//
//   streamll::test::SentinelDeployment d(/*replicas=*/1);
//   o.url = d.url();                       // redis+sentinel://127.0.0.1:p1,.../mymaster
//   d.kill_master(); auto promoted = d.wait_for_new_master(old_port);
//
// Not thread-safe: one test thread drives it.

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "eventually.hpp"
#include "redis_server.hpp"

namespace streamll::test {

class SentinelDeployment {
 public:
  static constexpr const char* kMasterName = "mymaster";

  explicit SentinelDeployment(int replicas = 1, int sentinels = 3) {
    // A replica (re)attached to a master syncs at once, not after the 5 s diskless-sync delay.
    RedisServerOptions master_options;
    master_options.extra_config = {"repl-diskless-sync-delay 0"};
    master_ = std::make_unique<RedisServer>(master_options);
    for (int i = 0; i < replicas; ++i) {
      RedisServerOptions o;
      o.extra_config = {"repl-diskless-sync-delay 0",
                        "replicaof 127.0.0.1 " + std::to_string(master_->port())};
      replicas_.push_back(std::make_unique<RedisServer>(o));
    }
    testing::wait_for_state("replicas in sync", std::chrono::seconds(20), [&] {
      for (const auto& r : replicas_) {
        if (r->cli({"INFO", "replication"}).find("master_link_status:up") == std::string::npos)
          return false;
      }
      return true;
    });
    for (int i = 0; i < sentinels; ++i) {
      RedisServerOptions o;
      o.sentinel = true;
      o.extra_config = {"sentinel monitor " + std::string(kMasterName) + " 127.0.0.1 " +
                            std::to_string(master_->port()) + " 2",
                        "sentinel down-after-milliseconds " + std::string(kMasterName) + " 1000",
                        "sentinel failover-timeout " + std::string(kMasterName) + " 3000",
                        "sentinel parallel-syncs " + std::string(kMasterName) + " 2"};
      sentinels_.push_back(std::make_unique<RedisServer>(o));
    }
    // A failover needs the sentinels to know each other (for the vote) and the replicas (to
    // promote one): both are learned through the master within a few seconds.
    testing::wait_for_state(
        "sentinels to know each other and the replicas", std::chrono::seconds(30), [&] {
          for (const auto& s : sentinels_) {
            const std::string info = s->cli({"SENTINEL", "MASTER", kMasterName});
            if (field_after(info, "num-other-sentinels") != std::to_string(sentinels - 1))
              return false;
            if (field_after(info, "num-slaves") != std::to_string(replicas)) return false;
          }
          return true;
        });
  }

  /// redis+sentinel://127.0.0.1:<s1>,127.0.0.1:<s2>,.../mymaster
  std::string url() const {
    std::string out = "redis+sentinel://";
    for (std::size_t i = 0; i < sentinels_.size(); ++i) {
      out += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string(sentinels_[i]->port());
    }
    return out + "/" + kMasterName;
  }

  /// The master's port as the first sentinel that answers says (0 when none does).
  int master_port_from_sentinels() const {
    for (const auto& s : sentinels_) {
      if (!s->running()) continue;
      const std::string out = s->cli({"SENTINEL", "get-master-addr-by-name", kMasterName});
      const auto newline = out.find('\n');
      if (newline != std::string::npos) return std::stoi(out.substr(newline + 1));
    }
    return 0;
  }

  /// The server process listening on `port` (the original master or a replica).
  RedisServer& server_at(int port) {
    if (master_->port() == port) return *master_;
    for (auto& r : replicas_) {
      if (r->port() == port) return *r;
    }
    throw std::runtime_error("no server of the deployment on port " + std::to_string(port));
  }

  RedisServer& original_master() { return *master_; }
  std::vector<std::unique_ptr<RedisServer>>& replicas() { return replicas_; }

  /// kill -9 of whoever is master now; returns its port.
  int kill_master() {
    const int port = master_port_from_sentinels();
    server_at(port).kill9();
    return port;
  }

  /// Waits until the sentinels name a master other than `old_port` and it says it is one.
  int wait_for_new_master(int old_port, std::chrono::seconds timeout = std::chrono::seconds(30)) {
    int port = 0;
    testing::wait_for_state("a replica to be promoted", timeout, [&] {
      port = master_port_from_sentinels();
      return port != 0 && port != old_port && server_at(port).cli({"ROLE"}).rfind("master", 0) == 0;
    });
    return port;
  }

  /// Waits until the master on `port` has `replicas` replicas online (after a failover the
  /// sentinels reconfigure the remaining replicas).
  void wait_for_replicas(int port, int replicas,
                         std::chrono::seconds timeout = std::chrono::seconds(30)) {
    testing::wait_for_state("replicas of the new master", timeout, [&] {
      return field_after(server_at(port).cli({"INFO", "replication"}), "connected_slaves:") ==
             std::to_string(replicas);
    });
  }

  /// A field of a redis-cli reply: the line after "name" (SENTINEL MASTER prints name and value
  /// on alternate lines), or the rest of a "name:value" line when name ends with ':'.
  static std::string field_after(const std::string& text, const std::string& name) {
    if (!name.empty() && name.back() == ':') {
      const auto at = text.find(name);
      if (at == std::string::npos) return {};
      const auto start = at + name.size();
      return text.substr(start, text.find_first_of("\r\n", start) - start);
    }
    const auto at = text.find(name + "\n");
    if (at == std::string::npos) return {};
    const auto start = at + name.size() + 1;
    return text.substr(start, text.find('\n', start) - start);
  }

 private:
  std::unique_ptr<RedisServer> master_;
  std::vector<std::unique_ptr<RedisServer>> replicas_;
  std::vector<std::unique_ptr<RedisServer>> sentinels_;
};

}  // namespace streamll::test
