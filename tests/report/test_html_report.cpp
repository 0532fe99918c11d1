// The HTML report: input classification and the charts each input kind produces.
#include <gtest/gtest.h>

#include "epscope/base/error.h"
#include "epscope/model/result_json.h"
#include "epscope/report/html_report.h"
#include "epscope/report/report_json.h"
#include "epscope/scenario/scenario_json.h"
#include "epscope/sweep/sweep.h"

namespace epscope {
namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1))
    ++n;
  return n;
}

TEST(Report, EstimateComparisonHasPerRankAndBalancedCharts) {
  const Scenario s = default_scenario();
  const auto in = classify_report_input(
      "e.json", to_json(compare_balanced(s, ModelParams::from_cluster(s.cluster))));
  EXPECT_EQ(in.kind, ReportInputKind::kEstimate);
  const std::string html = render_report({in}, {});
  EXPECT_EQ(count(html, "<svg class=\"chart\""), 4u);
  // rank-time: 16 ranks x 4 stacked series; rank-bytes: 16 x 2; balanced per rank: 16 x 2;
  // balanced-vs-unbalanced: 3 x 2. 64 + 32 + 6 + 32 = 134 bars.
  EXPECT_EQ(count(html, "class=\"bar\""), 134u);
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

TEST(Report, SweepSeriesPerNvlinkSetting) {
  const SweepGrid grid = parse_vary_flags({"tokens=64,128,256", "nvlink=on,off"});
  const auto rows = run_sweep(default_scenario(), grid, {});
  const auto in = classify_report_input("s.json", sweep_json(default_scenario(), grid, rows));
  EXPECT_EQ(in.kind, ReportInputKind::kSweep);
  const std::string html = render_report({in}, {});
  EXPECT_EQ(count(html, "class=\"line\""), 2u);   // NVLink and RDMA only
  EXPECT_EQ(count(html, "class=\"point\""), 6u);  // 3 token counts each
  EXPECT_NE(html.find("RDMA only"), std::string::npos);
}

TEST(Report, RecordsAndParetoAreRecognized) {
  const nlohmann::json records = nlohmann::json::parse(R"([
    {"system": "deepep-ll", "gpu": "H200", "nodes": 1, "gpus_per_node": 2, "mode": "ll",
     "nvlink": true, "tokens_per_rank": [128, 128], "rank": 0, "dispatch_us": 29.1},
    {"system": "deepep-ll", "gpu": "H200", "nodes": 1, "gpus_per_node": 2, "mode": "ll",
     "nvlink": true, "tokens_per_rank": [128, 128], "rank": 1, "dispatch_us": 29.9}])");
  const auto rec = classify_report_input("r.jsonl", records);
  EXPECT_EQ(rec.kind, ReportInputKind::kRecords);
  const std::string html = render_report({rec}, {});
  EXPECT_EQ(count(html, "class=\"point\""), 1u);             // one case, one phase measured
  EXPECT_NE(html.find("<td>29.5</td>"), std::string::npos);  // mean of 29.1 and 29.9

  const auto plan = classify_report_input(
      "p.json", nlohmann::json::parse(R"({"pareto": [{"lambda": 0, "step_us": 1,
      "batch_imbalance": 0.1, "kv_imbalance": 0.5}, {"lambda": 1, "step_us": 2,
      "batch_imbalance": 0.2, "kv_imbalance": 0.6}]})"));
  EXPECT_EQ(plan.kind, ReportInputKind::kPareto);
  // Imbalance: lower is better, so (0.2, 0.6) is dominated and the front has one point.
  EXPECT_EQ(count(render_report({plan}, {}), "Pareto front ("), 1u);

  EXPECT_THROW(classify_report_input("x.json", nlohmann::json::object()), InputError);
}

}  // namespace
}  // namespace epscope
