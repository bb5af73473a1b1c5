// Every timeout the library takes may be "forever" (milliseconds::max() is the usual way to say
// it): longer than a year counts as a year, clamped in the timeout's own units before it is
// converted or added to the clock, where it would overflow into the past and mean "now".

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <thread>

#include <streamll/exporter.hpp>
#include <streamll/sinks/batching_sink.hpp>
#include <streamll/streamll.hpp>

#include "support/deadline.hpp"

namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;
constexpr std::chrono::hours kYear{24 * 365};

// A destination that takes a while to answer each batch.
class SlowExporter final : public streamll::Exporter {
 public:
  streamll::ExportResult export_batch(streamll::ExportBatch&) override {
    std::this_thread::sleep_for(milliseconds(20));
    return streamll::ExportResult::done();
  }
};

streamll::Event event(int id) {
  return streamll::Event::capture(streamll::EventType::custom, nullptr, {{"id", id}}, "tick");
}

template <typename Duration>
void check_a_year_from_now(Duration timeout) {
  const auto before = SteadyClock::now();
  const auto deadline = streamll::detail::deadline_in(timeout);
  const auto after = SteadyClock::now();
  CHECK(deadline >= before + kYear);
  CHECK(deadline <= after + kYear);
}

}  // namespace

TEST_CASE("deadline_in: a year at most, now at least, in any unit", "[timeouts]") {
  check_a_year_from_now(milliseconds::max());
  check_a_year_from_now(std::chrono::nanoseconds::max());
  check_a_year_from_now(std::chrono::seconds::max());
  check_a_year_from_now(std::chrono::hours::max());
  check_a_year_from_now(kYear * 2);
  check_a_year_from_now(kYear);

  const auto before = SteadyClock::now();
  const auto negative = streamll::detail::deadline_in(milliseconds::min());
  const auto after = SteadyClock::now();
  CHECK(negative >= before);  // zero: now
  CHECK(negative <= after);
  const auto in_a_day = streamll::detail::deadline_in(std::chrono::hours(24));
  CHECK(in_a_day >= before + std::chrono::hours(24));
  CHECK(in_a_day < before + std::chrono::hours(25));
}

TEST_CASE("a sink whose every timeout is milliseconds::max() waits for its destination",
          "[timeouts][sinks]") {
  streamll::BatchingSinkOptions options;
  options.flush_interval = milliseconds::max();
  options.export_timeout = milliseconds::max();
  options.shutdown_timeout = milliseconds::max();
  options.retry.recovery_timeout = milliseconds::max();
  options.retry.max_delay = milliseconds::max();
  streamll::BatchingSink sink(std::make_unique<SlowExporter>(), options);
  for (int i = 0; i < 3; ++i) sink.handle(event(i));

  CHECK(sink.flush(milliseconds::max()));
  CHECK(sink.stats().delivered == 3);

  sink.handle(event(3));
  CHECK(sink.shutdown(milliseconds::max()));
  const auto stats = sink.stats();
  CHECK(stats.delivered == 4);
  CHECK(stats.dropped_on_shutdown == 0);
}
