// Speed of the plan: online placement (4096 requests on 64 ranks, target < 20 us per request),
// offline rebalancing (target < 50 ms), and replay (10,000 steps on 64 ranks, target < 10 s).
// Numbers and the machine they ran on: docs/performance.md ("Plan").
#include <benchmark/benchmark.h>

#include "epscope/plan/decode_config.h"
#include "epscope/plan/decode_model.h"
#include "epscope/plan/plan_io.h"
#include "epscope/plan/plan_pareto.h"
#include "epscope/plan/plan_policies.h"
#include "epscope/plan/plan_replay.h"

namespace epscope {
namespace {

/// DeepSeek-V3 on 8 x 8 H100 (64 ranks), NVLink inside a node, LL, expected routing.
DecodeModel model_64_ranks(bool tbo) {
  Scenario s;
  s.cluster = cluster_preset("h100-cx7");
  s.cluster.num_nodes = 8;
  s.cluster.gpus_per_node = 8;
  s.cluster.nvlink_domain_size = 8;
  s.tokens_per_rank.assign(64, 1);
  const ModelConfig m = deepseek_v3();
  DecodeParams p = DecodeParams::derive(m, gpu_for_preset("h100-cx7"));
  p.two_batch_overlap = tbo;
  return DecodeModel(s, m, p);
}

Snapshot snapshot_4096() {
  SyntheticSnapshotSpec spec;
  spec.num_requests = 4096;
  spec.mean_context_tokens = 5000;
  spec.num_drafts = 1;
  return synthetic_snapshot(spec);
}

void BM_PlaceOnline4096On64(benchmark::State& state) {
  const DecodeModel model = model_64_ranks(state.range(0) != 0);
  const Snapshot snapshot = snapshot_4096();
  for (auto _ : state) {
    benchmark::DoNotOptimize(place(snapshot, Policy::kEpscopeOnline, model, Capacity{}));
  }
  state.counters["us_per_request"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 4096,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_PlaceOnline4096On64)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_PlaceOffline4096On64(benchmark::State& state) {
  const DecodeModel model = model_64_ranks(state.range(0) != 0);
  const Snapshot snapshot = snapshot_4096();
  for (auto _ : state) {
    benchmark::DoNotOptimize(place(snapshot, Policy::kEpscopeOffline, model, Capacity{}));
  }
}
BENCHMARK(BM_PlaceOffline4096On64)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_StepFull64(benchmark::State& state) {
  const DecodeModel model = model_64_ranks(state.range(0) != 0);
  const Snapshot snapshot = snapshot_4096();
  const auto loads =
      rank_loads(snapshot, place(snapshot, Policy::kRoundRobin, model, Capacity{}), 64);
  for (auto _ : state)
    benchmark::DoNotOptimize(model.step(loads));
}
BENCHMARK(BM_StepFull64)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_StepSurrogate64(benchmark::State& state) {
  const DecodeModel model = model_64_ranks(false);
  const Snapshot snapshot = snapshot_4096();
  const auto loads =
      rank_loads(snapshot, place(snapshot, Policy::kRoundRobin, model, Capacity{}), 64);
  for (auto _ : state)
    benchmark::DoNotOptimize(model.surrogate_step_us(loads));
}
BENCHMARK(BM_StepSurrogate64)->Unit(benchmark::kMicrosecond);

/// 10,000 decode steps with ~64 running requests per rank (all 4096 arrive at once and decode
/// long outputs), full model per step, epscope online placement.
void BM_Replay10000StepsOn64(benchmark::State& state) {
  const DecodeModel model = model_64_ranks(false);
  SyntheticTraceSpec spec;
  spec.num_requests = 6000;
  spec.rate_per_s = 2000;
  spec.mean_prompt_tokens = 5000;
  spec.mean_output_tokens = 3000;
  const auto trace = synthetic_trace(spec);
  ReplayOptions options;
  options.num_drafts = 1;
  options.max_requests_per_rank = 64;
  options.max_steps = 10000;
  std::int64_t steps = 0;
  for (auto _ : state) {
    const ReplayResult r = replay(trace, Policy::kEpscopeOnline, model, Capacity{}, options);
    steps = r.num_steps;
    benchmark::DoNotOptimize(r);
  }
  state.counters["steps"] = static_cast<double>(steps);
}
BENCHMARK(BM_Replay10000StepsOn64)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace
}  // namespace epscope
