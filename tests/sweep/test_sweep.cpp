// Scenario fields by name, sweep grids and the parallel runner (include/epscope/sweep/sweep.h).
#include <gtest/gtest.h>

#include "epscope/base/error.h"
#include "epscope/sweep/sweep.h"

namespace epscope {
namespace {

TEST(ScenarioFields, AppliesListsAfterTheRankCount) {
  // tokens is given before nodes but expanded against the final 4 x 8 = 32 ranks.
  const Scenario s = with_fields(default_scenario(), {{"tokens", "100x16,50x16"}, {"nodes", "4"}});
  ASSERT_EQ(s.num_ranks(), 32);
  EXPECT_EQ(s.tokens_per_rank[15], 100);
  EXPECT_EQ(s.tokens_per_rank[16], 50);
}

TEST(ScenarioFields, UniformTokensFollowTheRankCountOthersAreAnError) {
  Scenario base = default_scenario();
  base.tokens_per_rank.assign(16, 7);
  EXPECT_EQ(with_fields(base, {{"nodes", "4"}}).tokens_per_rank.size(), 32u);
  // The default's 384x8,64x8 is not uniform: changing the rank count needs new tokens.
  EXPECT_THROW(with_fields(default_scenario(), {{"nodes", "4"}}), InputError);
}

TEST(ScenarioFields, ValuesAndNames) {
  const Scenario s =
      with_fields(default_scenario(),
                  {{"nvlink", "on"}, {"mode", "ht"}, {"skew", "0.5"}, {"tokens-per-rank", "224"}});
  EXPECT_TRUE(s.cluster.nvlink_enabled);
  EXPECT_EQ(s.mode, KernelMode::kHighThroughput);
  EXPECT_EQ(s.routing.popularity, RoutingSpec::Popularity::kLognormal);  // skew > 0 on uniform
  EXPECT_DOUBLE_EQ(s.routing.skew, 0.5);
  EXPECT_EQ(s.total_tokens(), 224 * 16);
  EXPECT_THROW(with_fields(default_scenario(), {{"nvlink", "maybe"}}), InputError);
  EXPECT_THROW(with_fields(default_scenario(), {{"colour", "red"}}), InputError);
}

TEST(SweepGrid, RowMajorLastAxisFastest) {
  const SweepGrid grid = parse_vary_flags({"tokens=384x8,64x8;224", "nvlink=on,off,on"});
  ASSERT_EQ(grid.num_points(), 6u);
  EXPECT_EQ(grid.axes[0].values, (std::vector<std::string>{"384x8,64x8", "224"}));
  const auto p = grid.point(4);  // 4 = 1 * 3 + 1: tokens[1], nvlink[1]
  EXPECT_EQ(p[0], (FieldValue{"tokens", "224"}));
  EXPECT_EQ(p[1], (FieldValue{"nvlink", "off"}));
  EXPECT_THROW(parse_vary_flags({"tokens=1", "tokens=2"}), InputError);
  EXPECT_THROW(parse_vary_flags({"tokens"}), InputError);
  EXPECT_THROW(parse_vary_flags({"tokens=1,,2"}), InputError);
}

TEST(Sweep, ThreadCountDoesNotChangeTheRows) {
  const SweepGrid grid = parse_vary_flags({"tokens=32,64,128,4096", "mode=ll,a2a"});
  SweepOptions one;
  one.num_threads = 1;
  SweepOptions four;
  four.num_threads = 4;
  four.compare_balanced = true;
  const auto a = run_sweep(default_scenario(), grid, one);
  const auto b = run_sweep(default_scenario(), grid, four);
  ASSERT_EQ(a.size(), 8u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["point"], i);
    EXPECT_EQ(a[i].value("total_us", -1.0), b[i].value("total_us", -1.0));
  }
  // 4096 tokens overflow the LL receive buffer (1024): an error row, not a failed sweep.
  EXPECT_TRUE(a[6].contains("error"));
  EXPECT_FALSE(a[7].contains("error"));  // a2a has no such buffer
  // Uniform tokens are balanced already.
  EXPECT_DOUBLE_EQ(b[0]["ratio"].get<double>(), 1.0);
  // The subset runner keeps the order it is given.
  const auto sub = run_sweep(default_scenario(), grid, one, {5, 1});
  EXPECT_EQ(sub[0]["point"], 5u);
  EXPECT_EQ(sub[1]["total_us"], a[1]["total_us"]);
}

// Issue 8, determinism: the same grid and seed give byte-identical rows (per-rank columns and
// balanced comparison included) on 1, 2 and 8 threads, with sampled, skewed routing; another
// seed gives other rows, so the comparison can fail.
TEST(Sweep, ByteIdenticalJsonOnEveryThreadCount) {
  const SweepGrid grid = parse_vary_flags(
      {"tokens=16;300x8,20x8;64", "mode=ll,ht,a2a", "routing=lognormal:0.6,zipf:1"});
  Scenario base = default_scenario();
  base.cluster.nvlink_enabled = true;  // ht needs NVLink
  base.routing.seed = 11;
  auto dump = [&](const Scenario& scenario, int threads) {
    SweepOptions options;
    options.num_threads = threads;
    options.compare_balanced = true;
    options.per_rank = true;
    return nlohmann::json(run_sweep(scenario, grid, options)).dump();
  };
  const std::string one = dump(base, 1);
  EXPECT_EQ(dump(base, 2), one);
  EXPECT_EQ(dump(base, 8), one);
  base.routing.seed = 12;
  EXPECT_NE(dump(base, 8), one);
}

TEST(Sweep, CsvQuotesListsAndKeepsColumnsFixed) {
  const SweepGrid grid = parse_vary_flags({"tokens=384x8,64x8;224"});
  const std::string csv = sweep_csv(grid, run_sweep(default_scenario(), grid, {}));
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "point,tokens,num_ranks,total_tokens,max_tokens,mean_tokens,balance_ratio,"
            "dispatch_us,combine_us,total_us,max_wait_us,balanced_total_us,ratio,"
            "dispatch_bottleneck,combine_bottleneck,error");
  EXPECT_NE(csv.find("\n0,\"384x8,64x8\",16,3584,384,224.0,"), std::string::npos);
}

}  // namespace
}  // namespace epscope
