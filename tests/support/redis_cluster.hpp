#pragma once
// Test support: a Redis Cluster on loopback made with `redis-cli --cluster create`: M masters
// with R replicas each, throwaway RedisServer processes on free ports, cluster-node-timeout
// 1000 ms so a killed master's replica takes over within a few seconds. Helpers to find a
// slot's master, move a slot step by step (IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE) and kill
// a master. Not thread-safe: one test thread drives it.

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "eventually.hpp"
#include "redis_server.hpp"

namespace streamll::test {

class RedisClusterDeployment {
 public:
  explicit RedisClusterDeployment(int masters = 3, int replicas_per_master = 1) {
    const int total = masters * (1 + replicas_per_master);
    for (int i = 0; i < total; ++i) {
      RedisServerOptions o;
      o.cluster = true;
      // A replica that (re)joins syncs at once instead of after the 5 s diskless-sync delay.
      o.extra_config = {"cluster-node-timeout 1000", "cluster-replica-validity-factor 0",
                        "cluster-allow-replica-migration no", "repl-diskless-sync-delay 0"};
      nodes_.push_back(std::make_unique<RedisServer>(o));
    }
    std::vector<std::string> command{"redis-cli", "--cluster", "create"};
    for (const auto& n : nodes_) command.push_back("127.0.0.1:" + std::to_string(n->port()));
    command.insert(command.end(),
                   {"--cluster-replicas", std::to_string(replicas_per_master), "--cluster-yes"});
    const std::string out = nodes_.front()->dir() + "/cluster-create.out";
    if (run_bounded(command, 60, out) != 0) {
      throw std::runtime_error("redis-cli --cluster create failed: " + read_text_file(out));
    }
    testing::wait_for_state("every node to see a complete cluster", std::chrono::seconds(30), [&] {
      for (const auto& n : nodes_) {
        const std::string info = n->cli({"CLUSTER", "INFO"});
        if (info.find("cluster_state:ok") == std::string::npos ||
            info.find("cluster_slots_ok:16384") == std::string::npos ||
            info.find("cluster_known_nodes:" + std::to_string(total)) == std::string::npos) {
          return false;
        }
      }
      return true;
    });
    testing::wait_for_state(
        "every replica to be in sync with its master", std::chrono::seconds(30), [&] {
          int synced = 0;
          for (const auto& n : nodes_) {
            if (n->cli({"INFO", "replication"}).find("master_link_status:up") != std::string::npos)
              ++synced;
          }
          return synced == masters * replicas_per_master;
        });
  }

  /// redis+cluster://127.0.0.1:<first node> (any node is a valid seed).
  std::string url() const {
    return "redis+cluster://127.0.0.1:" + std::to_string(nodes_.front()->port());
  }

  std::vector<std::unique_ptr<RedisServer>>& nodes() { return nodes_; }

  /// The node whose port is `port`.
  RedisServer& node_at(int port) {
    for (auto& n : nodes_) {
      if (n->port() == port) return *n;
    }
    throw std::runtime_error("no cluster node on port " + std::to_string(port));
  }

  /// The port of the master serving `slot` according to a running node other than
  /// `except_port` (0 when no node knows one).
  int master_of_slot(int slot, int except_port = 0) {
    for (auto& n : nodes_) {
      if (!n->running() || n->port() == except_port) continue;
      const std::string slots = n->cli({"CLUSTER", "SLOTS"});
      // redis-cli prints each range as: first, last, then the master's ip, port, id, ...
      std::vector<std::string> lines;
      std::size_t start = 0;
      while (start <= slots.size()) {
        const auto end = slots.find('\n', start);
        lines.push_back(
            slots.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) break;
        start = end + 1;
      }
      for (std::size_t i = 0; i + 3 < lines.size(); ++i) {
        if (!is_number(lines[i]) || !is_number(lines[i + 1]) ||
            lines[i + 2].find('.') == std::string::npos)
          continue;
        const int first = std::stoi(lines[i]);
        const int last = std::stoi(lines[i + 1]);
        if (slot >= first && slot <= last && is_number(lines[i + 3]))
          return std::stoi(lines[i + 3]);
      }
    }
    return 0;
  }

  std::string node_id(int port) { return node_at(port).cli({"CLUSTER", "MYID"}); }

  /// Step 1 of moving `slot` from `from` to `to`: IMPORTING on the target, MIGRATING on the
  /// source. Keys still on the source are served there; missing ones are answered with ASK.
  void begin_slot_migration(int slot, int from, int to) {
    expect_ok(
        node_at(to).cli({"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", node_id(from)}));
    expect_ok(
        node_at(from).cli({"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", node_id(to)}));
  }

  /// Step 2: MIGRATE `key` (with its data) from `from` to `to`.
  void migrate_key(const std::string& key, int from, int to) {
    expect_ok(node_at(from).cli({"MIGRATE", "127.0.0.1", std::to_string(to), key, "0", "5000"}));
  }

  /// Step 3: the slot belongs to `to`, told to every master (the source then answers MOVED).
  void finish_slot_migration(int slot, int from, int to) {
    const std::string target = node_id(to);
    expect_ok(node_at(to).cli({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", target}));
    expect_ok(node_at(from).cli({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", target}));
    for (auto& n : nodes_) {
      if (n->running() && n->port() != to && n->port() != from &&
          n->cli({"ROLE"}).rfind("master", 0) == 0) {
        n->cli({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", target});
      }
    }
  }

  /// Waits until a node other than `old_port` reports a different master for `slot` that says
  /// it is one; returns its port.
  int wait_for_failover(int slot, int old_port,
                        std::chrono::seconds timeout = std::chrono::seconds(30)) {
    int port = 0;
    testing::wait_for_state("a replica to take over the slot", timeout, [&] {
      port = master_of_slot(slot, old_port);
      return port != 0 && port != old_port && node_at(port).cli({"ROLE"}).rfind("master", 0) == 0;
    });
    testing::wait_for_state("the cluster to be ok again", timeout, [&] {
      return node_at(port).cli({"CLUSTER", "INFO"}).find("cluster_state:ok") != std::string::npos;
    });
    return port;
  }

 private:
  static bool is_number(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
    }
    return true;
  }
  static void expect_ok(const std::string& reply) {
    if (reply != "OK") throw std::runtime_error("cluster command failed: " + reply);
  }

  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace streamll::test
