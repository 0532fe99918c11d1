// Routing: which experts each token picks, and the per-(source, destination) counts the traffic
// model needs. docs/model.md §3.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "epscope/scenario/scenario.h"
#include "epscope/traffic/scaled_rows.h"
#include "epscope/traffic/topk_file.h"

namespace epscope {

/// Where each logical expert lives. Built from MoeShape::replicas or contiguous placement.
class ExpertPlacement {
 public:
  ExpertPlacement(const MoeShape& moe, int num_ranks);
  int num_experts() const { return static_cast<int>(replicas_.size()); }
  /// The rank that serves logical expert `expert` for tokens of `src_rank`: with several replicas,
  /// replica src_rank % num_replicas (a static, source-keyed choice; docs/model.md §3.2).
  int rank_for(int expert, int src_rank) const {
    const auto& r = replicas_[static_cast<std::size_t>(expert)];
    return r[static_cast<std::size_t>(src_rank) % r.size()];
  }
  const std::vector<int>& replicas(int expert) const {
    return replicas_[static_cast<std::size_t>(expert)];
  }
  bool has_redundancy() const { return redundant_; }
  /// Sources s and s + period() pick the same replicas (at most num_ranks).
  int period(int num_ranks) const;

 private:
  std::vector<std::vector<int>> replicas_;
  bool redundant_ = false;
};

/// Relative popularity of each logical expert (sums to 1). docs/model.md §3.1.
std::vector<double> expert_popularity(const Scenario& scenario);

/// Concrete top-k indices for every rank: sampled with the scenario's seed, or read from its file.
/// `expected` routing samples uniformly (a measurement needs real tokens).
std::vector<RankTopk> sample_topk(const Scenario& scenario);

/// - .npy: int32/int64, shape [ranks, tokens, k] (tokens per rank from `tokens_hint` when given,
///   else all rows) or [total_tokens, k] split by `tokens_hint`.
/// -1 means "no expert". `tokens_hint` may be empty; when given, the file must agree with it.
std::vector<RankTopk> read_topk_file(const std::string& path, int num_ranks, int topk,
                                     int num_experts, const std::vector<std::int64_t>& tokens_hint);

/// Counts per (source, destination), sparse (scaled_rows.h). Real-valued: exact integers for
/// sampled or file routing, exact expectations for `expected` routing, where row s is tokens(s) x
/// the per-token profile of s's replica choice.
struct RoutingCounts {
  int num_ranks = 0;
  int num_domains = 0;
  ScaledRows copies;                // [src][dst]: (token, expert) pairs with the expert on dst
  ScaledRows token_ranks;           // [src][dst]: tokens with >= 1 expert on dst
  ScaledRows token_domains;         // [src][dom]: tokens with >= 1 expert in domain dom
  std::vector<double> expert_load;  // [logical expert]: copies received, summed over sources

  double copies_at(int src, int dst) const { return copies.at(src, dst); }
  double token_ranks_at(int src, int dst) const { return token_ranks.at(src, dst); }
  double token_domains_at(int src, int dom) const { return token_domains.at(src, dom); }
};

/// Counts from explicit top-k indices (sampled or file routing).
RoutingCounts count_routing(const Scenario& scenario, const std::vector<RankTopk>& topk);
/// Counts for the scenario: expectations for `expected` routing, else from sample_topk().
RoutingCounts compute_routing(const Scenario& scenario);

}  // namespace epscope
