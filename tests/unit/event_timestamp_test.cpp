#include <catch2/catch.hpp>

#include <chrono>

#include "streamll/event.hpp"

// Events read std::chrono::system_clock on the application thread: no calibration, no state
// shared between threads, so a timestamp is exactly the system clock's reading at capture.
TEST_CASE("event timestamps are the system clock's reading at capture", "[event][timestamp]") {
  using std::chrono::system_clock;
  streamll::Timestamp previous{};
  int outside = 0;
  int backwards = 0;
  for (int i = 0; i < 10'000; ++i) {
    const auto before = system_clock::now();
    const auto event = streamll::Event::capture(streamll::EventType::token, nullptr);
    const auto after = system_clock::now();
    if (event.timestamp < before || event.timestamp > after) ++outside;
    if (event.timestamp < previous) ++backwards;
    previous = event.timestamp;
  }
  CHECK(outside == 0);
  CHECK(backwards == 0);
}
