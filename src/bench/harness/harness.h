// The shared harness: for every case it loads the backend, checks correctness when asked, then
// times warm-up + measured iterations of dispatch, combine (each after an aligned start, so with
// a sync between them) and back-to-back. Backends only move data (backend.h).
#pragma once

#include <vector>

#include "bench/harness/backend.h"
#include "bench/harness/samples.h"
#include "epscope/scenario/scenario.h"

namespace epscope::bench {

/// The scenario of one case: `base` with the case's tokens and offsets and sampled routing
/// (a measurement needs concrete top-k indices).
Scenario case_scenario(const Scenario& base, const BenchCase& bench_case);

/// Runs every case on the backend's local ranks. Throws on a timeout or a CUDA/NCCL error;
/// check mismatches are returned in the samples (the caller decides the exit code).
std::vector<CaseSamples> run_cases(Backend& backend, const Scenario& base,
                                   const std::vector<BenchCase>& cases,
                                   const BenchOptions& options);

}  // namespace epscope::bench
