// simulate vs estimate: on a non-blocking fabric with no ECMP collisions (per-packet spraying,
// 1:1, no extra hop latency) the two must agree within 3% on the default scenario and on random
// ones, with the uncalibrated model and with what calibrations for our kernels add (fair_share,
// combine_pull, combine_rate_factor, b2b_overlap_us). The closed form is a lower bound per
// resource; max-min sharing reaches it when the bottleneck resource stays saturated, which these
// scenarios exercise. docs/model.md §7§6.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "epscope/estimate/estimate.h"
#include "epscope/simulate/simulate.h"

namespace epscope {
namespace {

constexpr double kAgreement = 0.03;

Fabric non_blocking(const Cluster& cluster) {
  Fabric fabric = fabric_preset(cluster);
  fabric.oversubscription = 1;
  fabric.path = PathSelection::kSpray;
  fabric.hop_latency_us = 0;
  return fabric;
}

/// The uncalibrated model, or what calibrations for our kernels add: a fair-share sender, a
/// pull-based combine, combine rates off dispatch's by a factor and a back-to-back overlap
/// (docs/model.md §6.2, §6.7).
enum class Switches { kNone, kCalibrated };

void expect_agreement(const Scenario& scenario, const std::string& label,
                      Switches switches = Switches::kNone) {
  const Traffic traffic = compute_traffic(scenario);
  ModelParams params = ModelParams::from_cluster(scenario.cluster);
  if (switches == Switches::kCalibrated) {
    params.fair_share = params.combine_pull = 1;
    params.combine_rate_factor = 0.9;
    params.b2b_overlap_us = 1;
  }
  const EstimateResult est = estimate(scenario, traffic, params);
  const SimulateResult sim = simulate(scenario, traffic, params, non_blocking(scenario.cluster));
  auto rel = [](double a, double b) { return std::abs(a - b) / std::max(b, 1e-9); };
  EXPECT_LE(rel(sim.result.total_us, est.total_us), kAgreement)
      << label << ": simulate " << sim.result.total_us << " us vs estimate " << est.total_us;
  EXPECT_LE(rel(sim.result.dispatch_us, est.dispatch_us), kAgreement)
      << label << ": dispatch " << sim.result.dispatch_us << " vs " << est.dispatch_us;
  EXPECT_LE(rel(sim.result.combine_us, est.combine_us), kAgreement)
      << label << ": combine " << sim.result.combine_us << " vs " << est.combine_us;
  // Per rank only the ranks on the critical path agree: for the others the closed form takes a
  // sender's busy time as a lower bound of its finish, while in the simulation a sender whose
  // flows are throttled by a hot receiver finishes later (docs/model.md §7§6).
  const double slowest = est.total_us;
  for (std::size_t r = 0; r < est.ranks.size(); ++r) {
    if (est.ranks[r].total_us < slowest * (1 - kAgreement)) continue;
    EXPECT_LE(rel(sim.result.ranks[r].total_us, est.ranks[r].total_us), kAgreement)
        << label << ": rank " << r;
  }
}

TEST(FlowsimAgreement, DefaultScenario) {
  expect_agreement(default_scenario(), "default");
  expect_agreement(balanced(default_scenario()), "default, balanced");
  expect_agreement(default_scenario(), "default, calibrated", Switches::kCalibrated);
  expect_agreement(balanced(default_scenario()), "default, balanced, calibrated",
                   Switches::kCalibrated);
}

// Random LL scenarios: 1-8 nodes of 4 or 8 GPUs, NVLink on or off, 0-512 tokens per rank,
// uniform or log-normal expert popularity, expected or sampled routing, some late starts,
// sync or back-to-back.
TEST(FlowsimAgreement, RandomScenarios) {
  std::mt19937_64 rng(20240611);
  auto uniform_int = [&](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  for (int i = 0; i < 20; ++i) {
    Scenario s = default_scenario();
    s.cluster.num_nodes = uniform_int(1, 8);
    s.cluster.gpus_per_node = uniform_int(0, 1) ? 8 : 4;
    s.cluster.nvlink_domain_size = s.cluster.gpus_per_node;
    s.cluster.nvlink_enabled = uniform_int(0, 1) == 1;
    const int num_ranks = s.num_ranks();
    s.moe.num_experts = num_ranks * (256 / num_ranks > 0 ? std::max(1, 256 / num_ranks) : 1);
    s.tokens_per_rank.resize(static_cast<std::size_t>(num_ranks));
    for (auto& t : s.tokens_per_rank)
      t = uniform_int(0, 512);
    if (uniform_int(0, 2) == 0) {
      s.start_offset_us.resize(static_cast<std::size_t>(num_ranks));
      for (auto& o : s.start_offset_us)
        o = uniform_int(0, 40);
    }
    if (uniform_int(0, 1)) {
      s.routing.popularity = RoutingSpec::Popularity::kLognormal;
      s.routing.skew = 0.5;
    }
    s.routing.expected = uniform_int(0, 1) == 1;
    s.routing.seed = static_cast<std::uint64_t>(i + 1);
    s.back_to_back = uniform_int(0, 1) == 1;
    const std::string label =
        "random scenario " + std::to_string(i) + ": " + std::to_string(s.cluster.num_nodes) + "x" +
        std::to_string(s.cluster.gpus_per_node) + (s.cluster.nvlink_enabled ? " nvlink" : " rdma") +
        (s.routing.expected ? " expected" : " sampled");
    expect_agreement(s, label);
    expect_agreement(s, label + ", calibrated", Switches::kCalibrated);
  }
}

}  // namespace
}  // namespace epscope
