#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace {
const pid_t test_process = ::getpid();

// The tests set the STREAMLL_* variables they are about (ScopedEnv); one exported in the shell
// that runs them (STREAMLL_CAPTURE_CONTENT=0, STREAMLL_SAMPLE_RATE=0) would change the
// defaults every other test assumes, so they start from none. Programs they run inherit this.
const bool streamll_environment_cleared = [] {
  std::vector<std::string> names;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "STREAMLL_", 9) != 0) continue;
    const char* equals = std::strchr(*entry, '=');
    if (equals != nullptr) names.emplace_back(*entry, static_cast<std::size_t>(equals - *entry));
  }
  for (const auto& name : names) ::unsetenv(name.c_str());
  return true;
}();
}  // namespace

// LeakSanitizer calls this before its check at exit. A child forked by a test (fork tests)
// holds its parent's heap without the parent's other threads, whose stacks were the only
// references to much of it, and it leaks the parent's sink state on purpose: its leak report
// would be noise that fails the child. The test process itself is checked as usual.
extern "C" int __lsan_is_turned_off() { return ::getpid() != test_process ? 1 : 0; }
