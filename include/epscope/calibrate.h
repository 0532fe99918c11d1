// Calibration: measurement records (docs/measurements.md) in, fitted model parameters for one
// hardware + system out (docs/model.md §6, folded into docs/model.md §6).
#pragma once

#include <array>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "epscope/estimate.h"
#include "epscope/scenario.h"

namespace epscope {

/// Applies a calibration file (JSON: {"system": ..., "params": {<ModelParams field>: value}})
/// onto `params`. Unknown parameter names and non-finite values are InputErrors.
void apply_calibration_file(const std::string& path, ModelParams& params);

// ---- Measurement records -------------------------------------------------------------------

/// The three timings a record may carry. docs/measurements.md.
enum class Metric { kDispatch = 0, kCombine = 1, kBackToBack = 2 };
inline constexpr int kNumMetrics = 3;
const char* to_string(Metric metric);

/// One rank of one measured case: one line of a records file.
struct MeasurementRecord {
  std::string system;
  std::string gpu;
  std::string case_name;  // the record's "case", "" when absent
  Scenario scenario;      // cluster from the preset matching `gpu`, shape and batch from the record
  int rank = 0;
  std::array<std::optional<double>, kNumMetrics> measured_us;  // dispatch, combine, b2b
  std::string where;                                           // "FILE:LINE"
};

/// A `--where KEY=VALUE` filter: keeps records whose top-level field KEY equals VALUE (strings
/// compared as written, numbers and booleans as JSON text: nodes=2, nvlink=true).
struct RecordFilter {
  std::string key;
  std::string value;
  static RecordFilter parse(const std::string& text);  // "KEY=VALUE"
};

struct RecordSet {
  std::vector<MeasurementRecord> records;
  std::vector<std::string> skipped;  // "FILE:LINE: why", only with skip_bad
  int filtered_out = 0;              // well-formed lines that did not match the filters
};

/// The gpu name -> cluster preset rule of docs/measurements.md: H100 -> h100-cx7,
/// H200 -> h200-cx7, anything else -> h800-cx7 (case-insensitive substring match).
std::string preset_for_gpu(const std::string& gpu);

/// Parses one record (a JSON object). Throws InputError naming the field.
MeasurementRecord parse_record(const nlohmann::json& j);

/// Reads JSON Lines from `in` (`name` is used in messages) and appends to `out`. Blank lines are
/// skipped. A malformed line is an InputError "NAME:LINE: ..." unless `skip_bad`, in which case it
/// is listed in out.skipped. Lines that do not match every filter are counted, not validated.
void read_records(std::istream& in, const std::string& name, const std::vector<RecordFilter>& where,
                  bool skip_bad, RecordSet& out);
/// Same, from a file.
void read_records(const std::string& path, const std::vector<RecordFilter>& where, bool skip_bad,
                  RecordSet& out);

// ---- Cases ----------------------------------------------------------------------------------

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

// ---- Predictions and errors -------------------------------------------------------------------

/// One measured number against the model.
struct Observation {
  int case_idx = 0;
  int rank = 0;
  Metric metric = Metric::kDispatch;
  double measured_us = 0;
  double predicted_us = 0;
  double rel_error() const { return (predicted_us - measured_us) / measured_us; }
};

/// Every measured number of `cases`, predicted with `params`: dispatch and combine from the
/// scenario as given (sync between phases), b2b from the same scenario with back_to_back.
std::vector<Observation> predict(const std::vector<MeasuredCase>& cases, const ModelParams& params);

struct ErrorSummary {
  int count = 0;
  double median_abs_pct = 0;  // median of |predicted - measured| / measured, in percent
  double p95_abs_pct = 0;     // 95th percentile (nearest rank)
  double max_abs_pct = 0;
};
/// Summary over the observations that pass `keep` (all when it is empty).
ErrorSummary summarize_errors(const std::vector<Observation>& obs,
                              const std::vector<bool>& case_mask = {}, int metric = -1);

// ---- The fit --------------------------------------------------------------------------------

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

/// The ModelParams fields a calibration file may set, by name.
struct ParamField {
  const char* name;
  double ModelParams::*member;
};
const std::vector<ParamField>& calibration_fields();

}  // namespace epscope
