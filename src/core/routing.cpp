// Routing: popularity, sampled top-k, and exact expected counts. docs/model.md §3.
#include "epscope/routing.h"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <numeric>

#include "epscope/error.h"
#include "rng.h"

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

namespace {

/// Draws `count` distinct indices from weights (cumulative `cum`, last = total) without
/// replacement. Rejection keeps the exact sequential-draw law; a scan takes over when the chosen
/// items hold most of the mass.
void draw_distinct(detail::Rng& rng, const std::vector<double>& cum, int count, bool uniform,
                   std::vector<int>& out) {
  const int n = static_cast<int>(cum.size());
  out.clear();
  auto taken = [&](int i) { return std::find(out.begin(), out.end(), i) != out.end(); };
  if (uniform) {  // the common case: plain rejection of repeats
    while (static_cast<int>(out.size()) < count) {
      const int i = static_cast<int>(rng.below(static_cast<std::uint32_t>(n)));
      if (!taken(i)) out.push_back(i);
    }
    return;
  }
  while (static_cast<int>(out.size()) < count) {
    int pick = -1;
    for (int attempt = 0; attempt < 64 && pick < 0; ++attempt) {
      int i;
      if (uniform) {
        i = static_cast<int>(rng.below(static_cast<std::uint32_t>(n)));
      } else {
        const double u = rng.uniform() * cum.back();
        i = static_cast<int>(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin());
        i = std::min(i, n - 1);
      }
      if (!taken(i)) pick = i;
    }
    if (pick < 0) {  // scan over what is left
      double left = 0;
      for (int i = 0; i < n; ++i) {
        if (!taken(i))
          left += cum[static_cast<std::size_t>(i)] - (i ? cum[static_cast<std::size_t>(i - 1)] : 0);
      }
      double u = rng.uniform() * left;
      for (int i = 0; i < n && pick < 0; ++i) {
        if (taken(i)) continue;
        u -= cum[static_cast<std::size_t>(i)] - (i ? cum[static_cast<std::size_t>(i - 1)] : 0);
        if (u < 0) pick = i;
      }
      if (pick < 0) {
        for (int i = n - 1; i >= 0 && pick < 0; --i) {
          if (!taken(i)) pick = i;
        }
      }
    }
    out.push_back(pick);
  }
}

std::vector<double> cumulative(const std::vector<double>& w) {
  std::vector<double> cum(w.size());
  std::partial_sum(w.begin(), w.end(), cum.begin());
  return cum;
}

}  // namespace

// docs/model.md §3.2: group-limited top-k picks topk_groups groups by group mass, then topk
// experts among them by popularity, both without replacement.
std::vector<RankTopk> sample_topk(const Scenario& scenario) {
  const int num_ranks = scenario.num_ranks();
  if (!scenario.routing.file.empty()) {
    return read_topk_file(scenario.routing.file, num_ranks, scenario.moe.topk,
                          scenario.moe.num_experts, scenario.tokens_per_rank);
  }
  const MoeShape& moe = scenario.moe;
  const std::vector<double> pop = expert_popularity(scenario);
  const bool uniform = scenario.routing.popularity == RoutingSpec::Popularity::kUniform;
  const int per_group = moe.num_experts / moe.num_groups;
  const bool grouped = moe.num_groups > 1 && moe.topk_groups < moe.num_groups;
  std::vector<double> group_mass(static_cast<std::size_t>(moe.num_groups), 0.0);
  for (int e = 0; e < moe.num_experts; ++e)
    group_mass[static_cast<std::size_t>(e / per_group)] += pop[static_cast<std::size_t>(e)];
  const std::vector<double> cum_all = cumulative(pop);
  const std::vector<double> cum_groups = cumulative(group_mass);

  std::vector<RankTopk> out(static_cast<std::size_t>(num_ranks));
  for (int r = 0; r < num_ranks; ++r) {
    detail::Rng rng(scenario.routing.seed, static_cast<std::uint64_t>(r) + 1);
    RankTopk& rt = out[static_cast<std::size_t>(r)];
    rt.num_tokens = scenario.tokens_per_rank[static_cast<std::size_t>(r)];
    rt.expert_idx.resize(static_cast<std::size_t>(rt.num_tokens) * moe.topk);
    std::vector<int> groups, picks, candidates;
    std::vector<double> cum_candidates;
    for (std::int64_t t = 0; t < rt.num_tokens; ++t) {
      if (!grouped) {
        draw_distinct(rng, cum_all, moe.topk, uniform, picks);
      } else {
        draw_distinct(rng, cum_groups, moe.topk_groups, uniform, groups);
        candidates.clear();
        std::vector<double> w;
        for (int g : groups) {
          for (int e = g * per_group; e < (g + 1) * per_group; ++e) {
            candidates.push_back(e);
            w.push_back(pop[static_cast<std::size_t>(e)]);
          }
        }
        cum_candidates = cumulative(w);
        draw_distinct(rng, cum_candidates, moe.topk, uniform, picks);
        for (int& p : picks)
          p = candidates[static_cast<std::size_t>(p)];
      }
      std::copy(picks.begin(), picks.end(), rt.expert_idx.begin() + t * moe.topk);
    }
  }
  return out;
}

