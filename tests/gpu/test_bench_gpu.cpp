// Runs the harness with --check on real GPUs: balanced, one hot sender, zero-token ranks,
// exactly max_tokens_per_rank, one token, a hot expert; LL and HT, FP8 and BF16; our kernels in
// one process and in one process per GPU, and NCCL. Needs 2+ GPUs with peer access.
#include <gtest/gtest.h>

#include "bench/backends.h"
#include "bench/launch.h"
#include "epscope/error.h"

namespace epscope::bench {
namespace {

int gpus_for_test() {
  return std::min(cuda_device_count(), 4);
}

Scenario scenario_for(int num_gpus, KernelMode mode, DispatchDtype dtype) {
  Scenario s;
  s.cluster = cluster_preset("h100-cx7");
  s.cluster.num_nodes = 1;
  s.cluster.gpus_per_node = num_gpus;
  s.cluster.nvlink_domain_size = num_gpus;
  s.mode = mode;
  s.moe.dispatch_dtype = dtype;
  s.moe.max_tokens_per_rank = 96;
  s.routing.expected = false;
  s.tokens_per_rank.assign(static_cast<std::size_t>(num_gpus), 32);
  return s;
}

std::vector<BenchCase> check_cases(int n) {
  const auto all = [n](std::int64_t t) {
    return std::vector<std::int64_t>(static_cast<std::size_t>(n), t);
  };
  std::vector<BenchCase> cases = {
      {"balanced", all(32), {}}, {"one-token", all(1), {}}, {"max-tokens", all(96), {}}};
  auto hot = all(8);
  hot[0] = 96;
  cases.push_back({"hot-sender", hot, {}});
  auto zero = all(0);
  zero[n - 1] = 17;
  cases.push_back({"zero-token-ranks", zero, {}});
  std::vector<double> late(static_cast<std::size_t>(n), 0.0);
  late[0] = 30;
  cases.push_back({"late-rank", all(16), late});
  return cases;
}

void expect_all_correct(const RunOutput& out) {
  std::int64_t checked = 0;
  for (const auto& c : out.cases)
    for (const auto& r : c.ranks) {
      checked += r.checked;
      EXPECT_EQ(r.wrong, 0) << c.bench_case.name << " rank " << r.rank << ": " << r.first_error;
      EXPECT_EQ(r.dispatch_us.size(), 2u);
    }
  EXPECT_GT(checked, 0);
}

BenchOptions check_options(const std::string& backend, const std::string& launch) {
  BenchOptions o;
  o.backend = backend;
  o.launch = launch;
  o.check = true;
  o.warmup = 1;
  o.iters = 2;
  o.timeout_ms = 5000;
  return o;
}

class GpuBench : public ::testing::Test {
 protected:
  void SetUp() override {
    if (gpus_for_test() < 2) GTEST_SKIP() << "no CUDA device pair (need 2+ GPUs with NVLink)";
  }
};

TEST_F(GpuBench, LowLatencyFp8AndBf16OneProcess) {
  const int n = gpus_for_test();
  for (DispatchDtype dtype : {DispatchDtype::kFp8, DispatchDtype::kBf16})
    expect_all_correct(run_bench(scenario_for(n, KernelMode::kLowLatency, dtype), check_cases(n),
                                 check_options("nvlink", "one-process")));
}

TEST_F(GpuBench, LowLatencyHotExpert) {
  const int n = gpus_for_test();
  Scenario s = scenario_for(n, KernelMode::kLowLatency, DispatchDtype::kFp8);
  s.routing.popularity = RoutingSpec::Popularity::kZipf;
  s.routing.skew = 1.5;
  expect_all_correct(
      run_bench(s, {{"hot-expert", std::vector<std::int64_t>(static_cast<std::size_t>(n), 96), {}}},
                check_options("nvlink", "one-process")));
}

TEST_F(GpuBench, HighThroughputFp8AndBf16OneProcess) {
  const int n = gpus_for_test();
  for (DispatchDtype dtype : {DispatchDtype::kFp8, DispatchDtype::kBf16})
    expect_all_correct(run_bench(scenario_for(n, KernelMode::kHighThroughput, dtype),
                                 check_cases(n), check_options("nvlink", "one-process")));
}

TEST_F(GpuBench, PerGpuProcessesThroughCudaIpc) {
  const int n = gpus_for_test();
  expect_all_correct(run_bench(scenario_for(n, KernelMode::kLowLatency, DispatchDtype::kFp8),
                               check_cases(n), check_options("nvlink", "per-gpu")));
  expect_all_correct(run_bench(scenario_for(n, KernelMode::kHighThroughput, DispatchDtype::kFp8),
                               check_cases(n), check_options("nvlink", "per-gpu")));
}

TEST_F(GpuBench, NcclPerExpertAndPerRankRows) {
  const int n = gpus_for_test();
  for (A2aRows rows : {A2aRows::kPerExpert, A2aRows::kPerRank}) {
    Scenario s = scenario_for(n, KernelMode::kAllToAll, DispatchDtype::kFp8);
    s.a2a_rows = rows;
    expect_all_correct(run_bench(s, check_cases(n), check_options("nccl", "one-process")));
  }
}

TEST_F(GpuBench, TimeoutNamesRankAndPeerInsteadOfHanging) {
  // A start offset far beyond the deadline: every other rank's dispatch (or barrier) wait
  // must give up and the run must fail with a message naming the rank and the peer.
  const int n = gpus_for_test();
  Scenario s = scenario_for(n, KernelMode::kLowLatency, DispatchDtype::kFp8);
  std::vector<double> late(static_cast<std::size_t>(n), 0.0);
  late[1] = 400000;  // 400 ms, deadline 100 ms
  BenchOptions o = check_options("nvlink", "one-process");
  o.timeout_ms = 100;
  o.check = false;
  try {
    run_bench(s, {{"stuck", std::vector<std::int64_t>(static_cast<std::size_t>(n), 4), late}}, o);
    FAIL() << "no timeout";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("waiting for rank 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace epscope::bench
