// The decode-step model: one forward pass of a DP-attention + EP-MoE deployment, per rank, from
// each rank's batch (tokens this step) and KV cache (context tokens). Attention is linear in KV
// tokens and batch; dispatch and combine come from `estimate` with each rank's dispatch starting
// when its attention ends; experts are a grouped-GEMM roofline on the tokens a rank receives.
// Formulas: docs/model.md §8.1-§8.4.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "epscope/estimate/estimate.h"
#include "epscope/plan/decode_config.h"
#include "epscope/scenario/scenario.h"

namespace epscope {

/// What one DP rank holds this step.
struct RankLoad {
  std::int64_t num_requests = 0;
  std::int64_t tokens = 0;     // tokens this step (sum over requests of 1 + accepted drafts)
  std::int64_t kv_tokens = 0;  // context tokens in the KV cache (sum over requests)
};

/// Where a step's time goes, summed over layers. On one rank the parts add up to the step time;
/// `waiting` is time idle for other ranks (barriers of dispatch and combine, stragglers).
struct StepParts {
  double attention_us = 0;  // attention of the MoE layers
  double dispatch_us = 0;   // own dispatch transfer + fixed cost (without TBO) or exposed (TBO)
  double expert_us = 0;     // routed experts (grouped GEMM) + shared experts
  double combine_us = 0;
  double dense_us = 0;  // the dense layers (attention + FFN)
  double other_us = 0;  // step_fixed_us
  double waiting_us = 0;
  double sum_us() const {
    return attention_us + dispatch_us + expert_us + combine_us + dense_us + other_us + waiting_us;
  }
};

/// Balance of one per-rank quantity. docs/model.md §8.5.
struct Imbalance {
  double mean = 0;
  double max = 0;
  double min = 0;
  double balance_ratio = 1;  // mean / max (TRT-LLM); 1 when max is 0
  double max_over_mean = 0;  // (max - mean) / mean (EPLB); 0 when mean is 0
};
Imbalance imbalance(const std::vector<double>& values);

struct StepResult {
  double step_us = 0;
  double moe_layer_us = 0;  // one MoE layer
  double tokens_per_s = 0;  // tokens this step / step time
  StepParts mean_parts;     // mean over ranks
  std::vector<StepParts> rank_parts;
  std::vector<RankLoad> loads;
  int critical_rank = 0;  // the rank that waits least (the straggler)
  Imbalance batch;        // of tokens per rank
  Imbalance kv;           // of KV tokens per rank
};

/// Per-rank keys of the surrogate (docs/model.md §8.4): the step-time surrogate is a function
/// of the maximum of each key over ranks, so a placement changes it only through the ranks it
/// touches.
struct SurrogateKeys {
  double attention_us = 0;  // this rank's attention per MoE layer
  double k1 = 0;            // no TBO: attention + own dispatch send; TBO: all compute of the rank
  double k2 = 0;            // no TBO: expert + shared expert; TBO: own dispatch send
  double k3 = 0;            // own combine receive
};

/// The step model: full (with `estimate`) and surrogate (closed form, O(1) per rank).
class DecodeModel {
 public:
  /// `scenario` supplies cluster, kernel mode, routing and MoE shape; its hidden/topk/experts are
  /// overwritten from `model`. Its token list is ignored (each call brings its own).
  DecodeModel(Scenario scenario, ModelConfig model, DecodeParams params, ModelParams comm);
  /// Same with ModelParams::from_cluster.
  DecodeModel(Scenario scenario, ModelConfig model, DecodeParams params);

  int num_ranks() const { return scenario_.num_ranks(); }
  const Scenario& scenario() const { return scenario_; }
  const ModelConfig& model() const { return model_; }
  const DecodeParams& params() const { return params_; }

  /// Attention time of one layer on one rank (docs/model.md §8.1).
  double attention_us(std::int64_t tokens, std::int64_t kv_tokens) const;
  /// Grouped-GEMM roofline of the routed experts of one rank receiving `copies` token copies.
  double expert_us(int rank, double copies) const;
  /// Shared experts on `tokens` own tokens; dense FFN on `tokens` tokens.
  double shared_expert_us(double tokens) const;
  double dense_ffn_us(double tokens) const;

  /// The full model: `estimate` for dispatch and combine. docs/model.md §8.2-§8.3.
  StepResult step(const std::vector<RankLoad>& loads) const;

  /// Surrogate keys of one rank for a cluster total of `total_tokens` tokens this step.
  SurrogateKeys keys(int rank, std::int64_t tokens, std::int64_t kv_tokens,
                     double total_tokens) const;
  /// Surrogate step time from the maxima of the keys over ranks. docs/model.md §8.4.
  double surrogate_from_max(double max_k1, double max_k2, double max_k3, double total_tokens,
                            double mean_attention_us) const;
  /// Surrogate step time of a whole load vector (O(ranks)).
  double surrogate_step_us(const std::vector<RankLoad>& loads) const;

 private:
  void derive_surrogate();
  /// Traffic of `sc` (its token list set): under expected routing the counts are the probe's
  /// per-token counts scaled by each source's tokens, which skips recomputing the expectation.
  Traffic traffic_for(const Scenario& sc) const;
  void add_dense_and_other(const std::vector<RankLoad>& loads, StepResult& result) const;

  Scenario scenario_;
  ModelConfig model_;
  DecodeParams params_;
  ModelParams comm_;
  std::vector<int> experts_on_rank_;
  RoutingCounts probe_routing_;  // expected routing with one token on every rank
  // Surrogate coefficients, per rank (docs/model.md §8.4).
  std::vector<double> dispatch_send_us_per_token_;  // per own token
  std::vector<double> combine_recv_us_per_token_;   // per own token
  std::vector<double> expert_copy_share_;           // share of all copies this rank receives
  double dispatch_recv_us_per_total_token_ = 0;     // slowest receiver, per cluster token
  double combine_send_us_per_total_token_ = 0;
  double dispatch_fixed_us_ = 0;
  double combine_fixed_us_ = 0;
};

}  // namespace epscope
