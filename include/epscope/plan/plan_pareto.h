// The lambda sweep between batch balance and KV balance (the Pareto front). docs/model.md §8.6.
#pragma once

#include <string>
#include <vector>

#include "epscope/plan/plan_policies.h"

namespace epscope {

/// The lambda sweep. A point is on the front when no other point has both lower batch imbalance
/// and lower KV imbalance ((max - mean) / mean). docs/model.md §8.6.
struct ParetoPoint {
  double lambda = 0;
  double batch_imbalance = 0;
  double kv_imbalance = 0;
  double step_us = 0;
  bool on_front = false;
};
struct ParetoResult {
  std::vector<ParetoPoint> points;
  int best_idx = 0;  // lowest step time
};
ParetoResult lambda_sweep(const Snapshot& snapshot, const DecodeModel& model,
                          const Capacity& capacity, const std::vector<double>& lambdas);
/// Marks on_front and best_idx from the points' values.
void mark_front(ParetoResult& result);
/// An SVG with two panels: KV imbalance against batch imbalance (front joined, baselines marked)
/// and step time against lambda.
std::string pareto_svg(const ParetoResult& sweep, const std::vector<PolicyReport>& baselines,
                       const std::string& title);

}  // namespace epscope
