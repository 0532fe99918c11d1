// Placing a snapshot: online policies request by request, the offline epscope optimizer (greedy
// + local search, each candidate checked with the full model), and a policy's evaluation.
// docs/model.md §8.5.
#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>

#include "epscope/base/error.h"
#include "epscope/plan/plan_policies.h"
#include "plan_internal.h"

namespace epscope {

using detail::BalanceObjective;
using detail::is_offline;
using detail::KeyedView;
using detail::plus;
using detail::StepObjective;

namespace {

void check_snapshot(const Snapshot& snapshot, int num_ranks, const Capacity& capacity) {
  if (capacity.limited() && static_cast<int>(capacity.kv_tokens.size()) != 1 &&
      static_cast<int>(capacity.kv_tokens.size()) != num_ranks) {
    throw InputError("kv-capacity", fmt::format("{} values", capacity.kv_tokens.size()),
                     fmt::format("give one value or one per rank ({})", num_ranks));
  }
  for (const Request& q : snapshot.requests) {
    if (q.rank >= num_ranks) {
      throw InputError("snapshot rank", fmt::format("request {}: rank {}", q.id, q.rank),
                       fmt::format("allowed: -1 (unplaced) or 0..{}", num_ranks - 1));
    }
  }
}

int count_moves(const Snapshot& snapshot, const std::vector<int>& rank_of) {
  int moves = 0;
  for (std::size_t i = 0; i < snapshot.requests.size(); ++i) {
    const int was = snapshot.requests[i].rank;
    moves += (was >= 0 && was != rank_of[i]) ? 1 : 0;
  }
  return moves;
}

[[noreturn]] void throw_no_fit(const Request& q, Policy policy) {
  throw InputError(
      "kv-capacity",
      fmt::format("request {} ({} KV tokens) under {}", q.id, q.context_tokens, to_string(policy)),
      "no rank has room left; raise --kv-capacity or use fewer requests");
}

/// Places requests in `order` with an online rule; requests already in `state` stay.
void place_in_order(const Snapshot& snapshot, const std::vector<std::size_t>& order, Policy policy,
                    const DecodeModel& model, const Capacity& capacity, double lambda,
                    detail::RankState& state, double total_tokens, std::vector<int>& rank_of) {
  const bool offline = is_offline(policy);
  double placed_tokens = 0;
  for (const RankLoad& l : state.loads)
    placed_tokens += static_cast<double>(l.tokens);
  for (std::size_t i : order) {
    const Request& q = snapshot.requests[i];
    const detail::Arrival arrival{q.tokens, q.context_tokens, q.context_tokens};
    placed_tokens += static_cast<double>(q.tokens);
    // An offline placer knows the step's total tokens up front; an online one only what arrived.
    const int r = detail::choose_rank(policy, model, capacity, state, arrival,
                                      offline ? total_tokens : placed_tokens, lambda);
    if (r < 0) throw_no_fit(q, policy);
    state.add(r, q.tokens, q.context_tokens, q.context_tokens);
    rank_of[i] = r;
  }
}

/// Largest first by `size` (stable: equal sizes keep snapshot order).
template <typename Size>
std::vector<std::size_t> largest_first(const Snapshot& snapshot, Size size) {
  std::vector<std::size_t> order(snapshot.requests.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return size(snapshot.requests[a]) > size(snapshot.requests[b]);
  });
  return order;
}

/// Local search: move one request off a critical rank to one of the least loaded ranks while the
/// (objective, spread) score improves. docs/model.md §8.5.
template <typename Objective>
void local_search(const Snapshot& snapshot, int num_ranks, const Objective& objective,
                  const Capacity& capacity, std::vector<int>& rank_of, int max_moves,
                  int max_rounds) {
  const auto n = static_cast<std::size_t>(num_ranks);
  detail::RankState state(num_ranks);
  std::vector<std::vector<std::size_t>> members(n);
  for (std::size_t i = 0; i < snapshot.requests.size(); ++i) {
    const Request& q = snapshot.requests[i];
    state.add(rank_of[i], q.tokens, q.context_tokens, q.context_tokens);
    members[static_cast<std::size_t>(rank_of[i])].push_back(i);
  }
  using View = KeyedView<Objective>;
  View view(objective);
  view.rebuild(state.loads);
  int moves = count_moves(snapshot, rank_of);
  const int num_destinations = std::min(num_ranks - 1, 8);
  if (num_destinations <= 0) return;
  const int rounds =
      max_rounds >= 0 ? max_rounds : 4 * static_cast<int>(snapshot.requests.size()) + 64;
  std::vector<int> by_load(n);
  for (int round = 0; round < rounds; ++round) {
    const typename View::Score current = view.score();
    std::iota(by_load.begin(), by_load.end(), 0);
    std::partial_sort(by_load.begin(), by_load.begin() + num_destinations + 1, by_load.end(),
                      [&](int a, int b) { return view.key_sum(a) < view.key_sum(b); });
    typename View::Score best = current;
    std::size_t best_request = 0;
    int best_from = -1, best_to = -1;
    SurrogateKeys best_from_keys, best_to_keys;
    for (int from : view.critical_ranks()) {
      for (std::size_t i : members[static_cast<std::size_t>(from)]) {
        const Request& q = snapshot.requests[i];
        const bool was_moved = q.rank >= 0 && q.rank != from;
        const SurrogateKeys from_keys = view.keys_with(
            from,
            plus(state.loads[static_cast<std::size_t>(from)], -q.tokens, -q.context_tokens, -1));
        for (int d = 0; d <= num_destinations; ++d) {
          const int to = by_load[static_cast<std::size_t>(d)];
          if (to == from) continue;
          if (state.reserved_kv[static_cast<std::size_t>(to)] + q.context_tokens > capacity.of(to))
            continue;
          const bool now_moved = q.rank >= 0 && q.rank != to;
          if (max_moves >= 0 && moves - was_moved + now_moved > max_moves) continue;
          const SurrogateKeys to_keys = view.keys_with(
              to, plus(state.loads[static_cast<std::size_t>(to)], q.tokens, q.context_tokens, 1));
          const typename View::Score s = view.score_with(from, from_keys, to, to_keys);
          if (s.better_than(best)) {
            best = s;
            best_request = i;
            best_from = from;
            best_to = to;
            best_from_keys = from_keys;
            best_to_keys = to_keys;
          }
        }
      }
    }
    if (best_from < 0) return;
    const Request& q = snapshot.requests[best_request];
    moves += (q.rank >= 0 && q.rank != best_to) - (q.rank >= 0 && q.rank != best_from);
    state.remove(best_from, q.tokens, q.context_tokens, q.context_tokens);
    state.add(best_to, q.tokens, q.context_tokens, q.context_tokens);
    auto& from_members = members[static_cast<std::size_t>(best_from)];
    from_members.erase(std::find(from_members.begin(), from_members.end(), best_request));
    members[static_cast<std::size_t>(best_to)].push_back(best_request);
    rank_of[best_request] = best_to;
    view.set(best_from, best_from_keys);
    view.set(best_to, best_to_keys);
  }
}

/// The greedy candidate of offline epscope: the costliest requests first (attention + own
/// dispatch send of one request, §8.5), each on the rank the surrogate likes best, then local
/// search. Throws InputError when the greedy order leaves no room for a request.
std::vector<int> greedy_placement(const Snapshot& snapshot, const DecodeModel& model,
                                  const Capacity& capacity, const PlacementOptions& options,
                                  double total_tokens) {
  const int num_ranks = model.num_ranks();
  const DecodeParams& p = model.params();
  const auto order = largest_first(snapshot, [&](const Request& q) {
    return p.attn_us_per_token * static_cast<double>(q.tokens) +
           p.attn_us_per_kv_token * static_cast<double>(q.context_tokens);
  });
  std::vector<int> rank_of(snapshot.requests.size(), -1);
  detail::RankState state(num_ranks);
  // The step's total is known up front, so one view serves every request (only the chosen
  // rank's keys change).
  const StepObjective objective{model, total_tokens};
  KeyedView<StepObjective> view(objective);
  view.rebuild(state.loads);
  for (std::size_t i : order) {
    const Request& q = snapshot.requests[i];
    const int r =
        best_rank_in_view(view, state, capacity, {q.tokens, q.context_tokens, q.context_tokens});
    if (r < 0) throw_no_fit(q, Policy::kEpscopeOffline);
    state.add(r, q.tokens, q.context_tokens, q.context_tokens);
    view.set(r, view.keys_with(r, state.loads[static_cast<std::size_t>(r)]));
    rank_of[i] = r;
  }
  local_search(snapshot, num_ranks, StepObjective{model, total_tokens}, capacity, rank_of, -1,
               options.local_search_rounds);
  return rank_of;
}

/// Fresh plans from every baseline and from lambda 0.2, 0.4, 0.6, 0.8 (points between batch and
/// KV balance, docs/model.md §8.6: the sweet spot is often there); those that do not fit under the
/// capacity are left out.
void add_fresh_candidates(const Snapshot& snapshot, const DecodeModel& model,
                          const Capacity& capacity, std::vector<std::vector<int>>& candidates) {
  // A baseline here places everything from scratch (it is a fresh plan, not an online step).
  Snapshot fresh = snapshot;
  for (Request& q : fresh.requests)
    q.rank = -1;
  for (Policy baseline : {Policy::kRoundRobin, Policy::kShortestQueue, Policy::kTotalTokens,
                          Policy::kBalanceBatch, Policy::kBalanceKv}) {
    try {
      candidates.push_back(place(fresh, baseline, model, capacity).rank_of);
    } catch (const InputError&) {
      // This baseline cannot fit the snapshot under the capacity; skip it.
    }
  }
  for (double lambda : {0.2, 0.4, 0.6, 0.8}) {
    PlacementOptions mix;
    mix.lambda = lambda;
    try {
      candidates.push_back(place(fresh, Policy::kLambda, model, capacity, mix).rank_of);
    } catch (const InputError&) {
      // Does not fit under the capacity at this lambda.
    }
  }
}

/// The candidate with the fastest full-model step within max_moves; ties go to fewer moves.
/// Throws InputError when none qualifies.
Placement fastest_candidate(const Snapshot& snapshot, const DecodeModel& model,
                            const PlacementOptions& options,
                            std::vector<std::vector<int>>& candidates, double& best_us) {
  const int num_ranks = model.num_ranks();
  Placement best;
  best_us = 0;
  for (auto& rank_of : candidates) {
    const int moves = count_moves(snapshot, rank_of);
    if (options.max_moves >= 0 && moves > options.max_moves) continue;
    Placement p{rank_of, moves};
    const double us = model.step(rank_loads(snapshot, p, num_ranks)).step_us;
    if (best.rank_of.empty() || us < best_us - 1e-9 * best_us ||
        (us <= best_us + 1e-9 * best_us && moves < best.num_moves)) {
      best = std::move(p);
      best_us = us;
    }
  }
  if (best.rank_of.empty()) {
    if (options.max_moves >= 0 && !candidates.empty()) {
      throw InputError("max-moves", std::to_string(options.max_moves),
                       "no placement within capacity needs this few moves");
    }
    throw InputError("kv-capacity", "epscope_offline",
                     "no candidate placement fits the snapshot into the capacity");
  }
  return best;
}

/// Offline epscope: candidates (greedy on the surrogate + local search; the current placement with
/// new requests placed online + local search; every baseline; lambda 0.2, 0.4, 0.6, 0.8), each
/// timed with the full model; the fastest wins, ties go to fewer moves. So it is never slower than
/// the best baseline under the full model.
Placement place_epscope_offline(const Snapshot& snapshot, const DecodeModel& model,
                                const Capacity& capacity, const PlacementOptions& options) {
  const int num_ranks = model.num_ranks();
  double total_tokens = 0;
  for (const Request& q : snapshot.requests)
    total_tokens += static_cast<double>(q.tokens);
  std::vector<std::vector<int>> candidates;
  try {
    candidates.push_back(greedy_placement(snapshot, model, capacity, options, total_tokens));
  } catch (const InputError&) {
    // The greedy order left no room for a large request; the baselines below may still fit.
  }
  const bool any_placed = std::any_of(snapshot.requests.begin(), snapshot.requests.end(),
                                      [](const Request& q) { return q.rank >= 0; });
  if (any_placed) {
    // From where requests run now: new ones placed online, then moves within max_moves.
    try {
      std::vector<int> rank_of = place(snapshot, Policy::kEpscopeOnline, model, capacity).rank_of;
      local_search(snapshot, num_ranks, StepObjective{model, total_tokens}, capacity, rank_of,
                   options.max_moves, options.local_search_rounds);
      candidates.push_back(std::move(rank_of));
    } catch (const InputError&) {
      // The running requests already exceed a capacity: only fresh plans are candidates.
    }
  }
  add_fresh_candidates(snapshot, model, capacity, candidates);
  double best_us = 0;
  Placement best = fastest_candidate(snapshot, model, options, candidates, best_us);
  // Polish the winner once more (it may be a baseline the search has not started from).
  std::vector<int> polished = best.rank_of;
  local_search(snapshot, num_ranks, StepObjective{model, total_tokens}, capacity, polished,
               options.max_moves, options.local_search_rounds);
  const int polished_moves = count_moves(snapshot, polished);
  Placement candidate{polished, polished_moves};
  if (model.step(rank_loads(snapshot, candidate, num_ranks)).step_us < best_us * (1 - 1e-12)) {
    best = std::move(candidate);
  }
  return best;
}

}  // namespace

