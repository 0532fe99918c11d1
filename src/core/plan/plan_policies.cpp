// Placement policies: the baselines serving systems use, the epscope optimizer (online greedy on
// the surrogate; offline greedy + local search, checked with the full model). docs/model.md §8
// §8.5.
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

using detail::KeyedView;
using detail::plus;
using detail::StepObjective;

namespace {

struct PolicyName {
  Policy policy;
  const char* name;
};
constexpr PolicyName kPolicyNames[] = {
    {Policy::kRoundRobin, "round_robin"},         {Policy::kShortestQueue, "shortest_queue"},
    {Policy::kTotalTokens, "total_tokens"},       {Policy::kBalanceBatch, "balance_batch"},
    {Policy::kBalanceKv, "balance_kv"},           {Policy::kEpscopeOnline, "epscope_online"},
    {Policy::kEpscopeOffline, "epscope_offline"}, {Policy::kLambda, "lambda"},
};

}  // namespace

bool detail::is_offline(Policy policy) {
  return policy == Policy::kBalanceBatch || policy == Policy::kBalanceKv ||
         policy == Policy::kEpscopeOffline || policy == Policy::kLambda;
}

namespace {

/// Picks the fitting rank with the lowest `cost`; ties go to fewer requests, then the lower rank.
template <typename Cost>
int argmin_fitting(const detail::RankState& state, const Capacity& capacity, std::int64_t reserve,
                   Cost cost) {
  int best = -1;
  double best_cost = 0;
  const int num_ranks = static_cast<int>(state.loads.size());
  for (int r = 0; r < num_ranks; ++r) {
    if (!state.fits(r, reserve, capacity)) continue;
    const double c = cost(r);
    if (best < 0 || c < best_cost ||
        (c == best_cost && state.loads[static_cast<std::size_t>(r)].num_requests <
                               state.loads[static_cast<std::size_t>(best)].num_requests)) {
      best = r;
      best_cost = c;
    }
  }
  return best;
}

}  // namespace

int detail::best_rank_in_view(const KeyedView<StepObjective>& view, const detail::RankState& state,
                              const Capacity& capacity, const detail::Arrival& arrival) {
  int best = -1;
  KeyedView<StepObjective>::Score best_score;
  double best_key_sum = 0;
  const int num_ranks = static_cast<int>(state.loads.size());
  for (int r = 0; r < num_ranks; ++r) {
    if (!state.fits(r, arrival.reserve, capacity)) continue;
    const SurrogateKeys k = view.keys_with(
        r, plus(state.loads[static_cast<std::size_t>(r)], arrival.tokens, arrival.kv_tokens, 1));
    const KeyedView<StepObjective>::Score s = view.score_with(r, k, -1, {});
    const double key_sum = k.k1 + k.k2 + k.k3;
    // Among equal step times the rank that ends up least loaded wins (it keeps the spread low).
    if (best < 0 || s.better_than(best_score) ||
        (!best_score.better_than(s) && key_sum < best_key_sum)) {
      best = r;
      best_score = s;
      best_key_sum = key_sum;
    }
  }
  return best;
}

namespace {

int choose_epscope(const DecodeModel& model, const Capacity& capacity,
                   const detail::RankState& state, const detail::Arrival& arrival,
                   double total_tokens_after) {
  const StepObjective objective{model, total_tokens_after};
  KeyedView<StepObjective> view(objective);
  view.rebuild(state.loads);
  return best_rank_in_view(view, state, capacity, arrival);
}

}  // namespace

