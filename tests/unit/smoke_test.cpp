#include <catch2/catch.hpp>
#include <streamll/streamll.hpp>

#include <memory>
#include <string>
#include <vector>

// The umbrella header alone is enough to instrument a step and see it arrive in a sink.
TEST_CASE("smoke: a span through the umbrella header reaches its sink") {
  const auto sink = std::make_shared<streamll::MemorySink>();
  {
    streamll::Instrumentor inst(streamll::InstrumentorOptions{{sink}, {}, {}});
    { streamll::Span s(inst, "x"); }
  }
  CHECK(sink->type_names() == std::vector<std::string>{"start", "end"});
  CHECK(sink->events_for_operation("x").size() == 2);
}
