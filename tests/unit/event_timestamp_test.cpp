#include <catch2/catch.hpp>

#include <chrono>

#include "streamll/event.hpp"

// Events read std::chrono::system_clock on the application thread: no calibration, no state
// shared between threads, so a timestamp is exactly the system clock's reading at capture.
TEST_CASE("event timestamps are the system clock's reading at capture", "[event][timestamp]") {
  // The system clock may be set while this runs (NTP stepping it): a capture that falls
  // outside its two readings is tried again, and it must not happen twice in a row.
  using std::chrono::system_clock;
  int outside_twice = 0;
  for (int i = 0; i < 10'000; ++i) {
    bool inside = false;
    for (int attempt = 0; attempt < 2 && !inside; ++attempt) {
      const auto before = system_clock::now();
      const auto event = streamll::Event::capture(streamll::EventType::token, nullptr);
      const auto after = system_clock::now();
      inside = event.timestamp >= before && event.timestamp <= after;
    }
    if (!inside) ++outside_twice;
  }
  CHECK(outside_twice == 0);
}