namespace detail {

void RankState::add(int rank, std::int64_t tokens, std::int64_t kv_tokens, std::int64_t reserve) {
  RankLoad& l = loads[static_cast<std::size_t>(rank)];
  l = plus(l, tokens, kv_tokens, 1);
  reserved_kv[static_cast<std::size_t>(rank)] += reserve;
}

void RankState::remove(int rank, std::int64_t tokens, std::int64_t kv_tokens,
                       std::int64_t reserve) {
  RankLoad& l = loads[static_cast<std::size_t>(rank)];
  l = plus(l, -tokens, -kv_tokens, -1);
  reserved_kv[static_cast<std::size_t>(rank)] -= reserve;
}

int choose_rank(Policy policy, const DecodeModel& model, const Capacity& capacity, RankState& state,
                const Arrival& arrival, double total_tokens_after, double lambda) {
  const int num_ranks = static_cast<int>(state.loads.size());
  const auto load = [&](int r) -> const RankLoad& {
    return state.loads[static_cast<std::size_t>(r)];
  };
  switch (policy) {
    case Policy::kRoundRobin:
      for (int tries = 0; tries < num_ranks; ++tries) {
        const int r = state.round_robin_cursor;
        state.round_robin_cursor = (state.round_robin_cursor + 1) % num_ranks;
        if (state.fits(r, arrival.reserve, capacity)) return r;
      }
      return -1;
    case Policy::kShortestQueue:
      return argmin_fitting(state, capacity, arrival.reserve,
                            [&](int r) { return static_cast<double>(load(r).num_requests); });
    case Policy::kTotalTokens:
      return argmin_fitting(state, capacity, arrival.reserve,
                            [&](int r) { return static_cast<double>(load(r).kv_tokens); });
    case Policy::kBalanceBatch:
      return argmin_fitting(state, capacity, arrival.reserve,
                            [&](int r) { return static_cast<double>(load(r).tokens); });
    case Policy::kBalanceKv:
      return argmin_fitting(state, capacity, arrival.reserve, [&](int r) {
        return static_cast<double>(state.reserved_kv[static_cast<std::size_t>(r)]);
      });
    case Policy::kLambda: {
      double batch_scale = state.batch_scale, kv_scale = state.kv_scale;
      if (batch_scale <= 0 || kv_scale <= 0) {
        double tokens = static_cast<double>(arrival.tokens),
               kv = static_cast<double>(arrival.kv_tokens);
        for (const RankLoad& l : state.loads) {
          tokens += static_cast<double>(l.tokens);
          kv += static_cast<double>(l.kv_tokens);
        }
        batch_scale = std::max(1.0, tokens / num_ranks);
        kv_scale = std::max(1.0, kv / num_ranks);
      }
      // docs/model.md §8.6: lambda x batch share + (1 - lambda) x KV share, after placing.
      return argmin_fitting(state, capacity, arrival.reserve, [&](int r) {
        return lambda * static_cast<double>(load(r).tokens + arrival.tokens) / batch_scale +
               (1.0 - lambda) * static_cast<double>(load(r).kv_tokens + arrival.kv_tokens) /
                   kv_scale;
      });
    }
    case Policy::kEpscopeOnline:
    case Policy::kEpscopeOffline:
      return choose_epscope(model, capacity, state, arrival, total_tokens_after);
  }
  return -1;
}

}  // namespace detail

std::string to_string(Policy policy) {
  for (const auto& p : kPolicyNames) {
    if (p.policy == policy) return p.name;
  }
  return "?";
}

Policy parse_policy(const std::string& text) {
  std::string names;
  for (const auto& p : kPolicyNames) {
    if (text == p.name) return p.policy;
    names += std::string(names.empty() ? "" : ", ") + p.name;
  }
  if (text == "epscope") return Policy::kEpscopeOffline;
  throw InputError("policy", text, "allowed: " + names + ", epscope (= epscope_offline)");
}

std::vector<Policy> all_policies() {
  return {Policy::kRoundRobin,    Policy::kShortestQueue, Policy::kTotalTokens,
          Policy::kBalanceBatch,  Policy::kBalanceKv,     Policy::kEpscopeOnline,
          Policy::kEpscopeOffline};
}

std::int64_t Capacity::of(int rank) const {
  if (kv_tokens.empty()) return std::numeric_limits<std::int64_t>::max() / 4;
  return kv_tokens[static_cast<std::size_t>(rank) % kv_tokens.size()];
}

std::vector<RankLoad> rank_loads(const Snapshot& snapshot, const Placement& placement,
                                 int num_ranks) {
  std::vector<RankLoad> loads(static_cast<std::size_t>(num_ranks));
  for (std::size_t i = 0; i < snapshot.requests.size(); ++i) {
    const Request& q = snapshot.requests[i];
    RankLoad& l = loads[static_cast<std::size_t>(placement.rank_of[i])];
    l = plus(l, q.tokens, q.context_tokens, 1);
  }
  return loads;
}

}  // namespace epscope
