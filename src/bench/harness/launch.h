// How the ranks of a bench run are started: one process for every local GPU, one forked process
// per GPU (our kernels, peers through CUDA IPC), or one MPI process per GPU (NCCL backend, when
// built with MPI). Whatever the launch, one process ends up with every rank's samples.
#pragma once

#include <vector>

#include "bench/harness/samples.h"
#include "epscope/scenario/scenario.h"

namespace epscope::bench {

struct RunOutput {
  bool reporter = true;  // false in MPI ranks other than 0: they print nothing
  RunInfo info;
  std::vector<CaseSamples> cases;  // every rank, sorted
  std::vector<LinkProbe> probes;   // every rank's egress
};

/// Runs `cases` with options.backend and options.launch. Throws InputError for a launch this
/// build cannot do (mpi without MPI), Error when a rank fails or times out.
RunOutput run_bench(const Scenario& base, const std::vector<BenchCase>& cases,
                    const BenchOptions& options);

/// True when this build can launch with MPI.
bool have_mpi();

}  // namespace epscope::bench
