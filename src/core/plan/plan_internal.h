// Online placement of one request given the ranks' current state: shared by `place` (snapshots)
// and `replay` (traces). Internal to epscope_core. docs/model.md §8.5.
#pragma once

#include <cstdint>
#include <vector>

#include "epscope/plan/plan_policies.h"
#include "keyed_view.h"

namespace epscope::detail {

/// What the ranks hold while requests are being placed.
struct RankState {
  std::vector<RankLoad> loads;
  std::vector<std::int64_t> reserved_kv;  // KV tokens counted against capacity
  int round_robin_cursor = 0;
  /// kLambda: a rank's batch and KV are divided by these (the per-rank means of the whole
  /// snapshot when known up front); 0 = use the running means.
  double batch_scale = 0;
  double kv_scale = 0;
  /// Running requests a rank may hold (the decode batch limit of replay).
  std::int64_t max_requests = std::int64_t{1} << 40;

  explicit RankState(int num_ranks)
      : loads(static_cast<std::size_t>(num_ranks)),
        reserved_kv(static_cast<std::size_t>(num_ranks), 0) {}
  /// Whether `rank` can take a request reserving `reserve` KV tokens.
  bool fits(int rank, std::int64_t reserve, const Capacity& capacity) const {
    const auto r = static_cast<std::size_t>(rank);
    return reserved_kv[r] + reserve <= capacity.of(rank) && loads[r].num_requests < max_requests;
  }
  void add(int rank, std::int64_t tokens, std::int64_t kv_tokens, std::int64_t reserve);
  void remove(int rank, std::int64_t tokens, std::int64_t kv_tokens, std::int64_t reserve);
};

/// The request being placed: its tokens this step, KV tokens now, and KV it reserves.
struct Arrival {
  std::int64_t tokens = 1;
  std::int64_t kv_tokens = 0;
  std::int64_t reserve = 0;
};

/// The rank an online policy picks for `arrival`, or -1 when it fits nowhere. Offline policies
/// act as their online counterparts (balance_batch: fewest tokens; balance_kv: fewest reserved KV;
/// lambda: lowest lambda-weighted share; epscope offline: epscope online). `total_tokens_after` is
/// the cluster's tokens this step once the request is placed (the surrogate's B).
int choose_rank(Policy policy, const DecodeModel& model, const Capacity& capacity, RankState& state,
                const Arrival& arrival, double total_tokens_after, double lambda);

/// Whether a policy places the whole snapshot (offline) or only the new requests (online).
bool is_offline(Policy policy);

/// The fitting rank whose taking `arrival` gives the best surrogate score in `view`.
int best_rank_in_view(const KeyedView<StepObjective>& view, const RankState& state,
                      const Capacity& capacity, const Arrival& arrival);

}  // namespace epscope::detail
