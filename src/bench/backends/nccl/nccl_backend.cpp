// The `nccl` backend: what a user without DeepEP runs. Dispatch = counts exchanged first (one
// int64 per peer through grouped send/recv, copied to the host), then grouped ncclSend/ncclRecv
// of the rows; combine = grouped send/recv of one BF16 row back per received row, then the
// weighted sum at home. Rows are LL messages (src/gpu/layout.h): one per (token, expert) or, with
// --a2a-rows per-rank, one per (token, destination rank). Packing rows into the send buffer is
// done at load time and not timed (as in the PyTorch all_to_all_single reference).
//
// Receive buffers: load_case also exchanges the counts (untimed) and grows each rank's recv_rows
// and expert_rows to what it receives in that case. Sized for the worst case instead (every peer
// sending a full buffer of rows) they would take R x the send buffer: 91 GB per GPU at 4096 ranks
// and 128 tokens per rank (docs/performance.md). The timed dispatch exchanges the counts again
// and fails with RunFailure, not an overrun, should they ever exceed what was allocated.
//
// Faults: NCCL ops take no deadline, so every wait polls the stream and each communicator's
// asynchronous error (ncclCommGetAsyncError) against a host-side deadline; on an error or the
// deadline every local communicator is aborted (ncclCommAbort) before the error is thrown, so no
// NCCL kernel is left spinning. In the counts exchange the counts that never arrived (read on a
// side stream while NCCL still waits) name the peer that was waited for.
#include <cuda_runtime.h>
#include <nccl.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <numeric>
#include <span>
#include <thread>

#include "bench/backends/backend_base.h"
#include "bench/backends/backends.h"
#include "bench/harness/send_plan.h"
#include "epscope/base/lists.h"
#include "gpu/layout.h"

namespace epscope::bench {
namespace {

/// NCCL's own aligned start needs the host to queue a whole group before the sleep ends.
constexpr double kMinNcclSleepUs = 300;
/// Communicator setup and the first connections take far longer than one op.
constexpr double kSetupGraceMs = 30000;
/// A never-send rank stalls this long past the timeout before it fails (its peers report first).
constexpr double kStallExtraMs = 2000;
/// How long the side-stream read of the counts may take.
constexpr double kProbeMs = 2000;

void throw_on_nccl_error(ncclResult_t res, const char* call, const char* file, int line) {
  if (res != ncclSuccess)
    throw Error(
        fmt::format("{}: {} ({})", call, ncclGetErrorString(res), ncclGetLastError(nullptr)), file,
        line);
}

struct NcclRank : RankBase {
  ncclComm_t comm = nullptr;
  std::uint16_t* x = nullptr;
  std::int32_t* entry = nullptr;           // [3][max rows]: token, k, expert of each send row
  std::uint8_t* send_rows = nullptr;       // [max rows] messages, grouped by destination
  std::uint8_t* recv_rows = nullptr;       // [recv capacity] messages, grouped by source
  std::uint16_t* expert_rows = nullptr;    // [recv capacity] BF16 rows, one per received row
  std::uint16_t* combined_rows = nullptr;  // one BF16 row per sent row, back home
  std::int32_t* row_idx = nullptr;         // [T, K] -> combined row, -1 (SendPlan::row_of_copy)
  float* weights = nullptr;                // [T, K] top-k weights (per-expert rows)
  std::uint16_t* out = nullptr;
  std::int64_t* send_counts = nullptr;       // device [R] rows to each peer
  std::int64_t* recv_counts = nullptr;       // device [R]; -1 until the peer's count arrives
  std::int64_t* host_recv_counts = nullptr;  // pinned [R]
  std::int64_t* probe_counts = nullptr;      // pinned [R]: recv_counts read after a timeout
  cudaStream_t probe_stream = nullptr;       // that read, beside the stuck NCCL kernel
  float* align_word = nullptr;
  SendPlan plan;
  std::vector<std::int64_t> recv_off;   // [R] first received row of each peer's block
  std::int64_t num_recv_rows = 0;       // in the last counts exchange (-1 counts as none)
  std::int64_t recv_capacity_rows = 0;  // what recv_rows and expert_rows hold; grows in load_case
};

class NcclBackend final : public BackendBase<NcclRank> {
 public:
  NcclBackend(const Scenario& base, const BenchOptions& options,
              const std::vector<LocalRank>& local_ranks, const std::vector<char>& unique_id)
      : BackendBase(local_ranks, options, "nccl", "nccl-a2a",
                    unique_id.empty() ? "one-process" : "mpi"),
        base_(base),
        options_(options),
        fp8_(base.moe.dispatch_dtype == DispatchDtype::kFp8),
        per_rank_(base.a2a_rows == A2aRows::kPerRank),
        num_ranks_(base.num_ranks()),
        msg_bytes_(gpu::LlMessage{base.moe.hidden, fp8_}.bytes()) {
    int version = 0;
    nccl_ok(ncclGetVersion(&version), "ncclGetVersion");
    info_.nccl_version =
        fmt::format("{}.{}.{}", version / 10000, version / 100 % 100, version % 100);
    max_rows_ = max_send_rows(base.moe.max_tokens_per_rank, base.moe.topk, num_ranks_, per_rank_);
    for (const LocalRank& l : local_ranks)
      ranks_.push_back(allocate(l));
    std::vector<ncclComm_t> comms(ranks_.size());
    if (unique_id.empty()) {
      std::vector<int> devices;
      for (auto& r : ranks_)
        devices.push_back(r.device);
      nccl_ok(ncclCommInitAll(comms.data(), static_cast<int>(devices.size()), devices.data()),
              "ncclCommInitAll");
    } else {
      EPSCOPE_ASSERT(ranks_.size() == 1 && unique_id.size() == sizeof(ncclUniqueId));
      ncclUniqueId id;
      std::memcpy(&id, unique_id.data(), sizeof id);
      EPSCOPE_CUDA_CHECK(cudaSetDevice(ranks_[0].device));
      nccl_ok(ncclCommInitRank(&comms[0], num_ranks_, id, ranks_[0].rank), "ncclCommInitRank");
    }
    for (std::size_t i = 0; i < ranks_.size(); ++i)
      ranks_[i].comm = comms[i];
  }

