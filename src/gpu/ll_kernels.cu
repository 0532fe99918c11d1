// Low-latency (LL) dispatch and combine over NVLink peer memory. Layouts: kernels.h.
//
// Dispatch (push): block b owns a contiguous token range. It first counts, per expert, the copies
// of all earlier tokens (its slot base) and of all tokens (the totals), then gives each of its own
// copies a slot in token-major order, so slots are the same on every run. Warps then move
// (token, 512-column chunk) items: load BF16, quantize once (FP8), store to every top-k target
// with one 16-byte store per lane (and the chunk's four scales in one 16-byte store). Every
// expert gets its count, zero included, and every block signals "done" to every rank once its
// sends are out, so each receiver's dispatch completes only when every sender is done (the
// implicit all-to-all barrier; kernels.h).
//
// Combine (pull): each rank flags "my expert outputs are ready" to every rank, waits for all
// flags, then each home rank loads its copies' rows over NVLink and sums them in fp32 registers:
// one BF16 row per copy crosses the link, no staging buffer and no second pass.
#include <cuda_runtime.h>

#include "gpu/device.cuh"

namespace epscope::gpu {
namespace {

constexpr int kDispatchThreads = 512;
constexpr int kCombineThreads = 512;
constexpr int kLoadBatch = 8;  // peer loads in flight per lane in the combine

using device::Bf16x16;

template <bool kFp8>
__global__ void __launch_bounds__(kDispatchThreads) ll_dispatch_kernel(LlDispatchArgs a) {
  const device::DispatchBlock blk = device::begin_dispatch(a);
  int* const smem = blk.smem;
  const int num_ranks = a.sync.num_ranks, rank = a.sync.rank, topk = a.topk;
  const int experts_per_rank = blk.experts_per_rank, t0 = blk.t0, t1 = blk.t1;

  // smem: slot_base[E] (running), total[E], slot of each own copy [per_block * topk].
  int* slot_base = smem;
  int* total = smem + a.num_experts;
  int* own_slot = smem + 2 * a.num_experts;
  for (int e = threadIdx.x; e < a.num_experts; e += blockDim.x)
    slot_base[e] = total[e] = 0;
  __syncthreads();
  for (int i = threadIdx.x; i < a.num_tokens * topk; i += blockDim.x) {
    const int e = a.topk_idx[i];
    if (e < 0) continue;
    if (i < t0 * topk) atomicAdd(&slot_base[e], 1);
    atomicAdd(&total[e], 1);
  }
  __syncthreads();
  if (device::warp_id() == 0) {
    const unsigned lower = (1u << device::lane_id()) - 1u;
    for (int base = t0 * topk; base < t1 * topk; base += 32) {
      const int i = base + device::lane_id();
      const int e = i < t1 * topk ? a.topk_idx[i] : -1;
      const unsigned same = __match_any_sync(0xffffffffu, e);
      const int start = e >= 0 ? slot_base[e] : 0;
      __syncwarp();
      if (e >= 0 && device::lane_id() == __ffs(same) - 1) slot_base[e] = start + __popc(same);
      __syncwarp();
      if (i < t1 * topk) {
        const int slot = e >= 0 ? start + __popc(same & lower) : -1;
        own_slot[i - t0 * topk] = slot;
        a.slots[i] = slot;
      }
    }
  }
  // Counts, zero included: every block knows the totals; block b sends experts b, b + G, ...
  for (int e = static_cast<int>(blockIdx.x + gridDim.x * threadIdx.x); e < a.num_experts;
       e += static_cast<int>(gridDim.x * blockDim.x))
    a.recv_flags[e / experts_per_rank][(e % experts_per_rank) * num_ranks + rank] =
        device::make_flag(a.sync.epoch, static_cast<unsigned>(total[e]));
  __syncthreads();

  const LlMessage msg{a.hidden, kFp8};
  const std::int64_t msg_bytes = msg.slot_bytes();
  const auto message = [&](int e, int slot) {
    return a.recv[e / experts_per_rank] +
           ((static_cast<std::int64_t>(e % experts_per_rank) * num_ranks + rank) * a.max_tokens +
            slot) *
               msg_bytes;
  };
  device::for_each_chunk(a.x, a.hidden, t0, t1, [&](int t, int chunk, int base, const Bf16x16& v) {
    const device::ChunkPayload p = device::make_payload<kFp8>(v);
    const int my_e = device::lane_id() < topk ? a.topk_idx[t * topk + device::lane_id()] : -1;
    const int my_slot =
        device::lane_id() < topk ? own_slot[(t - t0) * topk + device::lane_id()] : -1;
    for (int k = 0; k < topk; ++k) {
      const int e = __shfl_sync(0xffffffffu, my_e, k);
      const int slot = __shfl_sync(0xffffffffu, my_slot, k);
      if (e < 0) continue;
      std::uint8_t* m = message(e, slot);
      device::store_chunk_data<kFp8>(m + msg.data_offset(), base, a.hidden, p);
      if (kFp8)
        device::store_chunk_scales(reinterpret_cast<float*>(m + msg.scale_offset()), base, a.hidden,
                                   p);
      if (chunk == 0 && device::lane_id() == 0)
        device::store_v4(m + msg.header_offset(),
                         make_uint4(static_cast<unsigned>(t), static_cast<unsigned>(k),
                                    static_cast<unsigned>(rank), static_cast<unsigned>(e)));
    }
  });

  device::signal_block_done(a.sync, a.recv_flags, a.num_experts);
  device::record_stamp(a.sync.stamps, 1, device::now_ns());
  device::wait_all_done(a.sync, a.recv_flags[rank] + a.num_experts, blk.deadline_ns,
                        WaitKind::kLlDispatchCount);
  device::record_stamp(a.sync.stamps, 2, device::now_ns());
}

__global__ void __launch_bounds__(kCombineThreads) ll_combine_kernel(LlCombineArgs a) {
  const int num_ranks = a.sync.num_ranks, rank = a.sync.rank, topk = a.topk;
  const int experts_per_rank = a.num_experts / num_ranks;
  device::combine_items(a, WaitKind::kLlCombineReady, [&](int t, int base) {
    const int my_e = device::lane_id() < topk ? a.topk_idx[t * topk + device::lane_id()] : -1;
    const int my_slot = device::lane_id() < topk ? a.slots[t * topk + device::lane_id()] : -1;
    const float my_w =
        device::lane_id() < topk ? a.topk_weights[t * topk + device::lane_id()] : 0.0f;
    float acc[16] = {};
    for (int k0 = 0; k0 < topk; k0 += kLoadBatch) {
      Bf16x16 rows[kLoadBatch] = {};
      float w[kLoadBatch];
#pragma unroll
      for (int j = 0; j < kLoadBatch; ++j) {
        const int k = min(k0 + j, 31);
        const int e = __shfl_sync(0xffffffffu, my_e, k);
        const int slot = __shfl_sync(0xffffffffu, my_slot, k);
        w[j] = __shfl_sync(0xffffffffu, my_w, k);
        if (k0 + j >= topk || e < 0) {
          w[j] = 0.0f;
          continue;
        }
        const int dst = e / experts_per_rank;
        const std::int64_t row =
            (static_cast<std::int64_t>(e % experts_per_rank) * num_ranks + rank) * a.max_tokens +
            slot;
        rows[j] = device::load_chunk_once(a.expert_out[dst] + row * a.hidden, base, a.hidden);
      }
#pragma unroll
      for (int j = 0; j < kLoadBatch; ++j) {
        if (w[j] == 0.0f) continue;
        float f[16];
        device::unpack(rows[j], f);
#pragma unroll
        for (int i = 0; i < 16; ++i)
          acc[i] += w[j] * f[i];
      }
    }
    device::store_chunk(a.out + static_cast<std::int64_t>(t) * a.hidden, base, a.hidden,
                        device::pack_bf16(acc));
  });
}

/// One block per (local expert, source rank): rows [0, count) get the test expert's output.
__global__ void ll_fill_expert_out_kernel(int num_ranks, int rank, int hidden, int num_experts,
                                          int max_tokens, bool fp8, const std::uint8_t* recv,
                                          const std::uint64_t* recv_flags,
                                          std::uint16_t* expert_out) {
  const int pair = static_cast<int>(blockIdx.x);  // local_e * num_ranks + src
  const int src = pair % num_ranks;
  const int experts_per_rank = num_experts / num_ranks;
  const int global_e = rank * experts_per_rank + pair / num_ranks;
  const int count = static_cast<int>(recv_flags[pair] & 0xffffffffu);
  const LlMessage msg{hidden, fp8};
  for (int slot = 0; slot < count; ++slot) {
    const std::int64_t row = static_cast<std::int64_t>(pair) * max_tokens + slot;
    const int token =
        *reinterpret_cast<const int*>(recv + row * msg.slot_bytes() + msg.header_offset());
    for (int col = threadIdx.x; col < hidden; col += blockDim.x) {
      const __nv_bfloat16 v = __float2bfloat16(expert_output_value(src, token, global_e, col));
      expert_out[row * hidden + col] = *reinterpret_cast<const std::uint16_t*>(&v);
    }
  }
}

}  // namespace

cudaError_t launch_ll_dispatch(const DispatchArgs& args, int num_blocks, cudaStream_t stream) {
  if (!device::dispatch_shape_ok(args, num_blocks)) return cudaErrorInvalidValue;
  if (args.fp8 && args.hidden % kChunkCols != 0) return cudaErrorInvalidValue;
  const int per_block = device::tokens_per_block(args.num_tokens, num_blocks);
  const std::size_t smem = sizeof(int) * (2 * static_cast<std::size_t>(args.num_experts) +
                                          static_cast<std::size_t>(per_block) * args.topk);
  return device::launch(args.fp8 ? ll_dispatch_kernel<true> : ll_dispatch_kernel<false>, num_blocks,
                        kDispatchThreads, smem, stream, args);
}

cudaError_t launch_ll_combine(const LlCombineArgs& args, int num_blocks, cudaStream_t stream) {
  if (num_blocks < 1 || args.topk > 32 || args.hidden % kScaleBlock != 0)
    return cudaErrorInvalidValue;
  return device::launch(ll_combine_kernel, num_blocks, kCombineThreads, 0, stream, args,
                        /*dependent=*/true);
}

cudaError_t launch_ll_fill_expert_out(int num_ranks, int rank, int hidden, int num_experts,
                                      int max_tokens, bool fp8, const std::uint8_t* recv,
                                      const std::uint64_t* recv_flags, std::uint16_t* expert_out,
                                      cudaStream_t stream) {
  ll_fill_expert_out_kernel<<<num_experts, 256, 0, stream>>>(
      num_ranks, rank, hidden, num_experts, max_tokens, fp8, recv, recv_flags, expert_out);
  return cudaGetLastError();
}

cudaError_t load_ll_kernels() {
  return device::load_kernels(ll_dispatch_kernel<true>, ll_dispatch_kernel<false>,
                              ll_combine_kernel, ll_fill_expert_out_kernel);
}

}  // namespace epscope::gpu
