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
  while (now_ns() < until_ns) __nanosleep(500);
}

__device__ __forceinline__ void record_stamp(BlockStamps* stamps, int field, std::uint64_t t) {
  if (stamps == nullptr || threadIdx.x != 0) return;
  std::uint64_t* s = &stamps[blockIdx.x].start_ns;
  s[field] = t;
}

/// Announces that this block has finished its sends; returns true in the last block to do so
/// (then every block's stores are visible system-wide). Call from all threads of the block.
__device__ __forceinline__ bool finish_block_sends(std::uint32_t* blocks_done) {
  __shared__ bool is_last;
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence_system();
    const std::uint32_t prev = atomicAdd(blocks_done, 1u);
    is_last = prev == gridDim.x - 1;
    if (is_last) {
      __threadfence_system();
      *blocks_done = 0;  // every block has arrived: ready for the next launch
    }
  }
  __syncthreads();
  return is_last;
}

// 16 BF16 columns held as two 16-byte vectors.
struct Bf16x16 {
  uint4 lo, hi;
};

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

/// Quantizes 16 columns to FP8 e4m3 with a scale shared by the 8 lanes of one 128-column block
/// (lanes 8i..8i+7). Returns the 16 FP8 bytes; *scale gets amax / 448 of the block.
__device__ __forceinline__ uint4 quantize_fp8(const Bf16x16& v, float* scale) {
  float f[16];
  unpack(v, f);
  float amax = 0.0f;
#pragma unroll
  for (int i = 0; i < 16; ++i) amax = fmaxf(amax, fabsf(f[i]));
#pragma unroll
  for (int offset = 1; offset < 8; offset <<= 1)
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
  amax = fmaxf(amax, 1e-4f);
  const float inv = kFp8Max / amax;
  *scale = amax / kFp8Max;
  std::uint32_t words[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const __nv_fp8x2_storage_t a =
        __nv_cvt_float2_to_fp8x2(make_float2(f[4 * i] * inv, f[4 * i + 1] * inv), __NV_SATFINITE,
                                 __NV_E4M3);
    const __nv_fp8x2_storage_t b =
        __nv_cvt_float2_to_fp8x2(make_float2(f[4 * i + 2] * inv, f[4 * i + 3] * inv),
                                 __NV_SATFINITE, __NV_E4M3);
    words[i] = static_cast<std::uint32_t>(a) | (static_cast<std::uint32_t>(b) << 16);
  }
  return make_uint4(words[0], words[1], words[2], words[3]);
}

__device__ __forceinline__ Bf16x16 load_bf16x16(const std::uint16_t* ptr) {
  const uint4* p = reinterpret_cast<const uint4*>(ptr);
  return {__ldg(p), __ldg(p + 1)};
}

/// Loads from a peer's memory: plain (non-caching in L1) loads that go over NVLink.
__device__ __forceinline__ Bf16x16 load_peer_bf16x16(const std::uint16_t* ptr) {
  const uint4* p = reinterpret_cast<const uint4*>(ptr);
  Bf16x16 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.lo.x), "=r"(v.lo.y), "=r"(v.lo.z), "=r"(v.lo.w)
               : "l"(p));
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.hi.x), "=r"(v.hi.y), "=r"(v.hi.z), "=r"(v.hi.w)
               : "l"(p + 1));
  return v;
}

__device__ __forceinline__ void store_v4(void* ptr, uint4 v) {
  asm volatile("st.global.L1::no_allocate.v4.u32 [%0], {%1,%2,%3,%4};" ::"l"(ptr), "r"(v.x),
               "r"(v.y), "r"(v.z), "r"(v.w)
               : "memory");
}

__device__ __forceinline__ int lane_id() { return static_cast<int>(threadIdx.x & 31u); }
__device__ __forceinline__ int warp_id() { return static_cast<int>(threadIdx.x >> 5); }

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
      store_release_sys(&ready_flags[threadIdx.x][sync.rank],
                                make_flag(sync.epoch, 1));
  }
  if (static_cast<int>(threadIdx.x) < sync.num_ranks)
    wait_flag(&ready_flags[sync.rank][threadIdx.x], sync.epoch, deadline, sync.error,
                      kind, static_cast<int>(threadIdx.x));
  __syncthreads();
}

}  // namespace epscope::gpu::device