  ~NcclBackend() override {
    quiesce();
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
      cudaFreeHost(r.probe_counts);
      cudaStreamDestroy(r.probe_stream);
      close_rank(r);
    }
  }

  void load_case(const Scenario& scenario, const std::vector<RankTopk>& topk) override {
    const int k_max = scenario.moe.topk;
    const int epr = scenario.moe.num_experts / num_ranks_;
    load_ranks(
        scenario, topk, [&](NcclRank& r, const RankTopk& tk, const std::vector<float>& weights) {
          r.plan = plan_send_rows(tk, k_max, num_ranks_, epr, per_rank_);
          const SendPlan& plan = r.plan;
          EPSCOPE_ASSERT(plan.num_rows() <= max_rows_);
          std::vector<std::int32_t> entries = plan.token;
          entries.resize(static_cast<std::size_t>(3 * max_rows_));
          std::copy(plan.k.begin(), plan.k.end(), entries.begin() + max_rows_);
          std::copy(plan.expert.begin(), plan.expert.end(), entries.begin() + 2 * max_rows_);
          EPSCOPE_CUDA_CHECK(
              cudaMemcpy(r.entry, entries.data(), entries.size() * 4, cudaMemcpyHostToDevice));
          if (!plan.row_of_copy.empty())
            EPSCOPE_CUDA_CHECK(cudaMemcpy(r.row_idx, plan.row_of_copy.data(),
                                          plan.row_of_copy.size() * 4, cudaMemcpyHostToDevice));
          if (!weights.empty())
            EPSCOPE_CUDA_CHECK(
                cudaMemcpy(r.weights, weights.data(), weights.size() * 4, cudaMemcpyHostToDevice));
          EPSCOPE_CUDA_CHECK(cudaMemcpy(r.send_counts, plan.rows_to.data(), plan.rows_to.size() * 8,
                                        cudaMemcpyHostToDevice));
          EPSCOPE_CUDA_CHECK(
              gpu::launch_fill_input(r.rank, r.num_tokens, scenario.moe.hidden, r.x, r.stream));
          EPSCOPE_CUDA_CHECK(gpu::launch_pack_rows(
              r.rank, scenario.moe.hidden, fp8_, plan.num_rows(), r.x, r.entry, r.entry + max_rows_,
              r.entry + 2 * max_rows_, r.send_rows, r.stream));
          EPSCOPE_CUDA_CHECK(cudaStreamSynchronize(r.stream));
        });
    // What every rank receives in this case, so its receive buffers fit (untimed; the timed
    // dispatch exchanges the same counts again). The first case's exchange also makes NCCL's
    // connections with every peer before the first timed op (and before an injected fault could
    // leave one half made).
    for_each_rank([&](NcclRank& r) { mark_counts_missing(r); });
    post_counts(/*with_fault=*/false);
    wait_ranks("NCCL counts exchange, loading the case", options_.timeout_ms + kSetupGraceMs, true);
    for_each_rank([&](NcclRank& r) {
      lay_out_recv(r);
      if (r.num_recv_rows > r.recv_capacity_rows) grow_recv(r, r.num_recv_rows);
    });
  }

