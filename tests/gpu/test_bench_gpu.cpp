// Runs the harness with --check on real GPUs: balanced, one hot sender, zero-token ranks,
// exactly max_tokens_per_rank, one token, a hot expert; LL and HT, FP8 and BF16; our kernels in
// one process and in one process per GPU, and NCCL. Then injected faults (--fault): a rank that
// never sends, sends late or dies mid-dispatch must be named by every other rank, and the run
// must fail instead of hanging. Needs 2+ GPUs with peer access.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <sstream>

#include "bench/backends/backends.h"
#include "bench/harness/launch.h"
#include "epscope/base/error.h"

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
  } catch (const RunFailure& e) {  // a peer timed out or died: not an internal error
    EXPECT_NE(std::string(e.what()).find("waiting for rank 1"), std::string::npos) << e.what();
  }
}

/// Runs one case with an injected fault and returns the error it must end with.
std::string fault_error(const Scenario& s, BenchOptions o, const std::string& fault) {
  o.fault = parse_fault(fault);
  o.check = false;
  const int n = s.num_ranks();
  try {
    run_bench(s, {{"fault", std::vector<std::int64_t>(static_cast<std::size_t>(n), 16), {}}}, o);
  } catch (const RunFailure& e) {  // a peer timed out or died: not an internal error
    return e.what();
  }
  ADD_FAILURE() << "--fault " << fault << ": the run did not fail";
  return {};
}

/// The peers rank `r` says it waited for, from "rank R timed out after T ms waiting for rank P"
/// or "... waiting for ranks P, Q" (empty when rank r reported no such line).
std::vector<int> peers_named_by(const std::string& message, int r) {
  const auto at = message.find(fmt::format("rank {} timed out after", r));
  if (at == std::string::npos) return {};
  const auto wait = message.find("waiting for rank", at);
  if (wait == std::string::npos || wait > message.find(';', at)) return {};
  std::istringstream list(message.substr(wait + 16, message.find('(', wait) - wait - 16));
  std::vector<int> peers;
  std::string word;
  while (list >> word)
    if (word != "s") peers.push_back(std::stoi(word.substr(word.front() == 's' ? 1 : 0)));
  return peers;
}

/// Every rank but `faulty` reported a timeout that names `faulty` among the peers it waited for.
void expect_others_name(const std::string& message, int num_ranks, int faulty) {
  for (int r = 0; r < num_ranks; ++r) {
    if (r == faulty) continue;
    const std::vector<int> peers = peers_named_by(message, r);
    EXPECT_NE(std::find(peers.begin(), peers.end(), faulty), peers.end())
        << "rank " << r << " does not name rank " << faulty << ": " << message;
  }
}

BenchOptions fault_options(const std::string& backend, const std::string& launch,
                           double timeout_ms) {
  BenchOptions o = check_options(backend, launch);
  o.timeout_ms = timeout_ms;
  o.warmup = 0;
  o.iters = 1;
  return o;
}

/// --fault 1:never-send on LL and HT: every other rank names rank 1 in the dispatch counts.
void expect_never_send_named(const std::string& launch) {
  const int n = gpus_for_test();
  for (KernelMode mode : {KernelMode::kLowLatency, KernelMode::kHighThroughput}) {
    SCOPED_TRACE(to_string(mode));
    const std::string message = fault_error(scenario_for(n, mode, DispatchDtype::kFp8),
                                            fault_options("nvlink", launch, 300), "1:never-send");
    expect_others_name(message, n, 1);
    EXPECT_NE(message.find("dispatch counts"), std::string::npos) << message;
  }
}

// One launch mode per test: a process that has initialized CUDA cannot fork GPU workers.
TEST_F(GpuBench, FaultNeverSendIsNamedByEveryOtherRankOneProcess) {
  expect_never_send_named("one-process");
}

TEST_F(GpuBench, FaultNeverSendIsNamedByEveryOtherRankPerGpu) {
  expect_never_send_named("per-gpu");
}

TEST_F(GpuBench, FaultLateSenderIsWaitedForWithinTheTimeoutAndNamedBeyondIt) {
  const int n = gpus_for_test();
  // Counts held back 400 ms, deadline 150 ms: every other rank gives up and names rank 1.
  const std::string message =
      fault_error(scenario_for(n, KernelMode::kHighThroughput, DispatchDtype::kFp8),
                  fault_options("nvlink", "one-process", 150), "1:late:400000");
  expect_others_name(message, n, 1);
  // Held back 2 ms with a 5 s deadline: the run completes and every row is still right.
  BenchOptions o = check_options("nvlink", "one-process");
  o.fault = parse_fault("1:late:2000");
  expect_all_correct(
      run_bench(scenario_for(n, KernelMode::kLowLatency, DispatchDtype::kFp8), check_cases(n), o));
}

TEST_F(GpuBench, FaultLateSenderBeyondTheTimeoutIsNamedPerGpu) {
  const int n = gpus_for_test();
  const std::string message =
      fault_error(scenario_for(n, KernelMode::kLowLatency, DispatchDtype::kFp8),
                  fault_options("nvlink", "per-gpu", 150), "1:late:400000");
  expect_others_name(message, n, 1);
}

TEST_F(GpuBench, FaultExitMidDispatchIsNamedByEveryOtherRank) {
  const int n = gpus_for_test();
  for (KernelMode mode : {KernelMode::kLowLatency, KernelMode::kHighThroughput}) {
    const std::string message = fault_error(scenario_for(n, mode, DispatchDtype::kFp8),
                                            fault_options("nvlink", "per-gpu", 300), "1:exit");
    EXPECT_NE(message.find("rank 1: killed by signal 9"), std::string::npos) << message;
    expect_others_name(message, n, 1);
  }
}

TEST_F(GpuBench, NcclFaultsAbortTheCommunicatorAndNameThePeer) {
  const int n = gpus_for_test();
  Scenario s = scenario_for(n, KernelMode::kAllToAll, DispatchDtype::kFp8);
  s.a2a_rows = A2aRows::kPerExpert;
  for (const char* fault : {"1:never-send", "1:late:2000000"}) {
    const std::string message = fault_error(s, fault_options("nccl", "one-process", 500), fault);
    expect_others_name(message, n, 1);
    EXPECT_NE(message.find("NCCL communicators aborted"), std::string::npos) << message;
  }
  // The aborted communicators are gone: a new run in the same process works.
  expect_all_correct(run_bench(s, check_cases(n), check_options("nccl", "one-process")));
}

}  // namespace
}  // namespace epscope::bench
