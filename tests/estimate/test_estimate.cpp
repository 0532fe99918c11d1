#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "epscope/base/lists.h"
#include "epscope/estimate/estimate.h"
#include "epscope/model/result_json.h"
#include "epscope/report/report_json.h"
#include "epscope/scenario/scenario_json.h"
#include "test_helpers.h"

namespace epscope {
namespace {

using test::tiny_scenario;

// Hand computation for tiny_scenario() (see test_helpers.h and test_traffic.cpp for traffic):
// Dispatch, 148 B per copy. Sender busy: rank 0 max(RDMA 148/1000, NVLink 148/2000) = 0.148;
// rank 1 RDMA 444/1000 = 0.444; rank 3 RDMA 0.148. Every rank receives from rank 1 or is rank 1,
// so all finish at 0.444 + launch 5 + RDMA latency 2 = 7.444 us.
// Combine (sync) starts at 7.444, 256 B per row. Rank 1 receives 3 RDMA rows: 768/1000 = 0.768,
// its own receiver NIC binds: 7.444 + 0.768 + 7 = 15.212. Ranks 0, 2, 3: the slowest sender to
// them is rank 2 or 3 with 2 RDMA rows = 0.512: 7.444 + 0.512 + 7 = 14.956.
TEST(Estimate, GoldenTinyLowLatency) {
  const Scenario s = tiny_scenario();
  const EstimateResult r = estimate(s);
  for (int rank = 0; rank < 4; ++rank)
    EXPECT_NEAR(r.dispatch.ranks[rank].finish_us, 7.444, 1e-9) << rank;
  EXPECT_NEAR(r.dispatch_us, 7.444, 1e-9);
  EXPECT_EQ(r.dispatch.bottleneck.resource, Resource::kNicTx);
  EXPECT_EQ(r.dispatch.bottleneck.owner, 1);
  EXPECT_NEAR(r.combine.ranks[1].finish_us, 15.212, 1e-9);
  EXPECT_EQ(r.combine.ranks[1].bottleneck.resource, Resource::kNicRx);
  EXPECT_NEAR(r.combine.ranks[0].finish_us, 14.956, 1e-9);
  EXPECT_NEAR(r.total_us, 15.212, 1e-9);
  EXPECT_NEAR(r.combine_us, 15.212 - 7.444, 1e-9);
  // Rank 2 sends nothing and receives 2 RDMA copies (0.296 us of transfer); the rest of the
  // 0.444 us before the fixed part is waiting for rank 1: 0.148 us.
  EXPECT_NEAR(r.ranks[2].dispatch_us, 7.444, 1e-9);
  EXPECT_NEAR(r.dispatch.ranks[2].transfer_us, 0.296, 1e-9);
  EXPECT_NEAR(r.dispatch.ranks[2].wait_us, 0.148, 1e-9);
}

// Back to back: each rank starts combine at its own dispatch finish; all are 7.444 here, so
// the result equals the synced one. A start offset of 10 us on rank 2 delays everyone's dispatch
// (implicit barrier): finish = 10 + 5 + 2 = 17 for all, since nobody waits on rank 2's data
// longer than on its signal.
TEST(Estimate, GoldenTinyOffsetsAndBarrier) {
  Scenario s = tiny_scenario();
  s.start_offset_us = {0, 0, 10, 0};
  const EstimateResult r = estimate(s);
  for (int rank = 0; rank < 4; ++rank)
    EXPECT_NEAR(r.dispatch.ranks[rank].finish_us, 17.0, 1e-9);
  EXPECT_EQ(r.dispatch.ranks[0].bottleneck.resource, Resource::kLateStart);
  EXPECT_EQ(r.dispatch.ranks[0].bottleneck.owner, 2);
  EXPECT_NEAR(r.ranks[2].dispatch_us, 7.0, 1e-9);   // rank 2's own timer starts at 10
  EXPECT_NEAR(r.ranks[0].dispatch_us, 17.0, 1e-9);  // rank 0 waited for rank 2
  s.start_offset_us.clear();
  s.back_to_back = true;
  EXPECT_NEAR(estimate(s).total_us, 15.212, 1e-9);
}

// HT golden (test_traffic.cpp): records of 160 B. Dispatch senders: ranks 0 and 1 RDMA 160 B =
// 0.16 us; rank 3 NVLink 160 B / 2000 = 0.08; all ranks hear RDMA peers: +2 +5.
TEST(Estimate, GoldenTinyHighThroughput) {
  Scenario s = tiny_scenario(KernelMode::kHighThroughput);
  s.moe.num_experts = 8;
  s.routing.file = test::data_path("golden_ht_topk.json");
  s.tokens_per_rank = {1, 1, 0, 0};
  const EstimateResult r = estimate(s);
  EXPECT_NEAR(r.dispatch_us, 0.16 + 5 + 2, 1e-9);
}

TEST(Estimate, DefaultScenarioReproducesTheMaintainersRatio) {
  const Comparison c =
      compare_balanced(default_scenario(), ModelParams::from_cluster(default_scenario().cluster));
  // Measured on H800 2x8 pure RDMA: 947 / 573 = 1.65.
  EXPECT_GE(c.ratio, 1.57);
  EXPECT_LE(c.ratio, 1.73);
  // Dispatch is bound by a node-1 sender NIC: 384 * 8 * 15/16 = 2880 copies.
  EXPECT_EQ(c.unbalanced.dispatch.bottleneck.resource, Resource::kNicTx);
  EXPECT_LT(c.unbalanced.dispatch.bottleneck.owner, 8);
  EXPECT_NEAR(c.unbalanced.dispatch.bottleneck.msgs, 2880, 1e-9);
  EXPECT_NE(c.unbalanced.dispatch.bottleneck.reason.find("2880 copies, 21.3 MB at 50 GB/s"),
            std::string::npos);
  // The receive-only count: a node-2 rank receives 220 vs 210 token-copies (x top-k 8).
  const auto rdma = static_cast<std::size_t>(LinkClass::kRdma);
  EXPECT_NEAR(c.unbalanced.ranks[12].dispatch_recv.msgs[rdma], 220 * 8, 1e-9);
  EXPECT_NEAR(c.balanced.ranks[12].dispatch_recv.msgs[rdma], 210 * 8, 1e-9);
}

TEST(Estimate, NvlinkOnRdmaReceiveIs192Vs112Tokens) {
  Scenario s = default_scenario();
  s.cluster.nvlink_enabled = true;
  const Comparison c = compare_balanced(s, ModelParams::from_cluster(s.cluster));
  const auto rdma = static_cast<std::size_t>(LinkClass::kRdma);
  EXPECT_NEAR(c.unbalanced.ranks[12].dispatch_recv.msgs[rdma], 192 * 8, 1e-9);
  EXPECT_NEAR(c.balanced.ranks[12].dispatch_recv.msgs[rdma], 112 * 8, 1e-9);
}

TEST(Estimate, BalancedScenarioHasRatioOneAndSymmetricRanks) {
  for (KernelMode mode :
       {KernelMode::kLowLatency, KernelMode::kHighThroughput, KernelMode::kAllToAll}) {
    Scenario s = default_scenario();
    s.cluster.nvlink_enabled = true;
    s.mode = mode;
    s.tokens_per_rank.assign(16, 200);
    const Comparison c = compare_balanced(s, ModelParams::from_cluster(s.cluster));
    EXPECT_DOUBLE_EQ(c.ratio, 1.0) << to_string(mode);
    for (const RankResult& r : c.unbalanced.ranks) {
      EXPECT_NEAR(r.total_us, c.unbalanced.ranks[0].total_us, 1e-9) << to_string(mode);
      EXPECT_EQ(r.send_bytes, c.unbalanced.ranks[0].send_bytes);
    }
  }
}

TEST(Estimate, MoreTokensOnOneRankNeverMakesTheStepFaster) {
  Scenario s = default_scenario();
  s.tokens_per_rank.assign(16, 64);
  double previous = estimate(s).total_us;
  for (std::int64_t t : {128, 256, 512, 1024}) {
    s.tokens_per_rank[5] = t;
    const double now = estimate(s).total_us;
    EXPECT_GT(now, previous) << t;
    previous = now;
  }
}

TEST(Estimate, OversubscriptionOnlyBindsWhenSpineIsShort) {
  Scenario s = default_scenario();
  s.cluster.nvlink_enabled = true;
  const double flat = estimate(s).total_us;
  s.cluster.oversubscription = 1.0;
  EXPECT_DOUBLE_EQ(estimate(s).total_us, flat);
  s.cluster.oversubscription = 8.0;
  const EstimateResult r = estimate(s);
  EXPECT_GT(r.total_us, flat);
  EXPECT_EQ(r.dispatch.bottleneck.resource, Resource::kLeafUplink);
}

TEST(Estimate, HotExpertQueueBindsWhenEnabled) {
  Scenario s = default_scenario();
  s.cluster.nvlink_enabled = true;
  s.routing = parse_routing("expected:zipf:1.5");
  ModelParams p = ModelParams::from_cluster(s.cluster);
  const double without = estimate(s, p).dispatch_us;
  p.expert_rx_gbps = 5;  // one slow queue per expert
  const EstimateResult r = estimate(s, p);
  EXPECT_GT(r.dispatch_us, without);
  EXPECT_EQ(r.dispatch.bottleneck.resource, Resource::kExpertQueue);
  EXPECT_EQ(r.dispatch.bottleneck.owner, 0);  // zipf: expert 0 is the hottest
}

TEST(Estimate, AllToAllPaysTheCountExchange) {
  Scenario s = default_scenario();
  s.cluster.nvlink_enabled = true;
  s.tokens_per_rank.assign(16, 1);
  s.mode = KernelMode::kAllToAll;
  ModelParams p = ModelParams::from_cluster(s.cluster);
  const double a2a = estimate(s, p).dispatch_us;
  p.count_exchange_us = 0;
  EXPECT_NEAR(estimate(s, p).dispatch_us,
              a2a - ModelParams::from_cluster(s.cluster).count_exchange_us, 1e-9);
}

// Issue 8, large valid scale: EP 4096 (512 nodes x 8) with 65,536 tokens per rank in LL. Uniform
// top-8 of 4096 experts (one per rank): each (source, destination) pair carries
// 65536 * 8 / 4096 = 128 copies. Per rank: dispatch 4096 * 128 * 7408 B = 3,883,925,504 B (past
// 2^31), of which RDMA 4088 * 128 * 7408 = 3,876,339,712 B; combine 4096 * 128 * 14336 B =
// 7,516,192,768 B (past 2^32); both phases 11,400,118,272 B. Exact in the result and in its JSON.
TEST(Estimate, Ep4096With65536TokensPerRankIsExactAndFinite) {
  Scenario s;
  s.cluster = cluster_preset("h100-cx7");
  s.cluster.num_nodes = 512;
  s.moe.num_experts = 4096;
  s.moe.max_tokens_per_rank = 65536;
  s.tokens_per_rank.assign(4096, 65536);
  ASSERT_NO_THROW(s.validate());
  const EstimateResult r = estimate(s);
  const auto rdma = static_cast<std::size_t>(LinkClass::kRdma);
  ASSERT_EQ(r.ranks.size(), 4096u);
  for (int rank : {0, 1, 2047, 4095}) {
    const RankResult& rr = r.ranks[static_cast<std::size_t>(rank)];
    EXPECT_EQ(rr.dispatch_send.total_bytes(), std::uint64_t{3883925504}) << rank;
    EXPECT_EQ(rr.dispatch_send.bytes[rdma], std::uint64_t{3876339712}) << rank;
    EXPECT_EQ(rr.combine_send.total_bytes(), std::uint64_t{7516192768}) << rank;
    EXPECT_EQ(rr.send_bytes, std::uint64_t{11400118272}) << rank;
    EXPECT_EQ(rr.recv_bytes, std::uint64_t{11400118272}) << rank;
    EXPECT_TRUE(std::isfinite(rr.total_us)) << rank;
  }
  // The sender NIC must push its RDMA bytes: a lower bound on dispatch.
  EXPECT_GE(r.dispatch_us, 3876339712.0 / (s.cluster.rank_nic_gbps() * 1e3));
  EXPECT_TRUE(std::isfinite(r.total_us));
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["ranks"][4095]["send_bytes"].get<std::uint64_t>(), std::uint64_t{11400118272});
}

// Pull-based combine (docs/model.md §6.7) on 1 node x 3 GPUs, NVLink 1 GB/s (1000 B/us), local
// copy 10 GB/s, NVLink latency 1 us, launch 5 us; top-1 of 3 experts, one per rank, expected
// routing: rank s sends t_s / 3 copies to each rank, and combine moves one 256 B row back per
// copy. Tokens 30, 3, 0: rank 0 pulls 10 rows from each of ranks 1 and 2, rank 1 one row from
// each, rank 2 nothing.
Scenario pull_scenario() {
  Scenario s = tiny_scenario();  // local 10 GB/s, NVLink latency 1 us, launch 5 us, hidden 128
  s.cluster.num_nodes = 1;
  s.cluster.gpus_per_node = 3;
  s.cluster.nvlink_domain_size = 3;
  s.cluster.nvlink_gbps = 1;
  s.moe.topk = 1;
  s.moe.num_experts = 3;
  s.moe.max_tokens_per_rank = 30;
  s.tokens_per_rank = {30, 3, 0};
  s.routing = RoutingSpec{};  // expected, uniform
  return s;
}

ModelParams pull_params(const Scenario& s) {
  ModelParams p = ModelParams::from_cluster(s.cluster);
  p.fair_share = 1;
  p.combine_pull = 1;
  return p;
}

// Rank 0 pulls 5120 B: 5.12 us of NVLink ingress + 5 + 1 = 11.12. Rank 1 pulls 256 B from rank 2,
// which also serves rank 0's 2560 B on the same port: fair share 512 of 2816 B (0.512 us), and
// its last load waits min(2304 B at 1 GB/s, one 1 us round trip) behind rank 0's: 1.512 + 5 + 1
// = 7.512. Rank 2 pulls nothing: the fixed 5 us, no link latency.
TEST(Estimate, PullCombineGoldenThreeRanks) {
  const Scenario s = pull_scenario();
  const EstimateResult r = estimate(s, pull_params(s));
  EXPECT_NEAR(r.ranks[0].combine_us, 11.12, 1e-9);
  EXPECT_EQ(r.combine.ranks[0].bottleneck.resource, Resource::kNvlinkRx);
  EXPECT_NEAR(r.ranks[1].combine_us, 7.512, 1e-9);
  EXPECT_EQ(r.combine.ranks[1].bottleneck.resource, Resource::kNvlinkTx);
  EXPECT_EQ(r.combine.ranks[1].bottleneck.owner, 2);
  EXPECT_NEAR(r.ranks[2].combine_us, 5.0, 1e-9);
  // Pushing, rank 2's own 2816 B of sends and the link latency count: 2.816 + 5 + 1.
  ModelParams push = pull_params(s);
  push.combine_pull = 0;
  EXPECT_NEAR(estimate(s, push).ranks[2].combine_us, 8.816, 1e-9);
}

// Every pull starts at the ready barrier: with rank 1 starting combine 4 us late, rank 1 still
// pulls for its whole 7.512 us, ranks 0 and 2 wait the 4 us first.
TEST(Estimate, PullCombineStartsAtTheReadyBarrier) {
  Scenario s = pull_scenario();
  s.offsets_each_phase = true;
  s.start_offset_us = {0, 4, 0};
  const EstimateResult r = estimate(s, pull_params(s));
  EXPECT_NEAR(r.ranks[1].combine_us, 7.512, 1e-9);
  EXPECT_NEAR(r.ranks[0].combine_us, 4 + 11.12, 1e-9);
  EXPECT_NEAR(r.ranks[2].combine_us, 4 + 5.0, 1e-9);
}

// A pulled-from rank answers loads on its NVLink port: its slow local copy (rank 0's own 2560 B at
// 0.1 GB/s = 25.6 us) holds back its own pull, not rank 1's, which copies its one local row in
// 2.56 us: 2.56 + 5 + 1.
TEST(Estimate, PullCombineLocalCopyHoldsOnlyItsOwner) {
  Scenario s = pull_scenario();
  s.cluster.local_copy_gbps = 0.1;
  const EstimateResult r = estimate(s, pull_params(s));
  EXPECT_NEAR(r.ranks[0].combine_us, 25.6 + 5 + 1, 1e-9);
  EXPECT_EQ(r.combine.ranks[0].bottleneck.resource, Resource::kLocalCopy);
  EXPECT_NEAR(r.ranks[1].combine_us, 2.56 + 5 + 1, 1e-9);
}

// Issue 8, determinism: one scenario and seed give byte-identical JSON on every run, serially or
// from several threads at once (no hidden shared state), in every mode with sampled,
// group-limited routing; another seed gives another answer (so the comparison can fail).
TEST(Estimate, SameScenarioAndSeedGiveByteIdenticalJsonOnAnyThread) {
  for (KernelMode mode :
       {KernelMode::kLowLatency, KernelMode::kHighThroughput, KernelMode::kAllToAll}) {
    Scenario s = default_scenario();
    s.cluster.nvlink_enabled = true;
    s.mode = mode;
    s.moe.num_groups = 8;
    s.moe.topk_groups = 4;
    s.routing = parse_routing("lognormal:0.8");
    s.routing.seed = 42;
    s.start_offset_us = expand_real_list("0x8,2.5x8", 16, "start-offset-us");
    auto run = [](const Scenario& sc) {
      nlohmann::json j = to_json(compare_balanced(sc, ModelParams::from_cluster(sc.cluster)));
      j["scenario"] = to_json(sc);
      return j.dump();
    };
    const std::string first = run(s);
    EXPECT_EQ(run(s), first) << to_string(mode);
    std::vector<std::string> out(4);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < out.size(); ++i)
      threads.emplace_back([&, i] { out[i] = run(s); });
    for (auto& t : threads)
      t.join();
    for (const std::string& o : out)
      EXPECT_EQ(o, first) << to_string(mode);
    s.routing.seed = 43;
    EXPECT_NE(run(s), first) << to_string(mode);
  }
}

}  // namespace
}  // namespace epscope
