// The cases a bench run measures: the scenario's own token list, an nccl-tests-style sweep
// (-b/-e/-f over balanced tokens per rank), or a case file. Plus the checks that must pass
// before any kernel runs. Host-only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/harness/samples.h"
#include "epscope/scenario/scenario.h"

namespace epscope::bench {

/// Balanced cases begin, begin*factor, ... up to end (inclusive), every rank the same count.
/// begin >= 1 (0 allowed alone), factor >= 2.
std::vector<BenchCase> sweep_cases(int num_ranks, std::int64_t begin, std::int64_t end,
                                   std::int64_t factor);

/// Parses a case file: one case a line, `NAME TOKENS [OFFSETS_US]` in the list syntax of
/// --tokens (lists.h: "384x2,64x2"; a single value repeats on every rank); '#' starts a comment.
std::vector<BenchCase> parse_case_file(const std::string& text, int num_ranks,
                                       const std::string& path);

/// The scenario's own case.
BenchCase scenario_case(const Scenario& scenario);

/// Throws InputError before any GPU work when the scenario or a case cannot run. The nvlink
/// backend runs on one node of at most 8 GPUs; one process (any backend) drives at most
/// `num_devices` ranks; the nccl backend under MPI takes any number of nodes and GPUs (each
/// host's share is checked by place_mpi_rank). Also: experts not divisible by ranks, explicit
/// replicas, hidden not a multiple of 128, top-k above 32, a case with a wrong rank count or with
/// more tokens than max_tokens_per_rank, a negative start offset, a --fault rank outside the
/// scenario.
void validate_bench_scenario(const Scenario& base, const std::vector<BenchCase>& cases,
                             const BenchOptions& options, int num_devices);

/// Where this MPI process sits: its world rank, its rank among the processes of its host
/// (MPI_Comm_split_type SHARED, keyed by world rank) and the lowest world rank on its host.
struct MpiHostView {
  int world_rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_size = 1;
  int host_first_rank = 0;
};

struct MpiPlacement {
  int device = 0;         // CUDA device of this rank: its node-local rank
  int nodes_on_host = 1;  // scenario nodes sharing this host (> 1: emulated nodes)
};

/// Checks an MPI rank's place against the scenario's nodes of `gpus_per_node` ranks and returns
/// its device. A host must run whole scenario nodes (consecutive world ranks, a multiple of
/// gpus_per_node starting at a node boundary) and no more processes than it has CUDA devices.
/// Several scenario nodes on one host are allowed (that is how multi-node runs are emulated on
/// one machine). Throws InputError naming the host's ranks otherwise.
MpiPlacement place_mpi_rank(const MpiHostView& view, int gpus_per_node, int num_devices);

/// "H100" / "H200" / ... from a CUDA device name; the name itself when no known model is in it.
std::string short_gpu_name(const std::string& device_name);

}  // namespace epscope::bench
