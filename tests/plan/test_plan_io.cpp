// Plan inputs: snapshots, traces, model configs and attention samples; bad input is an InputError.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "epscope/base/error.h"
#include "epscope/plan/decode_config.h"
#include "epscope/plan/decode_model.h"
#include "epscope/plan/plan_io.h"
#include "epscope/plan/plan_pareto.h"
#include "epscope/plan/plan_policies.h"
#include "epscope/plan/plan_replay.h"

namespace epscope {
namespace {

std::string data(const char* name) {
  return std::string(EPSCOPE_TEST_DATA_DIR) + "/" + name;
}

/// Writes `text` to a temporary file with the given suffix; removed by the destructor.
struct TempFile {
  std::string path;
  TempFile(const std::string& text, const std::string& suffix) {
    path = testing::TempDir() + "epscope_plan_" +
           testing::UnitTest::GetInstance()->current_test_info()->name() + suffix;
    std::ofstream(path) << text;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

TEST(PlanIo, SnapshotCsvAndJsonAgree) {
  const Snapshot csv = load_snapshot(data("plan_snapshot.csv"));
  const Snapshot json = load_snapshot(data("plan_snapshot.json"));
  ASSERT_EQ(csv.requests.size(), 6u);
  ASSERT_EQ(json.requests.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(csv.requests[i].id, json.requests[i].id);
    EXPECT_EQ(csv.requests[i].context_tokens, json.requests[i].context_tokens);
    EXPECT_EQ(csv.requests[i].tokens, json.requests[i].tokens);
    EXPECT_EQ(csv.requests[i].rank, json.requests[i].rank);
  }
  EXPECT_EQ(csv.requests[1].tokens, 2);
  EXPECT_EQ(csv.requests[4].rank, -1);
  EXPECT_FALSE(csv.has_placement());
}

TEST(PlanIo, SnapshotRoundTrip) {
  const Snapshot s = load_snapshot(data("plan_snapshot.csv"));
  const std::string path = testing::TempDir() + "epscope_plan_roundtrip.csv";
  save_snapshot(s, path);
  const Snapshot back = load_snapshot(path);
  std::remove(path.c_str());
  ASSERT_EQ(back.requests.size(), s.requests.size());
  EXPECT_EQ(back.requests[3].context_tokens, 8000);
}

TEST(PlanIo, BadSnapshotsNameTheField) {
  const auto field_of = [](const std::string& text, const std::string& suffix) -> std::string {
    TempFile f(text, suffix);
    try {
      load_snapshot(f.path);
    } catch (const InputError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(field_of("id,tokens\n1,1\n", ".csv").find("context_tokens"), std::string::npos);
  EXPECT_NE(field_of("context_tokens,tokens\n-5,1\n", ".csv").find("snapshot"), std::string::npos);
  EXPECT_NE(field_of("context_tokens,tokens\n100,0\n", ".csv").find("tokens"), std::string::npos);
  EXPECT_NE(field_of("context_tokens,tokens\n100,abc\n", ".csv").find("number"), std::string::npos);
  EXPECT_NE(field_of("context_tokens\n", ".csv").find("no requests"), std::string::npos);
  EXPECT_NE(field_of("context_tokens,tokens\n1,2,3\n", ".csv").find("cells"), std::string::npos);
  EXPECT_NE(field_of("{\"requests\": 3}", ".json").find("requests"), std::string::npos);
  EXPECT_NE(field_of("{\"requests\": [{\"context_tokens\": 1.5}]}", ".json").find("integer"),
            std::string::npos);
  EXPECT_NE(field_of("{", ".json").find("malformed"), std::string::npos);
  EXPECT_THROW(load_snapshot("/nonexistent/snapshot.csv"), InputError);
}

TEST(PlanIo, SyntheticSnapshotIsSeededAndHasTheMean) {
  SyntheticSnapshotSpec spec;
  spec.num_requests = 20000;
  spec.mean_context_tokens = 5000;
  spec.sigma = 0.8;
  spec.num_drafts = 2;
  spec.acceptance = 0.5;
  const Snapshot a = synthetic_snapshot(spec);
  const Snapshot b = synthetic_snapshot(spec);
  double context = 0, tokens = 0;
  for (std::size_t i = 0; i < a.requests.size(); ++i) {
    EXPECT_EQ(a.requests[i].context_tokens, b.requests[i].context_tokens);
    context += static_cast<double>(a.requests[i].context_tokens);
    tokens += static_cast<double>(a.requests[i].tokens);
    ASSERT_GE(a.requests[i].tokens, 1);
    ASSERT_LE(a.requests[i].tokens, 3);
  }
  EXPECT_NEAR(context / spec.num_requests, 5000, 5000 * 0.03);
  // Tokens: 1 + accepted drafts in order: 1 + 0.5 + 0.25 = 1.75 on average.
  EXPECT_NEAR(tokens / spec.num_requests, 1.75, 0.03);
  spec.acceptance = 2;
  EXPECT_THROW(synthetic_snapshot(spec), InputError);
}

TEST(PlanIo, TraceFileAndSyntheticTrace) {
  const auto trace = load_trace(data("plan_trace.csv"));
  ASSERT_EQ(trace.size(), 4u);
  EXPECT_DOUBLE_EQ(trace[1].arrival_us, 1000.0);
  EXPECT_EQ(trace[2].output_tokens, 5);
  SyntheticTraceSpec spec;
  spec.num_requests = 10000;
  spec.rate_per_s = 50;
  const auto synth = synthetic_trace(spec);
  // Poisson arrivals at 50/s: the last of 10,000 arrives near 200 s.
  EXPECT_NEAR(synth.back().arrival_us / 1e6, 200, 10);
  EXPECT_TRUE(std::is_sorted(synth.begin(), synth.end(), [](const auto& x, const auto& y) {
    return x.arrival_us < y.arrival_us;
  }));
  TempFile bad("arrival_s,prompt_tokens,output_tokens\n-1,5,5\n", ".csv");
  EXPECT_THROW(load_trace(bad.path), InputError);
}

TEST(PlanIo, ModelConfigFromTomlAndJson) {
  const ModelConfig toml = load_model_config(data("plan_model.toml"));
  EXPECT_EQ(toml.name, "small-moe");
  EXPECT_EQ(toml.num_layers, 32);
  EXPECT_EQ(toml.topk, 6);
  EXPECT_DOUBLE_EQ(toml.kv_bytes_per_token, 4096);
  TempFile json("{\"name\": \"x\", \"num_layers\": 10, \"num_dense_layers\": 2}", ".json");
  const ModelConfig j = load_model_config(json.path);
  EXPECT_EQ(j.num_layers, 10);
  EXPECT_EQ(j.hidden, 7168);  // missing fields keep DeepSeek-V3's
  TempFile unknown("{\"layers\": 10}", ".json");
  EXPECT_THROW(load_model_config(unknown.path), InputError);
  TempFile fractional("{\"hidden\": 10.5}", ".json");
  EXPECT_THROW(load_model_config(fractional.path), InputError);
}

TEST(PlanIo, AttentionSamplesFit) {
  const DecodeParams fit =
      fit_attention(DecodeParams{}, load_attention_samples(data("plan_attention.csv")));
  EXPECT_NEAR(fit.attn_fixed_us, 50, 1e-6);
  EXPECT_NEAR(fit.attn_us_per_token, 0.3, 1e-8);
  EXPECT_NEAR(fit.attn_us_per_kv_token, 4e-4, 1e-11);
}

}  // namespace
}  // namespace epscope
