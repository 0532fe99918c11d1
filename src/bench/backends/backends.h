// Factories of the bench backends. Without CUDA (EPSCOPE_HAVE_CUDA off) they throw InputError.
#pragma once

#include <memory>
#include <vector>

#include "bench/backends/peer_exchange.h"
#include "bench/harness/backend.h"
#include "bench/harness/samples.h"
#include "epscope/scenario/scenario.h"

namespace epscope::bench {

/// Our own kernels over NVLink. `local_ranks`: every rank (one process, peer access) or one
/// rank (per-GPU process, peers reached through `exchange` with CUDA IPC).
std::unique_ptr<Backend> make_nvlink_backend(const Scenario& base, const BenchOptions& options,
                                             const std::vector<LocalRank>& local_ranks,
                                             PeerExchange* exchange);

/// NCCL grouped send/recv. `local_ranks`: every rank of one process (ncclCommInitAll), or the
/// single rank of an MPI process (`unique_id` from rank 0, 128 bytes) on its node-local device.
std::unique_ptr<Backend> make_nccl_backend(const Scenario& base, const BenchOptions& options,
                                           const std::vector<LocalRank>& local_ranks,
                                           const std::vector<char>& unique_id);

/// NCCL's unique id for a multi-process communicator (128 bytes), made on rank 0.
std::vector<char> make_nccl_unique_id();

/// CUDA devices on this machine (0 without CUDA).
int cuda_device_count();

}  // namespace epscope::bench
