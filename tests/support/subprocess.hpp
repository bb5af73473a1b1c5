#pragma once
// Test support: start programs without a shell (no quoting bugs) and without fork() in a
// process that may have threads (posix_spawn), with their output sent to a file.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace streamll::test {

/// Starts `args` (args[0] looked up in PATH) with stdout and stderr appended to `output_file`
/// (or /dev/null when empty) and stdin from /dev/null. Returns the pid; throws on failure.
inline pid_t spawn_process(const std::vector<std::string>& args, const std::string& output_file) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string out = output_file.empty() ? "/dev/null" : output_file;
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // The child must not inherit a blocked or ignored SIGPIPE/SIGTERM disposition from the test.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    throw std::runtime_error("cannot start " + args[0] + ": error " + std::to_string(rc));
  return pid;
}

/// Waits for `pid`; returns its exit code (128 + signal when killed).
inline int wait_process(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

inline std::string read_text_file(const std::string& file) {
  std::ifstream in(file);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// Runs `timeout <seconds> args...` to completion, output captured into `output_file` (truncated
/// first). Returns the exit code (124 when the time ran out).
inline int run_bounded(std::vector<std::string> args, int seconds, const std::string& output_file) {
  { std::ofstream truncate(output_file, std::ios::trunc); }
  args.insert(args.begin(), {"timeout", "-s", "KILL", std::to_string(seconds)});
  return wait_process(spawn_process(args, output_file));
}

}  // namespace streamll::test
