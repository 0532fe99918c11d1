// Trace replay: golden steps, capacity, MTP, determinism.
#include <gtest/gtest.h>

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

TEST(Replay, GoldenTwoRequestsTwoSteps) {
  const DecodeModel model = test::tiny_model(false);
  // Two requests at t=0, prompt 100, output 2; round robin puts one on each rank.
  const std::vector<TraceRequest> trace = {{0, 100, 2}, {0, 100, 2}};
  const ReplayResult r = replay(trace, Policy::kRoundRobin, model, Capacity{}, ReplayOptions{});
  // Step 1: each rank {1 request, 1 token, 100 KV}; step 2: KV 101.
  const double step1 = model.step({{1, 1, 100}, {1, 1, 100}}).step_us;
  const double step2 = model.step({{1, 1, 101}, {1, 1, 101}}).step_us;
  ASSERT_EQ(r.num_steps, 2);
  EXPECT_EQ(r.num_finished, 2);
  EXPECT_NEAR(r.steps[1].time_us, step1, 1e-9);
  EXPECT_NEAR(r.makespan_us, step1 + step2, 1e-9);
  // TPOT: (step1 + step2) / 2 tokens, for both requests.
  EXPECT_NEAR(r.tpot_p50_us, (step1 + step2) / 2, 1e-9);
  EXPECT_NEAR(r.tpot_p99_us, (step1 + step2) / 2, 1e-9);
  EXPECT_NEAR(r.throughput_tokens_per_s, 4 / (step1 + step2) * 1e6, 1e-6);
  EXPECT_DOUBLE_EQ(r.steps[0].batch_imbalance, 0.0);
}

TEST(Replay, MtpAcceptedDraftsShortenDecoding) {
  const DecodeModel model = test::tiny_model(false);
  const std::vector<TraceRequest> trace = {{0, 100, 6}};
  ReplayOptions options;
  options.num_drafts = 2;
  options.acceptance = 1;
  options.acceptance_spread = 0;
  const ReplayResult r = replay(trace, Policy::kShortestQueue, model, Capacity{}, options);
  EXPECT_EQ(r.num_steps, 2);  // 3 tokens per step
  EXPECT_EQ(r.num_finished, 1);
}

TEST(Replay, CapacityQueuesRequestsAndNeverOverfills) {
  const DecodeModel model = test::tiny_model(false);
  std::vector<TraceRequest> trace;
  for (int i = 0; i < 10; ++i)
    trace.push_back({0, 500, 3});
  Capacity cap;
  cap.kv_tokens = {503};  // one request (prompt + output) per rank
  for (Policy p : all_policies()) {
    SCOPED_TRACE(to_string(p));
    const ReplayResult r = replay(trace, p, model, cap, ReplayOptions{});
    EXPECT_EQ(r.num_finished, 10);
    for (const ReplayStep& s : r.steps)
      EXPECT_LE(s.num_running, 2);
  }
  cap.kv_tokens = {100};  // fits nowhere, even empty
  EXPECT_THROW(replay(trace, Policy::kRoundRobin, model, cap, ReplayOptions{}), InputError);
}

TEST(Replay, SeededAndDeterministic) {
  const DecodeModel model = test::deepseek_model("h800-cx7", 1, 8, false);
  SyntheticTraceSpec spec;
  spec.num_requests = 300;
  spec.rate_per_s = 2000;
  spec.mean_output_tokens = 40;
  const auto trace = synthetic_trace(spec);
  ReplayOptions options;
  options.num_drafts = 1;
  const ReplayResult a = replay(trace, Policy::kEpscopeOnline, model, Capacity{}, options);
  const ReplayResult b = replay(trace, Policy::kEpscopeOnline, model, Capacity{}, options);
  EXPECT_EQ(a.num_steps, b.num_steps);
  EXPECT_DOUBLE_EQ(a.makespan_us, b.makespan_us);
  EXPECT_DOUBLE_EQ(a.tpot_p99_us, b.tpot_p99_us);
  EXPECT_EQ(a.num_finished, 300);
  EXPECT_GE(a.tpot_p99_us, a.tpot_p50_us);
  // The surrogate replay takes the same decisions and lands close.
  options.surrogate = true;
  const ReplayResult s = replay(trace, Policy::kEpscopeOnline, model, Capacity{}, options);
  EXPECT_NEAR(s.makespan_us / a.makespan_us, 1.0, 0.1);
}

TEST(Replay, RejectsBadOptions) {
  const DecodeModel model = test::tiny_model(false);
  ReplayOptions options;
  options.acceptance = -0.1;
  EXPECT_THROW(replay({{0, 1, 1}}, Policy::kRoundRobin, model, Capacity{}, options), InputError);
  options = ReplayOptions{};
  options.max_requests_per_rank = 0;
  EXPECT_THROW(replay({{0, 1, 1}}, Policy::kRoundRobin, model, Capacity{}, options), InputError);
}

}  // namespace
}  // namespace epscope
