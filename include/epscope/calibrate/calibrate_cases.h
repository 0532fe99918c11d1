// Measured cases: records grouped per case, the hold-out split, and error summaries of the model
// against them. docs/model.md §6.
#pragma once

#include <string>
#include <vector>

#include "epscope/calibrate/records.h"
#include "epscope/scenario/scenario.h"

namespace epscope {

/// Records grouped by case: same system, gpu, scenario and case name (or token list when the
/// records carry no case name). One entry per measured rank.
struct MeasuredCase {
  std::string name;  // "bal128 [2xH200 ll fp8/bf16]"
  std::string system;
  std::string gpu;
  Scenario scenario;
  std::vector<MeasurementRecord> ranks;
  /// Every rank has the same tokens and no start offset.
  bool balanced() const;
};

std::vector<MeasuredCase> group_cases(const std::vector<MeasurementRecord>& records);

/// Which cases the fit does not see. kFraction: a deterministic share of the cases, chosen by a
/// hash of their names (independent of file order). kBalanced: fit balanced cases only, hold out
/// every imbalanced one.
struct HoldoutSpec {
  enum class Kind { kNone, kFraction, kBalanced };
  Kind kind = Kind::kNone;
  double fraction = 0;
  /// "0.25" (0 <= f < 1) or "balanced".
  static HoldoutSpec parse(const std::string& text);
};

/// held_out[i] is true when case i is not fitted. At least one case is always fitted.
std::vector<bool> holdout_split(const std::vector<MeasuredCase>& cases, const HoldoutSpec& spec);

/// One measured number against the model.
struct Observation {
  int case_idx = 0;
  int rank = 0;
  Metric metric = Metric::kDispatch;
  double measured_us = 0;
  double predicted_us = 0;
  double rel_error() const { return (predicted_us - measured_us) / measured_us; }
};

struct ErrorSummary {
  int count = 0;
  double median_abs_pct = 0;  // median of |predicted - measured| / measured, in percent
  double p95_abs_pct = 0;     // 95th percentile (nearest rank)
  double max_abs_pct = 0;
};
/// Summary over the observations that pass `keep` (all when it is empty).
ErrorSummary summarize_errors(const std::vector<Observation>& obs,
                              const std::vector<bool>& case_mask = {}, int metric = -1);

}  // namespace epscope
