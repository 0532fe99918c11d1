// Golden tests of `simulate` on hand-built traffic: tiny clusters, event times computed by hand.
// Units: 50 GB/s = 50'000 bytes/us.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "epscope/base/error.h"
#include "epscope/simulate/simulate.h"

namespace epscope {
namespace {

constexpr double kTol = 1e-6;

Scenario tiny_scenario(int num_nodes, int gpus_per_node, bool nvlink, KernelMode mode) {
  Scenario scenario;
  scenario.cluster.num_nodes = num_nodes;
  scenario.cluster.gpus_per_node = gpus_per_node;
  scenario.cluster.nvlink_domain_size = gpus_per_node;
  scenario.cluster.nvlink_enabled = nvlink;
  scenario.moe.num_experts = num_nodes * gpus_per_node;
  scenario.moe.topk = 1;
  scenario.tokens_per_rank.assign(static_cast<std::size_t>(num_nodes * gpus_per_node), 1);
  scenario.mode = mode;
  return scenario;
}

ModelParams tiny_params() {
  ModelParams params;
  params.nic_tx_gbps = params.nic_rx_gbps = 50;
  params.nvlink_tx_gbps = params.nvlink_rx_gbps = 160;
  params.local_gbps = 1000;
  params.rdma_latency_us = 3;
  params.nvlink_latency_us = 1;
  params.dispatch_fixed_us = params.combine_fixed_us = 4;
  return params;
}

PhaseTraffic empty_phase(int num_ranks, int num_stages) {
  PhaseTraffic phase;
  for (int s = 0; s < num_stages; ++s) {
    phase.stages.push_back({s == 0 ? "rdma" : "forward", TrafficMatrix(num_ranks, 1000)});
  }
  phase.send.resize(static_cast<std::size_t>(num_ranks));
  phase.recv.resize(static_cast<std::size_t>(num_ranks));
  phase.algorithm_bytes.assign(static_cast<std::size_t>(num_ranks), 0);
  phase.message_bytes = 1000;
  return phase;
}

Traffic empty_traffic(int num_ranks, int num_stages) {
  Traffic traffic;
  traffic.dispatch = empty_phase(num_ranks, num_stages);
  traffic.combine = empty_phase(num_ranks, num_stages);
  return traffic;
}

void put(PhaseTraffic& phase, int stage, int src, int dst, std::uint64_t bytes) {
  phase.stages[static_cast<std::size_t>(stage)].matrix.set(src, dst,
                                                           static_cast<double>(bytes) / 1000);
}

/// 2 ranks: dispatch 0 -> 1 100'000 B (2 us at 50 GB/s) and 1 -> 0 50'000 B (1 us).
Traffic two_rank_traffic() {
  Traffic traffic = empty_traffic(2, 1);
  put(traffic.dispatch, 0, 0, 1, 100'000);
  put(traffic.dispatch, 0, 1, 0, 50'000);
  return traffic;
}

Fabric flat_fabric() {
  Fabric fabric;
  fabric.wiring = Wiring::kSingleSwitch;
  fabric.hop_latency_us = 0;
  return fabric;
}

TEST(Simulate, TwoRanksLowLatencyBarrier) {
  const Scenario scenario = tiny_scenario(2, 1, false, KernelMode::kLowLatency);
  Traffic traffic = two_rank_traffic();
  put(traffic.combine, 0, 0, 1, 25'000);  // 0.5 us each way
  put(traffic.combine, 0, 1, 0, 25'000);
  const SimulateResult sim = simulate(scenario, traffic, tiny_params(), flat_fabric());
  const PhaseResult& dispatch = sim.result.dispatch;
  // Rank 0: own send done 2; receives rank 1's data at 1 + 3 (latency) = 4; the barrier waits for
  // rank 1's count at 1 + 3 = 4. max = 4, + 4 fixed = 8.
  EXPECT_NEAR(dispatch.ranks[0].finish_us, 8.0, kTol);
  // Rank 1: rank 0's data lands at 2 + 3 = 5, + 4 = 9.
  EXPECT_NEAR(dispatch.ranks[1].finish_us, 9.0, kTol);
  EXPECT_NEAR(dispatch.end_us, 9.0, kTol);
  EXPECT_EQ(dispatch.ranks[1].bottleneck.resource, Resource::kNicTx);
  EXPECT_EQ(dispatch.ranks[1].bottleneck.owner, 0);
  // transfer: rank 0's NIC tx needs 2 us; wait = 8 - 0 - 2 - 4 = 2.
  EXPECT_NEAR(dispatch.ranks[0].transfer_us, 2.0, kTol);
  EXPECT_NEAR(dispatch.ranks[0].wait_us, 2.0, kTol);
  // Combine starts at the latest dispatch finish, 9 (sync): 9 + 0.5 + 3 + 4 = 16.5 on both.
  EXPECT_NEAR(sim.result.combine.ranks[0].start_us, 9.0, kTol);
  EXPECT_NEAR(sim.result.combine.ranks[0].finish_us, 16.5, kTol);
  EXPECT_NEAR(sim.result.combine.ranks[1].finish_us, 16.5, kTol);

  // Fabric utilization over dispatch [0, 9]: both NICs busy in [0, 1) = 100%, one in [1, 2) =
  // 50%, then idle: (1 + 0.5) / 9.
  const PhaseFabric& fab = sim.fabric.dispatch;
  EXPECT_NEAR(fab.utilization, 1.5 / 9, kTol);
  EXPECT_NEAR(fab.peak_utilization, 1.0, kTol);
  // Senders' NIC time (2 ranks x 9 us): busy 2 + 1, nothing left to send 7 + 8.
  EXPECT_NEAR(fab.nic_tx.busy, 3.0 / 18, kTol);
  EXPECT_NEAR(fab.nic_tx.done, 15.0 / 18, kTol);
  EXPECT_NEAR(fab.nic_tx.throttled, 0.0, kTol);
  EXPECT_NEAR(fab.rdma_bytes, 150'000, kTol);
}

TEST(Simulate, BackToBackCombineStartsAtOwnDispatchFinish) {
  Scenario scenario = tiny_scenario(2, 1, false, KernelMode::kLowLatency);
  scenario.back_to_back = true;
  Traffic traffic = two_rank_traffic();
  put(traffic.combine, 0, 1, 0, 25'000);
  const SimulateResult sim = simulate(scenario, traffic, tiny_params(), flat_fabric());
  // Dispatch finishes 8 (rank 0) and 9 (rank 1), as above. Combine: rank 1 starts at 9 and sends
  // 0.5 us; rank 0 sees it at 9 + 0.5 + 3 = 12.5 (its barrier also waits for rank 1), + 4 = 16.5.
  EXPECT_NEAR(sim.result.combine.ranks[0].start_us, 8.0, kTol);
  EXPECT_NEAR(sim.result.combine.ranks[1].start_us, 9.0, kTol);
  EXPECT_NEAR(sim.result.combine.ranks[0].finish_us, 16.5, kTol);
  // Rank 1 receives no data: its own send ends at 9.5; rank 0's zero counts arrive at its start
  // + latency = 8 + 3 = 11. max = 11, + 4 = 15.
  EXPECT_NEAR(sim.result.combine.ranks[1].finish_us, 15.0, kTol);
}

/// The combine phase simulated with pull-based combine (docs/model.md §6.7), as calibrations for
/// our kernels set it.
PhaseResult pull_combine(const Scenario& scenario, const Traffic& traffic, bool fair_share) {
  ModelParams params = tiny_params();
  params.combine_pull = 1;
  params.fair_share = fair_share ? 1 : 0;
  return simulate(scenario, traffic, params, flat_fabric()).result.combine;
}

TEST(Simulate, PullCombineStartsAtTheReadyBarrierAndPaysLatencyOnlyForPulls) {
  Scenario scenario = tiny_scenario(2, 1, false, KernelMode::kLowLatency);
  scenario.back_to_back = true;
  Traffic traffic = two_rank_traffic();
  put(traffic.combine, 0, 1, 0, 25'000);  // rank 0 pulls its rows from rank 1
  const PhaseResult combine = pull_combine(scenario, traffic, /*fair_share=*/false);
  // Combine starts 8 (rank 0) and 9 (rank 1); no row moves before the ready barrier at 9. Rank 0:
  // its pull ends at 9.5, + 4 fixed + 3 (the round trip of its loads) = 16.5; it waited 1 us.
  EXPECT_NEAR(combine.ranks[0].finish_us, 16.5, kTol);
  EXPECT_NEAR(combine.ranks[0].transfer_us, 0.5, kTol);
  EXPECT_NEAR(combine.ranks[0].wait_us, 1.0, kTol);
  // Rank 1 pulls nothing: the barrier at 9 + 4 = 13, no link latency (push: 15, above). Serving
  // rank 0's loads is not its transfer.
  EXPECT_NEAR(combine.ranks[1].finish_us, 13.0, kTol);
  EXPECT_NEAR(combine.ranks[1].transfer_us, 0.0, kTol);
}

TEST(Simulate, PullCombineLightPullerQueuesBehindAHeavierOne) {
  // 3 GPUs on NVLink (160 GB/s). Rank 0 holds 400'000 B for rank 1 and 16'000 B for rank 2;
  // combine starts on every rank at 5 (empty dispatch: 1 us latency + 4 fixed). Rank 0's port
  // serves both pullers at 80 GB/s until rank 2's rows are in, 0.2 us later; rank 1's end after
  // 384'000 B more at 160 GB/s: 2.6 us. Rank 2's last loads queue behind rank 1's for
  // min(384'000 B / 160 GB/s = 2.4 us, 1 us latency) = 1 us (docs/model.md §6.7), so it finishes
  // at 5 + 0.2 + 1 + 4 fixed + 1 latency = 11.2 (10.2 without the queue); rank 1 at
  // 5 + 2.6 + 4 + 1 = 12.6; rank 0 pulls nothing: 5 + 4 = 9 (§6.7's closed form gives the same).
  const Scenario scenario = tiny_scenario(1, 3, true, KernelMode::kLowLatency);
  Traffic traffic = empty_traffic(3, 1);
  put(traffic.combine, 0, 0, 1, 400'000);
  put(traffic.combine, 0, 0, 2, 16'000);
  const PhaseResult combine = pull_combine(scenario, traffic, /*fair_share=*/true);
  EXPECT_NEAR(combine.ranks[0].finish_us, 9.0, kTol);
  EXPECT_NEAR(combine.ranks[1].finish_us, 12.6, kTol);
  EXPECT_NEAR(combine.ranks[2].finish_us, 11.2, kTol);
}

TEST(Simulate, FairShareReceiverHasItsDataWhenItsFlowEnds) {
  // 3 ranks over RDMA; rank 0 sends 100'000 B to rank 1 and 25'000 B to rank 2. Its NIC (50 GB/s)
  // serves both at 25 GB/s until rank 2's flow ends at 1 us; rank 1's ends at 2.5 us.
  const Scenario scenario = tiny_scenario(3, 1, false, KernelMode::kLowLatency);
  Traffic traffic = empty_traffic(3, 1);
  put(traffic.dispatch, 0, 0, 1, 100'000);
  put(traffic.dispatch, 0, 0, 2, 25'000);
  ModelParams params = tiny_params();
  const SimulateResult whole = simulate(scenario, traffic, params, flat_fabric());
  // Without fair_share a sender's data counts as complete when it has sent everything: 2.5 + 3
  // latency + 4 fixed = 9.5 for both receivers.
  EXPECT_NEAR(whole.result.dispatch.ranks[2].finish_us, 9.5, kTol);
  params.fair_share = 1;
  const SimulateResult fair = simulate(scenario, traffic, params, flat_fabric());
  EXPECT_NEAR(fair.result.dispatch.ranks[2].finish_us, 1.0 + 3 + 4, kTol);
  EXPECT_NEAR(fair.result.dispatch.ranks[1].finish_us, 9.5, kTol);
}

// 2 nodes x 2 GPUs, pure RDMA, rail-optimized: leaf 0 = ranks 0 and 2, leaf 1 = ranks 1 and 3.
// Rank 0 -> 3 and rank 2 -> 1 both cross from leaf 0 to leaf 1.
SimulateResult cross_rail(const Fabric& fabric) {
  const Scenario scenario = tiny_scenario(2, 2, false, KernelMode::kLowLatency);
  Traffic traffic = empty_traffic(4, 1);
  put(traffic.dispatch, 0, 0, 3, 100'000);
  put(traffic.dispatch, 0, 2, 1, 100'000);
  return simulate(scenario, traffic, tiny_params(), fabric);
}

SimulateResult cross_rail(double oversubscription, PathSelection path) {
  Fabric fabric;
  fabric.oversubscription = oversubscription;
  fabric.path = path;
  fabric.hop_latency_us = 0.5;
  return cross_rail(fabric);
}

TEST(Simulate, OversubscribedUplinkHalvesTheRate) {
  // 2:1: each leaf has 2 ports -> round(2 / 2) = 1 spine, one uplink of 2 x 50 / 2 = 50 GB/s
  // shared by both flows: 25 GB/s each, 100'000 B in 4 us. Arrival 4 + 3 + 2 hops x 0.5 = 8,
  // the barrier waits for the same, + 4 fixed = 12 on every rank.
  const SimulateResult sim = cross_rail(2, PathSelection::kHash);
  EXPECT_EQ(sim.fabric.num_leaves, 2);
  EXPECT_EQ(sim.fabric.num_spines, 1);
  EXPECT_NEAR(sim.fabric.uplink_gbps, 50, kTol);
  EXPECT_NEAR(sim.result.dispatch.ranks[3].finish_us, 12.0, kTol);
  EXPECT_EQ(sim.result.dispatch.ranks[3].bottleneck.resource, Resource::kLeafUplink);
  // Uplink busy 4 us of the window [0, 12].
  bool found = false;
  for (const ResourceLoad& load : sim.fabric.dispatch.by_kind) {
    if (load.kind != Resource::kLeafUplink) continue;
    found = true;
    EXPECT_EQ(load.count, 1);  // only leaf 0's uplink carried traffic
    EXPECT_NEAR(load.busy_us, 4.0, kTol);
  }
  EXPECT_TRUE(found);
}

TEST(Simulate, NonBlockingSpineWithoutCollisions) {
  // 1:1: 2 spines of 50 GB/s. Adaptive puts the flows on different spines, spray on one 100 GB/s
  // bundle: 2 us each, arrival 2 + 3 + 1 = 6, + 4 = 10.
  for (PathSelection path : {PathSelection::kAdaptive, PathSelection::kSpray}) {
    const SimulateResult sim = cross_rail(1, path);
    EXPECT_NEAR(sim.result.dispatch.ranks[3].finish_us, 10.0, kTol) << to_string(path);
    EXPECT_NEAR(sim.result.dispatch.ranks[1].finish_us, 10.0, kTol) << to_string(path);
  }
}

TEST(Simulate, HashedEcmpIsSeededAndDeterministic) {
  // With 2 spines the hash puts the two flows on one spine (collision: 25 GB/s each, finish 12)
  // or on two (finish 10), depending on the seed; the same seed gives the same answer.
  int collisions = 0;
  for (std::uint64_t seed = 1; seed <= 16; ++seed) {
    Fabric fabric;
    fabric.path = PathSelection::kHash;
    fabric.ecmp_seed = seed;
    const double a = cross_rail(fabric).result.dispatch.end_us;
    const double b = cross_rail(fabric).result.dispatch.end_us;
    EXPECT_EQ(a, b);
    EXPECT_TRUE(std::abs(a - 10.0) < kTol || std::abs(a - 12.0) < kTol) << a;
    collisions += std::abs(a - 12.0) < kTol;
  }
  // A fair hash over 2 spines collides about half the time.
  EXPECT_GT(collisions, 0);
  EXPECT_LT(collisions, 16);
}

TEST(Simulate, HighThroughputStoreAndForwardInChunks) {
  // 2 nodes x 2 GPUs with NVLink. Dispatch: rank 0 -> forwarder rank 2 (same local index, other
  // node) 80'000 B over RDMA, then rank 2 -> rank 3 over NVLink.
  const Scenario scenario = tiny_scenario(2, 2, true, KernelMode::kHighThroughput);
  Traffic traffic = empty_traffic(4, 2);
  put(traffic.dispatch, 0, 0, 2, 80'000);
  put(traffic.dispatch, 1, 2, 3, 80'000);
  Fabric fabric;
  fabric.forward_chunks = 4;
  const SimulateResult sim = simulate(scenario, traffic, tiny_params(), fabric);
  const PhaseResult& dispatch = sim.result.dispatch;
  // RDMA: 80'000 B at 50'000 B/us = 1.6 us; chunk k (20'000 B) is in at 0.4 k and released 3 us
  // (RDMA latency) later. Each chunk forwards in 20'000 / 160'000 = 0.125 us; the last is
  // released at 4.6, done 4.725, lands at rank 3 at 4.725 + 1 = 5.725, + 4 fixed = 9.725.
  EXPECT_NEAR(dispatch.ranks[3].finish_us, 9.725, kTol);
  // Rank 2 forwards until 4.725: + 4 = 8.725. HT has no data barrier, but every rank's start
  // signal (count exchange) reaches the others. Rank 0 and rank 1 each have a peer on the other
  // node and the other rail: 3 + 2 hops x 0.5 = 4 us. Rank 0 (sends until 1.6) and rank 1 (no
  // traffic) finish at 4 + 4 = 8.
  EXPECT_NEAR(dispatch.ranks[2].finish_us, 8.725, kTol);
  EXPECT_NEAR(dispatch.ranks[0].finish_us, 8.0, kTol);
  EXPECT_NEAR(dispatch.ranks[1].finish_us, 8.0, kTol);
  EXPECT_EQ(dispatch.ranks[1].bottleneck.resource, Resource::kFixedLatency);
}

TEST(Simulate, TimelineCsv) {
  const Scenario scenario = tiny_scenario(2, 1, false, KernelMode::kLowLatency);
  Traffic traffic = two_rank_traffic();
  const SimulateResult sim =
      simulate(scenario, traffic, tiny_params(), flat_fabric(), {.timeline = true});
  std::ostringstream csv;
  write_timeline_csv(csv, sim.fabric);
  // Two fabric segments ([0,1) at 100%, [1,2) at 50%), then per resource: segment [0,1) has both
  // NIC tx and both NIC rx at 50 GB/s (4 rows), [1,2) has rank 0's tx and rank 1's rx (2 rows).
  const std::string text = csv.str();
  EXPECT_NE(text.find("dispatch,0.000000,1.000000,fabric,-1,100.000000,1.000000\n"),
            std::string::npos);
  EXPECT_NE(text.find("dispatch,1.000000,2.000000,nic_tx,0,50.000000,1.000000\n"),
            std::string::npos);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1 + 2 + 6);
}

TEST(Fabric, Validation) {
  Fabric fabric;
  fabric.oversubscription = 0.5;
  EXPECT_THROW(fabric.validate(), InputError);
  EXPECT_THROW(parse_wiring("fat-tree"), InputError);
  EXPECT_EQ(parse_path_selection("adaptive"), PathSelection::kAdaptive);
}

}  // namespace
}  // namespace epscope
