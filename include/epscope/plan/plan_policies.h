// DP-rank placement: which decode requests go to which rank, the policies serving systems use
// today and the epscope optimizer (online and offline). Step times come from decode_model.h.
// docs/model.md §8.5.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "epscope/plan/decode_model.h"
#include "epscope/plan/plan_io.h"

namespace epscope {

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

}  // namespace epscope
