// Routing: expert placement and popularity, and the counts of a scenario (expected or sampled).
// docs/model.md §3.
#include "epscope/traffic/routing.h"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/rng.h"
#include "epscope/base/error.h"
#include "routing_internal.h"

namespace epscope {

int ExpertPlacement::period(int num_ranks) const {
  // rank_for(e, s) depends on s only through s % replicas(e).size(): the lcm of those sizes.
  std::int64_t l = 1;
  for (const auto& r : replicas_) {
    l = std::lcm(l, static_cast<std::int64_t>(r.size()));
    if (l >= num_ranks) return num_ranks;
  }
  return static_cast<int>(l);
}

ExpertPlacement::ExpertPlacement(const MoeShape& moe, int num_ranks) {
  if (!moe.replicas.empty()) {
    replicas_ = moe.replicas;
    for (const auto& r : replicas_)
      redundant_ = redundant_ || r.size() > 1;
    return;
  }
  // Contiguous: E / R experts per rank; with fewer experts than ranks, each expert is replicated
  // on R / E consecutive ranks (one slot per rank). docs/model.md §3.2.
  EPSCOPE_ASSERT(num_ranks > 0 &&
                 (moe.num_experts % num_ranks == 0 || num_ranks % moe.num_experts == 0));
  replicas_.resize(static_cast<std::size_t>(moe.num_experts));
  if (moe.num_experts >= num_ranks) {
    const int per_rank = moe.num_experts / num_ranks;
    for (int e = 0; e < moe.num_experts; ++e)
      replicas_[static_cast<std::size_t>(e)] = {e / per_rank};
    return;
  }
  const int copies = num_ranks / moe.num_experts;
  for (int e = 0; e < moe.num_experts; ++e) {
    for (int c = 0; c < copies; ++c)
      replicas_[static_cast<std::size_t>(e)].push_back(e * copies + c);
  }
  redundant_ = copies > 1;
}

// docs/model.md §3.1: uniform 1/E; lognormal exp(sigma * z_e), z_e ~ N(0,1) seeded; zipf (e+1)^-s.
std::vector<double> expert_popularity(const Scenario& scenario) {
  const int num_experts = scenario.moe.num_experts;
  std::vector<double> w(static_cast<std::size_t>(num_experts), 1.0);
  detail::Rng rng(scenario.routing.seed, 0x5eed);
  for (int e = 0; e < num_experts; ++e) {
    switch (scenario.routing.popularity) {
      case RoutingSpec::Popularity::kUniform:
        break;
      case RoutingSpec::Popularity::kLognormal:
        w[static_cast<std::size_t>(e)] = std::exp(scenario.routing.skew * rng.normal());
        break;
      case RoutingSpec::Popularity::kZipf:
        w[static_cast<std::size_t>(e)] =
            std::pow(static_cast<double>(e + 1), -scenario.routing.skew);
        break;
    }
  }
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  for (double& x : w)
    x /= total;
  return w;
}

RoutingCounts compute_routing(const Scenario& scenario) {
  if (!scenario.routing.sampled()) return detail::expected_routing(scenario);
  if (!scenario.routing.file.empty()) return count_routing(scenario, sample_topk(scenario));
  return detail::sampled_routing(scenario);
}

}  // namespace epscope
