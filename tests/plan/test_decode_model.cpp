// The decode-step model: golden step times on a tiny cluster, TBO, and the surrogate.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "epscope/base/error.h"
#include "epscope/plan/decode_config.h"
#include "epscope/plan/decode_model.h"
#include "epscope/plan/plan_io.h"
#include "epscope/plan/plan_pareto.h"
#include "epscope/plan/plan_policies.h"
#include "epscope/plan/plan_replay.h"
#include "epscope/traffic/routing.h"
#include "plan_test_util.h"

namespace epscope {
namespace {

// The tiny setup of test::tiny_model(): 1 node x 2 GPUs over NVLink at 0.01 GB/s (10 B/us),
// hidden 128, 2 experts (one per rank), top-1, expected routing, 1 MoE layer + 1 dense layer.
// Attention = 10 + 1 x tokens + 0.01 x KV; GEMMs at 1 GB/s (1e3 B/us) and 0.001 TFLOPs (1e3
// flop/us).
TEST(DecodeModel, GoldenStepWithoutOverlap) {
  const DecodeModel model = test::tiny_model(false);
  const StepResult r = model.step({{2, 4, 4000}, {1, 2, 1000}});
  // Attention: rank 0: 10 + 4 + 40 = 54; rank 1: 10 + 2 + 10 = 22. Rank 0 starts dispatch 32 us
  // late. Dispatch (FP8 message 16 + 128 + 4 = 148 B; half of each rank's copies go to the peer):
  //   rank 0 sends 2 x 148 B = 29.6 us from 32 -> 61.6; rank 1 sends 14.8 us from 0.
  //   Both finish at 61.6 + 2 (fixed) + 1 (NVLink latency) = 64.6 -> 22 + 64.6 = 86.6 on the layer
  //   clock.
  // Experts: each rank receives 2 + 1 = 3 copies; flops 2 x 3 x 128 x 64 x 3 = 147456 -> 147.456 us
  //   (weights 0.95 x 24576 B -> 23.4 us, so compute-bound). Shared expert: 49152 x tokens flops:
  //   rank 0: 196.608, rank 1: 98.304. Combine starts: 86.6 + 344.064 = 430.664; 86.6 + 245.76.
  // Combine (256 B per copy): rank 1 sends 2 x 256 = 51.2 us; +3 fixed +1 latency = 55.2.
  //   MoE layer = 430.664 + 55.2 = 485.864.
  EXPECT_NEAR(r.moe_layer_us, 485.864, 1e-6);
  // Dense layer: attention + FFN (flops 98304 x tokens): rank 0: 54 + 393.216 = 447.216 (slowest).
  // Step = 447.216 + 485.864 + 5 (step fixed) = 938.08.
  EXPECT_NEAR(r.step_us, 938.08, 1e-6);
  // Rank 0 never waits; rank 1 waits for it in dispatch, combine and the dense layer.
  EXPECT_EQ(r.critical_rank, 0);
  EXPECT_NEAR(r.rank_parts[0].waiting_us, 0.0, 1e-6);
  EXPECT_NEAR(r.rank_parts[0].attention_us, 54.0, 1e-9);
  EXPECT_NEAR(r.rank_parts[0].dispatch_us, 32.6, 1e-6);
  EXPECT_NEAR(r.rank_parts[0].expert_us, 344.064, 1e-6);
  EXPECT_NEAR(r.rank_parts[0].combine_us, 55.2, 1e-6);
  EXPECT_NEAR(r.rank_parts[0].dense_us, 447.216, 1e-6);
  for (const StepParts& p : r.rank_parts)
    EXPECT_NEAR(p.sum_us(), r.step_us, 1e-6);
  // Throughput: 6 tokens / 938.08 us.
  EXPECT_NEAR(r.tokens_per_s, 6 / 938.08e-6, 1e-3);
  // Imbalance: batch 4 vs 2 (mean 3): ratio 0.75, (max - mean)/mean = 1/3.
  EXPECT_NEAR(r.batch.balance_ratio, 0.75, 1e-12);
  EXPECT_NEAR(r.batch.max_over_mean, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(r.kv.max_over_mean, 0.6, 1e-12);
}

TEST(DecodeModel, GoldenStepWithTwoBatchOverlap) {
  const DecodeModel model = test::tiny_model(true);
  const StepResult r = model.step({{2, 4, 4000}, {1, 2, 1000}});
  // Halves: rank 0 {1 req, 2 tok, 2000 KV} x 2; rank 1 {1, 1, 500} + {0, 1, 500}.
  // Attention: rank 0: 2 x (10 + 2 + 20) = 64; rank 1: (10 + 1 + 5) x 2 = 32.
  // Experts per half: rank r receives 1 + 0.5 = 1.5 copies: flops 73728 -> 73.728 us (weights
  //   0.487 x 24576 -> 12.0 us), twice: 147.456. Shared: rank 0 2 x 98.304; rank 1 2 x 49.152.
  // Compute: rank 0 = 64 + 147.456 + 196.608 = 408.064 (the max).
  // Comm of one half (each rank 2 resp. 1 tokens): dispatch 14.8 + 3 = 17.8, combine sync at 17.8,
  //   rank 1 sends 1 copy back = 25.6 us ... both halves together stay far below 408.064.
  EXPECT_NEAR(r.moe_layer_us, 408.064, 1e-6);
  EXPECT_NEAR(r.rank_parts[0].dispatch_us, 0.0, 1e-12);  // fully hidden
  EXPECT_NEAR(r.step_us, 447.216 + 408.064 + 5, 1e-6);
  for (const StepParts& p : r.rank_parts)
    EXPECT_NEAR(p.sum_us(), r.step_us, 1e-6);
}

TEST(DecodeModel, OverlapExposesCommunicationBeyondCompute) {
  // With slow links the half-batch exchanges exceed compute: the layer is pure communication.
  DecodeModel model = test::tiny_model(true, /*nvlink_gbps=*/0.0001);
  const StepResult r = model.step({{2, 4, 4000}, {1, 2, 1000}});
  double compute = 0;
  for (const StepParts& p : r.rank_parts)
    compute = std::max(compute, p.attention_us + p.expert_us);
  EXPECT_GT(r.moe_layer_us, compute);
  EXPECT_GT(r.mean_parts.dispatch_us + r.mean_parts.combine_us, 0.0);
}

TEST(DecodeModel, StragglerAttentionDelaysEveryRank) {
  // More KV on one rank: every rank's step grows, and the others' extra time is waiting.
  const DecodeModel model = test::tiny_model(false);
  const StepResult even = model.step({{1, 3, 2500}, {1, 3, 2500}});
  const StepResult skew = model.step({{1, 3, 4500}, {1, 3, 500}});
  EXPECT_GT(skew.step_us, even.step_us);
  EXPECT_GT(skew.rank_parts[1].waiting_us, even.rank_parts[1].waiting_us + 1.0);
}

TEST(DecodeModel, DefaultsForDeepSeekOnH800) {
  const DecodeParams p = DecodeParams::derive(deepseek_v3(), gpu_for_preset("h800-cx7"));
  // 187,105,280 B of FP8 attention weights at 3350 x 0.85 GB/s = 65.71 us, + 5 us launch.
  EXPECT_NEAR(p.attn_fixed_us, 187105280.0 / 2847.5e3 + 5.0, 1e-9);
  // MLA BF16: 1152 B per token per layer.
  EXPECT_NEAR(p.attn_us_per_kv_token, 1152.0 / 2847.5e3, 1e-15);
  EXPECT_NEAR(p.attn_us_per_token, 2.0 * 187105280.0 / (1979.0 * 0.6 * 1e6), 1e-12);
  EXPECT_EQ(gpu_for_preset("h200-cx7").hbm_gbps, 4800);
  EXPECT_EQ(gpu_for_preset("gb200-nvl72").name, "GB200");
}

TEST(DecodeModel, FitAttentionRecoversCoefficients) {
  std::vector<AttentionSample> samples;
  for (double b : {16.0, 64.0, 128.0}) {
    for (double kv : {1e4, 1e5, 3e5})
      samples.push_back({b, kv, 50 + 0.3 * b + 4e-4 * kv});
  }
  const DecodeParams fit = fit_attention(DecodeParams{}, samples);
  EXPECT_NEAR(fit.attn_fixed_us, 50, 1e-6);
  EXPECT_NEAR(fit.attn_us_per_token, 0.3, 1e-9);
  EXPECT_NEAR(fit.attn_us_per_kv_token, 4e-4, 1e-12);
  EXPECT_THROW(fit_attention(DecodeParams{}, {samples[0], samples[0], samples[0]}), InputError);
}

TEST(DecodeModel, RejectsBadConfigAndLoads) {
  ModelConfig bad = deepseek_v3();
  bad.num_dense_layers = bad.num_layers;
  EXPECT_THROW(bad.validate(), InputError);
  const DecodeModel model = test::tiny_model(false);
  EXPECT_THROW(model.step({{1, 1, 1}}), InputError);
}

// The step model scales a one-token probe instead of recomputing expected routing per step
// (DecodeModel::traffic_for); that rests on this linearity.
TEST(DecodeModel, ExpectedRoutingIsLinearInEachSourcesTokens) {
  Scenario s = default_scenario();
  s.cluster.nvlink_enabled = true;
  s.moe.num_groups = 8;
  s.moe.topk_groups = 4;
  s.tokens_per_rank.assign(16, 1);
  const RoutingCounts probe = compute_routing(s);
  s.tokens_per_rank = {5, 0, 17, 3, 64, 1, 9, 2, 33, 8, 7, 6, 5, 4, 3, 200};
  const RoutingCounts full = compute_routing(s);
  for (int src = 0; src < 16; ++src) {
    const auto b = static_cast<double>(s.tokens_per_rank[static_cast<std::size_t>(src)]);
    for (int dst = 0; dst < 16; ++dst) {
      EXPECT_NEAR(full.copies_at(src, dst), b * probe.copies_at(src, dst), 1e-9);
      EXPECT_NEAR(full.token_ranks_at(src, dst), b * probe.token_ranks_at(src, dst), 1e-9);
    }
    for (int dom = 0; dom < full.num_domains; ++dom) {
      EXPECT_NEAR(full.token_domains_at(src, dom), b * probe.token_domains_at(src, dom), 1e-9);
    }
  }
}

// The surrogate must order placements like the full model (docs/model.md §8.4).
TEST(Surrogate, RanksCandidatesLikeTheFullModel) {
  for (bool tbo : {false, true}) {
    const DecodeModel model = test::deepseek_model("h800-cx7", 2, 8, tbo);
    int agree = 0, pairs = 0;
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
      std::vector<std::vector<RankLoad>> candidates = test::random_load_vectors(model, seed, 12);
      std::vector<double> full, sur;
      for (const auto& loads : candidates) {
        full.push_back(model.step(loads).step_us);
        sur.push_back(model.surrogate_step_us(loads));
      }
      for (std::size_t i = 0; i < full.size(); ++i) {
        for (std::size_t j = i + 1; j < full.size(); ++j) {
          if (std::abs(full[i] - full[j]) < 0.01 * full[i]) continue;  // a near tie either way
          ++pairs;
          agree += (full[i] < full[j]) == (sur[i] < sur[j]);
        }
      }
    }
    ASSERT_GT(pairs, 50);
    EXPECT_GE(static_cast<double>(agree) / pairs, 0.9) << "tbo=" << tbo;
  }
}

TEST(Surrogate, TracksTheFullModelWithinTenPercent) {
  const DecodeModel model = test::deepseek_model("h800-cx7", 2, 8, false);
  for (const auto& loads : test::random_load_vectors(model, 7, 10)) {
    const double full = model.step(loads).step_us;
    EXPECT_NEAR(model.surrogate_step_us(loads) / full, 1.0, 0.1);
  }
}

}  // namespace
}  // namespace epscope
