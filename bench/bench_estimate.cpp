// Speed of traffic + estimate (docs/performance.md). Issue targets on the 2-core CI machine:
// 1024 ranks x 256 tokens, top-8 of 256 experts: sampled uniform <= 50 ms, expected <= 5 ms.
#include <benchmark/benchmark.h>

#include "epscope/estimate/estimate.h"

namespace {

epscope::Scenario large(int num_ranks, const char* routing) {
  epscope::Scenario s;
  s.cluster = epscope::cluster_preset("h100-cx7");
  s.cluster.num_nodes = num_ranks / 8;
  s.tokens_per_rank.assign(static_cast<std::size_t>(num_ranks), 256);
  s.routing = epscope::parse_routing(routing);
  s.routing.seed = 1;
  return s;  // 256 experts: with more ranks than experts each expert has R / 256 replicas
}

void run(benchmark::State& state, const char* routing) {
  const epscope::Scenario s = large(static_cast<int>(state.range(0)), routing);
  const epscope::ModelParams p = epscope::ModelParams::from_cluster(s.cluster);
  for (auto _ : state) {
    const epscope::EstimateResult r = epscope::estimate(s, epscope::compute_traffic(s), p);
    benchmark::DoNotOptimize(r.total_us);
  }
  state.counters["ranks"] = static_cast<double>(state.range(0));
}

void BM_EstimateSampledUniform(benchmark::State& state) {
  run(state, "uniform");
}
void BM_EstimateExpected(benchmark::State& state) {
  run(state, "expected");
}

BENCHMARK(BM_EstimateSampledUniform)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EstimateExpected)->Arg(256)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
