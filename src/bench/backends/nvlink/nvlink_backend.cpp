// The `nvlink` backend: our LL and HT kernels (src/gpu) over peer memory, one process driving
// every GPU (peer access) or one process per GPU (CUDA IPC).
//
// Every rank allocates one "symmetric" region with the same layout everywhere, so a peer's buffer
// is its base plus a fixed offset:
//   barrier flags [R] | dispatch counts (LL: [E/R][R], HT: [R]), done counters [R] |
//   combine ready flags [R] |
//   receive buffer | expert outputs | link-probe area [R][probe bytes]
#include <cuda_runtime.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "bench/backends/backend_base.h"
#include "bench/backends/backends.h"
#include "gpu/layout.h"

namespace epscope::bench {
namespace {

constexpr std::int64_t kProbeBytesPerPeer = std::int64_t{64} << 20;
constexpr int kHtDefaultSms = 32;
constexpr int kMaxBlocks = 256;

std::int64_t align256(std::int64_t bytes) {
  return (bytes + 255) / 256 * 256;
}

/// Byte offsets inside the symmetric region.
struct RegionLayout {
  std::int64_t barrier = 0, counts = 0, ready = 0, recv = 0, expert_out = 0, probe = 0, total = 0;

  RegionLayout(const Scenario& s, bool ll, bool fp8, bool with_probe) {
    const std::int64_t ranks = s.num_ranks();
    const std::int64_t max_tokens = s.moe.max_tokens_per_rank;
    const std::int64_t hidden = s.moe.hidden;
    // LL rows: [E/R local experts][R sources][max_tokens]; HT rows: [R sources][max_tokens].
    const std::int64_t rows = ll ? s.moe.num_experts * max_tokens : ranks * max_tokens;
    const std::int64_t row_bytes = ll ? gpu::LlMessage{s.moe.hidden, fp8}.slot_bytes()
                                      : gpu::HtRecord{s.moe.hidden, s.moe.topk, fp8}.slot_bytes();
    std::int64_t at = 0;
    barrier = at;
    at += align256(8 * ranks);
    counts = at;  // then the dispatch's done counters [R] (gpu/kernels.h)
    at += align256(8 * ((ll ? s.moe.num_experts : ranks) + ranks));
    ready = at;
    at += align256(8 * ranks);
    recv = at;
    at += align256(rows * row_bytes);
    expert_out = at;
    at += align256(rows * hidden * 2);
    probe = at;
    if (with_probe) at += ranks * kProbeBytesPerPeer;
    total = at;
  }
};

template <typename T>
T* at_offset(void* base, std::int64_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

/// Everything one rank owns.
struct RankState : RankBase {
  void* region = nullptr;          // local symmetric region
  std::vector<void*> peer_region;  // by rank; [rank] == region
  bool ipc_opened = false;
  std::uint16_t* x = nullptr;
  std::int32_t* topk_idx = nullptr;
  float* topk_weights = nullptr;
  std::int32_t* slots = nullptr;  // LL copy_slot [T, K] or HT token_slot [T, R]
  std::uint16_t* out = nullptr;
  gpu::BlockStamps* stamps = nullptr;  // [2][kMaxBlocks]: dispatch, combine
  int* error = nullptr;
  gpu::BlockStamps* host_stamps = nullptr;  // pinned copy
  int* host_error = nullptr;
};

class NvlinkBackend final : public BackendBase<RankState> {
 public:
  NvlinkBackend(const Scenario& base, const BenchOptions& options,
                const std::vector<LocalRank>& local_ranks, PeerExchange* exchange)
      : BackendBase(local_ranks, options, "nvlink",
                    base.mode == KernelMode::kLowLatency ? "epscope-ll" : "epscope-ht",
                    exchange == nullptr ? "one-process" : "per-gpu"),
        base_(base),
        options_(options),
        ll_(base.mode == KernelMode::kLowLatency),
        fp8_(base.moe.dispatch_dtype == DispatchDtype::kFp8),
        layout_(base, ll_, fp8_, options.link_probe),
        num_ranks_(base.num_ranks()) {
    if (base.mode == KernelMode::kAllToAll)
      throw InputError("--mode", "a2a",
                       "the nvlink backend runs ll or ht; a2a is the nccl backend");
    const int device_sms = info_.device_sms;
    const int default_sms = ll_ ? device_sms : std::min(kHtDefaultSms, device_sms);
    num_blocks_ =
        std::min({options.num_sms > 0 ? options.num_sms : default_sms, device_sms, kMaxBlocks});
    info_.dispatch_sms = info_.combine_sms = num_blocks_;

    for (const LocalRank& l : local_ranks)
      ranks_.push_back(allocate(l));
    if (exchange == nullptr) {
      connect_peer_access();
    } else {
      connect_ipc(*exchange);
    }
  }

  ~NvlinkBackend() override {
    for (auto& r : ranks_) {
      cudaSetDevice(r.device);
      cudaDeviceSynchronize();
      for (int p = 0; p < num_ranks_; ++p)
        if (r.ipc_opened && p != r.rank && r.peer_region[static_cast<std::size_t>(p)] != nullptr)
          cudaIpcCloseMemHandle(r.peer_region[static_cast<std::size_t>(p)]);
      cudaFree(r.region);
      cudaFree(r.x);
      cudaFree(r.topk_idx);
      cudaFree(r.topk_weights);
      cudaFree(r.slots);
      cudaFree(r.out);
      cudaFree(r.stamps);
      cudaFree(r.error);
      cudaFreeHost(r.host_stamps);
      cudaFreeHost(r.host_error);
      close_rank(r);
    }
  }

  void load_case(const Scenario& scenario, const std::vector<RankTopk>& topk) override {
    load_ranks(
        scenario, topk, [&](RankState& r, const RankTopk& tk, const std::vector<float>& weights) {
          if (!tk.expert_idx.empty()) {
            EPSCOPE_CUDA_CHECK(cudaMemcpy(r.topk_idx, tk.expert_idx.data(),
                                          tk.expert_idx.size() * sizeof(std::int32_t),
                                          cudaMemcpyHostToDevice));
            EPSCOPE_CUDA_CHECK(cudaMemcpy(r.topk_weights, weights.data(),
                                          weights.size() * sizeof(float), cudaMemcpyHostToDevice));
          }
          EPSCOPE_CUDA_CHECK(
              gpu::launch_fill_input(r.rank, r.num_tokens, scenario.moe.hidden, r.x, r.stream));
          EPSCOPE_CUDA_CHECK(cudaStreamSynchronize(r.stream));
        });
  }

  void align(const std::vector<double>& start_offset_us) override {
    pending_offsets_ = start_offset_us;
    align_pending_ = true;
  }

  std::vector<OpTiming> time(Op op) override {
    EPSCOPE_ASSERT(align_pending_);
    align_pending_ = false;
    ++barrier_epoch_;
    if (op != Op::kCombine) ++dispatch_epoch_;
    if (op != Op::kDispatch) ++combine_epoch_;
    // Per rank: aligned start, then the op between two events, then the stamps and error word.
    for_each_rank([&](RankState& r) {
      const double offset_us =
          pending_offsets_.empty() ? 0.0 : pending_offsets_[static_cast<std::size_t>(r.rank)];
      EPSCOPE_CUDA_CHECK(gpu::launch_aligned_start(
          sync_args(r, barrier_epoch_, nullptr), peer_ptrs<std::uint64_t>(r, layout_.barrier),
          static_cast<std::int64_t>(options_.sleep_us * 1e3),
          static_cast<std::int64_t>(offset_us * 1e3), r.stream));
      EPSCOPE_CUDA_CHECK(cudaEventRecord(r.begin, r.stream));
      if (op != Op::kCombine) launch_dispatch(r);
      if (op != Op::kDispatch) launch_combine(r);
      EPSCOPE_CUDA_CHECK(cudaEventRecord(r.end, r.stream));
      EPSCOPE_CUDA_CHECK(cudaMemcpyAsync(r.host_stamps, r.stamps,
                                         2 * kMaxBlocks * sizeof(gpu::BlockStamps),
                                         cudaMemcpyDeviceToHost, r.stream));
      EPSCOPE_CUDA_CHECK(
          cudaMemcpyAsync(r.host_error, r.error, sizeof(int), cudaMemcpyDeviceToHost, r.stream));
    });
    // --fault RANK:exit: once this rank's dispatch is over (its rows are out, its counts held
    // back, every peer's data and counts in), the process dies without a word.
    for (auto& r : ranks_)
      if (op != Op::kCombine && fault_hits(options_.fault, r.rank) &&
          options_.fault.kind == FaultKind::kExit) {
        EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
        EPSCOPE_CUDA_CHECK(cudaStreamSynchronize(r.stream));
        exit_mid_dispatch(r.rank);
      }
    // Every rank finishes (each wait has its deadline) before any timeout is reported, so the
    // error names every rank that waited and the peer it waited for.
    std::vector<std::string> timeouts;
    for_each_rank([&](RankState& r) {
      EPSCOPE_CUDA_CHECK(cudaStreamSynchronize(r.stream));
      if (*r.host_error != 0) timeouts.push_back(timeout_message(r, op));
    });
    if (!timeouts.empty()) throw RunFailure(fmt::format("{}", fmt::join(timeouts, "; ")));
    std::vector<OpTiming> timings;
    for (auto& r : ranks_) {
      float ms = 0;
      EPSCOPE_CUDA_CHECK(cudaEventElapsedTime(&ms, r.begin, r.end));
      OpTiming t;
      t.total_us = static_cast<double>(ms) * 1e3;
      if (op == Op::kDispatch) split(r.host_stamps, /*wait_first=*/false, t);
      if (op == Op::kCombine) split(r.host_stamps + kMaxBlocks, /*wait_first=*/true, t);
      timings.push_back(t);
    }
    return timings;
  }

  void run_expert() override {
    const int hidden = base_.moe.hidden;
    for_each_rank([&](RankState& r) {
      auto* recv = at_offset<std::uint8_t>(r.region, layout_.recv);
      auto* counts = at_offset<std::uint64_t>(r.region, layout_.counts);
      auto* expert_out = at_offset<std::uint16_t>(r.region, layout_.expert_out);
      if (ll_) {
        EPSCOPE_CUDA_CHECK(gpu::launch_ll_fill_expert_out(
            num_ranks_, r.rank, hidden, base_.moe.num_experts, base_.moe.max_tokens_per_rank, fp8_,
            recv, counts, expert_out, r.stream));
      } else {
        EPSCOPE_CUDA_CHECK(gpu::launch_ht_fill_expert_out(
            num_ranks_, r.rank, hidden, base_.moe.topk, base_.moe.max_tokens_per_rank, fp8_, recv,
            counts, expert_out, r.stream));
      }
    });
    for_each_rank([](RankState& r) { EPSCOPE_CUDA_CHECK(cudaStreamSynchronize(r.stream)); });
  }

  std::vector<CheckResult> check() override {
    std::vector<CheckResult> results;
    const int hidden = scenario_.moe.hidden;
    const std::int64_t max_tokens = scenario_.moe.max_tokens_per_rank;
    for (auto& r : ranks_) {
      EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
      CheckResult result;
      const int num_counts = ll_ ? scenario_.moe.num_experts : num_ranks_;
      std::vector<std::uint64_t> counts(static_cast<std::size_t>(num_counts));
      EPSCOPE_CUDA_CHECK(cudaMemcpy(counts.data(), at_offset<void>(r.region, layout_.counts),
                                    counts.size() * 8, cudaMemcpyDeviceToHost));
      const auto* recv = at_offset<std::uint8_t>(r.region, layout_.recv);
      if (ll_) {
        const std::int64_t msg_bytes = gpu::LlMessage{hidden, fp8_}.slot_bytes();
        const int epr = scenario_.moe.num_experts / num_ranks_;
        std::vector<std::uint8_t> host;
        std::vector<std::int64_t> starts;
        std::vector<ReceivedRow> rows;
        for (int pair = 0; pair < num_counts; ++pair) {
          const auto n =
              static_cast<std::int64_t>(counts[static_cast<std::size_t>(pair)] & 0xffffffffu);
          starts.push_back(static_cast<std::int64_t>(host.size()));
          host.resize(host.size() + static_cast<std::size_t>(n * msg_bytes));
          if (n > 0)
            EPSCOPE_CUDA_CHECK(
                cudaMemcpy(host.data() + starts.back(), recv + pair * max_tokens * msg_bytes,
                           static_cast<std::size_t>(n * msg_bytes), cudaMemcpyDeviceToHost));
        }
        for (int pair = 0; pair < num_counts; ++pair) {
          const auto n =
              static_cast<std::int64_t>(counts[static_cast<std::size_t>(pair)] & 0xffffffffu);
          for (std::int64_t i = 0; i < n; ++i)
            rows.push_back({host.data() + starts[static_cast<std::size_t>(pair)] + i * msg_bytes,
                            pair % num_ranks_, r.rank * epr + pair / num_ranks_});
        }
        result.merge(check_ll_rows(scenario_, topk_, r.rank, fp8_, false, rows));
      } else {
        const std::int64_t rec_bytes = gpu::HtRecord{hidden, scenario_.moe.topk, fp8_}.slot_bytes();
        for (int src = 0; src < num_ranks_; ++src) {
          const auto n =
              static_cast<std::int64_t>(counts[static_cast<std::size_t>(src)] & 0xffffffffu);
          std::vector<std::uint8_t> host(static_cast<std::size_t>(n * rec_bytes));
          if (n > 0)
            EPSCOPE_CUDA_CHECK(cudaMemcpy(host.data(), recv + src * max_tokens * rec_bytes,
                                          host.size(), cudaMemcpyDeviceToHost));
          result.merge(check_ht_records(scenario_, topk_, r.rank, src, fp8_, host.data(), n));
        }
      }
      std::vector<std::uint16_t> out(static_cast<std::size_t>(r.num_tokens) * hidden);
      if (!out.empty())
        EPSCOPE_CUDA_CHECK(cudaMemcpy(out.data(), r.out, out.size() * 2, cudaMemcpyDeviceToHost));
      result.merge(check_combined(scenario_, topk_, r.rank, ll_, out.data()));
      results.push_back(result);
    }
    return results;
  }

  LinkProbe probe_link(int num_blocks, bool pull) override {
    if (!options_.link_probe) throw Error("link probe area not allocated", __FILE__, __LINE__);
    LinkProbe probe;
    probe.num_blocks = num_blocks;
    probe.pull = pull;
    probe.bytes_per_peer = kProbeBytesPerPeer;
    constexpr int kRepeats = 5;
    std::vector<std::vector<double>> times(ranks_.size());
    for (int rep = 0; rep < kRepeats + 1; ++rep) {
      ++barrier_epoch_;
      for (auto& r : ranks_) {
        EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
        EPSCOPE_CUDA_CHECK(gpu::launch_aligned_start(
            sync_args(r, barrier_epoch_, nullptr), peer_ptrs<std::uint64_t>(r, layout_.barrier),
            static_cast<std::int64_t>(options_.sleep_us * 1e3), 0, r.stream));
        EPSCOPE_CUDA_CHECK(cudaEventRecord(r.begin, r.stream));
        EPSCOPE_CUDA_CHECK(gpu::launch_link_probe(num_ranks_, r.rank,
                                                  peer_ptrs<std::uint8_t>(r, layout_.probe),
                                                  kProbeBytesPerPeer, pull, num_blocks, r.stream));
        EPSCOPE_CUDA_CHECK(cudaEventRecord(r.end, r.stream));
      }
      for (std::size_t i = 0; i < ranks_.size(); ++i) {
        auto& r = ranks_[i];
        EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
        EPSCOPE_CUDA_CHECK(cudaStreamSynchronize(r.stream));
        float ms = 0;
        EPSCOPE_CUDA_CHECK(cudaEventElapsedTime(&ms, r.begin, r.end));
        if (rep > 0) times[i].push_back(static_cast<double>(ms) * 1e3);
      }
    }
    for (auto& t : times) {
      std::sort(t.begin(), t.end());
      const double us = t[t.size() / 2];
      probe.egress_gbps.push_back(static_cast<double>(num_ranks_ - 1) *
                                  static_cast<double>(kProbeBytesPerPeer) / (us * 1e3));
    }
    return probe;
  }

 private:
  RankState allocate(const LocalRank& where) {
    RankState r;
    open_rank(r, where);
    const std::int64_t max_tokens = base_.moe.max_tokens_per_rank;
    const std::int64_t hidden = base_.moe.hidden;
    const std::int64_t topk = base_.moe.topk;
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.region, static_cast<std::size_t>(layout_.total)));
    EPSCOPE_CUDA_CHECK(cudaMemset(r.region, 0, static_cast<std::size_t>(layout_.recv)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.x, alloc_bytes(max_tokens * hidden * 2)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.topk_idx, alloc_bytes(max_tokens * topk * 4)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.topk_weights, alloc_bytes(max_tokens * topk * 4)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(
        &r.slots, alloc_bytes(max_tokens * std::max<std::int64_t>(topk, num_ranks_) * 4)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.out, alloc_bytes(max_tokens * hidden * 2)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.stamps, 2 * kMaxBlocks * sizeof(gpu::BlockStamps)));
    EPSCOPE_CUDA_CHECK(cudaMemset(r.stamps, 0, 2 * kMaxBlocks * sizeof(gpu::BlockStamps)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.error, sizeof(int)));
    EPSCOPE_CUDA_CHECK(cudaMemset(r.error, 0, sizeof(int)));
    EPSCOPE_CUDA_CHECK(cudaMallocHost(&r.host_stamps, 2 * kMaxBlocks * sizeof(gpu::BlockStamps)));
    EPSCOPE_CUDA_CHECK(cudaMallocHost(&r.host_error, sizeof(int)));
    EPSCOPE_CUDA_CHECK(cudaDeviceSynchronize());
    r.peer_region.assign(static_cast<std::size_t>(num_ranks_), nullptr);
    r.peer_region[static_cast<std::size_t>(r.rank)] = r.region;
    return r;
  }

  void connect_peer_access() {
    for (auto& r : ranks_) {
      EPSCOPE_CUDA_CHECK(cudaSetDevice(r.device));
      for (auto& p : ranks_) {
        if (p.rank == r.rank) continue;
        int can = 0;
        EPSCOPE_CUDA_CHECK(cudaDeviceCanAccessPeer(&can, r.device, p.device));
        if (!can)
          throw Error(fmt::format("GPU {} cannot access GPU {} as a peer (no NVLink/P2P)", r.device,
                                  p.device),
                      __FILE__, __LINE__);
        const cudaError_t err = cudaDeviceEnablePeerAccess(p.device, 0);
        if (err != cudaSuccess && err != cudaErrorPeerAccessAlreadyEnabled) EPSCOPE_CUDA_CHECK(err);
        (void)cudaGetLastError();
        r.peer_region[static_cast<std::size_t>(p.rank)] = p.region;
      }
    }
  }

  void connect_ipc(PeerExchange& exchange) {
    EPSCOPE_ASSERT(ranks_.size() == 1);
    RankState& r = ranks_.front();
    cudaIpcMemHandle_t handle;
    EPSCOPE_CUDA_CHECK(cudaIpcGetMemHandle(&handle, r.region));
    IpcHandle mine;
    static_assert(sizeof(handle) == sizeof(mine));
    std::memcpy(mine.data(), &handle, sizeof handle);
    const std::vector<IpcHandle> all = exchange.all_gather(r.rank, mine);
    for (int p = 0; p < num_ranks_; ++p) {
      if (p == r.rank) continue;
      cudaIpcMemHandle_t h;
      std::memcpy(&h, all[static_cast<std::size_t>(p)].data(), sizeof h);
      EPSCOPE_CUDA_CHECK(cudaIpcOpenMemHandle(&r.peer_region[static_cast<std::size_t>(p)], h,
                                              cudaIpcMemLazyEnablePeerAccess));
    }
    r.ipc_opened = true;
    exchange.barrier();
  }

  template <typename T>
  gpu::PerRank<T> peer_ptrs(const RankState& r, std::int64_t offset) const {
    gpu::PerRank<T> p;
    for (int q = 0; q < num_ranks_; ++q)
      p.ptr[q] = at_offset<T>(r.peer_region[static_cast<std::size_t>(q)], offset);
    return p;
  }

  gpu::SyncArgs sync_args(const RankState& r, std::uint64_t epoch, gpu::BlockStamps* stamps) const {
    gpu::SyncArgs s;
    s.num_ranks = num_ranks_;
    s.rank = r.rank;
    s.epoch = epoch;
    s.timeout_ns = static_cast<std::int64_t>(options_.timeout_ms * 1e6);
    s.error = r.error;
    s.stamps = stamps;
    return s;
  }

  void launch_dispatch(RankState& r) {
    gpu::DispatchArgs a;
    a.sync = sync_args(r, dispatch_epoch_, r.stamps);
    a.sync.fault_ns = fault_ns(r);
    fill_shape(a);
    a.fp8 = fp8_;
    a.num_tokens = r.num_tokens;
    a.x = r.x;
    a.topk_idx = r.topk_idx;
    a.topk_weights = r.topk_weights;
    const auto recv = peer_ptrs<std::uint8_t>(r, layout_.recv);
    const auto counts = peer_ptrs<std::uint64_t>(r, layout_.counts);
    std::copy(std::begin(recv.ptr), std::end(recv.ptr), a.recv);
    std::copy(std::begin(counts.ptr), std::end(counts.ptr), a.recv_flags);
    a.slots = r.slots;
    EPSCOPE_CUDA_CHECK(ll_ ? gpu::launch_ll_dispatch(a, num_blocks_, r.stream)
                           : gpu::launch_ht_dispatch(a, num_blocks_, r.stream));
  }

  void launch_combine(RankState& r) {
    gpu::CombineArgs a;
    a.sync = sync_args(r, combine_epoch_, r.stamps + kMaxBlocks);
    fill_shape(a);
    a.num_tokens = r.num_tokens;
    a.topk_idx = r.topk_idx;
    a.topk_weights = r.topk_weights;
    a.slots = r.slots;
    const auto ready = peer_ptrs<std::uint64_t>(r, layout_.ready);
    const auto expert_out = peer_ptrs<std::uint16_t>(r, layout_.expert_out);
    std::copy(std::begin(expert_out.ptr), std::end(expert_out.ptr), a.expert_out);
    std::copy(std::begin(ready.ptr), std::end(ready.ptr), a.ready_flags);
    a.out = r.out;
    EPSCOPE_CUDA_CHECK(ll_ ? gpu::launch_ll_combine(a, num_blocks_, r.stream)
                           : gpu::launch_ht_combine(a, num_blocks_, r.stream));
  }

  template <typename Args>
  void fill_shape(Args& a) const {
    a.hidden = base_.moe.hidden;
    a.topk = base_.moe.topk;
    a.num_experts = base_.moe.num_experts;
    a.max_tokens = base_.moe.max_tokens_per_rank;
  }

  /// Dispatch: transfer = entry .. the rank's last block has sent its counts, wait = .. exit.
  /// Combine: wait = entry .. every rank's outputs are ready, transfer = .. exit.
  void split(const gpu::BlockStamps* stamps, bool wait_first, OpTiming& t) const {
    std::uint64_t start = ~0ull, mid = 0, end = 0;
    for (int b = 0; b < num_blocks_; ++b) {
      start = std::min(start, stamps[b].start_ns);
      mid = std::max(mid, stamps[b].mid_ns);
      end = std::max(end, stamps[b].end_ns);
    }
    if (start == 0 || mid < start || end < mid) return;
    const double first = static_cast<double>(mid - start) * 1e-3;
    const double second = static_cast<double>(end - mid) * 1e-3;
    t.wait_us = wait_first ? first : second;
    t.transfer_us = wait_first ? second : first;
  }

  /// The dispatch fault hook of the rank's kernels (SyncArgs::fault_ns): counts held back by
  /// the delay (late), or never sent (never-send; exit, whose process then dies).
  std::int64_t fault_ns(const RankState& r) const {
    const FaultSpec& f = options_.fault;
    if (!fault_hits(f, r.rank)) return 0;
    if (f.kind == FaultKind::kLate)
      return std::max<std::int64_t>(1, static_cast<std::int64_t>(f.delay_us * 1e3));
    return -1;
  }

  std::string timeout_message(const RankState& r, Op op) const {
    const int code = *r.host_error;
    static const char* kWhat[] = {"?",
                                  "the aligned-start barrier",
                                  "LL dispatch counts",
                                  "LL combine ready flag",
                                  "HT dispatch counts",
                                  "HT combine ready flag"};
    const int kind = code >> 16;
    const char* what = kind >= 1 && kind <= 5 ? kWhat[kind] : kWhat[0];
    return fmt::format("rank {} timed out after {} ms waiting for rank {} ({}, during {})", r.rank,
                       options_.timeout_ms, code & 0xffff, what,
                       op == Op::kDispatch  ? "dispatch"
                       : op == Op::kCombine ? "combine"
                                            : "back-to-back");
  }

  Scenario base_;
  BenchOptions options_;
  bool ll_;
  bool fp8_;
  RegionLayout layout_;
  int num_ranks_;
  int num_blocks_ = 0;
  std::vector<double> pending_offsets_;
  bool align_pending_ = false;
  std::uint64_t barrier_epoch_ = 0, dispatch_epoch_ = 0, combine_epoch_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_nvlink_backend(const Scenario& base, const BenchOptions& options,
                                             const std::vector<LocalRank>& local_ranks,
                                             PeerExchange* exchange) {
  return std::make_unique<NvlinkBackend>(base, options, local_ranks, exchange);
}

}  // namespace epscope::bench
