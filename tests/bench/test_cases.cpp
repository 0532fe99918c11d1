#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bench/harness/cases.h"
#include "bench/harness/samples.h"
#include "bench/harness/send_plan.h"
#include "epscope/base/error.h"

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
  const BenchOptions o;
  EXPECT_NO_THROW(validate_bench_scenario(s, {scenario_case(s)}, o, 2));
  // A missing GPU.
  EXPECT_THROW(validate_bench_scenario(s, {scenario_case(s)}, o, 1), InputError);
  // Tokens above max_tokens_per_rank.
  EXPECT_THROW(validate_bench_scenario(s, {{"big", {129, 1}, {}}}, o, 2), InputError);
  // A token list that does not match the rank count.
  EXPECT_THROW(validate_bench_scenario(s, {{"three", {1, 1, 1}, {}}}, o, 2), InputError);
  // More than one node.
  Scenario two_nodes = s;
  two_nodes.cluster.num_nodes = 2;
  EXPECT_THROW(validate_bench_scenario(two_nodes, {}, o, 8), InputError);
  // FP8 LL messages of hidden 640 would be 676 bytes: not 16-byte aligned.
  Scenario odd_hidden = s;
  odd_hidden.moe.hidden = 640;
  EXPECT_THROW(validate_bench_scenario(odd_hidden, {scenario_case(s)}, o, 2), InputError);
  odd_hidden.mode = KernelMode::kHighThroughput;  // HT records are padded to 16 bytes
  EXPECT_NO_THROW(validate_bench_scenario(odd_hidden, {scenario_case(s)}, o, 2));
  try {
    validate_bench_scenario(s, {{"big", {129, 1}, {}}}, o, 2);
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("max_tokens_per_rank = 128"), std::string::npos);
  }
}

Scenario cluster(int nodes, int gpus_per_node) {
  Scenario s;
  s.cluster.num_nodes = nodes;
  s.cluster.gpus_per_node = gpus_per_node;
  s.cluster.nvlink_domain_size = gpus_per_node;
  s.moe.num_experts = 256;
  s.moe.max_tokens_per_rank = 128;
  s.tokens_per_rank.assign(static_cast<std::size_t>(nodes * gpus_per_node), 16);
  return s;
}

BenchOptions with(const std::string& backend, const std::string& launch) {
  BenchOptions o;
  o.backend = backend;
  o.launch = launch;
  return o;
}

TEST(Validate, NcclUnderMpiTakesAnyNodeAndGpuCount) {
  // 2 nodes x 2 GPUs and 4 x 8 = 32 ranks (more than this machine's 4 devices: under MPI the
  // devices are checked per host by place_mpi_rank).
  for (const auto& [nodes, gpus] : {std::pair{2, 2}, std::pair{4, 8}, std::pair{2, 16}}) {
    const Scenario s = cluster(nodes, gpus);
    EXPECT_NO_THROW(validate_bench_scenario(s, {scenario_case(s)}, with("nccl", "mpi"), 4))
        << nodes << " x " << gpus;
  }
  // One process drives at most the devices it sees, whatever the backend.
  const Scenario big = cluster(4, 8);
  EXPECT_THROW(validate_bench_scenario(big, {scenario_case(big)}, with("nccl", "one-process"), 4),
               InputError);
  // The nvlink backend stays on one node of at most 8 GPUs, with a message saying what to use.
  const Scenario two_nodes = cluster(2, 2);
  try {
    validate_bench_scenario(two_nodes, {scenario_case(two_nodes)}, with("nvlink", "one-process"),
                            8);
    FAIL() << "two nodes accepted for nvlink";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--backend nccl --launch mpi"), std::string::npos)
        << e.what();
  }
  const Scenario sixteen = cluster(1, 16);
  EXPECT_THROW(
      validate_bench_scenario(sixteen, {scenario_case(sixteen)}, with("nvlink", "per-gpu"), 16),
      InputError);
}

TEST(Fault, ParsesTheThreeKinds) {
  const FaultSpec never = parse_fault("1:never-send");
  EXPECT_EQ(never.kind, FaultKind::kNeverSend);
  EXPECT_EQ(never.rank, 1);
  const FaultSpec late = parse_fault("3:late:2500.5");
  EXPECT_EQ(late.kind, FaultKind::kLate);
  EXPECT_EQ(late.rank, 3);
  EXPECT_DOUBLE_EQ(late.delay_us, 2500.5);
  const FaultSpec gone = parse_fault("0:exit");
  EXPECT_EQ(gone.kind, FaultKind::kExit);
  EXPECT_EQ(gone.rank, 0);
  EXPECT_EQ(to_string(late), "3:late:2500.5");
  EXPECT_EQ(to_string(FaultSpec{}), "none");
}

