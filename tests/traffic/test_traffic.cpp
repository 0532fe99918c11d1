#include <gtest/gtest.h>

#include "epscope/traffic/traffic.h"
#include "test_helpers.h"

namespace epscope {
namespace {

using test::tiny_scenario;

TEST(MessageBytes, DomainFormulasForDeepSeekV3) {
  MoeShape moe;                                                           // hidden 7168, top-8
  EXPECT_EQ(dispatch_message_bytes(moe, KernelMode::kLowLatency), 7408);  // 16 + 7168 + 56 * 4
  EXPECT_EQ(combine_message_bytes(moe, KernelMode::kLowLatency), 14336);
  EXPECT_EQ(dispatch_message_bytes(moe, KernelMode::kHighThroughput), 7472);
  moe.dispatch_dtype = DispatchDtype::kBf16;
  EXPECT_EQ(dispatch_message_bytes(moe, KernelMode::kLowLatency), 16 + 14336);
  EXPECT_EQ(dispatch_message_bytes(moe, KernelMode::kHighThroughput), 14416);
  moe.combine_dtype = CombineDtype::kLogfmt10;
  EXPECT_EQ(combine_message_bytes(moe, KernelMode::kLowLatency), 7168 * 10 / 8 + 56 * 8);
}

TEST(LinkClass, SelfNvlinkRdma) {
  Cluster c = tiny_scenario().cluster;
  EXPECT_EQ(link_class(c, 1, 1), LinkClass::kLocal);
  EXPECT_EQ(link_class(c, 0, 1), LinkClass::kNvlink);
  EXPECT_EQ(link_class(c, 1, 2), LinkClass::kRdma);
  c.nvlink_enabled = false;  // pure RDMA: same-node peers go through the NIC
  EXPECT_EQ(link_class(c, 0, 1), LinkClass::kRdma);
  c.nvlink_enabled = true;
  c.nvlink_domain_size = 4;  // one NVLink domain over both nodes (MNNVL)
  EXPECT_EQ(link_class(c, 1, 2), LinkClass::kNvlink);
}

// golden_ll_topk.json: rank 0: [1,2]; rank 1: [0,3],[2,3]; rank 2: none; rank 3: [3,0].
// One expert per rank, so copies = expert hits: 0->1, 0->2, 1->0, 1->3 (x2), 1->2, 3->3, 3->0.
TEST(Traffic, GoldenLowLatency) {
  const Traffic t = compute_traffic(tiny_scenario());
  ASSERT_EQ(t.dispatch.stages.size(), 1u);
  const TrafficMatrix& m = t.dispatch.stages[0].matrix;
  EXPECT_EQ(m.at(0, 1).num_msgs, 1);
  EXPECT_EQ(m.at(0, 2).num_msgs, 1);
  EXPECT_EQ(m.at(1, 3).num_msgs, 2);
  EXPECT_EQ(m.at(1, 3).bytes, 2u * 148);
  EXPECT_EQ(m.at(3, 3).num_msgs, 1);
  EXPECT_EQ(m.at(2, 0).num_msgs, 0);
  // Per rank by class. Rank 1 sends 1 over NVLink (to 0) and 3 over RDMA (to 2 and 3, 3).
  EXPECT_EQ(t.dispatch.send[1].msgs[1], 1);
  EXPECT_EQ(t.dispatch.send[1].msgs[2], 3);
  EXPECT_EQ(t.dispatch.send[3].bytes[0], 148u);  // self copy is local
  EXPECT_EQ(t.dispatch.recv[2].msgs[2], 2);
  // Combine is the reverse, in bf16 rows of 256 B: rank 3 returns two rows to rank 1.
  EXPECT_EQ(t.combine.stages[0].matrix.at(3, 1).bytes, 2u * 256);
  EXPECT_EQ(t.combine.recv[1].bytes[2], 3u * 256);
  // Algorithm bytes count every copy, self included: rank 1 has 2 tokens x 2 copies.
  EXPECT_DOUBLE_EQ(t.dispatch.algorithm_bytes[1], 4 * 148.0);
}

// golden_ht_topk.json with 8 experts (2 per rank): rank 0: [4,5] (both on rank 2); rank 1: [4,6]
// (ranks 2 and 3). HT records: align16(128 + 4 + 8 + 2*2*4) = 160 B.
TEST(Traffic, GoldenHighThroughputForwardsOncePerDomain) {
  Scenario s = tiny_scenario(KernelMode::kHighThroughput);
  s.moe.num_experts = 8;
  s.routing.file = test::data_path("golden_ht_topk.json");
  s.tokens_per_rank = {1, 1, 0, 0};
  const Traffic t = compute_traffic(s);
  ASSERT_EQ(t.dispatch.stages.size(), 2u);
  const TrafficMatrix& rdma = t.dispatch.stages[0].matrix;
  const TrafficMatrix& fwd = t.dispatch.stages[1].matrix;
  EXPECT_EQ(t.dispatch.message_bytes, 160);
  // Rank 0's token crosses RDMA once, to the GPU with its local index (0) in node 1: rank 2.
  EXPECT_EQ(rdma.at(0, 2).num_msgs, 1);
  EXPECT_EQ(rdma.at(0, 3).num_msgs, 0);
  // Rank 1's token goes to rank 3 (local index 1) once, though it needs ranks 2 and 3.
  EXPECT_EQ(rdma.at(1, 3).num_msgs, 1);
  EXPECT_EQ(rdma.at(1, 2).num_msgs, 0);
  // Forward inside node 1: rank 2 keeps rank 0's token (local), rank 3 forwards rank 1's to 2.
  EXPECT_EQ(fwd.at(2, 2).num_msgs, 1);
  EXPECT_EQ(fwd.at(3, 2).num_msgs, 1);
  EXPECT_EQ(fwd.at(3, 3).num_msgs, 1);
  EXPECT_EQ(t.dispatch.send[3].bytes[1], 160u);
  // LL would have sent rank 0's token twice (two experts on rank 2).
  s.mode = KernelMode::kLowLatency;
  EXPECT_EQ(compute_traffic(s).dispatch.stages[0].matrix.at(0, 2).num_msgs, 2);
  // Combine reverses: the forward stage first (rank 2 sends rank 1's row to the forwarder, rank 3,
  // which reduces), then RDMA home once per domain.
  s.mode = KernelMode::kHighThroughput;
  const Traffic back = compute_traffic(s);
  ASSERT_EQ(back.combine.stages[0].name, "forward");
  EXPECT_EQ(back.combine.stages[0].matrix.at(2, 3).num_msgs, 1);
  EXPECT_EQ(back.combine.stages[1].matrix.at(3, 1).num_msgs, 1);
  EXPECT_EQ(back.combine.stages[1].matrix.at(2, 0).num_msgs, 1);
}

TEST(Traffic, AllToAllRowsPerRankOrPerExpert) {
  Scenario s = tiny_scenario(KernelMode::kAllToAll);
  s.moe.num_experts = 8;
  s.routing.file = test::data_path("golden_ht_topk.json");
  s.tokens_per_rank = {1, 1, 0, 0};
  s.a2a_rows = A2aRows::kPerExpert;
  EXPECT_EQ(compute_traffic(s).dispatch.stages[0].matrix.at(0, 2).num_msgs, 2);
  s.a2a_rows = A2aRows::kPerRank;
  const Traffic t = compute_traffic(s);
  EXPECT_EQ(t.dispatch.stages[0].matrix.at(0, 2).num_msgs, 1);
  EXPECT_EQ(t.dispatch.stages[0].matrix.at(0, 2).bytes, 132u);  // fp8 row without header
  EXPECT_EQ(t.dispatch.stages[0].matrix.at(1, 3).num_msgs, 1);  // direct, no forwarding
}

// Property: every byte sent is received, in every mode, phase and routing.
TEST(Traffic, BytesAreConserved) {
  for (KernelMode mode :
       {KernelMode::kLowLatency, KernelMode::kHighThroughput, KernelMode::kAllToAll}) {
    for (const char* routing : {"expected", "uniform", "zipf:1.1"}) {
      Scenario s = default_scenario();
      s.cluster.nvlink_enabled = true;
      s.mode = mode;
      s.routing = parse_routing(routing);
      const Traffic t = compute_traffic(s);
      for (const PhaseTraffic* p : {&t.dispatch, &t.combine}) {
        std::uint64_t sent = 0, received = 0;
        for (const auto& c : p->send)
          sent += c.total_bytes();
        for (const auto& c : p->recv)
          received += c.total_bytes();
        EXPECT_EQ(sent, received) << to_string(mode) << " " << routing;
        EXPECT_GT(sent, 0u);
      }
    }
  }
}

TEST(Traffic, LargeScaleBytesStayIn64Bits) {
  // EP 4096 with 65,536 tokens per rank in HT: ~3e9 records; check totals don't overflow.
  Scenario s;
  s.cluster = cluster_preset("h100-cx7");
  s.cluster.num_nodes = 512;
  s.mode = KernelMode::kHighThroughput;
  s.moe.num_experts = 4096;
  s.tokens_per_rank.assign(4096, 65536);
  const Traffic t = compute_traffic(s);
  double total_records = 0;
  std::uint64_t total_bytes = 0;
  for (const auto& c : t.dispatch.send)
    total_bytes += c.total_bytes();
  for (const auto& st : t.dispatch.stages) {
    for (int r = 0; r < 4096; r += 511)
      total_records += st.matrix.at(r, (r * 7) % 4096).num_msgs;
  }
  EXPECT_GT(total_bytes, std::uint64_t{1} << 40);  // > 1 TB moved in total, exact in 64 bits
  EXPECT_GT(total_records, 0);
}

}  // namespace
}  // namespace epscope
