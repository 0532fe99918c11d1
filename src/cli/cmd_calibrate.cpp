// `epscope calibrate`: fit the model's parameters to measurement records. docs/cli.md,
// docs/measurements.md (the record format), docs/model.md §6(the fit).
#include <fmt/format.h>
#include <cmath>
#include <iostream>

#include "commands.h"
#include "epscope/base/error.h"
#include "epscope/base/lists.h"
#include "epscope/calibrate/calibrate_cases.h"
#include "epscope/calibrate/calibrate_fit.h"
#include "epscope/calibrate/calibration_file.h"
#include "epscope/calibrate/records.h"
#include "output.h"

namespace epscope::cli {
namespace {

struct CalibrateCliOptions {
  std::vector<std::string> files;
  std::vector<std::string> where;
  std::string holdout;
  bool skip_bad = false;
  std::string combine_design = "push";
  std::string output_path;
};

/// "37.9/41.2 +8.7%": measured mean / predicted mean over ranks, and the worst rank's error.
std::string metric_cell(const std::vector<Observation>& obs, int case_idx, Metric metric) {
  double measured = 0, predicted = 0, worst = 0;
  int n = 0;
  for (const Observation& o : obs) {
    if (o.case_idx != case_idx || o.metric != metric) continue;
    measured += o.measured_us;
    predicted += o.predicted_us;
    if (std::abs(o.rel_error()) > std::abs(worst)) worst = o.rel_error();
    ++n;
  }
  if (n == 0) return "-";
  return fmt::format("{:.1f}/{:.1f} {:+.1f}%", measured / n, predicted / n, worst * 100);
}

std::string summary_line(const char* label, const CalibrationResult& r,
                         const std::vector<bool>& mask) {
  std::string line = fmt::format("{:<8}", label);
  const ErrorSummary all = summarize_errors(r.observations, mask);
  line += fmt::format(" all: median {:.1f}%, p95 {:.1f}% ({} numbers)", all.median_abs_pct,
                      all.p95_abs_pct, all.count);
  for (int m = 0; m < kNumMetrics; ++m) {
    const ErrorSummary s = summarize_errors(r.observations, mask, m);
    if (s.count == 0) continue;
    line += fmt::format("; {}: {:.1f}% / {:.1f}%", to_string(static_cast<Metric>(m)),
                        s.median_abs_pct, s.p95_abs_pct);
  }
  return line + "\n";
}

std::string report(const CalibrationResult& r, const RecordSet& set) {
  std::string out = fmt::format("calibrating {} on {} (preset {}): {} records in {} cases",
                                r.system, r.gpu, r.preset, set.records.size(), r.cases.size());
  if (set.filtered_out > 0) out += fmt::format(", {} filtered out by --where", set.filtered_out);
  out += "\n";
  for (const std::string& s : set.skipped)
    out += fmt::format("skipped {}\n", s);
  out += fmt::format("\nfitted parameters ({} model evaluations):\n", r.evaluations);
  for (const FittedParam& p : r.fitted)
    out += fmt::format("  {:<20} {:>10.4g}  (preset {:.4g})\n", p.name, p.fitted, p.initial);
  out += "\nper case: measured/predicted us (mean over ranks), worst rank's error\n";
  out += fmt::format("  {:<40} {:<6} {:<24} {:<24} {:<24}\n", "case", "set", "dispatch", "combine",
                     "b2b");
  for (std::size_t i = 0; i < r.cases.size(); ++i) {
    const int idx = static_cast<int>(i);
    out += fmt::format("  {:<40} {:<6} {:<24} {:<24} {:<24}\n", r.cases[i].name,
                       r.held_out[i] ? "hold" : "fit",
                       metric_cell(r.observations, idx, Metric::kDispatch),
                       metric_cell(r.observations, idx, Metric::kCombine),
                       metric_cell(r.observations, idx, Metric::kBackToBack));
  }
  std::vector<bool> fit(r.cases.size()), held(r.cases.size());
  bool any_held = false;
  for (std::size_t i = 0; i < r.cases.size(); ++i) {
    fit[i] = !r.held_out[i];
    held[i] = r.held_out[i];
    any_held = any_held || held[i];
  }
  out += "\nabsolute relative error (median / p95):\n";
  out += summary_line("fit", r, fit);
  if (any_held) out += summary_line("holdout", r, held);
  return out;
}

int run_calibrate(const CalibrateCliOptions& o) {
  std::vector<RecordFilter> where;
  for (const std::string& w : o.where)
    where.push_back(RecordFilter::parse(w));
  RecordSet set;
  for (const std::string& f : o.files)
    read_records(f, where, o.skip_bad, set);
  CalibrateOptions options;
  if (!o.holdout.empty()) options.holdout = HoldoutSpec::parse(o.holdout);
  options.combine_pull = o.combine_design == "pull";
  const CalibrationResult result = calibrate(group_cases(set.records), options);
  std::cout << report(result, set);
  nlohmann::json j = to_json(result);
  j["records"] = o.files;
  j["where"] = o.where;
  if (!o.holdout.empty()) j["holdout_spec"] = o.holdout;
  write_json(o.output_path, j);
  if (o.output_path != "-") std::cout << fmt::format("\nwrote {}\n", o.output_path);
  return 0;
}

}  // namespace

CLI::App* register_calibrate(CLI::App& app) {
  auto opts = std::make_shared<CalibrateCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate",
      "Fit the model's rates and fixed costs to measurement records (JSON Lines, "
      "docs/measurements.md); write CALIB.json for `estimate --calibration`");
  cmd->add_option("records", opts->files, "Measurement records (.jsonl), one or more")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--where", opts->where,
                  "Keep records whose field KEY equals VALUE (KEY=VALUE, repeatable), e.g. "
                  "system=deepep-ll")
      ->allow_extra_args(false);
  cmd->add_option("--holdout", opts->holdout,
                  "Cases not fitted, to report prediction error on: a fraction (0.25) or "
                  "'balanced' (fit balanced cases, predict every imbalanced one)");
  cmd->add_option("--combine-design", opts->combine_design,
                  "push: a rank's combine ends when it has sent and received (DeepEP, NCCL); "
                  "pull: every rank pulls its own rows after a ready barrier (epscope's "
                  "kernels; docs/model.md §6.7)")
      ->check(CLI::IsMember({"push", "pull"}));
  cmd->add_flag("--skip-bad", opts->skip_bad, "Skip malformed lines (listed) instead of failing");
  cmd->add_option("-o,--output", opts->output_path, "Calibration JSON to write ('-' = stdout)")
      ->required();
  cmd->callback([opts]() { throw CommandDone(run_calibrate(*opts)); });
  return cmd;
}

}  // namespace epscope::cli