  void align(const std::vector<double>& start_offset_us) override {
    const double sleep_us = std::max(options_.sleep_us, kMinNcclSleepUs);
    for_each_rank([&](NcclRank& r) {
      mark_counts_missing(r);  // untimed, before the sleep
      EPSCOPE_CUDA_CHECK(gpu::launch_sleep(static_cast<std::int64_t>(sleep_us * 1e3), r.stream));
    });
    nccl_ok(ncclGroupStart(), "ncclGroupStart");
    for (auto& r : ranks_)
      nccl_ok(ncclAllReduce(r.align_word, r.align_word, 1, ncclFloat, ncclSum, r.comm, r.stream),
              "ncclAllReduce (aligned start)");
    nccl_ok(ncclGroupEnd(), "ncclGroupEnd (aligned start)");
    for_each_rank([&](NcclRank& r) {
      const double offset_us =
          start_offset_us.empty() ? 0.0 : start_offset_us[static_cast<std::size_t>(r.rank)];
      if (offset_us > 0)
        EPSCOPE_CUDA_CHECK(gpu::launch_sleep(static_cast<std::int64_t>(offset_us * 1e3), r.stream));
    });
  }

  std::vector<OpTiming> time(Op op) override {
    for_each_rank([](NcclRank& r) { EPSCOPE_CUDA_CHECK(cudaEventRecord(r.begin, r.stream)); });
    if (op != Op::kCombine) dispatch();
    if (op != Op::kDispatch) combine();
    for_each_rank([](NcclRank& r) { EPSCOPE_CUDA_CHECK(cudaEventRecord(r.end, r.stream)); });
    wait_ranks(op == Op::kDispatch ? "NCCL dispatch rows" : "NCCL combine rows",
               options_.timeout_ms, false);
    std::vector<OpTiming> timings;
    for (auto& r : ranks_) {
      float ms = 0;
      EPSCOPE_CUDA_CHECK(cudaEventElapsedTime(&ms, r.begin, r.end));
      timings.push_back({static_cast<double>(ms) * 1e3, -1, -1});
    }
    return timings;
  }

  void run_expert() override {
    for_each_rank([&](NcclRank& r) {
      EPSCOPE_CUDA_CHECK(gpu::launch_fill_row_outputs(r.rank, base_.moe.hidden, fp8_, per_rank_,
                                                      r.num_recv_rows, r.recv_rows, r.expert_rows,
                                                      r.stream));
      EPSCOPE_CUDA_CHECK(cudaStreamSynchronize(r.stream));
    });
  }

  std::vector<CheckResult> check() override {
    std::vector<CheckResult> results;
    for_each_rank([&](NcclRank& r) {
      CheckResult result;
      std::vector<std::uint8_t> host(static_cast<std::size_t>(r.num_recv_rows * msg_bytes_));
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
    });
    return results;
  }

