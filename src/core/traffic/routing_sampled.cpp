// Sampled routing: seeded top-k draws per rank and exact counts of explicit top-k choices.
// docs/model.md §3.2, §3.
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

/// Draws the top-k experts of one rank's tokens (docs/model.md §3.2): group-limited top-k picks
/// topk_groups groups by group mass, then topk experts among them by popularity, both without
/// replacement. Rank r draws from its own stream (seed, r + 1), so ranks can be drawn one at a
/// time and counted as they come.
class TopkSampler {
 public:
  explicit TopkSampler(const Scenario& scenario)
      : sc_(scenario),
        moe_(scenario.moe),
        pop_(expert_popularity(scenario)),
        uniform_(scenario.routing.popularity == RoutingSpec::Popularity::kUniform),
        grouped_(moe_.num_groups > 1 && moe_.topk_groups < moe_.num_groups),
        per_group_(moe_.num_experts / moe_.num_groups),
        taken_(static_cast<std::size_t>(moe_.num_experts + 63) / 64, 0) {
    std::vector<double> group_mass(static_cast<std::size_t>(moe_.num_groups), 0.0);
    for (int e = 0; e < moe_.num_experts; ++e)
      group_mass[static_cast<std::size_t>(e / per_group_)] += pop_[static_cast<std::size_t>(e)];
    cum_all_ = cumulative(pop_);
    cum_groups_ = cumulative(group_mass);
  }

  /// expert_idx[token * topk + j] for every token of `rank`.
  void sample(int rank, std::vector<std::int32_t>& expert_idx) {
    detail::Rng rng(sc_.routing.seed, static_cast<std::uint64_t>(rank) + 1);
    const std::int64_t num_tokens = sc_.tokens_per_rank[static_cast<std::size_t>(rank)];
    const auto k = static_cast<std::size_t>(moe_.topk);
    expert_idx.resize(static_cast<std::size_t>(num_tokens) * k);
    for (std::int64_t t = 0; t < num_tokens; ++t) {
      std::int32_t* out = expert_idx.data() + static_cast<std::size_t>(t) * k;
      if (!grouped_ && uniform_) {
        draw_uniform(rng, out);
        continue;
      }
      if (!grouped_) {
        draw_distinct(rng, cum_all_, moe_.topk, uniform_, picks_);
      } else {
        draw_distinct(rng, cum_groups_, moe_.topk_groups, uniform_, groups_);
        candidates_.clear();
        weights_.clear();
        for (int g : groups_) {
          for (int e = g * per_group_; e < (g + 1) * per_group_; ++e) {
            candidates_.push_back(e);
            weights_.push_back(pop_[static_cast<std::size_t>(e)]);
          }
        }
        cum_candidates_ = cumulative(weights_);
        draw_distinct(rng, cum_candidates_, moe_.topk, uniform_, picks_);
        for (int& p : picks_)
          p = candidates_[static_cast<std::size_t>(p)];
      }
      std::copy(picks_.begin(), picks_.end(), out);
    }
  }

 private:
  /// draw_distinct() for uniform popularity, the common case: the same draws and rejections, with
  /// the experts taken by this token in a bitmap instead of a list.
  void draw_uniform(detail::Rng& rng, std::int32_t* out) {
    const auto num_experts = static_cast<std::uint32_t>(moe_.num_experts);
    for (int got = 0; got < moe_.topk;) {
      const std::uint32_t e = rng.below(num_experts);
      std::uint64_t& word = taken_[e / 64];
      const std::uint64_t bit = std::uint64_t{1} << (e % 64);
      if (word & bit) continue;
      word |= bit;
      out[got++] = static_cast<std::int32_t>(e);
    }
    for (int j = 0; j < moe_.topk; ++j)
      taken_[static_cast<std::size_t>(out[j]) / 64] = 0;
  }

  const Scenario& sc_;
  const MoeShape& moe_;
  std::vector<double> pop_, cum_all_, cum_groups_;
  bool uniform_, grouped_;
  int per_group_;
  std::vector<std::uint64_t> taken_;
  std::vector<int> groups_, picks_, candidates_;
  std::vector<double> weights_, cum_candidates_;
};

}  // namespace

std::vector<RankTopk> sample_topk(const Scenario& scenario) {
  const int num_ranks = scenario.num_ranks();
  if (!scenario.routing.file.empty()) {
    return read_topk_file(scenario.routing.file, num_ranks, scenario.moe.topk,
                          scenario.moe.num_experts, scenario.tokens_per_rank);
  }
  TopkSampler sampler(scenario);
  std::vector<RankTopk> out(static_cast<std::size_t>(num_ranks));
  for (int r = 0; r < num_ranks; ++r) {
    RankTopk& rt = out[static_cast<std::size_t>(r)];
    rt.num_tokens = scenario.tokens_per_rank[static_cast<std::size_t>(r)];
    sampler.sample(r, rt.expert_idx);
  }
  return out;
}

