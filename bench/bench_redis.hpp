#pragma once
// Redis for the benchmarks: the server given by REDIS_URL, or a throwaway redis-server on a
// free loopback port (the integration tests' fixture, tests/support/redis_server.hpp), plus a
// URL where Redis is down (a server started and then killed, so nothing listens there).

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "redis_server.hpp"
#include "subprocess.hpp"

namespace streamll::bench {

class BenchRedis {
 public:
  BenchRedis() {
    const char* env = std::getenv("REDIS_URL");
    if (env && *env) {
      url_ = env;
    } else {
      server_ = std::make_unique<test::RedisServer>();
      url_ = server_->url();
    }
  }

  const std::string& url() const noexcept { return url_; }
  /// Host and port for tools that take them separately (redis-benchmark); only for a
  /// redis://host:port URL without credentials, which is all the harness supports.
  std::vector<std::string> host_port_args() const {
    std::string rest = url_.substr(url_.find("://") + 3);
    rest = rest.substr(0, rest.find('/'));
    const auto colon = rest.rfind(':');
    if (colon == std::string::npos) return {"-h", rest, "-p", "6379"};
    return {"-h", rest.substr(0, colon), "-p", rest.substr(colon + 1)};
  }

  /// redis-cli with `args`, bounded to 30 s; its output without the trailing newline.
  std::string cli(const std::vector<std::string>& args) const {
    std::vector<std::string> command{"redis-cli", "-u", url_};
    command.insert(command.end(), args.begin(), args.end());
    const std::string out_file = scratch_file("cli.out");
    test::run_bounded(command, 30, out_file);
    std::string out = test::read_text_file(out_file);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

  /// A path for scratch output, removed with the server's directory (or in /tmp).
  std::string scratch_file(const std::string& name) const {
    return (server_ ? server_->dir() : std::string("/tmp")) + "/bench-" + name;
  }

 private:
  std::unique_ptr<test::RedisServer> server_;
  std::string url_;
};

/// A redis:// URL with nothing listening: a server was started there and killed.
class DeadRedis {
 public:
  DeadRedis() { server_.kill9(); }
  std::string url() const { return server_.url(); }

 private:
  test::RedisServer server_;
};

/// Sends streamll's own log lines (connects, breaker changes, overflow warnings) nowhere, so
/// that they do not interleave with benchmark output; streamll uses loggers that the
/// application registered under its names.
inline void silence_streamll_logs() {
  auto null_sink = std::make_shared<spdlog::sinks::null_sink_mt>();
  for (const char* name : {"streamll", "streamll.sinks.redis"}) {
    if (!spdlog::get(name))
      spdlog::register_logger(std::make_shared<spdlog::logger>(name, null_sink));
  }
}

}  // namespace streamll::bench
