// The decode-step model: one forward pass of a DP-attention + EP-MoE deployment, per rank, from
// each rank's batch (tokens this step) and KV cache (context tokens). Attention is linear in KV
// tokens and batch; dispatch and combine come from `estimate` with each rank's dispatch starting
// when its attention ends; experts are a grouped-GEMM roofline on the tokens a rank receives.
// Formulas: docs/model.md §8.1-§8.4.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "epscope/estimate.h"
#include "epscope/scenario.h"

namespace epscope {

/// The served model's shape. Defaults: DeepSeek-V3 (config.json of deepseek-ai/DeepSeek-V3).
/// Byte sizes per layer; weights counted in bytes as stored (FP8 = 1 byte per parameter).
struct ModelConfig {
  std::string name = "deepseek-v3";
  int num_layers = 61;
  int num_dense_layers = 3;  // first_k_dense_replace: dense FFN, no dispatch/combine
  int hidden = 7168;
  int num_experts = 256;
  int topk = 8;
  int num_groups = 8;   // group-limited routing (n_group)
  int topk_groups = 4;  // topk_group
  int moe_ffn = 2048;   // routed expert intermediate size
  int num_shared_experts = 1;
  int shared_ffn = 2048;  // intermediate size of one shared expert
  int dense_ffn = 18432;  // intermediate size of the dense layers' FFN
  /// KV cache bytes per token per layer. MLA: (kv_lora_rank 512 + rope 64) x 2 B (BF16) = 1152.
  double kv_bytes_per_token = 1152;
  /// Attention weights per layer (parameters): q_a 7168x1536 + q_b 1536x128x192 + kv_a 7168x576 +
  /// kv_b 512x128x256 + o 16384x7168 = 187,105,280 for DeepSeek-V3 (MLA).
  double attn_params = 187105280;
  double weight_bytes_per_param = 1;  // FP8 weights
  /// Bytes read once per step outside the layers (LM head 129280 x 7168 in BF16).
  double lm_head_bytes = 129280.0 * 7168.0 * 2.0;

  int num_moe_layers() const { return num_layers - num_dense_layers; }
  /// Weight bytes of one routed expert (gate, up, down): 3 x hidden x moe_ffn x bytes/param.
  double expert_weight_bytes() const;
  void validate() const;
};

/// DeepSeek-V3 (the default).
ModelConfig deepseek_v3();
/// A model config from a JSON (.json) or TOML (.toml) file with the field names of ModelConfig;
/// missing fields keep DeepSeek-V3's values. Throws InputError for a bad file or field.
ModelConfig load_model_config(const std::string& path);

/// One GPU's memory bandwidth and dense FP8 peak. Vendor datasheet numbers (docs/model.md §8
/// §8.1).
struct GpuSpec {
  std::string name;
  double hbm_gbps = 3350;  // GB/s
  double fp8_tflops = 1979;
};
/// The GPU of a cluster preset (h800-cx7 -> H800 SXM, ...). Unknown or empty preset: H800.
GpuSpec gpu_for_preset(const std::string& cluster_preset);

/// Per-layer coefficients of the step model. Times in us. docs/model.md §8.1.
struct DecodeParams {
  double attn_fixed_us = 0;         // weight read of the attention projections + launches
  double attn_us_per_token = 0;     // projection flops per token of this step
  double attn_us_per_kv_token = 0;  // KV-cache read per context token
  double hbm_gbps = 0;              // effective memory bandwidth for GEMM weight reads
  double tflops = 0;                // effective dense FP8 rate for GEMM flops
  double gemm_fixed_us = 0;         // launch cost of one grouped/dense GEMM stage
  double step_fixed_us = 0;         // once per step: LM head read, sampling, scheduling
  bool two_batch_overlap = false;

  /// Defaults from the model and the GPU: attention fixed = attention weight bytes / (HBM x
  /// hbm_efficiency) + launch; per token = 2 x attention params flops / (peak x flops_efficiency);
  /// per KV token = KV bytes per token / (HBM x hbm_efficiency).
  static DecodeParams derive(const ModelConfig& model, const GpuSpec& gpu,
                             double hbm_efficiency = 0.85, double flops_efficiency = 0.6,
                             double launch_us = 5.0);
  void validate() const;
};

/// One attention measurement for calibration: a rank's batch, KV tokens, and attention time per
/// layer.
struct AttentionSample {
  double tokens = 0;
  double kv_tokens = 0;
  double attention_us = 0;
};
/// Least-squares fit of attn_fixed_us, attn_us_per_token, attn_us_per_kv_token (docs/model.md §8
/// §8.1); the fit replaces those three fields of `params`. Needs 3 samples that are not collinear.
DecodeParams fit_attention(DecodeParams params, const std::vector<AttentionSample>& samples);
/// Reads attention samples from a CSV with header `tokens,kv_tokens,attention_us`.
std::vector<AttentionSample> load_attention_samples(const std::string& path);

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