namespace {

/// Ascending columns [0, num_cols) with touched(col), or those of `cols` sorted: a scan when `cols`
/// holds many of them, else a sort (the cheaper of O(num_cols) and O(k log k)).
template <typename Touched>
void sort_touched(std::vector<std::int32_t>& cols, std::size_t num_cols, Touched&& touched) {
  if (cols.size() * 16 < num_cols) {
    std::sort(cols.begin(), cols.end());
    return;
  }
  cols.resize(num_cols + 1);
  std::size_t size = 0;
  for (std::size_t c = 0; c < num_cols; ++c) {  // no branch on touched(c), a coin flip
    cols[size] = static_cast<std::int32_t>(c);
    size += touched(c);
  }
  cols.resize(size);
}

/// Counts explicit top-k choices one source at a time (docs/model.md §3). The rank and domain
/// serving each expert come from a flat table per replica choice; per pick, a stamp per rank and
/// domain (the last token that reached it) makes the per-token dedup O(1); a source's row is dense
/// while it is counted, then stored sparse (the columns it touched).
class RoutingCounter {
 public:
  explicit RoutingCounter(const Scenario& scenario)
      : cl_(scenario.cluster),
        n_(scenario.num_ranks()),
        k_(scenario.moe.topk),
        num_experts_(scenario.moe.num_experts),
        placement_(scenario.moe, n_),
        period_(placement_.period(n_)),
        cached_(period_ <= 64) {
    c_.num_ranks = n_;
    c_.num_domains = cl_.num_domains();
    c_.copies = ScaledRows(n_, n_);
    c_.token_ranks = ScaledRows(n_, n_);
    c_.token_domains = ScaledRows(n_, c_.num_domains);
    c_.expert_load.assign(static_cast<std::size_t>(num_experts_), 0.0);
    // A source reaches at most one rank (domain) per expert and one per pick.
    std::size_t rank_cells = 0, domain_cells = 0;
    for (const std::int64_t tokens : scenario.tokens_per_rank) {
      const std::int64_t picks = std::min<std::int64_t>(tokens * k_, num_experts_);
      rank_cells += static_cast<std::size_t>(std::min<std::int64_t>(picks, n_));
      domain_cells += static_cast<std::size_t>(std::min<std::int64_t>(picks, c_.num_domains));
    }
    c_.copies.reserve(static_cast<std::size_t>(n_), rank_cells);
    c_.token_ranks.reserve(static_cast<std::size_t>(n_), rank_cells);
    c_.token_domains.reserve(static_cast<std::size_t>(n_), domain_cells);
    const auto ne = static_cast<std::size_t>(num_experts_);
    dest_rank_.resize(ne * static_cast<std::size_t>(cached_ ? period_ : 1));
    dest_domain_.resize(dest_rank_.size());
    for (int p = 0; cached_ && p < period_; ++p)
      fill_table(p, static_cast<std::size_t>(p));
    picks_.assign(ne, 0);
    copies_.assign(static_cast<std::size_t>(n_), 0);
    rank_.assign(static_cast<std::size_t>(n_), Tally{});
    domain_.assign(static_cast<std::size_t>(c_.num_domains), Tally{});
  }

