#include <catch2/catch.hpp>
#include <streamll/streamll.hpp>

TEST_CASE("smoke") {
  streamll::Instrumentor inst;
  { streamll::Span s(inst, "x"); }
  CHECK(true);
}