TEST(Fault, BadRankKindOrDelayIsAnInputErrorNamingTheFlag) {
  for (const char* bad : {"", "1", ":exit", "x:exit", "-1:exit", "1.5:exit", " 1:exit", "1:crash",
                          "1:never", "1:late", "1:late:", "1:late:-5", "1:late:0", "1:late:abc",
                          "1:late:inf", "1:late:nan", "1:late:1e9", "1:exit:now"}) {
    try {
      parse_fault(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), "--fault") << bad;
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos)
          << e.what();
    }
  }
}

TEST(Fault, RankOutsideTheScenarioOrExitInOneProcessIsRejected) {
  const Scenario s = two_gpus();
  BenchOptions o;
  o.fault = parse_fault("2:never-send");
  EXPECT_THROW(validate_bench_scenario(s, {scenario_case(s)}, o, 2), InputError);
  o.fault = parse_fault("1:never-send");
  EXPECT_NO_THROW(validate_bench_scenario(s, {scenario_case(s)}, o, 2));
  // exit kills a process: one process per GPU only.
  o.fault = parse_fault("1:exit");
  EXPECT_THROW(o.validate(), InputError);
  o.launch = "per-gpu";
  EXPECT_NO_THROW(o.validate());
  o.backend = "nccl";
  o.launch = "mpi";
  EXPECT_NO_THROW(o.validate());
}

TEST(MpiPlacement, DeviceIsTheNodeLocalRank) {
  // mpirun -np 4 on one 4-GPU host, --nodes 2 --gpus-per-node 2: two emulated nodes.
  for (int r = 0; r < 4; ++r) {
    const MpiPlacement p = place_mpi_rank({r, 4, r, 4, 0}, 2, 4);
    EXPECT_EQ(p.device, r);
    EXPECT_EQ(p.nodes_on_host, 2);
  }
  // 16 ranks on two 8-GPU hosts, --gpus-per-node 8: world rank 13 is local rank 5 of host 1.
  const MpiPlacement p = place_mpi_rank({13, 16, 5, 8, 8}, 8, 8);
  EXPECT_EQ(p.device, 5);
  EXPECT_EQ(p.nodes_on_host, 1);
  // 4096 ranks, 512 hosts of 8.
  EXPECT_EQ(place_mpi_rank({4095, 4096, 7, 8, 4088}, 8, 8).device, 7);
}

TEST(MpiPlacement, HostsThatDoNotHoldWholeNodesAreRejected) {
  // A host running ranks 2..5 splits two 4-GPU nodes.
  EXPECT_THROW(place_mpi_rank({3, 8, 1, 4, 2}, 4, 8), InputError);
  // A host running 3 processes with --gpus-per-node 2.
  EXPECT_THROW(place_mpi_rank({1, 6, 1, 3, 0}, 2, 8), InputError);
  // More processes on a host than it has devices.
  try {
    place_mpi_rank({0, 8, 0, 8, 0}, 8, 4);
    FAIL() << "8 processes on 4 devices accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("4 CUDA device"), std::string::npos) << e.what();
  }
  // Ranks of one host not consecutive (round-robin mapping): rank 5 as local rank 1 of a host
  // whose first rank is 1.
  EXPECT_THROW(place_mpi_rank({5, 8, 1, 2, 1}, 2, 8), InputError);
}

/// One rank's top-k: every token's experts, -1 = none.
RankTopk topk_of(const std::vector<std::vector<std::int32_t>>& tokens) {
  RankTopk tk;
  tk.num_tokens = static_cast<std::int64_t>(tokens.size());
  for (const auto& t : tokens)
    tk.expert_idx.insert(tk.expert_idx.end(), t.begin(), t.end());
  return tk;
}

TEST(SendPlan, PerRankRowsDeduplicateAtAnyRankCount) {
  // 2 experts per rank, top-4, ranks above 31 (a 32-bit rank mask cannot hold them).
  // Token 0: both experts of the last rank, one of rank 33, none. Token 1: the other expert of
  // rank 33, both experts of rank `mid`, expert 0.
  for (const auto& [ranks, mid] : {std::pair{64, 40}, std::pair{4096, 65}}) {
    const int last = ranks - 1;
    const RankTopk tk = topk_of({{2 * last, 2 * last + 1, 66, -1}, {67, 2 * mid, 2 * mid + 1, 0}});
    const SendPlan plan = plan_send_rows(tk, 4, ranks, 2, /*per_rank=*/true);
    // Rows: rank 0 <- (1, k3); rank 33 <- (0, k2), (1, k0); mid <- (1, k1); last <- (0, k0).
    // 5 rows, grouped by destination, token-major inside.
    ASSERT_EQ(plan.num_rows(), 5) << ranks;
    ASSERT_EQ(plan.rows_to.size(), static_cast<std::size_t>(ranks));
    EXPECT_EQ(plan.rows_to[0], 1);
    EXPECT_EQ(plan.rows_to[33], 2);
    EXPECT_EQ(plan.rows_to[static_cast<std::size_t>(mid)], 1);
    EXPECT_EQ(plan.rows_to[static_cast<std::size_t>(last)], 1);
    EXPECT_EQ(plan.first_row[33], 1);
    EXPECT_EQ(plan.first_row[static_cast<std::size_t>(mid)], 3);
    EXPECT_EQ(plan.first_row[static_cast<std::size_t>(last)], 4);
    EXPECT_EQ(plan.token, (std::vector<std::int32_t>{1, 0, 1, 1, 0}));
    EXPECT_EQ(plan.k, (std::vector<std::int32_t>{3, 2, 0, 1, 0}));
    EXPECT_EQ(plan.expert, (std::vector<std::int32_t>{0, 66, 67, 2 * mid, 2 * last}));
    // Copies (0, k1) and (1, k2) ride on their rank's first row: -1.
    EXPECT_EQ(plan.row_of_copy, (std::vector<std::int32_t>{4, -1, 1, -1, 2, 3, -1, 0}));
  }
}

