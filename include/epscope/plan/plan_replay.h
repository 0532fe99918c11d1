// Trace replay: requests placed as they arrive, decoded step by step. docs/model.md §8.7, §8.8.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "epscope/plan/plan_policies.h"

namespace epscope {

struct ReplayOptions {
  int num_drafts = 0;               // MTP drafts per step
  double acceptance = 0.7;          // mean per-draft acceptance rate
  double acceptance_spread = 0.1;   // per-request rates ~ acceptance + U(-spread, spread)
  int max_requests_per_rank = 256;  // running requests per rank (decode batch limit)
  std::int64_t max_steps = 1000000;
  bool surrogate = false;  // step time from the surrogate instead of the full model
  std::uint64_t seed = 1;
};

struct ReplayStep {
  double time_us = 0;  // start of the step
  double step_us = 0;
  int num_running = 0;
  double batch_imbalance = 0;  // (max - mean) / mean of tokens per rank
  double kv_imbalance = 0;
  double batch_balance_ratio = 1;
  double kv_balance_ratio = 1;
};

struct ReplayResult {
  std::string policy;
  std::int64_t num_steps = 0;
  std::int64_t num_finished = 0;
  double makespan_us = 0;
  double throughput_tokens_per_s = 0;  // generated tokens / makespan
  double tpot_p50_us = 0;              // per request: decode time / generated tokens
  double tpot_p99_us = 0;
  double mean_batch_imbalance = 0;
  double mean_kv_imbalance = 0;
  std::vector<ReplayStep> steps;
};

/// Decode-only replay: requests arrive with their prompt already in the KV cache, are placed once
/// by an online policy (offline ones act as their online counterparts) and stay on that rank.
/// A rank admits a request only if its reserved KV (prompt + output of its requests) stays within
/// capacity. docs/model.md §8.7.
ReplayResult replay(const std::vector<TraceRequest>& trace, Policy policy, const DecodeModel& model,
                    const Capacity& capacity, const ReplayOptions& options);

}  // namespace epscope
