// STREAMLL_EXIT_FLUSH_TIMEOUT_MS accepts milliseconds as a non-negative integer and nothing
// else (the exit flush then keeps its 2 s default and says so).

#include <catch2/catch.hpp>

#include "exit_flush.hpp"

using streamll::detail::parse_exit_flush_timeout;

TEST_CASE("the exit flush timeout is read as milliseconds", "[lifecycle]") {
  CHECK(parse_exit_flush_timeout("0") == std::chrono::milliseconds(0));
  CHECK(parse_exit_flush_timeout("2500") == std::chrono::milliseconds(2500));
  CHECK_FALSE(parse_exit_flush_timeout(""));
  CHECK_FALSE(parse_exit_flush_timeout("-1"));
  CHECK_FALSE(parse_exit_flush_timeout("2s"));
  CHECK_FALSE(parse_exit_flush_timeout(" 5"));
  CHECK_FALSE(parse_exit_flush_timeout("9999999999999"));
}
