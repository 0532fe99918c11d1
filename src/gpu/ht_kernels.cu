// High-throughput (HT) dispatch and combine over NVLink peer memory. Layouts: kernels.h.
//
// Dispatch (push): one record per (token, destination rank), deduplicated: a token with three
// experts on rank d sends one record to d carrying all three indices. Block b owns a contiguous
// token range; slots per destination are token-major (the same on every run). Each warp item is
// (token, 512-column chunk): the chunk is loaded and quantized once and stored to every
// destination rank of the token with one 16-byte store per lane. Every rank gets its count, zero
// included, and every block signals "done" to every rank (kernels.h).
//
// Combine (pull, with reduction): after the ready-flag exchange each home rank loads, for every
// token and every rank holding it, that rank's BF16 output row over NVLink and sums in fp32.
#include <cuda_runtime.h>

#include "gpu/device.cuh"

namespace epscope::gpu {
namespace {

constexpr int kHtThreads = 1024;        // dispatch: stores need few registers
constexpr int kHtCombineThreads = 512;  // combine: one 32-byte row slice per rank in flight

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

template <bool kFp8>
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
  const std::int64_t rec_bytes = rec.bytes();
  const auto record = [&](int d, int slot) {
    return a.recv[d] + (static_cast<std::int64_t>(rank) * a.max_tokens + slot) * rec_bytes;
  };
  device::for_each_chunk(a.x, a.hidden, t0, t1, [&](int t, int chunk, int base, const Bf16x16& v) {
    const device::ChunkPayload p = device::make_payload<kFp8>(v);
    const int my_slot = lane_id() < num_ranks ? own_slot[(t - t0) * num_ranks + lane_id()] : -1;
    const int my_e = lane_id() < topk ? a.topk_idx[t * topk + lane_id()] : -1;
    const float my_w = lane_id() < topk ? a.topk_weights[t * topk + lane_id()] : 0.0f;
    for (int d = 0; d < num_ranks; ++d) {
      const int slot = __shfl_sync(0xffffffffu, my_slot, d);
      if (slot < 0) continue;
      std::uint8_t* r = record(d, slot);
      device::store_chunk_data<kFp8>(r, base, a.hidden, p);
      if (kFp8)
        device::store_chunk_scales(reinterpret_cast<float*>(r + rec.scale_offset()), base, a.hidden,
                                   p);
      if (chunk == 0) {
        if (lane_id() < topk) {
          const bool here = my_e >= 0 && my_e / experts_per_rank == d;
          reinterpret_cast<int*>(r + rec.idx_offset())[lane_id()] =
              here ? my_e % experts_per_rank : -1;
          reinterpret_cast<float*>(r + rec.weight_offset())[lane_id()] = here ? my_w : 0.0f;
        }
        if (lane_id() == 0) {
          reinterpret_cast<int*>(r + rec.meta_offset())[0] = t;
          reinterpret_cast<int*>(r + rec.meta_offset())[1] = rank;
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
    const int token = *reinterpret_cast<const int*>(recv + row * rec.bytes() + rec.meta_offset());
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
  return device::launch(args.fp8 ? ht_dispatch_kernel<true> : ht_dispatch_kernel<false>, num_blocks,
                        kHtThreads, smem, stream, args);
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
  return device::load_kernels(ht_dispatch_kernel<true>, ht_dispatch_kernel<false>,
                              ht_combine_kernel, ht_fill_expert_out_kernel);
}

}  // namespace epscope::gpu
