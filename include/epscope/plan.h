// DP-rank placement: which decode requests go to which rank, the policies serving systems use
// today, the epscope optimizer (online and offline), the lambda sweep between batch balance and
// KV balance (the Pareto front), and trace replay. Step times come from decode.h.
// docs/model.md §8.5-§8.8.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "epscope/decode.h"

namespace epscope {

/// One running decode request in a snapshot.
struct Request {
  std::int64_t id = 0;
  std::int64_t context_tokens = 0;  // tokens in its KV cache
  std::int64_t tokens = 1;          // tokens this step: 1 + accepted drafts
  int rank = -1;                    // where it runs now; -1 = not placed (a new arrival)
};

struct Snapshot {
  std::vector<Request> requests;
  bool has_placement() const;  // every request has a rank
};

/// CSV with header `id,context_tokens,tokens[,rank]` or JSON {"requests": [{"id", "context_tokens",
/// "tokens", "rank"}]} (tokens defaults to 1, rank to -1). Throws InputError naming the field.
Snapshot load_snapshot(const std::string& path);
void save_snapshot(const Snapshot& snapshot, const std::string& path);  // CSV

/// Synthetic snapshot: log-normal context lengths with mean `mean_context_tokens` and log-sigma
/// `sigma`; with `num_drafts` > 0, tokens = 1 + accepted drafts (each draft accepted in order with
/// probability `acceptance`). docs/model.md §8.7.
struct SyntheticSnapshotSpec {
  int num_requests = 1024;
  double mean_context_tokens = 5000;
  double sigma = 1.0;
  int num_drafts = 0;
  double acceptance = 0.7;
  std::uint64_t seed = 1;
};
Snapshot synthetic_snapshot(const SyntheticSnapshotSpec& spec);

enum class Policy {
  kRoundRobin,      // request i -> rank i mod R (arrival order)
  kShortestQueue,   // fewest requests (arrival order)
  kTotalTokens,     // least KV tokens (arrival order)
  kBalanceBatch,    // largest first, to the rank with the fewest tokens this step
  kBalanceKv,       // largest first, to the rank with the fewest KV tokens
  kEpscopeOnline,   // arrival order, to the rank minimizing the predicted step time
  kEpscopeOffline,  // rebalance the whole snapshot to minimize the predicted step time
  kLambda,          // largest first, minimizing lambda x batch share + (1 - lambda) x KV share
};
std::string to_string(Policy policy);
Policy parse_policy(const std::string& text);
/// The five baselines and the two epscope forms, in report order.
std::vector<Policy> all_policies();

/// Per-rank KV capacity in tokens; a placement never exceeds it. Empty = unlimited.
struct Capacity {
  std::vector<std::int64_t> kv_tokens;
  bool limited() const { return !kv_tokens.empty(); }
  std::int64_t of(int rank) const;
};

struct PlacementOptions {
  double lambda = 0.5;           // kLambda only: 1 = balance batch, 0 = balance KV
  int max_moves = -1;            // kEpscopeOffline: at most this many requests move (-1 = no limit)
  int local_search_rounds = -1;  // kEpscopeOffline: -1 = until no improvement (capped)
};

/// rank_of[i]: the rank of snapshot.requests[i].
struct Placement {
  std::vector<int> rank_of;
  int num_moves = 0;  // requests whose rank differs from their snapshot rank (placed ones only)
};

/// Places every request. Online policies place only the requests with rank -1 and keep the others
/// where they are; offline policies place all requests. Throws InputError when a request fits on
/// no rank (field `kv-capacity`).
Placement place(const Snapshot& snapshot, Policy policy, const DecodeModel& model,
                const Capacity& capacity, const PlacementOptions& options = {});

/// Per-rank loads of a placement.
std::vector<RankLoad> rank_loads(const Snapshot& snapshot, const Placement& placement,
                                 int num_ranks);

/// One policy's result on a snapshot.
struct PolicyReport {
  std::string policy;
  double lambda = -1;  // kLambda only
  Placement placement;
  StepResult step;
};
PolicyReport evaluate(const Snapshot& snapshot, Policy policy, const DecodeModel& model,
                      const Capacity& capacity, const PlacementOptions& options = {});

/// The lambda sweep. A point is on the front when no other point has both lower batch imbalance
/// and lower KV imbalance ((max - mean) / mean). docs/model.md §8.6.
struct ParetoPoint {
  double lambda = 0;
  double batch_imbalance = 0;
  double kv_imbalance = 0;
  double step_us = 0;
  bool on_front = false;
};
struct ParetoResult {
  std::vector<ParetoPoint> points;
  int best_idx = 0;  // lowest step time
};
ParetoResult lambda_sweep(const Snapshot& snapshot, const DecodeModel& model,
                          const Capacity& capacity, const std::vector<double>& lambdas);
/// Marks on_front and best_idx from the points' values.
void mark_front(ParetoResult& result);
/// An SVG with two panels: KV imbalance against batch imbalance (front joined, baselines marked)
/// and step time against lambda.
std::string pareto_svg(const ParetoResult& sweep, const std::vector<PolicyReport>& baselines,
                       const std::string& title);

// ---- Replay -------------------------------------------------------------------------------------

struct TraceRequest {
  double arrival_us = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t output_tokens = 1;
};
/// CSV with header `arrival_s,prompt_tokens,output_tokens` (or `arrival_us`).
std::vector<TraceRequest> load_trace(const std::string& path);

/// Poisson arrivals and log-normal lengths. docs/model.md §8.7.
struct SyntheticTraceSpec {
  int num_requests = 4096;
  double rate_per_s = 100;
  double mean_prompt_tokens = 5000;
  double prompt_sigma = 1.0;
  double mean_output_tokens = 500;
  double output_sigma = 0.5;
  std::uint64_t seed = 1;
};
std::vector<TraceRequest> synthetic_trace(const SyntheticTraceSpec& spec);

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
