// Expected routing: the exact expected counts per (source, destination). docs/model.md §3.3.
#include "epscope/traffic/routing.h"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/rng.h"
#include "epscope/base/error.h"
#include "routing_internal.h"

namespace epscope {

namespace {

/// Inclusion probability of each expert in one token's top-k (docs/model.md §3.3): k * p_e,
/// capped at 1 with the excess spread over the uncapped experts in proportion to p_e.
std::vector<double> inclusion_probabilities(const std::vector<double>& pop, int k) {
  std::vector<double> q(pop.size());
  std::vector<bool> capped(pop.size(), false);
  double budget = k;
  for (int iter = 0; iter < static_cast<int>(pop.size()) + 1; ++iter) {
    double free_mass = 0;
    for (std::size_t e = 0; e < pop.size(); ++e) {
      if (!capped[e]) free_mass += pop[e];
    }
    bool changed = false;
    for (std::size_t e = 0; e < pop.size(); ++e) {
      if (capped[e]) continue;
      q[e] = free_mass > 0 ? budget * pop[e] / free_mass : 0;
      if (q[e] > 1) {
        capped[e] = true;
        q[e] = 1;
        budget -= 1;
        changed = true;
      }
    }
    if (!changed) break;
  }
  return q;
}

/// log C(n, k) ratios: probability that k uniform picks without replacement from `total` items
/// avoid a set of `hit` items: prod_{i<k} (total - hit - i) / (total - i).
double miss_uniform(int total, int hit, int k) {
  double p = 1;
  for (int i = 0; i < k; ++i) {
    const double num = total - hit - i;
    if (num <= 0) return 0;
    p *= num / (total - i);
  }
  return p;
}

/// What the miss probability of a set X of experts depends on: its size, its size per group, and
/// the product of (1 - q_e) over it.
struct ExpertSet {
  int hits = 0;
  double miss_product = 1;
  std::vector<int> group_hits;
};

/// P(a token picks no expert of the set X), docs/model.md §3.3.
class MissProbability {
 public:
  MissProbability(const Scenario& scenario, const std::vector<double>& q)
      : moe_(scenario.moe), q_(q) {
    uniform_ = scenario.routing.popularity == RoutingSpec::Popularity::kUniform;
    grouped_ = moe_.num_groups > 1 && moe_.topk_groups < moe_.num_groups;
    if (!grouped_) return;
    // Enumerate every choice of topk_groups out of num_groups (uniform popularity only).
    double combos = 1;
    for (int i = 0; i < moe_.topk_groups; ++i)
      combos = combos * (moe_.num_groups - i) / (i + 1);
    if (combos > 1e5) {
      throw InputError("num-groups", std::to_string(moe_.num_groups),
                       fmt::format("expected routing enumerates C({}, {}) = {:.0f} group choices, "
                                   "at most 100000; use sampled routing (uniform) with --seed",
                                   moe_.num_groups, moe_.topk_groups, combos));
    }
    const auto t = static_cast<std::size_t>(moe_.topk_groups);
    std::vector<int> pick(t);
    std::iota(pick.begin(), pick.end(), 0);
    while (true) {
      subsets_.push_back(pick);
      std::size_t i = t;
      while (i > 0 &&
             pick[i - 1] == moe_.num_groups - static_cast<int>(t) + static_cast<int>(i - 1))
        --i;
      if (i == 0) break;
      ++pick[i - 1];
      for (std::size_t j = i; j < t; ++j)
        pick[j] = pick[j - 1] + 1;
    }
  }

  ExpertSet empty_set() const {
    ExpertSet s;
    if (grouped_) s.group_hits.assign(static_cast<std::size_t>(moe_.num_groups), 0);
    return s;
  }
  void add(ExpertSet& set, int expert) const {
    ++set.hits;
    set.miss_product *= 1 - q_[static_cast<std::size_t>(expert)];
    if (grouped_)
      ++set.group_hits[static_cast<std::size_t>(expert / (moe_.num_experts / moe_.num_groups))];
  }

  double operator()(const ExpertSet& set) const {
    if (!uniform_) return set.miss_product;  // independent-inclusion approximation
    if (!grouped_) return miss_uniform(moe_.num_experts, set.hits, moe_.topk);
    const int per_group = moe_.num_experts / moe_.num_groups;
    double sum = 0;
    for (const auto& subset : subsets_) {
      int hit = 0;
      for (int g : subset)
        hit += set.group_hits[static_cast<std::size_t>(g)];
      sum += miss_uniform(moe_.topk_groups * per_group, hit, moe_.topk);
    }
    return sum / static_cast<double>(subsets_.size());
  }

