// Percentiles over all ranks and iterations (DOMAIN.md §6: min, p50, p90, p99, max).
#pragma once

#include <cstdint>
#include <vector>

namespace epscope::bench {

struct Percentiles {
  std::int64_t count = 0;
  double min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

/// Linear interpolation between closest ranks (numpy's default). Empty input gives count 0.
Percentiles percentiles(std::vector<double> values);

/// The q-quantile (0 <= q <= 1) of sorted values, linear interpolation.
double quantile_sorted(const std::vector<double>& sorted, double q);

}  // namespace epscope::bench
