// What both GPU backends share (nvlink_backend.cpp, nccl_backend.cpp): the ranks this process
// drives, each with its device, stream and timing events; the run facts; the case being loaded.
// Host code that needs the CUDA runtime: built only with CUDA.
#pragma once

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/backends/cuda_check.h"
#include "bench/backends/device_info.h"
#include "bench/harness/backend.h"
#include "gpu/kernels.h"

namespace epscope::bench {

/// The fault `--fault RANK:exit`: this process dies by SIGKILL, as a crashed rank would, without
/// telling anyone. Its peers must notice through their own deadlines.
[[noreturn]] inline void exit_mid_dispatch(int rank) {
  fmt::print(stderr, "epscope: rank {}: --fault {}:exit: killing this process mid-dispatch\n", rank,
             rank);
  std::fflush(nullptr);
  std::raise(SIGKILL);
  std::abort();  // not reached
}

/// Whether `rank` is the one the injected fault hits.
inline bool fault_hits(const FaultSpec& fault, int rank) {
  return fault.kind != FaultKind::kNone && fault.rank == rank;
}

/// Bytes to allocate for a buffer of `bytes` (at least 16, so empty buffers still get a pointer).
inline std::size_t alloc_bytes(std::int64_t bytes) {
  return static_cast<std::size_t>(bytes < 16 ? 16 : bytes);
}

/// What every backend keeps per local rank.
struct RankBase {
  int rank = 0;
  int device = 0;
  cudaStream_t stream = nullptr;
  cudaEvent_t begin = nullptr, end = nullptr;  // around the timed op
  int num_tokens = 0;                          // of the loaded case
};

template <typename RankT>
class BackendBase : public Backend {
 public:
  std::vector<int> local_ranks() const override {
    std::vector<int> out;
    for (const auto& r : ranks_)
      out.push_back(r.rank);
    return out;
  }
  RunInfo info() const override { return info_; }

 protected:
  /// Fills the run facts from the first local rank's device.
  BackendBase(const std::vector<LocalRank>& local, const BenchOptions& options,
              const std::string& backend, const std::string& default_system,
              const std::string& launch) {
    EPSCOPE_ASSERT(!local.empty());
    const DeviceFacts facts = device_facts(local.front().device);
    info_.system = options.system.empty() ? default_system : options.system;
    info_.backend = backend;
    info_.launch = launch;
    info_.gpu = facts.short_name;
    info_.device_name = facts.name;
    info_.device_sms = facts.num_sms;
  }

  /// Makes the rank's device current, loads every kernel there (see gpu::load_all_kernels) and
  /// creates its stream and events.
  static void open_rank(RankBase& r, const LocalRank& where) {
    r.rank = where.rank;
    r.device = where.device;
    EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
    EPSCOPE_CUDA_CHECK(gpu::load_all_kernels());
    EPSCOPE_CUDA_CHECK(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking));
    EPSCOPE_CUDA_CHECK(cudaEventCreate(&r.begin));
    EPSCOPE_CUDA_CHECK(cudaEventCreate(&r.end));
  }

  /// Frees what open_rank made (destructors: errors ignored). The rank's device is current.
  static void close_rank(RankBase& r) {
    cudaEventDestroy(r.begin);
    cudaEventDestroy(r.end);
    cudaStreamDestroy(r.stream);
  }

  /// Runs fn(rank) for every local rank with the rank's device current.
  template <typename Fn>
  void for_each_rank(Fn&& fn) {
    for (auto& r : ranks_) {
      EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
      fn(r);
    }
  }

  /// The start of every load_case: keeps the case, sets each rank's token count, then runs
  /// load(rank, its top-k, its top-k weights) with the rank's device current.
  template <typename Fn>
  void load_ranks(const Scenario& scenario, const std::vector<RankTopk>& topk, Fn&& load) {
    scenario_ = scenario;
    topk_ = topk;
    for_each_rank([&](RankT& r) {
      const RankTopk& tk = topk[static_cast<std::size_t>(r.rank)];
      r.num_tokens = static_cast<int>(tk.num_tokens);
      load(r, tk, test_topk_weights(tk, scenario.moe.topk));
    });
  }

  RunInfo info_;
  std::vector<RankT> ranks_;
  Scenario scenario_;  // of the loaded case
  std::vector<RankTopk> topk_;
};

}  // namespace epscope::bench
