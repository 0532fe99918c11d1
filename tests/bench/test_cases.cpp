#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bench/cases.h"
#include "bench/samples.h"
#include "epscope/error.h"

namespace epscope::bench {
namespace {

Scenario two_gpus() {
  Scenario s;
  s.cluster.num_nodes = 1;
  s.cluster.gpus_per_node = 2;
  s.cluster.nvlink_domain_size = 2;
  s.moe.max_tokens_per_rank = 128;
  s.tokens_per_rank = {128, 64};
  return s;
}

TEST(Sweep, MultipliesLikeNcclTests) {
  // -b 1 -e 100 -f 4: 1, 4, 16, 64 (256 > 100 stops).
  const auto cases = sweep_cases(2, 1, 100, 4);
  ASSERT_EQ(cases.size(), 4u);
  EXPECT_EQ(cases[3].tokens_per_rank, (std::vector<std::int64_t>{64, 64}));
  EXPECT_EQ(cases[0].name, "balanced-1");
  EXPECT_THROW(sweep_cases(2, 8, 4, 2), InputError);
  EXPECT_THROW(sweep_cases(2, 1, 4, 1), InputError);
}

TEST(CaseFile, ParsesNamesListsAndOffsets) {
  const auto cases = parse_case_file(
      "# comment\nhot 256,16\n\nlate 64 0,20.5  # rank 1 starts 20.5 us late\n", 2, "grid.txt");
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].tokens_per_rank, (std::vector<std::int64_t>{256, 16}));
  EXPECT_TRUE(cases[0].start_offset_us.empty());
  EXPECT_EQ(cases[1].tokens_per_rank, (std::vector<std::int64_t>{64, 64}));
  EXPECT_EQ(cases[1].start_offset_us, (std::vector<double>{0, 20.5}));
  EXPECT_THROW(parse_case_file("bad 1,2,3\n", 2, "grid.txt"), InputError);
  EXPECT_THROW(parse_case_file("# nothing\n", 2, "grid.txt"), InputError);
}

TEST(Validate, RejectsWhatCannotRunBeforeAnyKernel) {
  const Scenario s = two_gpus();
  EXPECT_NO_THROW(validate_bench_scenario(s, {scenario_case(s)}, 2));
  // A missing GPU.
  EXPECT_THROW(validate_bench_scenario(s, {scenario_case(s)}, 1), InputError);
  // Tokens above max_tokens_per_rank.
  EXPECT_THROW(validate_bench_scenario(s, {{"big", {129, 1}, {}}}, 2), InputError);
  // A token list that does not match the rank count.
  EXPECT_THROW(validate_bench_scenario(s, {{"three", {1, 1, 1}, {}}}, 2), InputError);
  // More than one node.
  Scenario two_nodes = s;
  two_nodes.cluster.num_nodes = 2;
  EXPECT_THROW(validate_bench_scenario(two_nodes, {}, 8), InputError);
  // FP8 LL messages of hidden 640 would be 676 bytes: not 16-byte aligned.
  Scenario odd_hidden = s;
  odd_hidden.moe.hidden = 640;
  EXPECT_THROW(validate_bench_scenario(odd_hidden, {scenario_case(s)}, 2), InputError);
  odd_hidden.mode = KernelMode::kHighThroughput;  // HT records are padded to 16 bytes
  EXPECT_NO_THROW(validate_bench_scenario(odd_hidden, {scenario_case(s)}, 2));
  try {
    validate_bench_scenario(s, {{"big", {129, 1}, {}}}, 2);
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("max_tokens_per_rank = 128"), std::string::npos);
  }
}

TEST(Options, ValidateNamesTheFlag) {
  BenchOptions o;
  EXPECT_NO_THROW(o.validate());
  o.iters = 0;
  EXPECT_THROW(o.validate(), InputError);
  o = {};
  o.backend = "nvlink";
  o.launch = "mpi";
  EXPECT_THROW(o.validate(), InputError);
  o = {};
  o.timeout_ms = 0;
  EXPECT_THROW(o.validate(), InputError);
}

TEST(GpuName, ShortModel) {
  EXPECT_EQ(short_gpu_name("NVIDIA H100 80GB HBM3"), "H100");
  EXPECT_EQ(short_gpu_name("NVIDIA H200"), "H200");
  EXPECT_EQ(short_gpu_name("Some GPU"), "Some GPU");
}

TEST(Samples, JsonRoundTripAndMerge) {
  CaseSamples a;
  a.bench_case = {"c", {1, 2}, {0, 5}};
  a.ranks.resize(1);
  a.ranks[0].rank = 1;
  a.ranks[0].dispatch_us = {1.5, 2.5};
  CaseSamples b = a;
  b.ranks[0].rank = 0;
  const CaseSamples back = case_samples_from_json(to_json(a));
  EXPECT_EQ(back.ranks[0].dispatch_us, a.ranks[0].dispatch_us);
  EXPECT_EQ(back.bench_case.start_offset_us, a.bench_case.start_offset_us);
  const auto merged = merge_ranks({{back}, {b}});
  ASSERT_EQ(merged[0].ranks.size(), 2u);
  EXPECT_EQ(merged[0].ranks[0].rank, 0);
}

}  // namespace
}  // namespace epscope::bench
