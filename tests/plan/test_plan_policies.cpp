// Placement policies: golden placements, invariants, and the optimizer against the baselines.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "epscope/base/error.h"
#include "epscope/plan/decode_config.h"
#include "epscope/plan/decode_model.h"
#include "epscope/plan/plan_io.h"
#include "epscope/plan/plan_pareto.h"
#include "epscope/plan/plan_policies.h"
#include "epscope/plan/plan_replay.h"
#include "plan_test_util.h"

namespace epscope {
namespace {

Snapshot snapshot_of(std::vector<std::pair<std::int64_t, std::int64_t>> context_and_tokens) {
  Snapshot s;
  for (std::size_t i = 0; i < context_and_tokens.size(); ++i) {
    s.requests.push_back({static_cast<std::int64_t>(i), context_and_tokens[i].first,
                          context_and_tokens[i].second, -1});
  }
  return s;
}

/// Every request on exactly one valid rank, and no rank above capacity.
void expect_valid(const Snapshot& s, const Placement& p, int num_ranks, const Capacity& cap) {
  ASSERT_EQ(p.rank_of.size(), s.requests.size());
  std::vector<std::int64_t> kv(static_cast<std::size_t>(num_ranks), 0);
  for (std::size_t i = 0; i < s.requests.size(); ++i) {
    ASSERT_GE(p.rank_of[i], 0);
    ASSERT_LT(p.rank_of[i], num_ranks);
    kv[static_cast<std::size_t>(p.rank_of[i])] += s.requests[i].context_tokens;
  }
  for (int r = 0; r < num_ranks; ++r)
    EXPECT_LE(kv[static_cast<std::size_t>(r)], cap.of(r));
}

TEST(Policies, GoldenPlacementsOnTwoRanks) {
  const DecodeModel model = test::tiny_model(false);
  // Requests (context, tokens): 100/1, 5000/1, 200/2, 300/1.
  const Snapshot s = snapshot_of({{100, 1}, {5000, 1}, {200, 2}, {300, 1}});
  const Capacity none;
  // round robin: 0, 1, 0, 1.
  EXPECT_EQ(place(s, Policy::kRoundRobin, model, none).rank_of, (std::vector<int>{0, 1, 0, 1}));
  // shortest queue: 0 (tie: lower rank), 1 (0 requests), 0 (tie), 1.
  EXPECT_EQ(place(s, Policy::kShortestQueue, model, none).rank_of, (std::vector<int>{0, 1, 0, 1}));
  // total tokens (least KV, arrival order): 100 -> 0; 5000 -> 1; 200 -> 0 (100 < 5000); 300 -> 0.
  EXPECT_EQ(place(s, Policy::kTotalTokens, model, none).rank_of, (std::vector<int>{0, 1, 0, 0}));
  // balance KV (largest first): 5000 -> 0; 300 -> 1; 200 -> 1; 100 -> 1.
  EXPECT_EQ(place(s, Policy::kBalanceKv, model, none).rank_of, (std::vector<int>{1, 0, 1, 1}));
  // balance batch (largest first by tokens, stable): 200/2 -> 0; 100 -> 1 (0 < 2 tokens);
  // 5000 -> 1 (1 < 2); 300: both hold 2 tokens, the tie goes to fewer requests: rank 0.
  EXPECT_EQ(place(s, Policy::kBalanceBatch, model, none).rank_of, (std::vector<int>{1, 1, 0, 0}));
}

TEST(Policies, LambdaEndsMatchTheBalancers) {
  const DecodeModel model = test::deepseek_model("h800-cx7", 1, 8, false);
  const Snapshot s = test::random_snapshot(3, 200, 20000);
  const Capacity none;
  const auto loads_of = [&](const Placement& p) { return rank_loads(s, p, 8); };
  PlacementOptions kv_only;
  kv_only.lambda = 0;
  PlacementOptions batch_only;
  batch_only.lambda = 1;
  const auto kv_lambda = loads_of(place(s, Policy::kLambda, model, none, kv_only));
  const auto kv_lpt = loads_of(place(s, Policy::kBalanceKv, model, none));
  const auto batch_lambda = loads_of(place(s, Policy::kLambda, model, none, batch_only));
  std::int64_t max_kv_lambda = 0, max_kv_lpt = 0, max_b_lambda = 0, max_b_kv = 0;
  for (int r = 0; r < 8; ++r) {
    max_kv_lambda = std::max(max_kv_lambda, kv_lambda[static_cast<std::size_t>(r)].kv_tokens);
    max_kv_lpt = std::max(max_kv_lpt, kv_lpt[static_cast<std::size_t>(r)].kv_tokens);
    max_b_lambda = std::max(max_b_lambda, batch_lambda[static_cast<std::size_t>(r)].tokens);
    max_b_kv = std::max(max_b_kv, kv_lpt[static_cast<std::size_t>(r)].tokens);
  }
  EXPECT_EQ(max_kv_lambda, max_kv_lpt);  // lambda 0 is balance_kv
  EXPECT_LE(max_b_lambda, max_b_kv);     // lambda 1 balances the batch at least as well
}

TEST(Policies, InvariantsOnRandomSnapshotsWithCapacity) {
  const DecodeModel model = test::deepseek_model("h800-cx7", 1, 8, false);
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    const Snapshot s = test::random_snapshot(seed, 120, 10000);
    std::int64_t total = 0;
    for (const Request& q : s.requests)
      total += q.context_tokens;
    Capacity cap;
    cap.kv_tokens = {total / 8 + 20000};  // room for ~2 extra requests per rank
    for (Policy p : all_policies()) {
      SCOPED_TRACE(to_string(p));
      expect_valid(s, place(s, p, model, cap), 8, cap);
    }
  }
}

TEST(Policies, OnlineNeverMovesRunningRequests) {
  const DecodeModel model = test::deepseek_model("h800-cx7", 1, 8, false);
  Snapshot s = test::random_snapshot(11, 100, 8000);
  for (std::size_t i = 0; i < 60; ++i)
    s.requests[i].rank = static_cast<int>(i % 3);  // skewed
  for (Policy p : {Policy::kRoundRobin, Policy::kShortestQueue, Policy::kTotalTokens,
                   Policy::kEpscopeOnline}) {
    SCOPED_TRACE(to_string(p));
    const Placement placement = place(s, p, model, Capacity{});
    EXPECT_EQ(placement.num_moves, 0);
    for (std::size_t i = 0; i < 60; ++i)
      EXPECT_EQ(placement.rank_of[i], s.requests[i].rank);
  }
  // Offline rebalancing moves some, and reports how many.
  const Placement offline = place(s, Policy::kEpscopeOffline, model, Capacity{});
  int moved = 0;
  for (std::size_t i = 0; i < 60; ++i)
    moved += offline.rank_of[i] != s.requests[i].rank;
  EXPECT_EQ(offline.num_moves, moved);
  EXPECT_GT(moved, 0);
  PlacementOptions limited;
  limited.max_moves = 5;
  EXPECT_LE(place(s, Policy::kEpscopeOffline, model, Capacity{}, limited).num_moves, 5);
}

TEST(Policies, CapacityThatCannotFitIsAnInputError) {
  const DecodeModel model = test::tiny_model(false);
  const Snapshot s = snapshot_of({{600, 1}, {600, 1}, {600, 1}});
  Capacity cap;
  cap.kv_tokens = {1000};
  EXPECT_THROW(place(s, Policy::kRoundRobin, model, cap), InputError);
  EXPECT_THROW(place(s, Policy::kEpscopeOffline, model, cap), InputError);
  cap.kv_tokens = {1000, 2000, 3000};  // neither one value nor one per rank
  EXPECT_THROW(place(s, Policy::kShortestQueue, model, cap), InputError);
  EXPECT_THROW(parse_policy("fastest"), InputError);
  PlacementOptions bad;
  bad.lambda = 1.5;
  EXPECT_THROW(place(s, Policy::kLambda, model, Capacity{}, bad), InputError);
}

// The optimizer is never worse than the best baseline on its own objective (the full model's
// predicted step time), on 100 random snapshots of different sizes, clusters and overlap modes.
TEST(Policies, OfflineOptimizerNeverWorseThanBestBaseline) {
  const DecodeModel models[] = {test::deepseek_model("h800-cx7", 1, 8, false),
                                test::deepseek_model("h100-cx7", 2, 4, true)};
  int strictly_better = 0;
  for (std::uint64_t seed = 1; seed <= 100; ++seed) {
    const DecodeModel& model = models[seed % 2];
    test::TestRng rng(seed * 7919);
    const Snapshot s =
        test::random_snapshot(seed, static_cast<int>(rng.between(8, 160)), rng.between(500, 30000));
    double best_baseline = 1e300;
    for (Policy p : {Policy::kRoundRobin, Policy::kShortestQueue, Policy::kTotalTokens,
                     Policy::kBalanceBatch, Policy::kBalanceKv}) {
      best_baseline = std::min(best_baseline, evaluate(s, p, model, Capacity{}).step.step_us);
    }
    const double ours = evaluate(s, Policy::kEpscopeOffline, model, Capacity{}).step.step_us;
    EXPECT_LE(ours, best_baseline * (1 + 1e-12)) << "seed " << seed;
    strictly_better += ours < best_baseline * (1 - 1e-4);
  }
  // And it is not just picking a baseline: its own search wins on many snapshots.
  EXPECT_GT(strictly_better, 20);
}

TEST(Policies, OnlineOptimizerBeatsRoundRobinOnSkewedContexts) {
  const DecodeModel model = test::deepseek_model("h800-cx7", 2, 8, false);
  SyntheticSnapshotSpec spec;
  spec.num_requests = 1024;
  spec.mean_context_tokens = 20000;
  spec.sigma = 1.2;
  const Snapshot s = synthetic_snapshot(spec);
  const double rr = evaluate(s, Policy::kRoundRobin, model, Capacity{}).step.step_us;
  const double ours = evaluate(s, Policy::kEpscopeOnline, model, Capacity{}).step.step_us;
  EXPECT_LT(ours, rr);
}

TEST(Pareto, SweepMarksFrontAndBest) {
  const DecodeModel model = test::deepseek_model("h800-cx7", 1, 8, false);
  const Snapshot s = test::random_snapshot(5, 256, 20000);
  const ParetoResult sweep = lambda_sweep(s, model, Capacity{}, {0, 0.25, 0.5, 0.75, 1});
  ASSERT_EQ(sweep.points.size(), 5u);
  for (const ParetoPoint& p : sweep.points) {
    EXPECT_LE(sweep.points[static_cast<std::size_t>(sweep.best_idx)].step_us, p.step_us);
  }
  EXPECT_TRUE(std::any_of(sweep.points.begin(), sweep.points.end(),
                          [](const ParetoPoint& p) { return p.on_front; }));
  // lambda 0 balances KV best, lambda 1 the batch best.
  EXPECT_LE(sweep.points[0].kv_imbalance, sweep.points[4].kv_imbalance);
  EXPECT_LE(sweep.points[4].batch_imbalance, sweep.points[0].batch_imbalance);
  const std::string svg =
      pareto_svg(sweep, {evaluate(s, Policy::kRoundRobin, model, Capacity{})}, "test");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("round_robin"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

TEST(Pareto, FrontOfHandPoints) {
  ParetoResult r;
  r.points = {{0, 0.5, 0.1, 10, false},
              {0.5, 0.3, 0.3, 9, false},
              {1, 0.1, 0.5, 11, false},
              {0.7, 0.4, 0.4, 12, false}};  // the last is dominated by the second
  mark_front(r);
  EXPECT_TRUE(r.points[0].on_front);
  EXPECT_TRUE(r.points[1].on_front);
  EXPECT_TRUE(r.points[2].on_front);
  EXPECT_FALSE(r.points[3].on_front);
  EXPECT_EQ(r.best_idx, 1);
}

}  // namespace
}  // namespace epscope
