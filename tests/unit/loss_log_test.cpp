// LossLog: the lost sequence numbers flush() asks about, as bounded ranges.

#include <catch2/catch.hpp>

#include "pipeline/loss_log.hpp"

using streamll::detail::LossLog;

TEST_CASE("LossLog answers whether a range of sequences held a loss", "[loss_log]") {
  LossLog log;
  CHECK_FALSE(log.any_in(0, 100));
  log.record(10, 5);  // 10..14
  CHECK(log.any_in(0, 11));
  CHECK(log.any_in(14, 15));
  CHECK_FALSE(log.any_in(0, 10));
  CHECK_FALSE(log.any_in(15, 100));
  CHECK_FALSE(log.any_in(12, 12));  // empty query
  log.record(3, 1);
  CHECK(log.any_in(3, 4));
  CHECK_FALSE(log.any_in(4, 10));
  CHECK(log.range_count() == 2);
}

TEST_CASE("LossLog merges runs that touch or overlap, in any order", "[loss_log]") {
  LossLog log;
  for (std::uint64_t s = 100; s < 200; ++s) log.record(s, 1);  // an outage's evictions
  CHECK(log.range_count() == 1);
  log.record(50, 10);
  log.record(60, 40);  // fills the gap to 100: one range 50..199
  CHECK(log.range_count() == 1);
  CHECK(log.any_in(50, 51));
  CHECK(log.any_in(199, 1000));
  CHECK_FALSE(log.any_in(200, 1000));
  log.record(300, 5);
  log.record(250, 100);  // swallows 300..304
  CHECK(log.range_count() == 2);
  CHECK_FALSE(log.any_in(200, 250));
  CHECK(log.any_in(349, 350));
}

TEST_CASE("LossLog stays bounded by merging the closest ranges, erring towards lost",
          "[loss_log]") {
  LossLog log;
  // 100 single losses, every tenth sequence, except a narrower gap between 500 and 505.
  for (std::uint64_t s = 0; s < 1000; s += 10) log.record(s, 1);
  log.record(505, 1);
  CHECK(log.range_count() <= LossLog::max_ranges);
  // Every real loss is still reported.
  for (std::uint64_t s = 0; s < 1000; s += 10) CHECK(log.any_in(s, s + 1));
  CHECK(log.any_in(505, 506));
  // Some gaps were merged away (reported lost though they were not): the bound's price.
  int false_losses = 0;
  for (std::uint64_t s = 1; s < 1000; ++s) {
    if (s % 10 != 0 && s != 505 && log.any_in(s, s + 1)) ++false_losses;
  }
  CHECK(false_losses > 0);
}

TEST_CASE("LossLog forgets what lies below a sequence", "[loss_log]") {
  LossLog log;
  log.record(5, 5);
  log.record(20, 5);
  log.forget_below(12);
  CHECK_FALSE(log.any_in(0, 12));
  CHECK(log.any_in(20, 21));
  log.forget_below(22);  // a range reaching past the point is kept whole
  CHECK(log.any_in(20, 21));
  log.forget_below(25);
  CHECK(log.range_count() == 0);
}
