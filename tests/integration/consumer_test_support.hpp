#pragma once
// Support for the consumer, analytics and CLI integration tests: consumer options with small
// timeouts, writing events straight into a stream, and running the `streamll` binary.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <streamll/redis/consumer.hpp>

#include "redis_sink_test_support.hpp"
#include "subprocess.hpp"

namespace streamll::consumerit {

using namespace std::chrono_literals;
using sinkit::DirectRedis;

inline ConsumerOptions group_options(const std::string& url, const std::string& group,
                                     const std::string& consumer) {
  ConsumerOptions o;
  o.connection.url = url;
  o.group = group;
  o.consumer_name = consumer;
  o.batch_size = 50;
  o.block = 200ms;
  o.connection.connect_timeout = 1s;
  o.connection.socket_timeout = 2s;
  o.reconnect_initial_delay = 50ms;
  o.reconnect_max_delay = 200ms;
  return o;
}

/// XADDs `event`'s JSON (id "*" unless given); returns the entry id.
inline std::string add_event(DirectRedis& redis, const Event& event, const std::string& id = "*",
                             const std::string& key = "ml_events") {
  return redis.text({"XADD", key, id, "event", to_json(event)});
}

inline Event llm_call(const std::string& model, std::int64_t tokens, double cost,
                      double response_ms, double ttft_ms) {
  return Event::capture(EventType::llm_call, nullptr,
                        {{"model", model},
                         {"tokens_used", tokens},
                         {"cost_usd", cost},
                         {"response_time_ms", response_ms},
                         {"ttft_ms", ttft_ms},
                         {"success", true}});
}

inline Event error_event() {
  return Event::capture(EventType::error, nullptr,
                        {{"error_type", "TimeoutError"}, {"error_message", "slow"}});
}

inline Event numbered(int n) {
  return Event::capture(EventType::token, nullptr, {{"token", "t"}, {"index", n}});
}

/// Event ids seen by handlers on several threads.
class SeenIds {
 public:
  void add(const ConsumedEvent& m) {
    std::lock_guard<std::mutex> lock(mutex_);
    ids_.push_back(m.event.id.to_string());
  }
  std::vector<std::string> ids() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return ids_;
  }
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return ids_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> ids_;
};

/// Entries pending in `group` (XPENDING summary); -1 while the group does not exist.
inline long long pending_count(DirectRedis& redis, const std::string& group,
                               const std::string& key = "ml_events") {
  const auto reply = redis.command({"XPENDING", key, group});
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) return -1;
  return reply->element[0]->integer;
}

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs the streamll binary with `args` (bounded by `seconds`), extra environment variables
/// on top of ours, stdout and stderr captured separately.
inline CliResult run_cli(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env = {}, int seconds = 60) {
  char dir_pattern[] = "/tmp/sllcli-XXXXXX";
  const std::string dir = ::mkdtemp(dir_pattern);
  const std::string out_file = dir + "/out", err_file = dir + "/err";
  std::vector<std::string> command = {"timeout", "-s", "KILL", std::to_string(seconds),
                                      STREAMLL_CLI_PATH};
  command.insert(command.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : command) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    if (env.count(name) == 0 && name.rfind("REDIS_", 0) != 0 && name.rfind("STREAMLL_", 0) != 0)
      env_storage.push_back(entry);
  }
  for (const auto& [k, v] : env) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, "timeout", &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  CliResult result;
  if (rc == 0) result.exit_code = test::wait_process(pid);
  result.out = test::read_text_file(out_file);
  result.err = test::read_text_file(err_file);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return result;
}

}  // namespace streamll::consumerit
