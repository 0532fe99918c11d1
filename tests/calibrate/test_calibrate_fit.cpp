// The fit: recovers known parameters from records the model itself generated, calibrates the
// DeepEP reference profiles, and writes a file that `estimate --calibration` reads back.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "epscope/base/error.h"
#include "epscope/calibrate/calibrate_cases.h"
#include "epscope/calibrate/calibrate_fit.h"
#include "epscope/calibrate/calibration_file.h"
#include "epscope/calibrate/records.h"
#include "epscope/estimate/estimate.h"

namespace epscope {
namespace {

Scenario ll_scenario(int num_ranks, std::vector<std::int64_t> tokens) {
  Scenario s;
  s.cluster = cluster_preset("h200-cx7");
  s.cluster.num_nodes = 1;
  s.cluster.gpus_per_node = num_ranks;
  s.cluster.nvlink_domain_size = num_ranks;
  s.mode = KernelMode::kLowLatency;
  s.tokens_per_rank = std::move(tokens);
  s.validate();
  return s;
}

/// A case whose "measurements" are the model's own predictions with `truth`.
MeasuredCase synthetic_case(const std::string& name, const Scenario& s, const ModelParams& truth) {
  MeasuredCase c;
  c.name = name;
  c.system = "synthetic";
  c.gpu = "H200";
  c.scenario = s;
  Scenario b2b = s;
  b2b.back_to_back = true;
  const EstimateResult sync = estimate(s, truth);
  const EstimateResult back = estimate(b2b, truth);
  for (int r = 0; r < s.num_ranks(); ++r) {
    MeasurementRecord rec;
    rec.system = c.system;
    rec.gpu = c.gpu;
    rec.scenario = s;
    rec.rank = r;
    const auto i = static_cast<std::size_t>(r);
    rec.measured_us = {sync.ranks[i].dispatch_us, sync.ranks[i].combine_us, back.ranks[i].total_us};
    c.ranks.push_back(rec);
  }
  return c;
}

ModelParams truth_params() {
  ModelParams p = ModelParams::from_cluster(cluster_preset("h200-cx7"));
  p.nvlink_tx_gbps = p.nvlink_rx_gbps = 260;  // preset: 350
  p.dispatch_fixed_us = 15;                   // preset: 12
  p.combine_fixed_us = 18;                    // preset: 12
  p.combine_rate_factor = 0.8;                // preset: 1
  p.b2b_overlap_us = 2.5;                     // preset: 0
  return p;
}

std::vector<MeasuredCase> balanced_sweep(const ModelParams& truth) {
  std::vector<MeasuredCase> cases;
  for (int n : {2, 4}) {
    for (std::int64_t t : {1, 32, 128, 512, 1024}) {
      const Scenario s = ll_scenario(n, std::vector<std::int64_t>(static_cast<std::size_t>(n), t));
      cases.push_back(
          synthetic_case("bal" + std::to_string(t) + "x" + std::to_string(n), s, truth));
    }
  }
  return cases;
}

TEST(Fit, RecoversTheParametersThatGeneratedTheRecords) {
  const ModelParams truth = truth_params();
  const CalibrationResult r = calibrate(balanced_sweep(truth), {});
  EXPECT_NEAR(r.params.nvlink_tx_gbps, 260, 260 * 0.01);
  EXPECT_NEAR(r.params.nvlink_rx_gbps, 260, 260 * 0.01);
  EXPECT_NEAR(r.params.dispatch_fixed_us, 15, 0.2);
  EXPECT_NEAR(r.params.combine_fixed_us, 18, 0.2);
  EXPECT_NEAR(r.params.combine_rate_factor, 0.8, 0.01);
  EXPECT_NEAR(r.params.b2b_overlap_us, 2.5, 0.2);
  const ErrorSummary e = summarize_errors(r.observations);
  EXPECT_EQ(e.count, (5 * 2 + 5 * 4) * 3);  // records x 3 metrics
  EXPECT_LT(e.p95_abs_pct, 0.5);
  // Balanced data cannot tell send from receive rates: they are fitted as one.
  for (const FittedParam& p : r.fitted)
    EXPECT_NE(p.name, "per_msg_us");  // one message size per phase: not identifiable
}

TEST(Fit, ImbalancedFitSeparatesSendAndReceiveRates) {
  ModelParams truth = truth_params();
  truth.nvlink_tx_gbps = 240;
  truth.nvlink_rx_gbps = 300;
  std::vector<MeasuredCase> cases = balanced_sweep(truth);
  // One light rank: it receives from three heavy senders, so its receive rate binds.
  cases.push_back(synthetic_case("light0", ll_scenario(4, {1, 512, 512, 512}), truth));
  cases.push_back(synthetic_case("hot0", ll_scenario(4, {1024, 16, 16, 16}), truth));
  const CalibrationResult r = calibrate(cases, {});
  EXPECT_NEAR(r.params.nvlink_tx_gbps, 240, 240 * 0.02);
  EXPECT_NEAR(r.params.nvlink_rx_gbps, 300, 300 * 0.02);
  EXPECT_LT(summarize_errors(r.observations).p95_abs_pct, 1.0);
}

TEST(Fit, HoldoutErrorIsReportedOnCasesNotFitted) {
  const ModelParams truth = truth_params();
  std::vector<MeasuredCase> cases = balanced_sweep(truth);
  cases.push_back(synthetic_case("hot0", ll_scenario(2, {1024, 8}), truth));
  CalibrateOptions options;
  options.holdout = HoldoutSpec::parse("balanced");
  const CalibrationResult r = calibrate(cases, options);
  ASSERT_TRUE(r.held_out.back());
  std::vector<bool> held(r.held_out.begin(), r.held_out.end());
  // The model generated the data, so it also predicts the held-out imbalanced case.
  const ErrorSummary e = summarize_errors(r.observations, held);
  EXPECT_EQ(e.count, 2 * 3);
  EXPECT_LT(e.max_abs_pct, 1.0);
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["holdout"]["cases"], 1);
  EXPECT_EQ(j["fit"]["cases"], 10);
}

TEST(Fit, RefusesMixedSystems) {
  std::vector<MeasuredCase> cases = balanced_sweep(truth_params());
  cases[0].system = "other";
  try {
    calibrate(cases, {});
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--where system="), std::string::npos) << e.what();
  }
}

CalibrationResult calibrate_files(const std::vector<std::string>& names,
                                  const std::string& system) {
  RecordSet set;
  for (const std::string& n : names)
    read_records(std::string(EPSCOPE_TEST_DATA_DIR) + "/" + n,
                 {RecordFilter::parse("system=" + system)}, false, set);
  return calibrate(group_cases(set.records), {});
}

TEST(Reference, DeepEpLowLatencyProfile) {
  const CalibrationResult r = calibrate_files(
      {"deepep_ll_balanced_h200x2.records.jsonl", "deepep_ll_balanced_h200x4.records.jsonl"},
      "deepep-ll");
  EXPECT_EQ(r.cases.size(), 13u);
  EXPECT_EQ(r.preset, "h200-cx7");
  // The fit follows DeepEP within a few percent on the data it saw (docs/validation.md).
  const ErrorSummary e = summarize_errors(r.observations);
  EXPECT_LT(e.median_abs_pct, 5.0);
  EXPECT_LT(e.p95_abs_pct, 12.0);
  // Effective NVLink rates between DeepEP's 1-token and 1024-token regimes: below the ~350 GB/s
  // link limit of DOMAIN.md section 3, above 150.
  EXPECT_GT(r.params.nvlink_tx_gbps, 150);
  EXPECT_LT(r.params.nvlink_tx_gbps, 350);
}

TEST(Reference, DeepEpNormalProfileAndFileRoundTrip) {
  const CalibrationResult r =
      calibrate_files({"deepep_ht_balanced_h200x4.records.jsonl"}, "deepep-ht");
  EXPECT_EQ(r.cases.size(), 6u);
  EXPECT_LT(summarize_errors(r.observations).median_abs_pct, 5.0);
  // CALIB.json -> apply_calibration_file -> the same parameters and predictions.
  const std::string path = ::testing::TempDir() + "epscope_test_calib.json";
  {
    std::ofstream out(path);
    out << to_json(r).dump(2);
  }
  ModelParams read_back = ModelParams::from_cluster(cluster_preset("h800-cx7"));
  apply_calibration_file(path, read_back);
  std::remove(path.c_str());
  EXPECT_DOUBLE_EQ(read_back.nvlink_tx_gbps, r.params.nvlink_tx_gbps);
  EXPECT_DOUBLE_EQ(read_back.combine_rate_factor, r.params.combine_rate_factor);
  EXPECT_DOUBLE_EQ(read_back.dispatch_fixed_us, r.params.dispatch_fixed_us);
  const auto again = predict(r.cases, read_back);
  ASSERT_EQ(again.size(), r.observations.size());
  for (std::size_t i = 0; i < again.size(); ++i)
    EXPECT_DOUBLE_EQ(again[i].predicted_us, r.observations[i].predicted_us);
}

}  // namespace
}  // namespace epscope
