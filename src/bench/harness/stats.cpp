#include "bench/harness/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace epscope::bench {

double quantile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

Percentiles percentiles(std::vector<double> values) {
  Percentiles p;
  if (values.empty()) return p;
  std::sort(values.begin(), values.end());
  p.count = static_cast<std::int64_t>(values.size());
  p.min = values.front();
  p.max = values.back();
  p.p50 = quantile_sorted(values, 0.50);
  p.p90 = quantile_sorted(values, 0.90);
  p.p99 = quantile_sorted(values, 0.99);
  p.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  return p;
}

}  // namespace epscope::bench
