// Launchers of epscope's own dispatch/combine kernels over NVLink peer memory. Each takes raw
// pointers (local or peer-mapped) and a stream and returns the launch's cudaError_t; the bench's
// host layer turns failures into exceptions. Buffer layouts are documented at each struct.
//
// Signalling: every flag is a uint64 `(epoch << 32) | value`, written with st.release.sys and
// polled with ld.acquire.sys. The epoch grows by one per operation, so flags are never reset.
// Every wait has a deadline; on timeout the waiter records `kind << 16 | peer` in `error` (first
// one wins) and the kernel returns early.
//
// Dispatch completion: each rank's count array is followed by R "done" counters (uint64,
// monotone, never reset). Every dispatch block, once its data and counts are out, fences at
// system scope and adds one to done[rank] on every rank; rank d's dispatch is complete once
// done[src] on d has reached epoch * num_blocks for every src (num_blocks is the same on every
// rank). Counts are plain stores covered by that fence, written before the data.
//
// Combine launches are programmatic dependents of the kernel before them (griddepcontrol): their
// blocks may start while the dispatch finishes and wait in griddepcontrol.wait.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "gpu/layout.h"

namespace epscope::gpu {

/// What timed out, stored in the error word as (kind << 16) | peer rank.
enum class WaitKind : int {
  kNone = 0,
  kBarrier = 1,
  kLlDispatchCount = 2,
  kLlCombineReady = 3,
  kHtDispatchCount = 4,
  kHtCombineReady = 5,
};

/// Global-timer stamps of one block (ns): entry, the middle event, exit. Dispatch: middle = this
/// rank's data and counts are out (transfer ends, waiting for senders begins). Combine: middle =
/// every rank's expert output is ready (waiting ends, transfer begins).
struct BlockStamps {
  std::uint64_t start_ns;
  std::uint64_t mid_ns;
  std::uint64_t end_ns;
  std::uint64_t pad;
};

/// Fields every signalling kernel needs.
struct SyncArgs {
  int num_ranks = 0;
  int rank = 0;
  std::uint64_t epoch = 0;
  std::int64_t timeout_ns = 0;
  int* error = nullptr;           // local, 0 = fine
  BlockStamps* stamps = nullptr;  // local [num_blocks], may be null
  /// Fault injection (bench --fault), dispatch only: > 0 holds every block's completion signal
  /// back by this many ns, < 0 never sends it. 0 = no fault.
  std::int64_t fault_ns = 0;
};

// ---- aligned start -------------------------------------------------------------------------

/// One pointer per rank, peer-mapped (passed to kernels by value).
template <typename T>
struct PerRank {
  T* ptr[kMaxPeers] = {};
};

/// Sleeps `sleep_ns`, then a barrier over all ranks (each rank stores its epoch into
/// `flags[r][rank]` of every rank r and waits for all of its own), then sleeps `delay_ns` (the
/// rank's start offset). One block.
cudaError_t launch_aligned_start(const SyncArgs& sync, PerRank<std::uint64_t> flags,
                                 std::int64_t sleep_ns, std::int64_t delay_ns, cudaStream_t stream);

/// A GPU sleep of `sleep_ns` (the NCCL backend's aligned start puts an all-reduce after it).
cudaError_t launch_sleep(std::int64_t sleep_ns, cudaStream_t stream);

// ---- low-latency (LL) ------------------------------------------------------------------------

/// LL dispatch. Receive buffer of rank r: `recv[r]` = [local expert][source rank][max_tokens]
/// messages LlMessage::slot_bytes() apart; `recv_flags[r]` = [local expert][source rank] counts,
/// then [source rank] done counters. FP8 needs hidden % 512 == 0 (16-byte aligned messages). Slots
/// are assigned deterministically (token-major order within each expert). `slots` receives the slot
/// of every (token, k) copy (-1 for k without expert) for the combine.
struct DispatchArgs {
  SyncArgs sync;
  int hidden = 0;
  int topk = 0;
  int num_experts = 0;
  int max_tokens = 0;
  bool fp8 = true;
  int num_tokens = 0;
  const std::uint16_t* x = nullptr;        // bf16 [num_tokens, hidden]
  const std::int32_t* topk_idx = nullptr;  // [num_tokens, topk], -1 = none
  const float* topk_weights = nullptr;     // [num_tokens, topk]
  std::uint8_t* recv[kMaxPeers] = {};
  std::uint64_t* recv_flags[kMaxPeers] = {};
  std::int32_t* slots = nullptr;  // LL: [num_tokens, topk] per copy; HT: [num_tokens, R] per rank
};
using LlDispatchArgs = DispatchArgs;
cudaError_t launch_ll_dispatch(const LlDispatchArgs& args, int num_blocks, cudaStream_t stream);

/// LL combine, pull style: once every rank has flagged its expert outputs ready, each home rank
/// loads the BF16 row of each of its copies from `expert_out[r]` ([local expert][source rank]
/// [max_tokens][hidden], same indexing as the dispatch receive buffer) and writes
/// out[t] = sum_k weight[t][k] * row(t, k), accumulated in fp32.
struct CombineArgs {
  SyncArgs sync;
  int hidden = 0;
  int topk = 0;
  int num_experts = 0;
  int max_tokens = 0;
  int num_tokens = 0;
  const std::int32_t* topk_idx = nullptr;
  const float* topk_weights = nullptr;  // [num_tokens, topk]
  const std::int32_t* slots = nullptr;  // from the dispatch
  const std::uint16_t* expert_out[kMaxPeers] = {};
  std::uint64_t* ready_flags[kMaxPeers] = {};  // rank r: [source rank]
  std::uint16_t* out = nullptr;                // bf16 [num_tokens, hidden]
};
using LlCombineArgs = CombineArgs;
cudaError_t launch_ll_combine(const LlCombineArgs& args, int num_blocks, cudaStream_t stream);

/// Test expert: fills this rank's expert outputs from the received headers with
/// expert_output_value(src, token, global expert, col). Untimed.
cudaError_t launch_ll_fill_expert_out(int num_ranks, int rank, int hidden, int num_experts,
                                      int max_tokens, bool fp8, const std::uint8_t* recv,
                                      const std::uint64_t* recv_flags, std::uint16_t* expert_out,
                                      cudaStream_t stream);

// ---- high-throughput (HT) --------------------------------------------------------------------

/// HT dispatch: one record per (token, destination rank). Receive buffer of rank r: `recv[r]` =
/// [source rank][max_tokens] records HtRecord::slot_bytes() apart; `recv_flags[r]` = [source rank]
/// counts, then [source rank] done counters. `slots` receives the slot of token t at rank d
/// ([num_tokens, num_ranks], -1 = not sent).
using HtDispatchArgs = DispatchArgs;
cudaError_t launch_ht_dispatch(const HtDispatchArgs& args, int num_blocks, cudaStream_t stream);

/// HT combine, pull style with reduction: out[t] = sum over ranks d holding t of
/// expert_out[d][rank][slot(t, d)] ([source rank][max_tokens][hidden] bf16 on rank d).
using HtCombineArgs = CombineArgs;
cudaError_t launch_ht_combine(const HtCombineArgs& args, int num_blocks, cudaStream_t stream);

/// Test expert for HT: expert_out[src][slot] = expert_output_value(src, token, rank, col).
cudaError_t launch_ht_fill_expert_out(int num_ranks, int rank, int hidden, int topk, int max_tokens,
                                      bool fp8, const std::uint8_t* recv,
                                      const std::uint64_t* recv_flags, std::uint16_t* expert_out,
                                      cudaStream_t stream);

// ---- module loading ----------------------------------------------------------------------------

/// Loads every kernel of this library on the current device. With CUDA's lazy loading, the first
/// launch of a kernel may wait for the device to go idle; if a barrier kernel is already waiting
/// there for a peer the host has not reached yet, the two deadlock. Call once per device before
/// the first launch.
cudaError_t load_all_kernels();
cudaError_t load_ll_kernels();
cudaError_t load_ht_kernels();
cudaError_t load_row_kernels();

// ---- helpers ---------------------------------------------------------------------------------

/// Writes input_value(rank, t, col) into x (bf16 [num_tokens, hidden]).
cudaError_t launch_fill_input(int rank, int num_tokens, int hidden, std::uint16_t* x,
                              cudaStream_t stream);

/// Link limit: every rank stores (or loads, when `pull`) `bytes_per_peer` to (from) every other
/// rank's buffer at the same time, with `num_blocks` blocks. `peer_buf[r]` must hold
/// num_ranks * bytes_per_peer bytes.
cudaError_t launch_link_probe(int num_ranks, int rank, PerRank<std::uint8_t> peer_buf,
                              std::int64_t bytes_per_peer, bool pull, int num_blocks,
                              cudaStream_t stream);

// ---- row kernels for the NCCL backend ---------------------------------------------------------

/// Packs row i of `send_buf` as the LL message of copy (entry_token[i], entry_k[i]) with expert
/// entry_expert[i] in the header. Rows are LlMessage{hidden, fp8}.bytes() apart. Untimed.
cudaError_t launch_pack_rows(int rank, int hidden, bool fp8, std::int64_t num_rows,
                             const std::uint16_t* x, const std::int32_t* entry_token,
                             const std::int32_t* entry_k, const std::int32_t* entry_expert,
                             std::uint8_t* send_buf, cudaStream_t stream);

/// Test expert on received rows: out_rows[i] = expert_output_value(src, token, tag, col) with
/// src/token/expert from row i's header; tag = the header's expert, or `rank` when `per_rank`.
cudaError_t launch_fill_row_outputs(int rank, int hidden, bool fp8, bool per_rank,
                                    std::int64_t num_rows, const std::uint8_t* recv_rows,
                                    std::uint16_t* out_rows, cudaStream_t stream);

/// out[t] = sum_j weight(t, j) * rows[row_idx[t * per_token + j]] (fp32 accumulate, skip -1);
/// weight = weights[t * per_token + j], or 1 when weights is null.
cudaError_t launch_reduce_rows(int hidden, int num_tokens, int per_token,
                               const std::int32_t* row_idx, const float* weights,
                               const std::uint16_t* rows, std::uint16_t* out, cudaStream_t stream);

}  // namespace epscope::gpu
