// Speed of `simulate`: LL decode step, 256 tokens per rank, top-8, expected routing, h800-cx7
// nodes of 8 GPUs with NVLink, rail-optimized 2-tier fabric (32 GPUs per leaf, 1:1, the preset's
// per-packet adaptive routing; hashed ECMP in its own benchmark).
// 1024 experts (one per rank at 1024 GPUs; DeepSeek-V3's 256 cannot sit contiguously on more than
// 256 ranks), scaled to max(1024, GPUs) so every rank holds at least one expert.
// Results and the machine they ran on: docs/performance.md.
#include <benchmark/benchmark.h>

#include <algorithm>

#include "epscope/simulate/simulate.h"

namespace {

epscope::Scenario decode_scenario(int num_gpus) {
  epscope::Scenario scenario;
  scenario.cluster = epscope::cluster_preset("h800-cx7");
  scenario.cluster.gpus_per_node = 8;
  scenario.cluster.nvlink_domain_size = 8;
  scenario.cluster.num_nodes = num_gpus / 8;
  scenario.moe.num_experts = std::max(1024, num_gpus);
  scenario.moe.topk = 8;
  scenario.mode = epscope::KernelMode::kLowLatency;
  scenario.tokens_per_rank.assign(static_cast<std::size_t>(num_gpus), 256);
  return scenario;
}

void run_simulate(benchmark::State& state, epscope::PathSelection path) {
  const epscope::Scenario scenario = decode_scenario(static_cast<int>(state.range(0)));
  const epscope::Traffic traffic = epscope::compute_traffic(scenario);
  const epscope::ModelParams params = epscope::ModelParams::from_cluster(scenario.cluster);
  epscope::Fabric fabric = epscope::fabric_preset(scenario.cluster);
  fabric.path = path;
  for (auto _ : state) {
    epscope::SimulateResult result = epscope::simulate(scenario, traffic, params, fabric);
    benchmark::DoNotOptimize(result);
    state.counters["flows"] = result.fabric.dispatch.num_flows + result.fabric.combine.num_flows;
    state.counters["events"] = result.fabric.dispatch.num_events + result.fabric.combine.num_events;
  }
}

// The simulator alone, traffic computed beforehand.
void BM_Simulate(benchmark::State& state) {
  run_simulate(state, epscope::PathSelection::kSpray);
}
BENCHMARK(BM_Simulate)->RangeMultiplier(2)->Range(64, 4096)->Unit(benchmark::kMillisecond);

// Hashed ECMP: collisions give flows distinct rates, hence many more events.
void BM_SimulateHashedEcmp(benchmark::State& state) {
  run_simulate(state, epscope::PathSelection::kHash);
}
BENCHMARK(BM_SimulateHashedEcmp)
    ->RangeMultiplier(2)
    ->Range(64, 1024)
    ->Unit(benchmark::kMillisecond);

// What `epscope simulate` does end to end: routing and traffic, then the simulation.
void BM_SimulateWithTraffic(benchmark::State& state) {
  const epscope::Scenario scenario = decode_scenario(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    epscope::SimulateResult result = epscope::simulate(scenario);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_SimulateWithTraffic)->Arg(1024)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