  LinkProbe probe_link(int, bool) override {
    throw InputError("--link-probe", "nccl", "the link probe runs with --backend nvlink");
  }

 private:
  NcclRank allocate(const LocalRank& where) {
    NcclRank r;
    open_rank(r, where);
    const std::int64_t hidden = base_.moe.hidden;
    const std::int64_t max_tokens = base_.moe.max_tokens_per_rank;
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.x, alloc_bytes(max_tokens * hidden * 2)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.entry, alloc_bytes(3 * max_rows_ * 4)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.send_rows, alloc_bytes(max_rows_ * msg_bytes_)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.combined_rows, alloc_bytes(max_rows_ * hidden * 2)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.row_idx, alloc_bytes(max_tokens * base_.moe.topk * 4)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.weights, alloc_bytes(max_tokens * base_.moe.topk * 4)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.out, alloc_bytes(max_tokens * hidden * 2)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.send_counts, alloc_bytes(num_ranks_ * 8)));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.recv_counts, alloc_bytes(num_ranks_ * 8)));
    EPSCOPE_CUDA_CHECK(cudaMemset(r.send_counts, 0, alloc_bytes(num_ranks_ * 8)));
    EPSCOPE_CUDA_CHECK(cudaMallocHost(&r.host_recv_counts, alloc_bytes(num_ranks_ * 8)));
    EPSCOPE_CUDA_CHECK(cudaMallocHost(&r.probe_counts, alloc_bytes(num_ranks_ * 8)));
    EPSCOPE_CUDA_CHECK(cudaStreamCreateWithFlags(&r.probe_stream, cudaStreamNonBlocking));
    EPSCOPE_CUDA_CHECK(cudaMalloc(&r.align_word, 16));
    EPSCOPE_CUDA_CHECK(cudaMemset(r.align_word, 0, 16));
    std::fill(r.host_recv_counts, r.host_recv_counts + num_ranks_, 0);
    r.recv_off.assign(static_cast<std::size_t>(num_ranks_), 0);
    return r;
  }

  /// Lays out where each peer's rows land from the counts just copied to the host.
  void lay_out_recv(NcclRank& r) const {
    r.num_recv_rows = lay_out_recv_rows(
        std::span<const std::int64_t>(r.host_recv_counts, static_cast<std::size_t>(num_ranks_)),
        r.recv_off);
  }

  /// Replaces the rank's receive buffers by ones of `rows` rows (load time; the rank's device is
  /// current and its stream idle). Out of device memory is a RunFailure naming the size.
  void grow_recv(NcclRank& r, std::int64_t rows) {
    EPSCOPE_CUDA_CHECK(cudaFree(r.recv_rows));
    EPSCOPE_CUDA_CHECK(cudaFree(r.expert_rows));
    r.recv_rows = nullptr;
    r.expert_rows = nullptr;
    r.recv_capacity_rows = 0;
    const RecvBytes bytes = recv_buffer_bytes(rows, base_.moe.hidden, fp8_);
    cudaError_t err = cudaMalloc(&r.recv_rows, alloc_bytes(bytes.messages));
    if (err == cudaSuccess) err = cudaMalloc(&r.expert_rows, alloc_bytes(bytes.expert_rows));
    if (err != cudaSuccess) {
      abort_all();
      throw RunFailure(fmt::format(
          "rank {}: cannot allocate {:.2f} GB of receive buffers for the {} rows it receives "
          "with tokens {} ({}); NCCL communicators aborted",
          r.rank, static_cast<double>(bytes.total()) / 1e9, rows,
          format_token_list(scenario_.tokens_per_rank), cudaGetErrorString(err)));
    }
    r.recv_capacity_rows = rows;
  }

  /// Sets every device count to -1, "no count from this peer yet", on the rank's stream: what a
  /// timeout reads in the counts exchange that follows.
  void mark_counts_missing(NcclRank& r) const {
    EPSCOPE_CUDA_CHECK(
        cudaMemsetAsync(r.recv_counts, 0xff, static_cast<std::size_t>(num_ranks_) * 8, r.stream));
  }

  bool skips_sends(const NcclRank& r) const {
    return fault_hits(options_.fault, r.rank) && options_.fault.kind == FaultKind::kNeverSend;
  }

  /// An NCCL call: on failure every local communicator is aborted, then the error is thrown.
  void nccl_ok(ncclResult_t res, const char* what) {
    if (res == ncclSuccess) return;
    const std::string detail = ncclGetLastError(nullptr);
    abort_all();
    throw RunFailure(fmt::format("{}: {} ({}); NCCL communicators aborted", what,
                                 ncclGetErrorString(res), detail));
  }

  /// Aborts every local communicator at once (one process's communicators share connections,
  /// so NCCL reclaims them as a group). Kernels still waiting on a peer return.
  void abort_all() {
    if (aborted_) return;
    aborted_ = true;
    ncclGroupStart();
    for (auto& r : ranks_)
      if (r.comm != nullptr) ncclCommAbort(r.comm);
    ncclGroupEnd();
    for (auto& r : ranks_)
      r.comm = nullptr;
  }

  /// Waits until every local stream is idle, polling each communicator's asynchronous error.
  /// On an NCCL or CUDA error or after `timeout_ms`, aborts every local communicator and throws
  /// one error naming each rank that was still waiting; in the counts exchange (`counts`) also
  /// the peers whose count never arrived.
  void wait_ranks(const std::string& phase, double timeout_ms, bool counts) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<bool> done(ranks_.size(), false);
    while (true) {
      bool all_done = true;
      for (std::size_t i = 0; i < ranks_.size(); ++i) {
        if (done[i]) continue;
        NcclRank& r = ranks_[i];
        ncclResult_t async = ncclSuccess;
        const ncclResult_t got = ncclCommGetAsyncError(r.comm, &async);
        if (got != ncclSuccess || (async != ncclSuccess && async != ncclInProgress)) {
          const ncclResult_t bad = got != ncclSuccess ? got : async;
          const std::string detail = ncclGetLastError(r.comm);
          abort_all();
          throw RunFailure(
              fmt::format("rank {}: NCCL error in {}: {} ({}); NCCL communicators "
                          "aborted",
                          r.rank, phase, ncclGetErrorString(bad), detail));
        }
        const cudaError_t q = cudaStreamQuery(r.stream);
        if (q == cudaSuccess) {
          done[i] = true;
          continue;
        }
        if (q != cudaErrorNotReady) {
          abort_all();
          throw RunFailure(fmt::format("rank {}: CUDA error in {}: {}; NCCL communicators aborted",
                                       r.rank, phase, cudaGetErrorString(q)));
        }
        all_done = false;
      }
      if (all_done) return;
      const std::chrono::duration<double, std::milli> waited =
          std::chrono::steady_clock::now() - start;
      if (waited.count() > timeout_ms) throw_timeout(phase, timeout_ms, counts, done);
      std::this_thread::yield();
    }
  }

  [[noreturn]] void throw_timeout(const std::string& phase, double timeout_ms, bool counts,
                                  const std::vector<bool>& done) {
    std::vector<std::string> lines;
    for (std::size_t i = 0; i < ranks_.size(); ++i) {
      if (done[i]) continue;
      const NcclRank& r = ranks_[i];
      // While NCCL's kernel still waits, a copy on a side stream reads the counts: a count still
      // -1 never arrived (peers NCCL had not reached yet may be among them).
      std::vector<int> missing;
      if (counts && read_counts_now(r))
        for (int p = 0; p < num_ranks_; ++p)
          if (r.probe_counts[p] < 0) missing.push_back(p);
      if (std::find(missing.begin(), missing.end(), r.rank) != missing.end()) {
        lines.push_back(
            fmt::format("rank {} timed out after {} ms in {}: its own part had not "
                        "run (this rank is late itself)",
                        r.rank, timeout_ms, phase));
      } else if (missing.empty()) {
        lines.push_back(
            fmt::format("rank {} timed out after {} ms in {} (NCCL cannot tell which "
                        "peer stopped)",
                        r.rank, timeout_ms, phase));
      } else {
        lines.push_back(fmt::format("rank {} timed out after {} ms waiting for rank{} {} ({})",
                                    r.rank, timeout_ms, missing.size() > 1 ? "s" : "",
                                    fmt::join(missing, ", "), phase));
      }
    }
    abort_all();
    throw RunFailure(fmt::format("{}; NCCL communicators aborted", fmt::join(lines, "; ")));
  }

  /// Copies the rank's device counts to probe_counts on the side stream (bounded wait); false
  /// if the copy did not finish.
  bool read_counts_now(const NcclRank& r) const {
    if (cudaSetDevice(r.device) != cudaSuccess ||
        cudaMemcpyAsync(r.probe_counts, r.recv_counts, static_cast<std::size_t>(num_ranks_) * 8,
                        cudaMemcpyDeviceToHost, r.probe_stream) != cudaSuccess)
      return false;
    const auto start = std::chrono::steady_clock::now();
    while (true) {
      const cudaError_t q = cudaStreamQuery(r.probe_stream);
      if (q == cudaSuccess) return true;
      if (q != cudaErrorNotReady) return false;
      const std::chrono::duration<double, std::milli> waited =
          std::chrono::steady_clock::now() - start;
      if (waited.count() > kProbeMs) return false;
      std::this_thread::yield();
    }
  }

  /// Destructor path: an exception may have left NCCL kernels waiting for a peer. Give them the
  /// timeout to finish, then abort.
  void quiesce() noexcept {
    if (aborted_) return;
    try {
      wait_ranks("shutdown", options_.timeout_ms, false);
    } catch (const std::exception&) {
      // wait_ranks aborted the communicators.
    }
  }

  /// Every local rank sends its per-destination row counts to every rank (grouped send/recv)
  /// and queues the copy of what it receives to the host. `with_fault`: a never-send rank posts
  /// nothing.
  void post_counts(bool with_fault) {
    nccl_ok(ncclGroupStart(), "ncclGroupStart");
    for (auto& r : ranks_) {
      if (with_fault && skips_sends(r)) continue;
      for (int p = 0; p < num_ranks_; ++p) {
        nccl_ok(ncclSend(r.send_counts + p, 1, ncclInt64, p, r.comm, r.stream),
                "ncclSend (counts)");
        nccl_ok(ncclRecv(r.recv_counts + p, 1, ncclInt64, p, r.comm, r.stream),
                "ncclRecv (counts)");
      }
    }
    nccl_ok(ncclGroupEnd(), "ncclGroupEnd (counts)");
    for_each_rank([&](NcclRank& r) {
      EPSCOPE_CUDA_CHECK(cudaMemcpyAsync(r.host_recv_counts, r.recv_counts,
                                         static_cast<std::size_t>(num_ranks_) * 8,
                                         cudaMemcpyDeviceToHost, r.stream));
    });
  }

  void dispatch() {
    const FaultSpec& fault = options_.fault;
    for_each_rank([&](NcclRank& r) {
      if (fault_hits(fault, r.rank) && fault.kind == FaultKind::kLate)
        EPSCOPE_CUDA_CHECK(
            gpu::launch_sleep(static_cast<std::int64_t>(fault.delay_us * 1e3), r.stream));
    });
    // exit: the process dies as its dispatch begins, before its counts go out.
    for (auto& r : ranks_)
      if (fault_hits(fault, r.rank) && fault.kind == FaultKind::kExit) exit_mid_dispatch(r.rank);
    post_counts(/*with_fault=*/true);
    wait_ranks("NCCL counts exchange, during dispatch", options_.timeout_ms, true);
    // never-send under MPI: this process drives only the silent rank. It stalls as a hung rank
    // would, past its peers' deadline (so they report first), then fails.
    for (auto& r : ranks_)
      if (skips_sends(r)) {
        std::this_thread::sleep_for(
            std::chrono::duration<double, std::milli>(options_.timeout_ms + kStallExtraMs));
        abort_all();
        throw RunFailure(
            fmt::format("rank {} sent nothing in dispatch (--fault {}); NCCL "
                        "communicators aborted",
                        r.rank, to_string(fault)));
      }
    for (auto& r : ranks_) {
      lay_out_recv(r);
      if (r.num_recv_rows > r.recv_capacity_rows) {
        abort_all();
        throw RunFailure(fmt::format(
            "rank {}: its peers announced {} rows in dispatch, more than the {} its receive "
            "buffers were sized for when the case was loaded; NCCL communicators aborted",
            r.rank, r.num_recv_rows, r.recv_capacity_rows));
      }
    }
    nccl_ok(ncclGroupStart(), "ncclGroupStart");
    for (auto& r : ranks_) {
      if (skips_sends(r)) continue;
      for (int p = 0; p < num_ranks_; ++p) {
        const auto sp = static_cast<std::size_t>(p);
        if (r.plan.rows_to[sp] > 0)
          nccl_ok(ncclSend(r.send_rows + r.plan.first_row[sp] * msg_bytes_,
                           static_cast<std::size_t>(r.plan.rows_to[sp] * msg_bytes_), ncclUint8, p,
                           r.comm, r.stream),
                  "ncclSend (dispatch rows)");
        if (r.host_recv_counts[p] > 0)
          nccl_ok(ncclRecv(r.recv_rows + r.recv_off[sp] * msg_bytes_,
                           static_cast<std::size_t>(r.host_recv_counts[p] * msg_bytes_), ncclUint8,
                           p, r.comm, r.stream),
                  "ncclRecv (dispatch rows)");
      }
    }
    nccl_ok(ncclGroupEnd(), "ncclGroupEnd (dispatch rows)");
  }

  void combine() {
    const std::int64_t row_bytes = std::int64_t{base_.moe.hidden} * 2;
    const std::int64_t row_elems = base_.moe.hidden;
    nccl_ok(ncclGroupStart(), "ncclGroupStart");
    for (auto& r : ranks_)
      for (int p = 0; p < num_ranks_; ++p) {
        const auto sp = static_cast<std::size_t>(p);
        if (r.host_recv_counts[p] > 0)
          nccl_ok(ncclSend(r.expert_rows + r.recv_off[sp] * row_elems,
                           static_cast<std::size_t>(r.host_recv_counts[p] * row_bytes), ncclUint8,
                           p, r.comm, r.stream),
                  "ncclSend (combine rows)");
        if (r.plan.rows_to[sp] > 0)
          nccl_ok(ncclRecv(r.combined_rows + r.plan.first_row[sp] * row_elems,
                           static_cast<std::size_t>(r.plan.rows_to[sp] * row_bytes), ncclUint8, p,
                           r.comm, r.stream),
                  "ncclRecv (combine rows)");
      }
    nccl_ok(ncclGroupEnd(), "ncclGroupEnd (combine rows)");
    // Per-expert rows are weighted; per-rank rows already hold their rank's weighted sum.
    for_each_rank([&](NcclRank& r) {
      EPSCOPE_CUDA_CHECK(gpu::launch_reduce_rows(base_.moe.hidden, r.num_tokens, base_.moe.topk,
                                                 r.row_idx, per_rank_ ? nullptr : r.weights,
                                                 r.combined_rows, r.out, r.stream));
    });
  }

  Scenario base_;
  BenchOptions options_;
  bool fp8_;
  bool per_rank_;
  int num_ranks_;
  std::int64_t msg_bytes_;
  std::int64_t max_rows_ = 0;
  bool aborted_ = false;
};

}  // namespace

std::unique_ptr<Backend> make_nccl_backend(const Scenario& base, const BenchOptions& options,
                                           const std::vector<LocalRank>& local_ranks,
                                           const std::vector<char>& unique_id) {
  return std::make_unique<NcclBackend>(base, options, local_ranks, unique_id);
}

std::vector<char> make_nccl_unique_id() {
  ncclUniqueId id;
  throw_on_nccl_error(ncclGetUniqueId(&id), "ncclGetUniqueId", __FILE__, __LINE__);
  std::vector<char> out(sizeof id);
  std::memcpy(out.data(), &id, sizeof id);
  return out;
}

}  // namespace epscope::bench
