// Per-rank keys of a placement with O(1) what-ifs: the step-time and balance objectives, and the
// view that scores a load vector through the maximum of three per-rank keys. Shared by online
// placement (plan_policies.cpp) and the offline local search (plan_placement.cpp). Internal to
// epscope_core. docs/model.md §8.4-§8.6.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "epscope/plan/decode_model.h"

namespace epscope::detail {

/// The three largest values of a per-rank key and their ranks: the maximum over all ranks but
/// one or two is then O(1).
struct Top3 {
  std::array<double, 3> value{0, 0, 0};
  std::array<int, 3> rank{-1, -1, -1};
  void push(double v, int r) {
    for (int i = 0; i < 3; ++i) {
      if (rank[static_cast<std::size_t>(i)] < 0 || v > value[static_cast<std::size_t>(i)]) {
        for (int j = 2; j > i; --j) {
          value[static_cast<std::size_t>(j)] = value[static_cast<std::size_t>(j - 1)];
          rank[static_cast<std::size_t>(j)] = rank[static_cast<std::size_t>(j - 1)];
        }
        value[static_cast<std::size_t>(i)] = v;
        rank[static_cast<std::size_t>(i)] = r;
        return;
      }
    }
  }
  /// Largest value whose rank is neither a nor b (keys are >= 0, so 0 when none is left).
  double excluding(int a, int b = -1) const {
    for (std::size_t i = 0; i < 3; ++i) {
      if (rank[i] >= 0 && rank[i] != a && rank[i] != b) return value[i];
    }
    return 0.0;
  }
};

/// The predicted step time (surrogate) as a function of per-rank keys. docs/model.md §8.4.
struct StepObjective {
  const DecodeModel& model;
  double total_tokens;
  SurrogateKeys keys(int rank, const RankLoad& load) const {
    return model.keys(rank, load.tokens, load.kv_tokens, total_tokens);
  }
  double value(double m1, double m2, double m3, double mean_attention_us) const {
    return model.surrogate_from_max(m1, m2, m3, total_tokens, mean_attention_us);
  }
};

/// lambda x (max batch / mean batch) + (1 - lambda) x (max KV / mean KV). docs/model.md §8.6.
struct BalanceObjective {
  double lambda;
  double batch_scale;
  double kv_scale;
  SurrogateKeys keys(int, const RankLoad& load) const {
    return {0.0, static_cast<double>(load.tokens) / batch_scale,
            static_cast<double>(load.kv_tokens) / kv_scale, 0.0};
  }
  double value(double m1, double m2, double, double) const {
    return lambda * m1 + (1 - lambda) * m2;
  }
};

/// An objective that depends on a load vector only through the maximum over ranks of three
/// per-rank keys, with O(1) what-ifs for changes on one or two ranks. Scores are lexicographic:
/// the objective first, then the sum of squared per-rank key sums (a smooth tie-break that keeps
/// the search moving on plateaus of the max).
template <typename Objective>
class KeyedView {
 public:
  struct Score {
    double value = 0;
    double spread = 0;
    bool better_than(const Score& other) const {
      const double tol = 1e-9 * std::max(1.0, std::abs(other.value));
      if (value < other.value - tol) return true;
      if (value > other.value + tol) return false;
      return spread < other.spread - 1e-9 * std::max(1.0, other.spread);
    }
  };

  explicit KeyedView(const Objective& objective) : objective_(objective) {}

  void rebuild(const std::vector<RankLoad>& loads) {
    keys_.resize(loads.size());
    sum_attention_ = 0;
    spread_ = 0;
    for (std::size_t r = 0; r < loads.size(); ++r) {
      keys_[r] = objective_.keys(static_cast<int>(r), loads[r]);
      sum_attention_ += keys_[r].attention_us;
      spread_ += square(sum(keys_[r]));
    }
    retop();
  }
  SurrogateKeys keys_with(int rank, const RankLoad& load) const {
    return objective_.keys(rank, load);
  }
  Score score() const { return score_with(-1, {}, -1, {}); }
  /// Score if rank a had keys ka and rank b had keys kb (b = -1: only a changes).
  Score score_with(int a, const SurrogateKeys& ka, int b, const SurrogateKeys& kb) const {
    double m1 = top1_.excluding(a, b), m2 = top2_.excluding(a, b), m3 = top3_.excluding(a, b);
    double attention = sum_attention_, spread = spread_;
    for (const auto& [rank, k] : {std::pair{a, ka}, std::pair{b, kb}}) {
      if (rank < 0) continue;
      const SurrogateKeys& old = keys_[static_cast<std::size_t>(rank)];
      m1 = std::max(m1, k.k1);
      m2 = std::max(m2, k.k2);
      m3 = std::max(m3, k.k3);
      attention += k.attention_us - old.attention_us;
      spread += square(sum(k)) - square(sum(old));
    }
    const double mean_attention = attention / static_cast<double>(keys_.size());
    return {objective_.value(m1, m2, m3, mean_attention), spread};
  }
  void set(int rank, const SurrogateKeys& k) {
    SurrogateKeys& old = keys_[static_cast<std::size_t>(rank)];
    sum_attention_ += k.attention_us - old.attention_us;
    spread_ += square(sum(k)) - square(sum(old));
    old = k;
    retop();
  }
  /// Ranks holding the maximum of each key (the only ranks whose loss lowers the step time).
  std::vector<int> critical_ranks() const {
    std::vector<int> ranks;
    for (int r : {top1_.rank[0], top2_.rank[0], top3_.rank[0]}) {
      if (r >= 0 && std::find(ranks.begin(), ranks.end(), r) == ranks.end()) ranks.push_back(r);
    }
    return ranks;
  }
  double key_sum(int rank) const { return sum(keys_[static_cast<std::size_t>(rank)]); }

 private:
  static double square(double x) { return x * x; }
  static double sum(const SurrogateKeys& k) { return k.k1 + k.k2 + k.k3; }
  void retop() {
    top1_ = top2_ = top3_ = Top3{};
    for (std::size_t r = 0; r < keys_.size(); ++r) {
      top1_.push(keys_[r].k1, static_cast<int>(r));
      top2_.push(keys_[r].k2, static_cast<int>(r));
      top3_.push(keys_[r].k3, static_cast<int>(r));
    }
  }

  const Objective& objective_;
  std::vector<SurrogateKeys> keys_;
  double sum_attention_ = 0;
  double spread_ = 0;
  Top3 top1_, top2_, top3_;
};

/// `load` with one more (or, negative, fewer) request of `tokens` and `kv_tokens`.
inline RankLoad plus(RankLoad load, std::int64_t tokens, std::int64_t kv_tokens,
                     std::int64_t requests) {
  load.num_requests += requests;
  load.tokens += tokens;
  load.kv_tokens += kv_tokens;
  return load;
}

}  // namespace epscope::detail
