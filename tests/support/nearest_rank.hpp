// The nearest-rank percentile, written the obvious way (sort, take the ceil(p% of n)-th): the
// oracle the analytics' percentiles are checked against.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace streamll::testing {

inline double nearest_rank(std::vector<double> v, int percent) {
  std::sort(v.begin(), v.end());
  const auto rank =
      static_cast<std::size_t>(std::ceil(percent / 100.0 * static_cast<double>(v.size())));
  return v[std::max<std::size_t>(rank, 1) - 1];
}

}  // namespace streamll::testing