namespace {

/// Sorts the columns a row touched: by a scan of the row when it touched many of them, else by
/// sorting the list (the cheaper of O(num_cols) and O(k log k)).
void sort_touched(std::vector<std::int32_t>& cols, const std::vector<double>& row) {
  if (cols.size() * 16 < row.size()) {
    std::sort(cols.begin(), cols.end());
    return;
  }
  cols.clear();
  for (std::size_t c = 0; c < row.size(); ++c) {
    if (row[c] != 0) cols.push_back(static_cast<std::int32_t>(c));
  }
}

/// Adds the touched columns of `row` as a unit row of `out` for row `r` (scale 1) and zeroes them.
void emit_row(ScaledRows& out, int r, const std::vector<std::int32_t>& cols,
              std::vector<double>& row, std::vector<double>& values) {
  values.clear();
  for (const std::int32_t c : cols) {
    values.push_back(row[static_cast<std::size_t>(c)]);
    row[static_cast<std::size_t>(c)] = 0;
  }
  out.set_row(r, out.add_unit(cols, values), 1.0);
}

}  // namespace

RoutingCounts count_routing(const Scenario& scenario, const std::vector<RankTopk>& topk) {
  const Cluster& cl = scenario.cluster;
  const int n = scenario.num_ranks();
  const int k = scenario.moe.topk;
  const int num_experts = scenario.moe.num_experts;
  const ExpertPlacement placement(scenario.moe, n);
  RoutingCounts c;
  c.num_ranks = n;
  c.num_domains = cl.num_domains();
  const auto nn = static_cast<std::size_t>(n);
  c.copies = ScaledRows(n, n);
  c.token_ranks = ScaledRows(n, n);
  c.token_domains = ScaledRows(n, c.num_domains);
  c.expert_load.assign(static_cast<std::size_t>(num_experts), 0.0);
  EPSCOPE_ASSERT(static_cast<int>(topk.size()) == n);
  // Per source: the rank and domain serving each expert (a flat table, rebuilt only when the
  // replica choice changes), and a stamp per rank/domain so that dedup is O(1) per pick.
  const int period = placement.period(n);
  const bool cached = period <= 64;  // one table per residue s % period, else rebuilt per source
  const auto ne = static_cast<std::size_t>(num_experts);
  std::vector<int> dest_rank(ne * static_cast<std::size_t>(cached ? period : 1));
  std::vector<int> dest_domain(dest_rank.size());
  auto fill_table = [&](int s, std::size_t slot) {
    for (int e = 0; e < num_experts; ++e) {
      const int d = placement.rank_for(e, s);
      dest_rank[slot * ne + static_cast<std::size_t>(e)] = d;
      dest_domain[slot * ne + static_cast<std::size_t>(e)] = cl.domain_of(d);
    }
  };
  for (int p = 0; cached && p < period; ++p)
    fill_table(p, static_cast<std::size_t>(p));
  std::vector<std::int64_t> rank_stamp(nn, -1);
  std::vector<std::int64_t> domain_stamp(static_cast<std::size_t>(c.num_domains), -1);
  // One source's row, dense while it is counted, then stored sparse (touched columns only).
  std::vector<double> copies(nn, 0.0), token_ranks(nn, 0.0);
  std::vector<double> token_domains(static_cast<std::size_t>(c.num_domains), 0.0);
  std::vector<std::int32_t> rank_cols, domain_cols;
  std::vector<double> values;
  std::int64_t stamp = 0;
  for (int s = 0; s < n; ++s) {
    std::size_t slot = 0;
    if (cached) {
      slot = static_cast<std::size_t>(s % period);
    } else {
      fill_table(s, 0);
    }
    const int* to_rank = &dest_rank[slot * ne];
    const int* to_domain = &dest_domain[slot * ne];
    const RankTopk& rt = topk[static_cast<std::size_t>(s)];
    const std::int32_t* idx = rt.expert_idx.data();
    rank_cols.clear();
    domain_cols.clear();
    for (std::int64_t t = 0; t < rt.num_tokens; ++t, ++stamp) {
      for (int j = 0; j < k; ++j) {
        const int e = idx[t * k + j];
        if (e < 0) continue;
        const auto d = static_cast<std::size_t>(to_rank[e]);
        const auto dom = static_cast<std::size_t>(to_domain[e]);
        if (copies[d] == 0) rank_cols.push_back(static_cast<std::int32_t>(d));
        copies[d] += 1;
        c.expert_load[static_cast<std::size_t>(e)] += 1;
        if (rank_stamp[d] != stamp) {
          rank_stamp[d] = stamp;
          token_ranks[d] += 1;
        }
        if (domain_stamp[dom] != stamp) {
          domain_stamp[dom] = stamp;
          if (token_domains[dom] == 0) domain_cols.push_back(static_cast<std::int32_t>(dom));
          token_domains[dom] += 1;
        }
      }
    }
    sort_touched(rank_cols, copies);
    sort_touched(domain_cols, token_domains);
    emit_row(c.token_ranks, s, rank_cols, token_ranks, values);
    emit_row(c.copies, s, rank_cols, copies, values);
    emit_row(c.token_domains, s, domain_cols, token_domains, values);
  }
  return c;
}

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

