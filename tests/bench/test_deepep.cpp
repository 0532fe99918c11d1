// The C++ side of `--backend deepep`: the job it writes for the Python driver and how it reads
// the driver's output. The driver itself is tested in tests/python (with a DeepEP test double).
#include <gtest/gtest.h>

#include "bench/backends/deepep/deepep.h"
#include "bench/harness/harness.h"
#include "bench_fixtures.h"
#include "epscope/base/error.h"
#include "epscope/scenario/scenario_json.h"
#include "epscope/traffic/routing.h"

namespace epscope::bench {
namespace {

Scenario four_gpus() {
  Scenario s = test::one_node("h100-cx7", {64, 8, 0, 8});
  s.routing.seed = 7;
  return s;
}

TEST(DeepEp, JobCarriesTheHarnessTopkForEveryCase) {
  const Scenario s = four_gpus();
  const std::vector<BenchCase> cases = {{"hot", {64, 8, 0, 8}, {}},
                                        {"late", {16, 16, 16, 16}, {10, 0, 0, 0}}};
  BenchOptions options;
  options.iters = 7;
  const nlohmann::json job = deepep_job(s, cases, options);
  EXPECT_EQ(job["format"], "epscope-deepep-job");
  EXPECT_EQ(job["version"], 1);
  EXPECT_EQ(job["mode"], "ll");
  EXPECT_EQ(job["num_ranks"], 4);
  EXPECT_EQ(job["max_tokens_per_rank"], 256);
  EXPECT_EQ(job["iters"], 7);
  // The same MoE-shape fields as the scenario JSON and the measurement records.
  const nlohmann::json shape = moe_shape_json(s.moe);
  for (const auto& [field, value] : shape.items())
    EXPECT_EQ(job[field], value) << field;
  EXPECT_EQ(job["experts"], 256);
  EXPECT_EQ(job["combine_dtype"], "bf16");
  ASSERT_EQ(job["cases"].size(), 2u);
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const nlohmann::json& jc = job["cases"][c];
    EXPECT_EQ(jc["name"], cases[c].name);
    EXPECT_EQ(jc["start_offset_us"].get<std::vector<double>>(), cases[c].start_offset_us);
    // Exactly what the harness feeds our own backends for this case (same seed, same draws).
    const std::vector<RankTopk> want = sample_topk(case_scenario(s, cases[c]));
    ASSERT_EQ(jc["topk_idx"].size(), 4u);
    for (std::size_t r = 0; r < 4; ++r) {
      EXPECT_EQ(jc["topk_idx"][r].get<std::vector<std::int32_t>>(), want[r].expert_idx);
      // tokens x topk entries per rank: 64 x 8 = 512 on rank 0, none on rank 2 of case 0.
      EXPECT_EQ(jc["topk_idx"][r].size(),
                static_cast<std::size_t>(cases[c].tokens_per_rank[r] * s.moe.topk));
    }
  }
}

nlohmann::json rank_samples(int rank) {
  return {{"rank", rank},
          {"dispatch_us", {10.0, 11.0}},
          {"combine_us", {20.0, 21.0}},
          {"b2b_us", {30.0, 31.0}},
          {"dispatch_wait_us", nlohmann::json::array()},
          {"dispatch_transfer_us", nlohmann::json::array()},
          {"combine_wait_us", nlohmann::json::array()},
          {"combine_transfer_us", nlohmann::json::array()},
          {"checked", 0},
          {"wrong", 0},
          {"first_error", ""}};
}

nlohmann::json driver_output(int num_cases) {
  nlohmann::json out = {{"format", "epscope-deepep-samples"},
                        {"version", 1},
                        {"info",
                         {{"system", "deepep-ll"},
                          {"backend", "deepep"},
                          {"launch", "per-gpu"},
                          {"device_name", "NVIDIA H100 80GB HBM3"},
                          {"device_sms", 132},
                          {"dispatch_sms", 0},
                          {"combine_sms", 0},
                          {"nccl_version", "2.28.9"},
                          {"torch_version", "2.11.0+cu130"},
                          {"deepep_version", "1.2.1"},
                          {"sleep_us", 500.0}}},
                        {"cases", nlohmann::json::array()}};
  for (int c = 0; c < num_cases; ++c)
    out["cases"].push_back({{"name", "case" + std::to_string(c)},
                            {"tokens_per_rank", {4, 4}},
                            {"start_offset_us", nlohmann::json::array()},
                            {"ranks", {rank_samples(0), rank_samples(1)}}});
  return out;
}

TEST(DeepEp, ReadsTheDriverOutput) {
  const DeepEpRun run = read_deepep_output(driver_output(2), 2);
  EXPECT_EQ(run.run.info.system, "deepep-ll");
  EXPECT_EQ(run.run.info.gpu, "H100");
  EXPECT_EQ(run.run.info.nccl_version, "2.28.9");
  EXPECT_EQ(run.deepep_version, "1.2.1");
  EXPECT_DOUBLE_EQ(run.sleep_us, 500.0);
  EXPECT_TRUE(run.failure.empty());
  ASSERT_EQ(run.run.cases.size(), 2u);
  ASSERT_EQ(run.run.cases[1].ranks.size(), 2u);
  EXPECT_EQ(run.run.cases[1].ranks[1].rank, 1);
  EXPECT_EQ(run.run.cases[1].ranks[1].b2b_us, (std::vector<double>{30.0, 31.0}));

  std::vector<nlohmann::json> records(2, nlohmann::json::object());
  annotate_deepep_records(records, run);
  EXPECT_EQ(records[1]["deepep_version"], "1.2.1");
  EXPECT_EQ(records[1]["torch_version"], "2.11.0+cu130");
}

TEST(DeepEp, MarksTestDoubleRuns) {
  nlohmann::json out = driver_output(1);
  out["info"]["test_double"] = "tests/python/fake_deep_ep.py";
  EXPECT_EQ(read_deepep_output(out, 2).run.info.system, "test-double-deepep-ll");
}

TEST(DeepEp, KeepsTheCasesBeforeAFailure) {
  nlohmann::json out = driver_output(1);
  out["error"] = {{"kind", "run"}, {"message", "rank 1: RuntimeError: boom"}};
  const DeepEpRun run = read_deepep_output(out, 2);
  EXPECT_EQ(run.run.cases.size(), 1u);
  EXPECT_EQ(run.failure, "rank 1: RuntimeError: boom");
}

TEST(DeepEp, FailureBeforeAnyCaseIsAnError) {
  nlohmann::json out = driver_output(0);
  out["error"] = {{"kind", "run"}, {"message", "rank 0: setup did not finish in time"}};
  EXPECT_THROW(read_deepep_output(out, 2), Error);
}

TEST(DeepEp, InputErrorOfTheDriverIsOurs) {
  nlohmann::json out = {{"format", "epscope-deepep-samples"},
                        {"version", 1},
                        {"error", {{"kind", "input"}, {"message", "--backend: 'deepep' needs"}}}};
  try {
    read_deepep_output(out, 2);
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "--backend: 'deepep' needs");
  }
}

TEST(DeepEp, RejectsWrongRankCountAndMissingFields) {
  EXPECT_THROW(read_deepep_output(driver_output(1), 4), Error);
  nlohmann::json out = driver_output(1);
  out["cases"][0]["ranks"][0].erase("b2b_us");
  EXPECT_THROW(read_deepep_output(out, 2), Error);
  out = driver_output(1);
  out["info"].erase("device_name");
  EXPECT_THROW(read_deepep_output(out, 2), Error);
}

}  // namespace
}  // namespace epscope::bench