  /// Counts source s: expert_idx[token * topk + j] for its num_tokens tokens, -1 = no expert.
  void add(int s, const std::int32_t* expert_idx, std::int64_t num_tokens) {
    std::size_t slot = 0;
    if (cached_) {
      slot = static_cast<std::size_t>(s % period_);
    } else {
      fill_table(s, 0);
    }
    const auto ne = static_cast<std::size_t>(num_experts_);
    const int* to_rank = &dest_rank_[slot * ne];
    const int* to_domain = &dest_domain_[slot * ne];
    // Per pick: the expert's count, and the token's first pick on a rank (in a domain) counts the
    // token there. No branch on those outcomes (coin flips for the predictor), and the state in
    // locals (a store through a pointer could alias a member, reloaded then at every pick).
    std::uint64_t* picks = picks_.data();
    Tally* ranks = rank_.data();
    Tally* domains = domain_.data();
    const int k = k_;
    for (std::int64_t t = 0; t < num_tokens; ++t) {
      const auto stamp = static_cast<std::int32_t>(t);
      for (int j = 0; j < k; ++j) {
        const int e = expert_idx[t * k + j];
        if (e < 0) continue;
        ++picks[e];
        Tally& rank = ranks[to_rank[e]];
        rank.tokens += rank.stamp != stamp;
        rank.stamp = stamp;
        Tally& domain = domains[to_domain[e]];
        domain.tokens += domain.stamp != stamp;
        domain.stamp = stamp;
      }
    }
    // Per expert picked: copies per rank and the expert's load (whole numbers: exact), and the
    // ranks and domains the source reached. The experts come from a scan, or from the picks when
    // they are few.
    rank_cols_.clear();
    domain_cols_.clear();
    auto take_expert = [&](std::int32_t e) {
      std::uint64_t& count = picks_[static_cast<std::size_t>(e)];
      if (count == 0) return;
      const auto d = static_cast<std::size_t>(to_rank[e]);
      const auto dom = static_cast<std::size_t>(to_domain[e]);
      if (copies_[d] == 0) rank_cols_.push_back(to_rank[e]);
      if (domain_[dom].stamp != kListed) domain_cols_.push_back(to_domain[e]);
      domain_[dom].stamp = kListed;
      copies_[d] += count;
      c_.expert_load[static_cast<std::size_t>(e)] += static_cast<double>(count);
      count = 0;
    };
    const std::int64_t num_picks = num_tokens * k;
    if (num_picks * 4 >= num_experts_) {
      for (int e = 0; e < num_experts_; ++e)
        take_expert(e);
    } else {
      for (std::int64_t i = 0; i < num_picks; ++i) {
        if (expert_idx[i] >= 0) take_expert(expert_idx[i]);
      }
    }
    sort_touched(rank_cols_, rank_.size(), [&](std::size_t d) { return copies_[d] != 0; });
    sort_touched(domain_cols_, domain_.size(),
                 [&](std::size_t dom) { return domain_[dom].stamp == kListed; });
    emit(c_.token_ranks, s, rank_cols_, [&](std::size_t d) { return rank_[d].tokens; });
    emit(c_.copies, s, rank_cols_, [&](std::size_t d) { return copies_[d]; });
    emit(c_.token_domains, s, domain_cols_, [&](std::size_t dom) { return domain_[dom].tokens; });
    for (const std::int32_t d : rank_cols_) {
      rank_[static_cast<std::size_t>(d)] = Tally{};
      copies_[static_cast<std::size_t>(d)] = 0;
    }
    for (const std::int32_t dom : domain_cols_)
      domain_[static_cast<std::size_t>(dom)] = Tally{};
  }

  RoutingCounts take() { return std::move(c_); }

 private:
  /// What the source being counted sends to one rank (domain): its tokens, and the last of its
  /// tokens that reached it (-1: none). 8 bytes, so that the tallies of 1024 ranks fit in L1.
  struct Tally {
    std::uint32_t tokens = 0;
    std::int32_t stamp = -1;
  };
  static constexpr std::int32_t kListed = -2;  // a domain's stamp once its column is listed

  void fill_table(int s, std::size_t slot) {
    const auto ne = static_cast<std::size_t>(num_experts_);
    for (int e = 0; e < num_experts_; ++e) {
      const int d = placement_.rank_for(e, s);
      dest_rank_[slot * ne + static_cast<std::size_t>(e)] = d;
      dest_domain_[slot * ne + static_cast<std::size_t>(e)] = cl_.domain_of(d);
    }
  }

  /// Row r of `out` becomes count(col) for the columns `cols` (scale 1).
  template <typename Count>
  void emit(ScaledRows& out, int r, const std::vector<std::int32_t>& cols, Count&& count) {
    values_.clear();
    for (const std::int32_t col : cols)
      values_.push_back(static_cast<double>(count(static_cast<std::size_t>(col))));
    out.set_row(r, out.add_unit(cols, values_), 1.0);
  }

  const Cluster& cl_;
  const int n_, k_, num_experts_;
  const ExpertPlacement placement_;
  const int period_;
  const bool cached_;  // one table per residue s % period, else rebuilt per source
  RoutingCounts c_;
  std::vector<int> dest_rank_, dest_domain_;  // [slot * experts + e]
  // The source being counted.
  std::vector<std::uint64_t> picks_;   // [expert]
  std::vector<std::uint64_t> copies_;  // [rank]
  std::vector<Tally> rank_, domain_;   // [rank], [domain]
  std::vector<std::int32_t> rank_cols_, domain_cols_;
  std::vector<double> values_;
};

}  // namespace

RoutingCounts count_routing(const Scenario& scenario, const std::vector<RankTopk>& topk) {
  EPSCOPE_ASSERT(static_cast<int>(topk.size()) == scenario.num_ranks());
  RoutingCounter counter(scenario);
  for (int s = 0; s < scenario.num_ranks(); ++s) {
    const RankTopk& rt = topk[static_cast<std::size_t>(s)];
    counter.add(s, rt.expert_idx.data(), rt.num_tokens);
  }
  return counter.take();
}

RoutingCounts detail::sampled_routing(const Scenario& scenario) {
  // Sampled: each rank is counted as soon as it is drawn (its picks stay in cache).
  TopkSampler sampler(scenario);
  RoutingCounter counter(scenario);
  std::vector<std::int32_t> expert_idx;
  for (int s = 0; s < scenario.num_ranks(); ++s) {
    sampler.sample(s, expert_idx);
    counter.add(s, expert_idx.data(), scenario.tokens_per_rank[static_cast<std::size_t>(s)]);
  }
  return counter.take();
}

}  // namespace epscope