RoutingCounts expected_routing(const Scenario& scenario) {
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
  const auto nn = static_cast<std::size_t>(n);
  const auto nd = static_cast<std::size_t>(c.num_domains);
  c.copies = ScaledRows(n, n);
  c.token_ranks = ScaledRows(n, n);
  c.token_domains = ScaledRows(n, c.num_domains);
  c.expert_load.assign(static_cast<std::size_t>(num_experts), 0.0);

  // Per-token expectations for one source, as unit rows: copies to each rank, P(hit rank),
  // P(hit domain), over the ranks and domains that serve any expert. Row s is tokens(s) x the
  // profile of s; sources s and s + period see the same replicas and share a profile.
  struct Profile {
    int copies = -1, hit_rank = -1, hit_domain = -1;  // unit rows
  };
  std::vector<ExpertSet> rank_sets(nn, miss.empty_set()), domain_sets(nd, miss.empty_set());
  std::vector<double> copies(nn, 0.0), values;
  std::vector<std::int32_t> rank_cols, domain_cols;
  auto make_profile = [&](int s) {
    rank_cols.clear();
    domain_cols.clear();
    for (int e = 0; e < num_experts; ++e) {
      const int d = placement.rank_for(e, s);
      const int dom = cl.domain_of(d);
      ExpertSet& rank_set = rank_sets[static_cast<std::size_t>(d)];
      ExpertSet& domain_set = domain_sets[static_cast<std::size_t>(dom)];
      if (rank_set.hits == 0) rank_cols.push_back(d);
      if (domain_set.hits == 0) domain_cols.push_back(dom);
      copies[static_cast<std::size_t>(d)] += q[static_cast<std::size_t>(e)];
      miss.add(rank_set, e);
      miss.add(domain_set, e);
    }
    std::sort(rank_cols.begin(), rank_cols.end());
    std::sort(domain_cols.begin(), domain_cols.end());
    Profile pr;
    values.clear();
    for (const std::int32_t d : rank_cols)
      values.push_back(copies[static_cast<std::size_t>(d)]);
    pr.copies = c.copies.add_unit(rank_cols, values);
    values.clear();
    for (const std::int32_t d : rank_cols)
      values.push_back(1 - miss(rank_sets[static_cast<std::size_t>(d)]));
    pr.hit_rank = c.token_ranks.add_unit(rank_cols, values);
    values.clear();
    for (const std::int32_t dom : domain_cols)
      values.push_back(1 - miss(domain_sets[static_cast<std::size_t>(dom)]));
    pr.hit_domain = c.token_domains.add_unit(domain_cols, values);
    for (const std::int32_t d : rank_cols) {
      copies[static_cast<std::size_t>(d)] = 0;
      rank_sets[static_cast<std::size_t>(d)] = miss.empty_set();
    }
    for (const std::int32_t dom : domain_cols)
      domain_sets[static_cast<std::size_t>(dom)] = miss.empty_set();
    return pr;
  };
  const int period = placement.period(n);
  std::vector<Profile> profiles;
  for (int p = 0; p < period; ++p)
    profiles.push_back(make_profile(p));
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

}  // namespace

RoutingCounts compute_routing(const Scenario& scenario) {
  if (scenario.routing.sampled()) return count_routing(scenario, sample_topk(scenario));
  return expected_routing(scenario);
}

}  // namespace epscope
