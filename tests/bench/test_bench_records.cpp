// Records carry the measurement schema of docs/measurements.md plus the model's prediction.
#include <gtest/gtest.h>

#include <sstream>

#include "bench/harness/bench_records.h"
#include "bench_fixtures.h"
#include "epscope/estimate/estimate.h"

namespace epscope::bench {
namespace {

TEST(Report, RecordsHaveTheSchemaFieldsAndPredictions) {
  Scenario s = test::one_node("h200-cx7", {128, 128});
  s.routing.expected = false;
  CaseSamples c;
  c.bench_case = {"balanced-128", {128, 128}, {}};
  for (int r = 0; r < 2; ++r) {
    RankSamples rs;
    rs.rank = r;
    rs.dispatch_us = {30, 31, 29};
    rs.combine_us = {45, 46, 44};
    rs.b2b_us = {70, 72, 71};
    rs.dispatch_wait_us = {5, 6, 4};
    rs.dispatch_transfer_us = {25, 25, 25};
    c.ranks.push_back(rs);
  }
  RunInfo info;
  info.system = "epscope-ll";
  info.backend = "nvlink";
  info.launch = "one-process";
  info.gpu = "H200";
  info.dispatch_sms = info.combine_sms = 132;
  std::ostringstream text;
  const ReportSummary summary =
      report(s, ModelParams::from_cluster(s.cluster), info, {c}, {}, text);
  ASSERT_EQ(summary.records.size(), 2u);
  const auto& j = summary.records[1];
  for (const char* field : {"system",
                            "gpu",
                            "nodes",
                            "gpus_per_node",
                            "mode",
                            "nvlink",
                            "hidden",
                            "topk",
                            "experts",
                            "dispatch_dtype",
                            "combine_dtype",
                            "max_tokens_per_rank",
                            "tokens_per_rank",
                            "rank",
                            "dispatch_us",
                            "combine_us",
                            "b2b_us",
                            "case",
                            "start_offset_us",
                            "predicted_dispatch_us",
                            "predicted_combine_us",
                            "predicted_b2b_us",
                            "dispatch_wait_us",
                            "dispatch_transfer_us"})
    EXPECT_TRUE(j.contains(field)) << field;
  EXPECT_EQ(j["rank"], 1);
  EXPECT_EQ(j["mode"], "ll");
  EXPECT_EQ(j["dispatch_dtype"], "fp8");
  EXPECT_DOUBLE_EQ(j["dispatch_us"].get<double>(), 30.0);  // median of 29, 30, 31
  EXPECT_DOUBLE_EQ(j["b2b_us"].get<double>(), 71.0);
  EXPECT_DOUBLE_EQ(j["dispatch_wait_us"].get<double>(), 5.0);
  EXPECT_GT(j["predicted_b2b_us"].get<double>(), 0.0);
  // DeepEP-compatible lines and the sweep table are in the text.
  EXPECT_NE(text.str().find("[rank 1] Dispatch + combine bandwidth:"), std::string::npos);
  EXPECT_NE(text.str().find("[rank 0] Dispatch bandwidth:"), std::string::npos);
  EXPECT_NE(text.str().find("busbw"), std::string::npos);
}

}  // namespace
}  // namespace epscope::bench
