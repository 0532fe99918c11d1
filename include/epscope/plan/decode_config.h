// The inputs of the decode-step model: the served model's shape (ModelConfig, DeepSeek-V3 by
// default or from a file), the GPU, and the per-layer coefficients (DecodeParams) with their
// attention fit. Formulas: docs/model.md §8.1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

}  // namespace epscope