 private:
  const MoeShape& moe_;
  const std::vector<double>& q_;
  bool uniform_ = true;
  bool grouped_ = false;
  std::vector<std::vector<int>> subsets_;
};

/// The unit rows of one source (docs/model.md §3.3): per-token expectations of copies to each
/// rank, P(hit rank) and P(hit domain), over the ranks and domains that serve any expert.
struct Profile {
  int copies = -1, hit_rank = -1, hit_domain = -1;  // unit rows
};

/// Builds Profiles one source at a time, reusing its per-rank and per-domain scratch.
class ProfileBuilder {
 public:
  ProfileBuilder(const Scenario& scenario, const ExpertPlacement& placement,
                 const std::vector<double>& q, const MissProbability& miss)
      : cl_(scenario.cluster),
        num_experts_(scenario.moe.num_experts),
        placement_(placement),
        q_(q),
        miss_(miss),
        rank_sets_(static_cast<std::size_t>(scenario.num_ranks()), miss.empty_set()),
        domain_sets_(static_cast<std::size_t>(scenario.cluster.num_domains()), miss.empty_set()),
        copies_(static_cast<std::size_t>(scenario.num_ranks()), 0.0) {}

  /// The profile of source `s`, its unit rows added to `c`.
  Profile build(int s, RoutingCounts& c) {
    rank_cols_.clear();
    domain_cols_.clear();
    for (int e = 0; e < num_experts_; ++e) {
      const int d = placement_.rank_for(e, s);
      const int dom = cl_.domain_of(d);
      ExpertSet& rank_set = rank_sets_[static_cast<std::size_t>(d)];
      ExpertSet& domain_set = domain_sets_[static_cast<std::size_t>(dom)];
      if (rank_set.hits == 0) rank_cols_.push_back(d);
      if (domain_set.hits == 0) domain_cols_.push_back(dom);
      copies_[static_cast<std::size_t>(d)] += q_[static_cast<std::size_t>(e)];
      miss_.add(rank_set, e);
      miss_.add(domain_set, e);
    }
    std::sort(rank_cols_.begin(), rank_cols_.end());
    std::sort(domain_cols_.begin(), domain_cols_.end());
    Profile pr;
    values_.clear();
    for (const std::int32_t d : rank_cols_)
      values_.push_back(copies_[static_cast<std::size_t>(d)]);
    pr.copies = c.copies.add_unit(rank_cols_, values_);
    values_.clear();
    for (const std::int32_t d : rank_cols_)
      values_.push_back(1 - miss_(rank_sets_[static_cast<std::size_t>(d)]));
    pr.hit_rank = c.token_ranks.add_unit(rank_cols_, values_);
    values_.clear();
    for (const std::int32_t dom : domain_cols_)
      values_.push_back(1 - miss_(domain_sets_[static_cast<std::size_t>(dom)]));
    pr.hit_domain = c.token_domains.add_unit(domain_cols_, values_);
    for (const std::int32_t d : rank_cols_) {
      copies_[static_cast<std::size_t>(d)] = 0;
      rank_sets_[static_cast<std::size_t>(d)] = miss_.empty_set();
    }
    for (const std::int32_t dom : domain_cols_)
      domain_sets_[static_cast<std::size_t>(dom)] = miss_.empty_set();
    return pr;
  }

 private:
  const Cluster& cl_;
  const int num_experts_;
  const ExpertPlacement& placement_;
  const std::vector<double>& q_;
  const MissProbability& miss_;
  std::vector<ExpertSet> rank_sets_, domain_sets_;
  std::vector<double> copies_, values_;
  std::vector<std::int32_t> rank_cols_, domain_cols_;
};

}  // namespace

RoutingCounts detail::expected_routing(const Scenario& scenario) {
  const Cluster& cl = scenario.cluster;
  const int n = scenario.num_ranks();
  const int num_experts = scenario.moe.num_experts;
  const ExpertPlacement placement(scenario.moe, n);
  const std::vector<double> q =
      inclusion_probabilities(expert_popularity(scenario), scenario.moe.topk);
  const MissProbability miss(scenario, q);
  RoutingCounts c;
  c.num_ranks = n;
  c.num_domains = cl.num_domains();
  c.copies = ScaledRows(n, n);
  c.token_ranks = ScaledRows(n, n);
  c.token_domains = ScaledRows(n, c.num_domains);
  c.expert_load.assign(static_cast<std::size_t>(num_experts), 0.0);

  // Row s is tokens(s) x the profile of s; sources s and s + period see the same replicas and
  // share a profile.
  ProfileBuilder builder(scenario, placement, q, miss);
  const int period = placement.period(n);
  std::vector<Profile> profiles;
  for (int p = 0; p < period; ++p)
    profiles.push_back(builder.build(p, c));
  for (int s = 0; s < n; ++s) {
    const Profile& pr = profiles[static_cast<std::size_t>(s % period)];
    const auto tokens = static_cast<double>(scenario.tokens_per_rank[static_cast<std::size_t>(s)]);
    c.copies.set_row(s, pr.copies, tokens);
    c.token_ranks.set_row(s, pr.hit_rank, tokens);
    c.token_domains.set_row(s, pr.hit_domain, tokens);
  }
  const auto total = static_cast<double>(scenario.total_tokens());
  for (int e = 0; e < num_experts; ++e) {
    c.expert_load[static_cast<std::size_t>(e)] = total * q[static_cast<std::size_t>(e)];
  }
  return c;
}

}  // namespace epscope
