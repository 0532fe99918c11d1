// Shared fixtures of the plan tests: a tiny hand-computable model, DeepSeek-V3 on a preset, and
// seeded random loads and snapshots.
#pragma once

#include <cstdint>
#include <vector>

#include "base/rng.h"
#include "epscope/plan/decode_config.h"
#include "epscope/plan/decode_model.h"
#include "epscope/plan/plan_io.h"
#include "epscope/plan/plan_pareto.h"
#include "epscope/plan/plan_policies.h"
#include "epscope/plan/plan_replay.h"

namespace epscope::test {

/// The library's SplitMix64 (base/rng.h), so test inputs are the same on every platform.
class TestRng {
 public:
  explicit TestRng(std::uint64_t seed) : rng_(seed) {}
  std::uint64_t next() { return rng_.next(); }
  /// Uniform integer in [lo, hi].
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1));
  }

 private:
  detail::Rng rng_;
};

/// 1 node x 2 GPUs over NVLink at `nvlink_gbps`, hidden 128, 2 experts (one per rank), top-1,
/// expected routing, 1 dense + 1 MoE layer. Attention = 10 + 1 x tokens + 0.01 x KV tokens; GEMMs
/// at 1 GB/s and 0.001 TFLOPs; step fixed 5 us. Dispatch fixed 2, combine fixed 3, NVLink
/// latency 1.
inline DecodeModel tiny_model(bool two_batch_overlap, double nvlink_gbps = 0.01) {
  Scenario s;
  s.cluster.num_nodes = 1;
  s.cluster.gpus_per_node = 2;
  s.cluster.nvlink_domain_size = 2;
  s.cluster.nvlink_gbps = nvlink_gbps;
  s.cluster.nvlink_latency_us = 1;
  s.tokens_per_rank = {1, 1};
  ModelConfig m;
  m.name = "tiny";
  m.num_layers = 2;
  m.num_dense_layers = 1;
  m.hidden = 128;
  m.num_experts = 2;
  m.topk = 1;
  m.num_groups = 1;
  m.topk_groups = 1;
  m.moe_ffn = 64;
  m.num_shared_experts = 1;
  m.shared_ffn = 64;
  m.dense_ffn = 128;
  m.kv_bytes_per_token = 1;
  m.attn_params = 1;
  m.lm_head_bytes = 0;
  DecodeParams p;
  p.attn_fixed_us = 10;
  p.attn_us_per_token = 1;
  p.attn_us_per_kv_token = 0.01;
  p.hbm_gbps = 1;
  p.tflops = 0.001;
  p.gemm_fixed_us = 0;
  p.step_fixed_us = 5;
  p.two_batch_overlap = two_batch_overlap;
  ModelParams comm;
  comm.nvlink_tx_gbps = comm.nvlink_rx_gbps = nvlink_gbps;
  comm.nic_tx_gbps = comm.nic_rx_gbps = 50;
  comm.local_gbps = 1e9;
  comm.nvlink_latency_us = 1;
  comm.rdma_latency_us = 3;
  comm.dispatch_fixed_us = 2;
  comm.combine_fixed_us = 3;
  return DecodeModel(s, m, p, comm);
}

/// DeepSeek-V3 with default coefficients on `nodes` x `gpus` of a preset, NVLink on, LL.
inline DecodeModel deepseek_model(const char* preset, int nodes, int gpus, bool tbo) {
  Scenario s;
  s.cluster = cluster_preset(preset);
  s.cluster.num_nodes = nodes;
  s.cluster.gpus_per_node = gpus;
  s.cluster.nvlink_domain_size = gpus;
  s.tokens_per_rank.assign(static_cast<std::size_t>(nodes * gpus), 1);
  const ModelConfig m = deepseek_v3();
  DecodeParams p = DecodeParams::derive(m, gpu_for_preset(preset));
  p.two_batch_overlap = tbo;
  return DecodeModel(s, m, p);
}

/// `count` random per-rank loads with 16..96 requests of 1..2 tokens and 1k..20k context each.
inline std::vector<std::vector<RankLoad>> random_load_vectors(const DecodeModel& model,
                                                              std::uint64_t seed, int count) {
  TestRng rng(seed);
  std::vector<std::vector<RankLoad>> out;
  for (int c = 0; c < count; ++c) {
    std::vector<RankLoad> loads(static_cast<std::size_t>(model.num_ranks()));
    const std::int64_t base = rng.between(16, 96);
    for (RankLoad& l : loads) {
      l.num_requests = std::max<std::int64_t>(1, base + rng.between(-12, 12));
      l.tokens = l.num_requests + rng.between(0, l.num_requests / 2);
      l.kv_tokens = l.num_requests * rng.between(1000, 20000);
    }
    out.push_back(loads);
  }
  return out;
}

/// A snapshot of `num_requests` requests with context 1..max_context and 1..3 tokens.
inline Snapshot random_snapshot(std::uint64_t seed, int num_requests, std::int64_t max_context) {
  TestRng rng(seed);
  Snapshot s;
  for (int i = 0; i < num_requests; ++i) {
    Request q;
    q.id = i;
    q.context_tokens = rng.between(1, max_context);
    q.tokens = rng.between(1, 3);
    s.requests.push_back(q);
  }
  return s;
}

}  // namespace epscope::test
