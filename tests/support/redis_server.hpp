#pragma once
// Test support: a throwaway redis-server on free 127.0.0.1 ports, for integration tests.
//
//   streamll::test::RedisServer redis;                       // plain TCP
//   streamll::test::RedisServer secure({.requirepass = "pw"}) // C++20; or set fields first
//   redis.cli({"XLEN", "ml_events"})  -> "3"
//   redis.sigstop(); ... redis.sigcont();  redis.kill9(); redis.restart();   // same ports
//
// The server runs with no persistence (save "", appendonly no) in its own temp dir. Startup is
// bounded; a port someone else grabbed is detected (the answering server must report our pid)
// and retried with another. The destructor always kills the process (stopped or not), reaps it
// and removes the dir. Not thread-safe: one test thread drives it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "eventually.hpp"
#include "subprocess.hpp"
#include "tls_certs.hpp"

namespace streamll::test {

struct RedisServerOptions {
  /// requirepass for the default user ("" = no password).
  std::string requirepass;
  /// ACL rules, one per user, as after the `user` directive: "alice on >secret ~* &* +@all".
  std::vector<std::string> acl_users;
  /// Also listen on <dir>/redis.sock.
  bool unix_socket = false;
  /// Also listen on the IPv6 loopback ([::1], same port).
  bool ipv6 = false;
  /// Also listen for TLS on tls_port(). Certificates default to TlsCerts::shared()'s server
  /// certificate and CA.
  bool tls = false;
  std::string tls_cert_file, tls_key_file, tls_ca_file;
  /// tls-auth-clients yes: clients must present a certificate signed by the CA.
  bool tls_auth_clients = false;
  /// e.g. "1mb": maxmemory with maxmemory-policy noeviction (writes then fail with OOM).
  std::string maxmemory;
  /// Raw config lines appended to the generated redis.conf.
  std::vector<std::string> extra_config;
  /// Run as a Redis Sentinel (`redis-server <conf> --sentinel`); its monitor lines go in
  /// extra_config.
  bool sentinel = false;
  /// Redis Cluster node: cluster-enabled, its nodes.conf in dir() (kept across restart(), so a
  /// restarted node rejoins with its identity), and a bus port of its own (cluster_port()).
  bool cluster = false;
  std::chrono::milliseconds start_timeout{10000};
};

class RedisServer {
 public:
  explicit RedisServer(RedisServerOptions options = {}) : options_(std::move(options)) {
    char pattern[] = "/tmp/sllrs-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    if (options_.tls) {
      const TlsCerts& certs = TlsCerts::shared();
      if (options_.tls_cert_file.empty()) options_.tls_cert_file = certs.server_cert;
      if (options_.tls_key_file.empty()) options_.tls_key_file = certs.server_key;
      if (options_.tls_ca_file.empty()) options_.tls_ca_file = certs.ca_cert;
    }
    try {
      start(/*same_ports=*/false);
    } catch (...) {
      cleanup();
      throw;
    }
  }

  ~RedisServer() { cleanup(); }

  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const noexcept { return port_; }
  int tls_port() const noexcept { return tls_port_; }
  int cluster_port() const noexcept { return cluster_port_; }
  pid_t pid() const noexcept { return pid_; }
  const std::string& dir() const noexcept { return dir_; }
  std::string socket_path() const { return dir_ + "/redis.sock"; }

  /// redis://127.0.0.1:<port> (no credentials: add them in the test).
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  std::string tls_url() const { return "rediss://127.0.0.1:" + std::to_string(tls_port_); }
  std::string unix_url() const { return "unix://" + socket_path(); }

  bool running() const noexcept { return pid_ > 0; }
  bool stopped() const noexcept { return stopped_; }