TEST(SendPlan, PerExpertRowsKeepEveryCopy) {
  // 64 ranks, 4 experts each, top-2: token 0 -> experts 255, 252 (both rank 63); token 1 -> 0.
  const RankTopk tk = topk_of({{255, 252}, {0, -1}});
  const SendPlan plan = plan_send_rows(tk, 2, 64, 4, /*per_rank=*/false);
  ASSERT_EQ(plan.num_rows(), 3);
  EXPECT_EQ(plan.rows_to[63], 2);
  EXPECT_EQ(plan.rows_to[0], 1);
  EXPECT_EQ(plan.first_row[63], 1);
  EXPECT_EQ(plan.token, (std::vector<std::int32_t>{1, 0, 0}));
  EXPECT_EQ(plan.k, (std::vector<std::int32_t>{0, 0, 1}));
  EXPECT_EQ(plan.row_of_copy, (std::vector<std::int32_t>{1, 2, 0, -1}));
}

TEST(SendPlan, ReceivedRowsAreLaidOutBySourceRank) {
  // Peer 1's count never arrived (-1): no rows, and peers 2 and 3 start where peer 1 would have.
  const std::vector<std::int64_t> rows_from = {3, -1, 0, 5};
  std::vector<std::int64_t> first_row(4, 99);
  EXPECT_EQ(lay_out_recv_rows(rows_from, first_row), 8);
  EXPECT_EQ(first_row, (std::vector<std::int64_t>{0, 3, 3, 3}));
  // A receiver's total is what the senders' plans send it: 4 ranks, 1 expert each, top-2;
  // rank 2 gets token 0 of rank 0 (k1), token 1 of rank 1 (k0), nothing from ranks 2 and 3.
  const std::vector<SendPlan> plans = {plan_send_rows(topk_of({{0, 2}}), 2, 4, 1, false),
                                       plan_send_rows(topk_of({{1, 3}, {2, 0}}), 2, 4, 1, false),
                                       plan_send_rows(topk_of({}), 2, 4, 1, false),
                                       plan_send_rows(topk_of({{3, 1}}), 2, 4, 1, false)};
  std::vector<std::int64_t> to_rank2;
  for (const SendPlan& plan : plans)
    to_rank2.push_back(plan.rows_to[2]);
  EXPECT_EQ(lay_out_recv_rows(to_rank2, first_row), 2);
  EXPECT_EQ(first_row, (std::vector<std::int64_t>{0, 1, 2, 2}));
}

TEST(SendPlan, ReceiveBuffersAtScale) {
  // A rank sends at most top-k rows per token, or per-rank rows at most one per rank.
  EXPECT_EQ(max_send_rows(1024, 8, 4096, false), 8192);
  EXPECT_EQ(max_send_rows(1024, 8, 4, true), 4096);
  EXPECT_EQ(max_send_rows(128, 8, 4096, true), 1024);
  // One row, hidden 7168: FP8 message 16 + 7168 + 7168 / 128 x 4 = 7408 B; BF16 16 + 14336;
  // the expert output row 14336 B.
  EXPECT_EQ(recv_buffer_bytes(1, 7168, true).messages, 7408);
  EXPECT_EQ(recv_buffer_bytes(1, 7168, false).messages, 14352);
  EXPECT_EQ(recv_buffer_bytes(1, 7168, true).expert_rows, 14336);
  // 4096 ranks, 128 tokens per rank, top-8, FP8. The worst case, every peer sending a full
  // buffer: 4096 x 1024 = 4,194,304 rows, 31.07 GB of messages + 60.13 GB of expert rows per
  // GPU. A balanced case receives ~128 x 8 = 1024 rows: 22.3 MB.
  const RecvBytes worst = recv_buffer_bytes(4096 * max_send_rows(128, 8, 4096, false), 7168, true);
  EXPECT_EQ(worst.messages, 31'071'404'032);
  EXPECT_EQ(worst.expert_rows, 60'129'542'144);
  EXPECT_EQ(worst.total(), 91'200'946'176);
  EXPECT_EQ(recv_buffer_bytes(1024, 7168, true).total(), 22'265'856);
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
