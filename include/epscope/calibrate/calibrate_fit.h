// The fit: model parameters for one hardware + system from measured cases. docs/model.md §6.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "epscope/calibrate/calibrate_cases.h"
#include "epscope/model/model_params.h"

namespace epscope {

/// Every measured number of `cases`, predicted with `params`: dispatch and combine from the
/// scenario as given (sync between phases), b2b from the same scenario with back_to_back.
std::vector<Observation> predict(const std::vector<MeasuredCase>& cases, const ModelParams& params);

struct CalibrateOptions {
  HoldoutSpec holdout;
  double huber_delta = 0.05;  // relative error where the loss turns from squared to linear
  int max_evaluations = 3000;
  /// Structural choices written into the calibration, not fitted (balanced records cannot tell
  /// them apart; docs/model.md §6.2): senders share their rate over destinations,
  /// and whether combine pulls (our kernels, §6.7) or pushes (DeepEP, NCCL).
  bool fair_share = true;
  bool combine_pull = false;
};

/// A fitted parameter: its name (a ModelParams field) and value before and after.
struct FittedParam {
  std::string name;
  double initial = 0;
  double fitted = 0;
};

struct CalibrationResult {
  std::string system;
  std::string gpu;
  std::string preset;
  ModelParams params;  // every field: the fitted ones and the preset's for the rest
  std::vector<FittedParam> fitted;
  std::vector<MeasuredCase> cases;
  std::vector<bool> held_out;
  std::vector<Observation> observations;  // every measured number, predicted with `params`
  double loss = 0;                        // Huber loss over the fitted observations
  int evaluations = 0;
};

/// Fits the model to the cases (docs/model.md §6). All cases must share system and gpu;
/// otherwise an InputError suggests --where.
CalibrationResult calibrate(std::vector<MeasuredCase> cases, const CalibrateOptions& options);

/// The CALIB.json document: {"system", "gpu", "preset", "params": {...}, "fitted": [...],
/// "fit": {...}, "holdout": {...}}. apply_calibration_file() reads its "params".
nlohmann::json to_json(const CalibrationResult& result);

}  // namespace epscope
