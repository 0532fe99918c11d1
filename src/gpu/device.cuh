// Device-side building blocks shared by the LL, HT and sync kernels: the global timer, system-
// scope release/acquire flags, waits with deadlines, BF16/FP8 conversion of 16-column slices.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <cstdint>

#include "gpu/kernels.h"

namespace epscope::gpu::device {

__device__ __forceinline__ std::uint64_t now_ns() {
  std::uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__device__ __forceinline__ void store_release_sys(std::uint64_t* ptr, std::uint64_t value) {
  asm volatile("st.release.sys.global.u64 [%0], %1;" ::"l"(ptr), "l"(value) : "memory");
}

__device__ __forceinline__ std::uint64_t load_acquire_sys(const std::uint64_t* ptr) {
  std::uint64_t value;
  asm volatile("ld.acquire.sys.global.u64 %0, [%1];" : "=l"(value) : "l"(ptr) : "memory");
  return value;
}

__device__ __forceinline__ std::uint64_t make_flag(std::uint64_t epoch, std::uint32_t value) {
  return (epoch << 32) | value;
}

/// Spins until *flag carries `epoch` (or later). Returns the flag's value field, or -1 after the
/// deadline, having recorded (kind << 16 | peer) in *error unless an error was already there.
__device__ __forceinline__ std::int64_t wait_flag(const std::uint64_t* flag, std::uint64_t epoch,
                                                  std::uint64_t deadline_ns, int* error,
                                                  WaitKind kind, int peer) {
  for (std::uint32_t spins = 0;; ++spins) {
    const std::uint64_t value = load_acquire_sys(flag);
    if ((value >> 32) >= epoch) return static_cast<std::int64_t>(value & 0xffffffffu);
    if ((spins & 255u) == 255u) {
      if (now_ns() > deadline_ns || *reinterpret_cast<volatile int*>(error) != 0) {
        atomicCAS(error, 0, (static_cast<int>(kind) << 16) | peer);
        return -1;
      }
    }
  }
}

__device__ __forceinline__ void sleep_until(std::uint64_t until_ns) {
  while (now_ns() < until_ns)
    __nanosleep(500);
}

__device__ __forceinline__ void record_stamp(BlockStamps* stamps, int field, std::uint64_t t) {
  if (stamps == nullptr || threadIdx.x != 0) return;
  std::uint64_t* s = &stamps[blockIdx.x].start_ns;
  s[field] = t;
}

/// Announces that this block has finished its sends; returns true in the last block to do so
/// (then every block's stores are visible system-wide). Call from all threads of the block.
/// The fault hook (SyncArgs::fault_ns) holds the last block back, or returns false everywhere.
__device__ __forceinline__ bool finish_block_sends(const SyncArgs& sync) {
  __shared__ bool is_last;
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence_system();
    const std::uint32_t prev = atomicAdd(sync.blocks_done, 1u);
    is_last = prev == gridDim.x - 1;
    if (is_last) {
      __threadfence_system();
      *sync.blocks_done = 0;  // every block has arrived: ready for the next launch
      if (sync.fault_ns != 0) {
        if (sync.fault_ns > 0) sleep_until(now_ns() + static_cast<std::uint64_t>(sync.fault_ns));
        is_last = sync.fault_ns > 0;
      }
    }
  }
  __syncthreads();
  return is_last;
}

// A warp moves one 512-column chunk of a row. Lane l holds columns [l*8, l*8+8) ("lo") and
// [256 + l*8, 256 + l*8 + 8) ("hi") of the chunk, so every 16-byte access instruction of the warp
// covers 512 contiguous bytes (BF16) and each 32-byte sector is fetched or written once.
inline constexpr int kHalfChunkCols = kChunkCols / 2;

struct Bf16x16 {
  uint4 lo, hi;
};

/// The chunk-relative column of this lane's "lo" half.
__device__ __forceinline__ int lane_col(int chunk_base) {
  return chunk_base + static_cast<int>(threadIdx.x & 31u) * 8;
}

__device__ __forceinline__ void unpack(const Bf16x16& v, float (&f)[16]) {
  const std::uint32_t words[8] = {v.lo.x, v.lo.y, v.lo.z, v.lo.w, v.hi.x, v.hi.y, v.hi.z, v.hi.w};
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    f[2 * i] = __uint_as_float(words[i] << 16);
    f[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
  }
}

__device__ __forceinline__ Bf16x16 pack_bf16(const float (&f)[16]) {
  std::uint32_t words[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const __nv_bfloat162 pair = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
    words[i] = *reinterpret_cast<const std::uint32_t*>(&pair);
  }
  return {make_uint4(words[0], words[1], words[2], words[3]),
          make_uint4(words[4], words[5], words[6], words[7])};
}

/// 16 columns quantized to FP8 e4m3: 8 bytes per half, with the scale of the 128-column block
/// each half belongs to (shared by 16 lanes).
struct Fp8x16 {
  uint2 lo, hi;
  float scale_lo, scale_hi;
};

__device__ __forceinline__ uint2 to_fp8x8(const float* f, float inv) {
  std::uint32_t words[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const __nv_fp8x2_storage_t a = __nv_cvt_float2_to_fp8x2(
        make_float2(f[4 * i] * inv, f[4 * i + 1] * inv), __NV_SATFINITE, __NV_E4M3);
    const __nv_fp8x2_storage_t b = __nv_cvt_float2_to_fp8x2(
        make_float2(f[4 * i + 2] * inv, f[4 * i + 3] * inv), __NV_SATFINITE, __NV_E4M3);
    words[i] = static_cast<std::uint32_t>(a) | (static_cast<std::uint32_t>(b) << 16);
  }
  return make_uint2(words[0], words[1]);
}

/// Per-128-column amax over the 16 lanes that share a block (lanes 0-15 and 16-31).
__device__ __forceinline__ float block_amax(const float* f) {
  float amax = 0.0f;
#pragma unroll
  for (int i = 0; i < 8; ++i)
    amax = fmaxf(amax, fabsf(f[i]));
#pragma unroll
  for (int offset = 1; offset < 16; offset <<= 1)
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
  return fmaxf(amax, 1e-4f);
}

/// Call from all 32 lanes (inactive halves hold zeros).
__device__ __forceinline__ Fp8x16 quantize_fp8(const Bf16x16& v) {
  float f[16];
  unpack(v, f);
  const float amax_lo = block_amax(f), amax_hi = block_amax(f + 8);
  Fp8x16 q;
  q.lo = to_fp8x8(f, kFp8Max / amax_lo);
  q.hi = to_fp8x8(f + 8, kFp8Max / amax_hi);
  q.scale_lo = amax_lo / kFp8Max;
  q.scale_hi = amax_hi / kFp8Max;
  return q;
}

/// Loads this lane's 16 columns of the chunk at `chunk_base` of a local row (zeros past hidden).
__device__ __forceinline__ Bf16x16 load_chunk(const std::uint16_t* row, int chunk_base,
                                              int hidden) {
  const int c = lane_col(chunk_base);
  Bf16x16 v{make_uint4(0, 0, 0, 0), make_uint4(0, 0, 0, 0)};
  if (c < hidden) v.lo = __ldg(reinterpret_cast<const uint4*>(row + c));
  if (c + kHalfChunkCols < hidden)
    v.hi = __ldg(reinterpret_cast<const uint4*>(row + c + kHalfChunkCols));
  return v;
}

__device__ __forceinline__ uint4 load_peer_v4(const void* ptr) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(ptr));
  return v;
}