  /// SIGKILL and reap: the server vanishes without closing anything gracefully.
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    wait_process(pid_);
    pid_ = -1;
    stopped_ = false;
  }

  /// Freezes the server: connections stay open, nothing is answered.
  void sigstop() {
    if (pid_ > 0 && ::kill(pid_, SIGSTOP) == 0) stopped_ = true;
  }
  void sigcont() {
    if (pid_ > 0 && ::kill(pid_, SIGCONT) == 0) stopped_ = false;
  }

  /// Kills the server if running and starts a fresh one on the same ports (data is lost).
  void restart() {
    kill9();
    start(/*same_ports=*/true);
  }

  /// Runs redis-cli against the plain port (authenticated as the default user when requirepass
  /// is set) with a 5 s bound; returns its output without the trailing newline.
  std::string cli(std::initializer_list<std::string> args) const {
    return cli(std::vector<std::string>(args));
  }
  std::string cli(const std::vector<std::string>& args) const {
    std::vector<std::string> command{"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(port_)};
    if (!options_.requirepass.empty()) {
      command.insert(command.end(), {"--no-auth-warning", "-a", options_.requirepass});
    }
    command.insert(command.end(), args.begin(), args.end());
    const std::string out_file = dir_ + "/cli.out";
    run_bounded(command, 5, out_file);
    std::string out = read_text_file(out_file);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

  /// The server's log, for failure messages.
  std::string log() const { return read_text_file(dir_ + "/redis.log"); }

  /// A loopback port free now (another process may take it before it is used).
  static int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("cannot find a free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
  }

 private:
  void write_config() const {
    std::ofstream conf(dir_ + "/redis.conf", std::ios::trunc);
    conf << "bind 127.0.0.1" << (options_.ipv6 ? " ::1" : "") << "\n"
         << "port " << port_ << "\n"
         << "dir " << dir_ << "\n"
         << "logfile " << dir_ << "/redis.log\n"
         << "daemonize no\n"
         << "save \"\"\n"
         << "appendonly no\n";
    if (!options_.requirepass.empty()) conf << "requirepass \"" << options_.requirepass << "\"\n";
    for (const auto& user : options_.acl_users) conf << "user " << user << "\n";
    if (options_.unix_socket) conf << "unixsocket " << socket_path() << "\nunixsocketperm 700\n";
    if (options_.tls) {
      conf << "tls-port " << tls_port_ << "\n"
           << "tls-cert-file " << options_.tls_cert_file << "\n"
           << "tls-key-file " << options_.tls_key_file << "\n"
           << "tls-ca-cert-file " << options_.tls_ca_file << "\n"
           << "tls-auth-clients " << (options_.tls_auth_clients ? "yes" : "no") << "\n";
    }
    if (options_.cluster) {
      conf << "cluster-enabled yes\n"
           << "cluster-config-file " << dir_ << "/nodes.conf\n"
           << "cluster-port " << cluster_port_ << "\n";
    }
    if (!options_.maxmemory.empty()) {
      conf << "maxmemory " << options_.maxmemory << "\nmaxmemory-policy noeviction\n";
    }
    for (const auto& line : options_.extra_config) conf << line << "\n";
    if (!conf) throw std::runtime_error("cannot write " + dir_ + "/redis.conf");
  }

  void start(bool same_ports) {
    const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
    for (int attempt = 0;; ++attempt) {
      if (!same_ports) {
        port_ = free_port();
        tls_port_ = options_.tls ? free_port() : 0;
        cluster_port_ = options_.cluster ? free_port() : 0;
      }
      write_config();
      std::vector<std::string> command{"redis-server", dir_ + "/redis.conf"};
      if (options_.sentinel) command.push_back("--sentinel");
      pid_ = spawn_process(command, dir_ + "/stdout.log");
      if (wait_until_ready(deadline)) return;
      kill9();
      if (std::chrono::steady_clock::now() >= deadline || attempt >= 50) {
        throw std::runtime_error("redis-server did not start on port " + std::to_string(port_) +
                                 ": " + log() + read_text_file(dir_ + "/stdout.log"));
      }
      // A fixed port may still be held briefly; a random one was just taken by someone else.
      if (same_ports) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // True once the server on port_ answers and reports our pid (not a stranger's server that
  // took the port first). False when our process exited or time ran out.
  bool wait_until_ready(std::chrono::steady_clock::time_point deadline) {
    const std::string marker = "process_id:" + std::to_string(pid_) + "\r";
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    bool exited = false;
    const bool answered = testing::eventually(
        [&] {
          int status = 0;
          exited = ::waitpid(pid_, &status, WNOHANG) == pid_;
          return exited || query_info().find(marker) != std::string::npos;
        },
        std::max(left, std::chrono::milliseconds(0)));
    if (exited) pid_ = -1;
    return answered && !exited;
  }

  static std::string resp(const std::vector<std::string>& args) {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
  }

  // AUTH (when needed) + INFO server over a raw socket, at most ~300 ms; "" on any failure.
  std::string query_info() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return {};
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    std::string answer;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      std::string request;
      if (!options_.requirepass.empty()) request += resp({"AUTH", options_.requirepass});
      request += resp({"INFO", "server"});
      if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
        char buf[4096];
        while (answer.find("process_id:") == std::string::npos ||
               answer.find('\n', answer.find("process_id:")) == std::string::npos) {
          const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
              until - std::chrono::steady_clock::now());
          if (left.count() <= 0) break;
          pollfd p{fd, POLLIN, 0};
          if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
          const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
          if (n <= 0) break;
          answer.append(buf, static_cast<std::size_t>(n));
        }
      }
    }
    ::close(fd);
    return answer;
  }

  void cleanup() noexcept {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);  // also ends a SIGSTOPped process
      wait_process(pid_);
      pid_ = -1;
    }
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

  RedisServerOptions options_;
  std::string dir_;
  int port_ = 0;
  int tls_port_ = 0;
  int cluster_port_ = 0;
  pid_t pid_ = -1;
  bool stopped_ = false;
};

}  // namespace streamll::test
