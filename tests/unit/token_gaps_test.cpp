// TokenGaps, the histogram behind the llm_call event's inter-token percentiles: its buckets at
// every boundary, and its percentiles against an exact nearest-rank oracle over generated gaps.

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include <streamll/detail/token_gaps.hpp>

namespace {

using std::chrono::nanoseconds;
using streamll::detail::TokenGaps;

// Nearest rank, 1-based: the value at ceil(p/100 * n) in ascending order, in milliseconds.
double nearest_rank_ms(std::vector<std::int64_t> ns, double percent) {
  std::sort(ns.begin(), ns.end());
  const auto n = static_cast<double>(ns.size());
  const auto rank = static_cast<std::size_t>(std::max(1.0, std::ceil(percent / 100.0 * n)));
  return static_cast<double>(ns[rank - 1]) / 1e6;
}

}  // namespace

TEST_CASE("TokenGaps: every gap falls in a bucket that holds it", "[streaming]") {
  // Boundaries: the exact range, each power of two and its neighbours, the largest counted gap.
  std::vector<std::int64_t> values = {0, 1, 31, 32, 33, 63, 64, 65, 95, 96, 127, 128};
  for (int e = 7; e <= 40; ++e) {
    const std::int64_t p = std::int64_t{1} << e;
    values.insert(values.end(), {p - 1, p, p + 1, p + p / 2});
  }
  std::sort(values.begin(), values.end());
  std::size_t previous = 0;
  for (const std::int64_t v : values) {
    CAPTURE(v);
    const std::size_t b = TokenGaps::bucket_of(v);
    REQUIRE(b < TokenGaps::kBuckets);
    CHECK(b >= previous);  // monotonic
    previous = b;
    if (v <= TokenGaps::kLargestCounted) {
      CHECK(TokenGaps::lower_bound_ns(b) <= v);
      CHECK(v < TokenGaps::lower_bound_ns(b) + TokenGaps::width_ns(b));
      // Half a bucket is at most 1/64 of any gap in it (exact below 64 ns).
      if (v < 64) CHECK(TokenGaps::width_ns(b) == 1);
      if (v >= 64) CHECK(TokenGaps::width_ns(b) * 64 <= TokenGaps::lower_bound_ns(b) * 2);
    }
  }
  CHECK(TokenGaps::bucket_of(-5) == 0);
  CHECK(TokenGaps::bucket_of(TokenGaps::kLargestCounted) == TokenGaps::kBuckets - 1);
  CHECK(TokenGaps::bucket_of(std::numeric_limits<std::int64_t>::max()) == TokenGaps::kBuckets - 1);
  // Buckets tile the range: each starts where the one before ends.
  for (std::size_t b = 1; b < TokenGaps::kBuckets; ++b) {
    CAPTURE(b);
    REQUIRE(TokenGaps::lower_bound_ns(b) ==
            TokenGaps::lower_bound_ns(b - 1) + TokenGaps::width_ns(b - 1));
  }
}

TEST_CASE("TokenGaps: nearest-rank percentiles at small counts", "[streaming]") {
  TokenGaps none;
  CHECK_FALSE(none.complete());

  TokenGaps one;
  one.add(nanoseconds(40));  // exact below 64 ns
  CHECK(one.complete());
  CHECK(one.percentile_ms(50) == 40e-6);
  CHECK(one.percentile_ms(95) == 40e-6);
  CHECK(one.max_ms() == 40e-6);

  TokenGaps two;
  two.add(nanoseconds(9));
  two.add(nanoseconds(3));
  CHECK(two.percentile_ms(50) == 3e-6);  // rank ceil(1.0) = 1
  CHECK(two.percentile_ms(95) == 9e-6);  // rank ceil(1.9) = 2
  CHECK(two.size() == 2);

  // 1..20 ms in a shuffled order: p50 is the 10th, p95 the 19th, max the 20th exactly.
  TokenGaps twenty;
  for (int i = 0; i < 20; ++i) twenty.add(std::chrono::milliseconds((i * 7) % 20 + 1));
  CHECK(twenty.percentile_ms(50) == Approx(10.0).epsilon(1.0 / 64));
  CHECK(twenty.percentile_ms(95) == Approx(19.0).epsilon(1.0 / 64));
  CHECK(twenty.max_ms() == 20.0);
  CHECK(twenty.percentile_ms(100) == 20.0);  // never above the largest gap

  // A gap the clock could report as negative counts as zero.
  TokenGaps clamped;
  clamped.add(nanoseconds(-5));
  CHECK(clamped.max_ms() == 0.0);
  CHECK(clamped.percentile_ms(50) == 0.0);

  // A gap beyond the histogram's range: its percentile is capped, its max is exact.
  TokenGaps huge;
  huge.add(std::chrono::hours(1));
  CHECK(huge.max_ms() == 3'600'000.0);
  const double last_bucket_middle_ms =
      static_cast<double>((std::int64_t{63} << 34) + (std::int64_t{1} << 33)) / 1e6;
  CHECK(huge.percentile_ms(50) == last_bucket_middle_ms);

  // A moved-from one is empty, not complete without counters.
  TokenGaps moved(std::move(twenty));
  CHECK(moved.size() == 20);
  CHECK(moved.max_ms() == 20.0);
  CHECK_FALSE(twenty.complete());  // NOLINT(bugprone-use-after-move): what a move leaves
  CHECK(twenty.size() == 0);
}

TEST_CASE("TokenGaps: percentiles within 1/64 of the exact ones over generated gaps",
          "[streaming]") {
  std::mt19937_64 random(20261206);
  // Log-uniform from 1 ns to 10 s: every scale a model's gaps might have, and ties.
  std::uniform_real_distribution<double> log10_ns(0.0, 10.0);
  for (const int count : {1, 2, 3, 19, 20, 21, 100, 1000, 5000}) {
    for (int round = 0; round < 20; ++round) {
      CAPTURE(count, round);
      TokenGaps gaps;
      std::vector<std::int64_t> exact;
      for (int i = 0; i < count; ++i) {
        const auto ns = static_cast<std::int64_t>(std::pow(10.0, log10_ns(random)));
        exact.push_back(ns);
        gaps.add(nanoseconds(ns));
      }
      REQUIRE(gaps.size() == static_cast<std::uint64_t>(count));
      for (const double p : {1.0, 50.0, 95.0, 99.0, 100.0}) {
        CAPTURE(p);
        const double oracle = nearest_rank_ms(exact, p);
        CHECK(std::fabs(gaps.percentile_ms(p) - oracle) <= oracle / 64);
      }
      CHECK(gaps.max_ms() == nearest_rank_ms(exact, 100));
    }
  }
}
