// The `nccl` backend: what a user without DeepEP runs. Dispatch = counts exchanged first (one
// int64 per peer through grouped send/recv, copied to the host), then grouped ncclSend/ncclRecv
// of the rows; combine = grouped send/recv of one BF16 row back per received row, then the
// weighted sum at home. Rows are LL messages (src/gpu/layout.h): one per (token, expert) or, with
// --a2a-rows per-rank, one per (token, destination rank). Packing rows into the send buffer is
// done at load time and not timed (as in the PyTorch all_to_all_single reference).
#include <cuda_runtime.h>
#include <nccl.h>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <numeric>

#include "bench/backends.h"
#include "bench/cuda_check.h"
#include "bench/device_info.h"
#include "gpu/kernels.h"
#include "gpu/layout.h"

#define EPSCOPE_NCCL_CHECK(call)                                                           \
  do {                                                                                     \
    const ncclResult_t epscope_res_ = (call);                                              \
    if (epscope_res_ != ncclSuccess)                                                       \
      throw ::epscope::Error(std::string(#call) + ": " + ncclGetErrorString(epscope_res_), \
                             __FILE__, __LINE__);                                          \
  } while (0)

namespace epscope::bench {
namespace {

/// NCCL's own aligned start needs the host to queue a whole group before the sleep ends.
constexpr double kMinNcclSleepUs = 300;

struct NcclRank {
  int rank = 0;
  int device = 0;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t begin = nullptr, end = nullptr;
  std::uint16_t* x = nullptr;
  std::int32_t* entry = nullptr;           // [3][max rows]: token, k, expert of each send row
  std::uint8_t* send_rows = nullptr;       // [max rows] messages, grouped by destination
  std::uint8_t* recv_rows = nullptr;       // [R * max rows] messages, grouped by source
  std::uint16_t* expert_rows = nullptr;    // one BF16 row per received row
  std::uint16_t* combined_rows = nullptr;  // one BF16 row per sent row, back home
  std::int32_t* row_idx = nullptr;         // [T, per_token] -> combined row, -1
  float* weights = nullptr;                // [T, K] top-k weights (per-expert rows)
  std::uint16_t* out = nullptr;
  std::int64_t* send_counts = nullptr;       // device [R] rows to each peer
  std::int64_t* recv_counts = nullptr;       // device [R]
  std::int64_t* host_recv_counts = nullptr;  // pinned [R]
  float* align_word = nullptr;
  std::vector<std::int64_t> send_n, send_off;  // rows per destination, offsets
  std::vector<std::int64_t> recv_off;
  int num_tokens = 0;
};

class NcclBackend final : public Backend {
 public:
  NcclBackend(const Scenario& base, const BenchOptions& options,
              const std::vector<int>& local_ranks, const std::vector<char>& unique_id)
      : base_(base),
        options_(options),
        fp8_(base.moe.dispatch_dtype == DispatchDtype::kFp8),
        per_rank_(base.a2a_rows == A2aRows::kPerRank),
        num_ranks_(base.num_ranks()),
        msg_bytes_(gpu::LlMessage{base.moe.hidden, fp8_}.bytes()) {
    const DeviceFacts facts = device_facts(local_ranks.front());
    int version = 0;
    EPSCOPE_NCCL_CHECK(ncclGetVersion(&version));
    info_.system = options.system.empty() ? "nccl-a2a" : options.system;
    info_.backend = "nccl";
    info_.launch = unique_id.empty() ? "one-process" : "mpi";
    info_.gpu = facts.short_name;
    info_.device_name = facts.name;
    info_.device_sms = facts.num_sms;
    info_.nccl_version =
        fmt::format("{}.{}.{}", version / 10000, version / 100 % 100, version % 100);
    const std::int64_t per_token = per_rank_ ? num_ranks_ : base.moe.topk;
    max_rows_ = std::int64_t{base.moe.max_tokens_per_rank} * per_token;
    for (int r : local_ranks)
      ranks_.push_back(allocate(r));
    std::vector<ncclComm_t> comms(ranks_.size());
    if (unique_id.empty()) {
      std::vector<int> devices;
      for (auto& r : ranks_)
        devices.push_back(r.device);
      EPSCOPE_NCCL_CHECK(
          ncclCommInitAll(comms.data(), static_cast<int>(devices.size()), devices.data()));
    } else {
      EPSCOPE_ASSERT(ranks_.size() == 1 && unique_id.size() == sizeof(ncclUniqueId));
      ncclUniqueId id;
      std::memcpy(&id, unique_id.data(), sizeof id);
      EPSCOPE_CUDA_CHECK(cudaSetDevice(ranks_[0].device));
      EPSCOPE_NCCL_CHECK(ncclCommInitRank(&comms[0], num_ranks_, id, ranks_[0].rank));
    }
    for (std::size_t i = 0; i < ranks_.size(); ++i)
      ranks_[i].comm = comms[i];
  }

  ~NcclBackend() override {
    for (auto& r : ranks_) {
      cudaSetDevice(r.device);
      cudaDeviceSynchronize();
      if (r.comm != nullptr) ncclCommDestroy(r.comm);
      for (void* p : {static_cast<void*>(r.x), static_cast<void*>(r.entry),
                      static_cast<void*>(r.send_rows), static_cast<void*>(r.recv_rows),
                      static_cast<void*>(r.expert_rows), static_cast<void*>(r.combined_rows),
                      static_cast<void*>(r.row_idx), static_cast<void*>(r.weights),
                      static_cast<void*>(r.out), static_cast<void*>(r.send_counts),
                      static_cast<void*>(r.recv_counts), static_cast<void*>(r.align_word)})
        cudaFree(p);
      cudaFreeHost(r.host_recv_counts);
      cudaEventDestroy(r.begin);
      cudaEventDestroy(r.end);
      cudaStreamDestroy(r.stream);
    }
  }

  std::vector<int> local_ranks() const override {
    std::vector<int> out;
    for (const auto& r : ranks_)
      out.push_back(r.rank);
    return out;
  }
  RunInfo info() const override { return info_; }

  void load_case(const Scenario& scenario, const std::vector<RankTopk>& topk) override {
    scenario_ = scenario;
    topk_ = topk;
    const int k_max = scenario.moe.topk;
    const int epr = scenario.moe.num_experts / num_ranks_;
    for (auto& r : ranks_) {
      EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
      const auto& tk = topk[static_cast<std::size_t>(r.rank)];
      r.num_tokens = static_cast<int>(tk.num_tokens);
      // Send rows grouped by destination rank, token-major inside each group.
      std::vector<std::vector<std::array<int, 3>>> by_dst(static_cast<std::size_t>(num_ranks_));
      for (int t = 0; t < r.num_tokens; ++t) {
        unsigned seen = 0;
        for (int k = 0; k < k_max; ++k) {
          const int e = tk.expert_idx[static_cast<std::size_t>(t * k_max + k)];
          if (e < 0) continue;
          const int d = e / epr;
          if (per_rank_ && (seen >> d & 1u)) continue;
          seen |= 1u << d;
          by_dst[static_cast<std::size_t>(d)].push_back({t, k, e});
        }
      }
      const int per_token = per_rank_ ? num_ranks_ : k_max;
      std::vector<std::int32_t> entry_token, entry_k, entry_expert;
      std::vector<std::int32_t> row_idx(static_cast<std::size_t>(r.num_tokens) * per_token, -1);
      r.send_n.assign(static_cast<std::size_t>(num_ranks_), 0);
      r.send_off.assign(static_cast<std::size_t>(num_ranks_), 0);
      for (int d = 0; d < num_ranks_; ++d) {
        r.send_off[static_cast<std::size_t>(d)] = static_cast<std::int64_t>(entry_token.size());
        r.send_n[static_cast<std::size_t>(d)] =
            static_cast<std::int64_t>(by_dst[static_cast<std::size_t>(d)].size());
        for (const auto& [t, k, e] : by_dst[static_cast<std::size_t>(d)]) {
          row_idx[static_cast<std::size_t>(t * per_token + (per_rank_ ? d : k))] =
              static_cast<std::int32_t>(entry_token.size());
          entry_token.push_back(t);
          entry_k.push_back(k);
          entry_expert.push_back(e);
        }
      }
      const auto num_rows = static_cast<std::int64_t>(entry_token.size());
      std::vector<std::int32_t> entries = entry_token;
      entries.resize(static_cast<std::size_t>(3 * max_rows_));
      std::copy(entry_k.begin(), entry_k.end(), entries.begin() + max_rows_);
      std::copy(entry_expert.begin(), entry_expert.end(), entries.begin() + 2 * max_rows_);
      EPSCOPE_CUDA_CHECK(
          cudaMemcpy(r.entry, entries.data(), entries.size() * 4, cudaMemcpyHostToDevice));
      if (!row_idx.empty())
        EPSCOPE_CUDA_CHECK(
            cudaMemcpy(r.row_idx, row_idx.data(), row_idx.size() * 4, cudaMemcpyHostToDevice));
      const std::vector<float> weights = test_topk_weights(tk, k_max);
      if (!weights.empty())
        EPSCOPE_CUDA_CHECK(
            cudaMemcpy(r.weights, weights.data(), weights.size() * 4, cudaMemcpyHostToDevice));
      EPSCOPE_CUDA_CHECK(
          cudaMemcpy(r.send_counts, r.send_n.data(), r.send_n.size() * 8, cudaMemcpyHostToDevice));
      EPSCOPE_CUDA_CHECK(
          gpu::launch_fill_input(r.rank, r.num_tokens, scenario.moe.hidden, r.x, r.stream));
      EPSCOPE_CUDA_CHECK(gpu::launch_pack_rows(r.rank, scenario.moe.hidden, fp8_, num_rows, r.x,
                                               r.entry, r.entry + max_rows_,
                                               r.entry + 2 * max_rows_, r.send_rows, r.stream));
      EPSCOPE_CUDA_CHECK(cudaStreamSynchronize(r.stream));
    }
  }

  void align(const std::vector<double>& start_offset_us) override {
    const double sleep_us = std::max(options_.sleep_us, kMinNcclSleepUs);
    for (auto& r : ranks_) {
      EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
      EPSCOPE_CUDA_CHECK(gpu::launch_sleep(static_cast<std::int64_t>(sleep_us * 1e3), r.stream));
    }
    EPSCOPE_NCCL_CHECK(ncclGroupStart());
    for (auto& r : ranks_)
      EPSCOPE_NCCL_CHECK(
          ncclAllReduce(r.align_word, r.align_word, 1, ncclFloat, ncclSum, r.comm, r.stream));
    EPSCOPE_NCCL_CHECK(ncclGroupEnd());
    for (auto& r : ranks_) {
      const double offset_us =
          start_offset_us.empty() ? 0.0 : start_offset_us[static_cast<std::size_t>(r.rank)];
      if (offset_us <= 0) continue;
      EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
      EPSCOPE_CUDA_CHECK(gpu::launch_sleep(static_cast<std::int64_t>(offset_us * 1e3), r.stream));
    }
  }

  std::vector<OpTiming> time(Op op) override {
    for (auto& r : ranks_) {
      EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
      EPSCOPE_CUDA_CHECK(cudaEventRecord(r.begin, r.stream));
    }
    if (op != Op::kCombine) dispatch();
    if (op != Op::kDispatch) combine();
    for (auto& r : ranks_) {
      EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
      EPSCOPE_CUDA_CHECK(cudaEventRecord(r.end, r.stream));
    }
    std::vector<OpTiming> timings;
    for (auto& r : ranks_) {
      EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
      wait_stream(r);
      float ms = 0;
      EPSCOPE_CUDA_CHECK(cudaEventElapsedTime(&ms, r.begin, r.end));
      timings.push_back({static_cast<double>(ms) * 1e3, -1, -1});
    }
    return timings;
  }

  void run_expert() override {
    for (auto& r : ranks_) {
      EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
      EPSCOPE_CUDA_CHECK(gpu::launch_fill_row_outputs(r.rank, base_.moe.hidden, fp8_, per_rank_,
                                                      total_recv(r), r.recv_rows, r.expert_rows,
                                                      r.stream));
      EPSCOPE_CUDA_CHECK(cudaStreamSynchronize(r.stream));
    }
  }

  std::vector<CheckResult> check() override {
    std::vector<CheckResult> results;
    for (auto& r : ranks_) {
      EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
      CheckResult result;
      std::vector<std::uint8_t> host(static_cast<std::size_t>(total_recv(r) * msg_bytes_));
      if (!host.empty())
        EPSCOPE_CUDA_CHECK(
            cudaMemcpy(host.data(), r.recv_rows, host.size(), cudaMemcpyDeviceToHost));
      std::vector<ReceivedRow> rows;
      for (int p = 0; p < num_ranks_; ++p)
        for (std::int64_t i = 0; i < r.host_recv_counts[p]; ++i)
          rows.push_back(
              {host.data() + (r.recv_off[static_cast<std::size_t>(p)] + i) * msg_bytes_, p, -1});
      result.merge(check_ll_rows(scenario_, topk_, r.rank, fp8_, per_rank_, rows));
      std::vector<std::uint16_t> out(static_cast<std::size_t>(r.num_tokens) * base_.moe.hidden);
      if (!out.empty())
        EPSCOPE_CUDA_CHECK(cudaMemcpy(out.data(), r.out, out.size() * 2, cudaMemcpyDeviceToHost));
      result.merge(check_combined(scenario_, topk_, r.rank, !per_rank_, out.data()));
      results.push_back(result);
    }
    return results;
  }

  LinkProbe probe_link(int, bool) override {
    throw InputError("--link-probe", "nccl", "the link probe runs with --backend nvlink");
  }

 private:
  NcclRank allocate(int rank) {
    NcclRank r;
    r.rank = rank;
    int num_devices = 1;
    EPSCOPE_CUDA_CHECK(cudaGetDeviceCount(&num_devices));
    r.device = rank % num_devices;
    const std::int64_t hidden = base_.moe.hidden;
    const std::int64_t max_tokens = base_.moe.max_tokens_per_rank;
    const auto sz = [](std::int64_t n) {
      return static_cast<std::size_t>(std::max<std::int64_t>(n, 16));
    };
    EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
    EPSCOPE_CUDA_CHECK(gpu::load_all_kernels());
    EPSCOPE_CUDA_CHECK(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking));
    EPSCOPE_CUDA_CHECK(cudaEventCreate(&r.begin));
    EPSCOPE_CUDA_CHECK(cudaEventCreate(&r.end));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.x, sz(max_tokens * hidden * 2)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.entry, sz(3 * max_rows_ * 4)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.send_rows, sz(max_rows_ * msg_bytes_)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.recv_rows, sz(num_ranks_ * max_rows_ * msg_bytes_)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.expert_rows, sz(num_ranks_ * max_rows_ * hidden * 2)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.combined_rows, sz(max_rows_ * hidden * 2)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.row_idx, sz(max_rows_ * 4)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.weights, sz(max_tokens * base_.moe.topk * 4)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.out, sz(max_tokens * hidden * 2)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.send_counts, sz(num_ranks_ * 8)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.recv_counts, sz(num_ranks_ * 8)));
    EPSCOPE_CUDA_CHECK(cudaMallocHost(&r.host_recv_counts, sz(num_ranks_ * 8)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.align_word, 16));
    EPSCOPE_CUDA_CHECK(cudaMemset(r.align_word, 0, 16));
    std::fill(r.host_recv_counts, r.host_recv_counts + num_ranks_, 0);
    r.recv_off.assign(static_cast<std::size_t>(num_ranks_), 0);
    return r;
  }

  static std::int64_t total_recv(const NcclRank& r) {
    return std::accumulate(r.host_recv_counts, r.host_recv_counts + r.recv_off.size(),
                           std::int64_t{0});
  }

  void wait_stream(const NcclRank& r) const {
    // NCCL ops cannot take a device-side deadline: poll and abort the communicator instead.
    const auto deadline = options_.timeout_ms * 1e-3;
    const auto start = std::chrono::steady_clock::now();
    while (true) {
      const cudaError_t q = cudaStreamQuery(r.stream);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) EPSCOPE_CUDA_CHECK(q);
      const std::chrono::duration<double> waited = std::chrono::steady_clock::now() - start;
      if (waited.count() > deadline) {
        ncclCommAbort(r.comm);
        throw Error(fmt::format("rank {} timed out after {} ms in an NCCL dispatch/combine "
                                "(a peer never joined)",
                                r.rank, options_.timeout_ms),
                    __FILE__, __LINE__);
      }
    }
  }

  void dispatch() {
    EPSCOPE_NCCL_CHECK(ncclGroupStart());
    for (auto& r : ranks_)
      for (int p = 0; p < num_ranks_; ++p) {
        EPSCOPE_NCCL_CHECK(ncclSend(r.send_counts + p, 1, ncclInt64, p, r.comm, r.stream));
        EPSCOPE_NCCL_CHECK(ncclRecv(r.recv_counts + p, 1, ncclInt64, p, r.comm, r.stream));
      }
    EPSCOPE_NCCL_CHECK(ncclGroupEnd());
    for (auto& r : ranks_) {
      EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
      EPSCOPE_CUDA_CHECK(cudaMemcpyAsync(r.host_recv_counts, r.recv_counts,
                                         static_cast<std::size_t>(num_ranks_) * 8,
                                         cudaMemcpyDeviceToHost, r.stream));
    }
    for (auto& r : ranks_) {
      EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
      wait_stream(r);
      std::int64_t off = 0;
      for (int p = 0; p < num_ranks_; ++p) {
        r.recv_off[static_cast<std::size_t>(p)] = off;
        off += r.host_recv_counts[p];
      }
    }
    EPSCOPE_NCCL_CHECK(ncclGroupStart());
    for (auto& r : ranks_)
      for (int p = 0; p < num_ranks_; ++p) {
        const auto sp = static_cast<std::size_t>(p);
        if (r.send_n[sp] > 0)
          EPSCOPE_NCCL_CHECK(ncclSend(r.send_rows + r.send_off[sp] * msg_bytes_,
                                      static_cast<std::size_t>(r.send_n[sp] * msg_bytes_),
                                      ncclUint8, p, r.comm, r.stream));
        if (r.host_recv_counts[p] > 0)
          EPSCOPE_NCCL_CHECK(ncclRecv(r.recv_rows + r.recv_off[sp] * msg_bytes_,
                                      static_cast<std::size_t>(r.host_recv_counts[p] * msg_bytes_),
                                      ncclUint8, p, r.comm, r.stream));
      }
    EPSCOPE_NCCL_CHECK(ncclGroupEnd());
  }

  void combine() {
    const std::int64_t row_bytes = std::int64_t{base_.moe.hidden} * 2;
    const std::int64_t row_elems = base_.moe.hidden;
    EPSCOPE_NCCL_CHECK(ncclGroupStart());
    for (auto& r : ranks_)
      for (int p = 0; p < num_ranks_; ++p) {
        const auto sp = static_cast<std::size_t>(p);
        if (r.host_recv_counts[p] > 0)
          EPSCOPE_NCCL_CHECK(ncclSend(r.expert_rows + r.recv_off[sp] * row_elems,
                                      static_cast<std::size_t>(r.host_recv_counts[p] * row_bytes),
                                      ncclUint8, p, r.comm, r.stream));
        if (r.send_n[sp] > 0)
          EPSCOPE_NCCL_CHECK(ncclRecv(r.combined_rows + r.send_off[sp] * row_elems,
                                      static_cast<std::size_t>(r.send_n[sp] * row_bytes), ncclUint8,
                                      p, r.comm, r.stream));
      }
    EPSCOPE_NCCL_CHECK(ncclGroupEnd());
    for (auto& r : ranks_) {
      EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
      EPSCOPE_CUDA_CHECK(gpu::launch_reduce_rows(
          base_.moe.hidden, r.num_tokens, per_rank_ ? num_ranks_ : base_.moe.topk, r.row_idx,
          per_rank_ ? nullptr : r.weights, r.combined_rows, r.out, r.stream));
    }
  }

  Scenario base_;
  BenchOptions options_;
  bool fp8_;
  bool per_rank_;
  int num_ranks_;
  std::int64_t msg_bytes_;
  std::int64_t max_rows_ = 0;
  RunInfo info_;
  std::vector<NcclRank> ranks_;
  Scenario scenario_;
  std::vector<RankTopk> topk_;
};

}  // namespace

std::unique_ptr<Backend> make_nccl_backend(const Scenario& base, const BenchOptions& options,
                                           const std::vector<int>& local_ranks,
                                           const std::vector<char>& unique_id) {
  return std::make_unique<NcclBackend>(base, options, local_ranks, unique_id);
}

std::vector<char> make_nccl_unique_id() {
  ncclUniqueId id;
  EPSCOPE_NCCL_CHECK(ncclGetUniqueId(&id));
  std::vector<char> out(sizeof id);
  std::memcpy(out.data(), &id, sizeof id);
  return out;
}

}  // namespace epscope::bench