Placement place(const Snapshot& snapshot, Policy policy, const DecodeModel& model,
                const Capacity& capacity, const PlacementOptions& options) {
  const int num_ranks = model.num_ranks();
  check_snapshot(snapshot, num_ranks, capacity);
  if (!(options.lambda >= 0 && options.lambda <= 1)) {
    throw InputError("lambda", fmt::format("{}", options.lambda), "allowed: 0..1");
  }
  if (policy == Policy::kEpscopeOffline) {
    return place_epscope_offline(snapshot, model, capacity, options);
  }
  const auto n_req = snapshot.requests.size();
  std::vector<int> rank_of(n_req, -1);
  detail::RankState state(num_ranks);
  std::vector<std::size_t> order;
  double total_tokens = 0;
  double total_kv = 0;
  for (const Request& q : snapshot.requests) {
    total_tokens += static_cast<double>(q.tokens);
    total_kv += static_cast<double>(q.context_tokens);
  }
  if (is_offline(policy)) {
    switch (policy) {
      case Policy::kBalanceBatch:
        order = largest_first(snapshot, [](const Request& q) { return q.tokens; });
        break;
      case Policy::kBalanceKv:
        order = largest_first(snapshot, [](const Request& q) { return q.context_tokens; });
        break;
      default: {  // kLambda
        state.batch_scale = std::max(1.0, total_tokens / num_ranks);
        state.kv_scale = std::max(1.0, total_kv / num_ranks);
        const double lambda = options.lambda;
        const double bs = state.batch_scale, ks = state.kv_scale;
        order = largest_first(snapshot, [&](const Request& q) {
          return lambda * static_cast<double>(q.tokens) / bs +
                 (1 - lambda) * static_cast<double>(q.context_tokens) / ks;
        });
      }
    }
  } else {
    // Online: running requests stay; new ones arrive in snapshot order.
    for (std::size_t i = 0; i < n_req; ++i) {
      const Request& q = snapshot.requests[i];
      if (q.rank >= 0) {
        rank_of[i] = q.rank;
        state.add(q.rank, q.tokens, q.context_tokens, q.context_tokens);
      } else {
        order.push_back(i);
      }
    }
    for (int r = 0; r < num_ranks; ++r) {
      if (state.reserved_kv[static_cast<std::size_t>(r)] > capacity.of(r)) {
        throw InputError(
            "kv-capacity",
            fmt::format("rank {} holds {} KV tokens", r,
                        state.reserved_kv[static_cast<std::size_t>(r)]),
            fmt::format("the running requests exceed its capacity {}", capacity.of(r)));
      }
    }
  }
  place_in_order(snapshot, order, policy, model, capacity, options.lambda, state, total_tokens,
                 rank_of);
  if (policy == Policy::kLambda) {
    // Greedy placement leaves the weighted maximum noisy; polish it (docs/model.md §8.6).
    local_search(snapshot, num_ranks,
                 BalanceObjective{options.lambda, state.batch_scale, state.kv_scale}, capacity,
                 rank_of, -1, options.local_search_rounds);
  }
  return {rank_of, count_moves(snapshot, rank_of)};
}

PolicyReport evaluate(const Snapshot& snapshot, Policy policy, const DecodeModel& model,
                      const Capacity& capacity, const PlacementOptions& options) {
  PolicyReport report;
  report.policy = to_string(policy);
  if (policy == Policy::kLambda) {
    report.lambda = options.lambda;
    report.policy = fmt::format("lambda={:g}", options.lambda);
  }
  report.placement = place(snapshot, policy, model, capacity, options);
  report.step = model.step(rank_loads(snapshot, report.placement, model.num_ranks()));
  return report;
}

}  // namespace epscope
