// High-throughput (HT) dispatch and combine over NVLink peer memory. Layouts: kernels.h.
//
// Dispatch (push): one record per (token, destination rank), deduplicated: a token with three
// experts on rank d sends one record to d carrying all three indices. Block b owns a contiguous
// token range; slots per destination are token-major (the same on every run). Each warp item is
// (token, 512-column chunk): the chunk is loaded and quantized once and stored to every
// destination rank of the token with one 16-byte store per lane. Every rank gets its count, zero
// included, and every block signals "done" to every rank (kernels.h). Receive slots start on
// 128-byte lines (HtRecord::slot_bytes), and every store but a short last chunk's covers whole
// 32-byte sectors: the record tail goes out as one store padded to a sector and, when each warp
// takes whole rows, a row's scales as one store.
//
// Combine (pull, with reduction): after the ready-flag exchange each home rank loads, for every
// token and every rank holding it, that rank's BF16 output row over NVLink and sums in fp32.
#include <cuda_runtime.h>

#include "gpu/device.cuh"

namespace epscope::gpu {
namespace {

constexpr int kHtThreads = 1024;        // dispatch: stores need few registers
constexpr int kHtCombineThreads = 512;  // combine: one 32-byte row slice per rank in flight
/// Words of a record's tail per lane: [idx | weights] of top-k <= 32, token, rank, sector padding.
constexpr int kTailWordsPerLane = 3;

using device::Bf16x16;
using device::lane_id;
using device::warp_id;

/// Bit d set when token t has at least one expert on rank d.
__device__ __forceinline__ unsigned rank_mask(const std::int32_t* topk_idx, int t, int topk,
                                              int experts_per_rank) {
  unsigned mask = 0;
  for (int k = 0; k < topk; ++k) {
    const int e = topk_idx[t * topk + k];
    if (e >= 0) mask |= 1u << (e / experts_per_rank);
  }
  return mask;
}

/// kWholeRows: each warp takes whole rows (for_each_chunk) and stores a row's FP8 scales in one
/// store per destination at its last chunk, instead of one 16-byte store per chunk
/// (launch_ht_dispatch picks it when every warp has a row; docs/performance.md).
template <bool kFp8, bool kWholeRows>
__global__ void __launch_bounds__(kHtThreads) ht_dispatch_kernel(HtDispatchArgs a) {
  const device::DispatchBlock blk = device::begin_dispatch(a);
  int* const smem = blk.smem;
  const int num_ranks = a.sync.num_ranks, rank = a.sync.rank, topk = a.topk;
  const int experts_per_rank = blk.experts_per_rank, t0 = blk.t0, t1 = blk.t1;

  // smem: slot_base[kMaxPeers], total[kMaxPeers], own slots [per_block * num_ranks].
  int* slot_base = smem;
  int* total = smem + kMaxPeers;
  int* own_slot = smem + 2 * kMaxPeers;
  if (threadIdx.x < 2 * kMaxPeers) smem[threadIdx.x] = 0;
  __syncthreads();
  // Records per destination of all tokens and of the tokens before t0, one atomic per warp.
  for (int t = threadIdx.x; t - lane_id() < a.num_tokens; t += blockDim.x) {
    const unsigned mask = t < a.num_tokens ? rank_mask(a.topk_idx, t, topk, experts_per_rank) : 0u;
    for (int d = 0; d < num_ranks; ++d) {
      const bool sent = mask >> d & 1u;
      const unsigned all = __ballot_sync(0xffffffffu, sent);
      const unsigned before = __ballot_sync(0xffffffffu, sent && t < t0);
      if (lane_id() == 0 && all != 0u) {
        atomicAdd(&total[d], __popc(all));
        if (before != 0u) atomicAdd(&slot_base[d], __popc(before));
      }
    }
  }
  __syncthreads();
  if (warp_id() == 0) {
    const unsigned lower = (1u << lane_id()) - 1u;
    for (int base = t0; base < t1; base += 32) {
      const int t = base + lane_id();
      const unsigned mask = t < t1 ? rank_mask(a.topk_idx, t, topk, experts_per_rank) : 0u;
      for (int d = 0; d < num_ranks; ++d) {
        const bool sent = mask >> d & 1u;
        const unsigned ballot = __ballot_sync(0xffffffffu, sent);
        const int slot = sent ? slot_base[d] + __popc(ballot & lower) : -1;
        if (t < t1) {
          own_slot[(t - t0) * num_ranks + d] = slot;
          a.slots[t * num_ranks + d] = slot;
        }
        __syncwarp();
        if (lane_id() == 0) slot_base[d] += __popc(ballot);
        __syncwarp();
      }
    }
  }
  // Counts, zero included, from block 0.
  if (blockIdx.x == 0 && static_cast<int>(threadIdx.x) < num_ranks)
    a.recv_flags[threadIdx.x][rank] =
        device::make_flag(a.sync.epoch, static_cast<unsigned>(total[threadIdx.x]));
  __syncthreads();

  const HtRecord rec{a.hidden, topk, kFp8};
  const std::int64_t rec_bytes = rec.slot_bytes();
  const auto record = [&](int d, int slot) {
    return a.recv[d] + (static_cast<std::int64_t>(rank) * a.max_tokens + slot) * rec_bytes;
  };
  const int num_chunks = (a.hidden + kChunkCols - 1) / kChunkCols;
  const int tail_words = static_cast<int>((rec.tail_end() - rec.idx_offset()) / 4);
  float4 row_scales{};  // kWholeRows: lane c holds chunk c's four scales
  device::for_each_chunk<kWholeRows>(
      a.x, a.hidden, t0, t1, [&](int t, int chunk, int base, const Bf16x16& v) {
        const device::ChunkPayload p = device::make_payload<kFp8>(v);
        if (kWholeRows && lane_id() == chunk) row_scales = p.scales;
        const int my_slot = lane_id() < num_ranks ? own_slot[(t - t0) * num_ranks + lane_id()] : -1;
        // The tail's inputs, loaded before the stores (they could alias): word w = lane + 32 j.
        int tail_e[kTailWordsPerLane];
        float tail_w[kTailWordsPerLane];
        if (chunk == 0) {
#pragma unroll
          for (int j = 0; j < kTailWordsPerLane; ++j) {
            const int w = lane_id() + 32 * j, k = w < topk ? w : w - topk;
            tail_e[j] = w < 2 * topk ? a.topk_idx[t * topk + k] : -1;
            tail_w[j] = w >= topk && w < 2 * topk ? a.topk_weights[t * topk + k] : 0.0f;
          }
        }
        for (int d = 0; d < num_ranks; ++d) {
          const int slot = __shfl_sync(0xffffffffu, my_slot, d);
          if (slot < 0) continue;
          std::uint8_t* r = record(d, slot);
          device::store_chunk_data<kFp8>(r, base, a.hidden, p);
          float* const scales = reinterpret_cast<float*>(r + rec.scale_offset());
          if constexpr (kFp8 && kWholeRows) {  // the row's scales in one store, at its last chunk
            if (chunk == num_chunks - 1 && lane_id() < num_chunks)
              device::store_v4(scales + 4 * lane_id(), device::as_uint4(row_scales));
          } else if constexpr (kFp8) {
            device::store_chunk_scales(scales, base, a.hidden, p);
          }
          if (chunk == 0) {  // the tail in one store of whole sectors (HtRecord::tail_end)
            int* const tail = reinterpret_cast<int*>(r + rec.idx_offset());
#pragma unroll
            for (int j = 0; j < kTailWordsPerLane; ++j) {
              const int w = lane_id() + 32 * j;
              if (w >= tail_words) break;
              const bool here = tail_e[j] >= 0 && tail_e[j] / experts_per_rank == d;
              int word = 0;
              if (w < topk)
                word = here ? tail_e[j] % experts_per_rank : -1;
              else if (w < 2 * topk)
                word = __float_as_int(here ? tail_w[j] : 0.0f);
              else if (w == 2 * topk)
                word = t;
              else if (w == 2 * topk + 1)
                word = rank;
              tail[w] = word;
            }
          }
        }
      });

  device::signal_block_done(a.sync, a.recv_flags, num_ranks);
  device::record_stamp(a.sync.stamps, 1, device::now_ns());
  device::wait_all_done(a.sync, a.recv_flags[rank] + num_ranks, blk.deadline_ns,
                        WaitKind::kHtDispatchCount);
  device::record_stamp(a.sync.stamps, 2, device::now_ns());
}

__global__ void __launch_bounds__(kHtCombineThreads) ht_combine_kernel(HtCombineArgs a) {
  const int num_ranks = a.sync.num_ranks, rank = a.sync.rank;
  device::combine_items(a, WaitKind::kHtCombineReady, [&](int t, int base) {
    const int my_slot = lane_id() < num_ranks ? a.slots[t * num_ranks + lane_id()] : -1;
    Bf16x16 rows[kMaxPeers] = {};
    bool have[kMaxPeers];
#pragma unroll
    for (int d = 0; d < kMaxPeers; ++d) {
      const int slot = __shfl_sync(0xffffffffu, my_slot, d);
      have[d] = d < num_ranks && slot >= 0;
      if (!have[d]) continue;
      const std::int64_t row = static_cast<std::int64_t>(rank) * a.max_tokens + slot;
      rows[d] = device::load_chunk_once(a.expert_out[d] + row * a.hidden, base, a.hidden);
    }
    float acc[16] = {};
#pragma unroll
    for (int d = 0; d < kMaxPeers; ++d) {
      if (!have[d]) continue;
      float f[16];
      device::unpack(rows[d], f);
#pragma unroll
      for (int i = 0; i < 16; ++i)
        acc[i] += f[i];
    }
    device::store_chunk(a.out + static_cast<std::int64_t>(t) * a.hidden, base, a.hidden,
                        device::pack_bf16(acc));
  });
}

/// One block per source rank: rows [0, count) get the test expert's output.
__global__ void ht_fill_expert_out_kernel(int num_ranks, int rank, int hidden, int topk,
                                          int max_tokens, bool fp8, const std::uint8_t* recv,
                                          const std::uint64_t* recv_flags,
                                          std::uint16_t* expert_out) {
  const int src = static_cast<int>(blockIdx.y);
  const int count = static_cast<int>(recv_flags[src] & 0xffffffffu);
  const HtRecord rec{hidden, topk, fp8};
  for (int slot = static_cast<int>(blockIdx.x); slot < count; slot += gridDim.x) {
    const std::int64_t row = static_cast<std::int64_t>(src) * max_tokens + slot;
    const int token =
        *reinterpret_cast<const int*>(recv + row * rec.slot_bytes() + rec.meta_offset());
    for (int col = threadIdx.x; col < hidden; col += blockDim.x) {
      const __nv_bfloat16 v = __float2bfloat16(expert_output_value(src, token, rank, col));
      expert_out[row * hidden + col] = *reinterpret_cast<const std::uint16_t*>(&v);
    }
  }
  (void)num_ranks;
}

}  // namespace

cudaError_t launch_ht_dispatch(const DispatchArgs& args, int num_blocks, cudaStream_t stream) {
  if (!device::dispatch_shape_ok(args, num_blocks)) return cudaErrorInvalidValue;
  const int per_block = device::tokens_per_block(args.num_tokens, num_blocks);
  const std::size_t smem =
      sizeof(int) * (2 * kMaxPeers + static_cast<std::size_t>(per_block) * args.sync.num_ranks);
  // Whole rows per warp when every warp of a block gets at least one row, the chunks are whole
  // and a row's scales fit one store (lanes 0-15). 4096 tokens on 4xH200: 298 us against 314 with
  // chunks per warp, in one build (docs/performance.md).
  const int num_chunks = args.hidden / kChunkCols;
  const bool whole_rows =
      args.fp8 && per_block >= kHtThreads / 32 && args.hidden % kChunkCols == 0 && num_chunks <= 16;
  return device::launch(!args.fp8    ? ht_dispatch_kernel<false, false>
                        : whole_rows ? ht_dispatch_kernel<true, true>
                                     : ht_dispatch_kernel<true, false>,
                        num_blocks, kHtThreads, smem, stream, args);
}

cudaError_t launch_ht_combine(const HtCombineArgs& args, int num_blocks, cudaStream_t stream) {
  if (num_blocks < 1 || args.hidden % kScaleBlock != 0) return cudaErrorInvalidValue;
  return device::launch(ht_combine_kernel, num_blocks, kHtCombineThreads, 0, stream, args,
                        /*dependent=*/true);
}

cudaError_t launch_ht_fill_expert_out(int num_ranks, int rank, int hidden, int topk, int max_tokens,
                                      bool fp8, const std::uint8_t* recv,
                                      const std::uint64_t* recv_flags, std::uint16_t* expert_out,
                                      cudaStream_t stream) {
  ht_fill_expert_out_kernel<<<dim3(128, static_cast<unsigned>(num_ranks)), 256, 0, stream>>>(
      num_ranks, rank, hidden, topk, max_tokens, fp8, recv, recv_flags, expert_out);
  return cudaGetLastError();
}

cudaError_t load_ht_kernels() {
  return device::load_kernels(ht_dispatch_kernel<true, false>, ht_dispatch_kernel<true, true>,
                              ht_dispatch_kernel<false, false>, ht_combine_kernel,
                              ht_fill_expert_out_kernel);
}

}  // namespace epscope::gpu
