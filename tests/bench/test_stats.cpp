#include <gtest/gtest.h>

#include "bench/harness/stats.h"

namespace epscope::bench {
namespace {

TEST(Percentiles, LinearInterpolationLikeNumpy) {
  // Sorted: 1 2 3 4 5 6 7 8 9 10. p50 at position 4.5 -> (5 + 6) / 2 = 5.5;
  // p90 at 8.1 -> 9 + 0.1 * (10 - 9) = 9.1; p99 at 8.91 -> 9.91; mean 5.5.
  const Percentiles p = percentiles({10, 3, 1, 2, 4, 5, 6, 7, 8, 9});
  EXPECT_EQ(p.count, 10);
  EXPECT_DOUBLE_EQ(p.min, 1);
  EXPECT_DOUBLE_EQ(p.max, 10);
  EXPECT_DOUBLE_EQ(p.p50, 5.5);
  EXPECT_DOUBLE_EQ(p.p90, 9.1);
  EXPECT_NEAR(p.p99, 9.91, 1e-12);
  EXPECT_DOUBLE_EQ(p.mean, 5.5);
}

TEST(Percentiles, SingleValueAndEmpty) {
  const Percentiles one = percentiles({42});
  EXPECT_DOUBLE_EQ(one.p50, 42);
  EXPECT_DOUBLE_EQ(one.p99, 42);
  EXPECT_EQ(percentiles({}).count, 0);
}

}  // namespace
}  // namespace epscope::bench