/// Same from a peer's row, over NVLink.
__device__ __forceinline__ Bf16x16 load_peer_chunk(const std::uint16_t* row, int chunk_base,
                                                   int hidden) {
  const int c = lane_col(chunk_base);
  Bf16x16 v{make_uint4(0, 0, 0, 0), make_uint4(0, 0, 0, 0)};
  if (c < hidden) v.lo = load_peer_v4(row + c);
  if (c + kHalfChunkCols < hidden) v.hi = load_peer_v4(row + c + kHalfChunkCols);
  return v;
}

__device__ __forceinline__ void store_v4(void* ptr, uint4 v) {
  asm volatile("st.global.L1::no_allocate.v4.u32 [%0], {%1,%2,%3,%4};" ::"l"(ptr), "r"(v.x),
               "r"(v.y), "r"(v.z), "r"(v.w)
               : "memory");
}

__device__ __forceinline__ void store_v2(void* ptr, uint2 v) {
  asm volatile("st.global.L1::no_allocate.v2.u32 [%0], {%1,%2};" ::"l"(ptr), "r"(v.x), "r"(v.y)
               : "memory");
}

/// Stores this lane's 16 BF16 columns of the chunk at `chunk_base` into `row` (local or peer).
__device__ __forceinline__ void store_chunk(std::uint16_t* row, int chunk_base, int hidden,
                                            const Bf16x16& v) {
  const int c = lane_col(chunk_base);
  if (c < hidden) store_v4(row + c, v.lo);
  if (c + kHalfChunkCols < hidden) store_v4(row + c + kHalfChunkCols, v.hi);
}

