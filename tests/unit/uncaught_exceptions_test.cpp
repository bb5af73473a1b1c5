// detail::uncaught_exceptions(), which reads the C++ runtime's per-thread exception count
// directly (include/streamll/detail/uncaught_exceptions.hpp), against the oracle
// std::uncaught_exceptions() in every state a span can be opened or closed in: no exception,
// one and two unwinding at once, inside a catch block and a rethrow, and on a thread that
// never asked before.

#include <catch2/catch.hpp>

#include <exception>
#include <stdexcept>
#include <thread>
#include <vector>

#include <streamll/detail/uncaught_exceptions.hpp>

namespace {

// Both counts, taken together.
struct Seen {
  int ours;
  int standard;
};

Seen now() { return {streamll::detail::uncaught_exceptions(), std::uncaught_exceptions()}; }

// Records both counts when destroyed, which happens during unwinding in the tests below.
struct RecordsOnDestruction {
  std::vector<Seen>& into;
  ~RecordsOnDestruction() { into.push_back(now()); }
};

// Destroyed while one exception unwinds, throws and catches a second one inside its
// destructor, recording the counts while both unwind.
struct ThrowsWhileUnwinding {
  std::vector<Seen>& into;
  ~ThrowsWhileUnwinding() {
    into.push_back(now());
    try {
      RecordsOnDestruction inner{into};
      throw std::logic_error("second");
    } catch (const std::logic_error&) {
      into.push_back(now());
    }
  }
};

void check_all_equal(const std::vector<Seen>& seen, const std::vector<int>& expected) {
  REQUIRE(seen.size() == expected.size());
  for (std::size_t i = 0; i < seen.size(); ++i) {
    INFO("record " << i);
    CHECK(seen[i].ours == seen[i].standard);
    CHECK(seen[i].ours == expected[i]);
  }
}

}  // namespace

TEST_CASE("uncaught_exceptions matches the standard count with none unwinding") {
  check_all_equal({now()}, {0});
}

TEST_CASE("uncaught_exceptions matches the standard count while one and two unwind") {
  std::vector<Seen> seen;
  try {
    ThrowsWhileUnwinding outer{seen};
    throw std::runtime_error("first");
  } catch (const std::runtime_error&) {
    seen.push_back(now());  // handled: no longer uncaught
  }
  // In the outer destructor: 1; in the inner one: 2; after the inner catch: 1; after all: 0.
  check_all_equal(seen, {1, 2, 1, 0});
}

TEST_CASE("uncaught_exceptions matches the standard count through a rethrow") {
  std::vector<Seen> seen;
  try {
    try {
      throw 7;
    } catch (int) {
      seen.push_back(now());
      RecordsOnDestruction during_rethrow{seen};
      throw;
    }
  } catch (int) {
    seen.push_back(now());
  }
  check_all_equal(seen, {0, 1, 0});
}

TEST_CASE("uncaught_exceptions is per thread") {
  std::vector<Seen> on_main;
  std::vector<Seen> on_worker;
  try {
    struct StartsThreadOnDestruction {
      std::vector<Seen>& main_seen;
      std::vector<Seen>& worker_seen;
      ~StartsThreadOnDestruction() {
        // The worker's first call looks its own count up: none unwinds there.
        std::thread worker([this] {
          worker_seen.push_back(now());
          try {
            RecordsOnDestruction inner{worker_seen};
            throw 1;
          } catch (int) {
          }
        });
        worker.join();
        main_seen.push_back(now());
      }
    } guard{on_main, on_worker};
    throw std::runtime_error("main only");
  } catch (const std::runtime_error&) {
  }
  check_all_equal(on_main, {1});
  check_all_equal(on_worker, {0, 1});
}
