#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <unistd.h>

namespace {
const pid_t test_process = ::getpid();
}

// LeakSanitizer calls this before its check at exit. A child forked by a test (fork tests)
// holds its parent's heap without the parent's other threads, whose stacks were the only
// references to much of it, and it leaks the parent's sink state on purpose: its leak report
// would be noise that fails the child. The test process itself is checked as usual.
extern "C" int __lsan_is_turned_off() { return ::getpid() != test_process ? 1 : 0; }
