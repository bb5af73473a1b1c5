// The rate-limited log builds a message only when it will be logged, so that a warning raised
// on every call of an application thread (an invalid event type name) allocates nothing once
// the limit drops it.

#include <catch2/catch.hpp>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <string>

#include "logging.hpp"

TEST_CASE("a dropped lazy message is never built and a logged one reports the drops", "[log]") {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_pattern("%v");
  spdlog::register_logger(std::make_shared<spdlog::logger>("streamll_rate_limit_test", sink));

  streamll::detail::RateLimitedLog log("streamll_rate_limit_test", 2, std::chrono::hours(1));
  int built = 0;
  for (int i = 0; i < 5; ++i) {
    log.log_lazy(spdlog::level::warn, [&] {
      ++built;
      return std::string("message ") + std::to_string(i);
    });
  }
  CHECK(built == 2);
  CHECK(log.suppressed_total() == 3);
  CHECK(out.str() == "message 0\nmessage 1\n");
  spdlog::drop("streamll_rate_limit_test");
}