/// Stores this lane's part of a message body at `data` (FP8 + scales, or BF16).
template <bool kFp8>
__device__ __forceinline__ void store_payload(std::uint8_t* data, float* scales, int chunk_base,
                                              int hidden, const Bf16x16& v, const Fp8x16& q) {
  const int c = lane_col(chunk_base);
  const bool scale_lane = (threadIdx.x & 15u) == 0;
  if constexpr (kFp8) {
    if (c < hidden) {
      store_v2(data + c, q.lo);
      if (scale_lane) scales[c / kScaleBlock] = q.scale_lo;
    }
    if (c + kHalfChunkCols < hidden) {
      store_v2(data + c + kHalfChunkCols, q.hi);
      if (scale_lane) scales[(c + kHalfChunkCols) / kScaleBlock] = q.scale_hi;
    }
  } else {
    store_chunk(reinterpret_cast<std::uint16_t*>(data), chunk_base, hidden, v);
  }
}

__device__ __forceinline__ int lane_id() {
  return static_cast<int>(threadIdx.x & 31u);
}
__device__ __forceinline__ int warp_id() {
  return static_cast<int>(threadIdx.x >> 5);
}

/// Tokens per block when `num_tokens` are split over `num_blocks` contiguous ranges.
__host__ __device__ __forceinline__ int tokens_per_block(int num_tokens, int num_blocks) {
  return (num_tokens + num_blocks - 1) / num_blocks;
}

/// Flags this rank's expert outputs ready on every rank (block 0) and waits until every rank's
/// are (all blocks). A timeout is recorded in sync.error.
__device__ __forceinline__ void exchange_ready(const SyncArgs& sync,
                                               std::uint64_t* const* ready_flags,
                                               std::uint64_t deadline, WaitKind kind) {
  if (blockIdx.x == 0) {
    if (threadIdx.x == 0) __threadfence_system();
    __syncthreads();
    if (static_cast<int>(threadIdx.x) < sync.num_ranks)
      store_release_sys(&ready_flags[threadIdx.x][sync.rank], make_flag(sync.epoch, 1));
  }
  if (static_cast<int>(threadIdx.x) < sync.num_ranks)
    wait_flag(&ready_flags[sync.rank][threadIdx.x], sync.epoch, deadline, sync.error, kind,
              static_cast<int>(threadIdx.x));
  __syncthreads();
}

/// Forces each kernel's module to load on the current device (see gpu::load_all_kernels).
template <typename... Kernels>
cudaError_t load_kernels(Kernels... kernels) {
  cudaFuncAttributes attr;
  for (const void* kernel : {reinterpret_cast<const void*>(kernels)...})
    if (const cudaError_t err = cudaFuncGetAttributes(&attr, kernel); err != cudaSuccess)
      return err;
  return cudaSuccess;
}

/// Launches `kernel(args)` with `smem_bytes` of dynamic shared memory (raising its limit first).
template <typename Args>
cudaError_t launch_with_smem(void (*kernel)(Args), int num_blocks, int num_threads,
                             std::size_t smem_bytes, cudaStream_t stream, const Args& args) {
  const cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(smem_bytes));
  if (err != cudaSuccess) return err;
  kernel<<<num_blocks, num_threads, smem_bytes, stream>>>(args);
  return cudaGetLastError();
}

/// The shape limits both dispatch kernels share.
inline bool dispatch_shape_ok(const DispatchArgs& a, int num_blocks) {
  return num_blocks >= 1 && a.topk <= 32 && a.hidden % kScaleBlock == 0 && a.sync.num_ranks >= 1 &&
         a.sync.num_ranks <= kMaxPeers && a.num_experts % a.sync.num_ranks == 0;
}

}  // namespace epscope::gpu::device
