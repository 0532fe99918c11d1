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

__device__ __forceinline__ int lane_id() {
  return static_cast<int>(threadIdx.x & 31u);
}
__device__ __forceinline__ int warp_id() {
  return static_cast<int>(threadIdx.x >> 5);
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

/// Spins until (*word >> shift) >= target. Returns the low 32 bits of the word, or -1 after the
/// deadline, having recorded (kind << 16 | peer) in *error unless an error was already there.
__device__ __forceinline__ std::int64_t wait_at_least(const std::uint64_t* word,
                                                      std::uint64_t target, int shift,
                                                      std::uint64_t deadline_ns, int* error,
                                                      WaitKind kind, int peer) {
  for (std::uint32_t spins = 0;; ++spins) {
    const std::uint64_t value = load_acquire_sys(word);
    if ((value >> shift) >= target) return static_cast<std::int64_t>(value & 0xffffffffu);
    if ((spins & 255u) == 255u) {
      if (now_ns() > deadline_ns || *reinterpret_cast<volatile int*>(error) != 0) {
        atomicCAS(error, 0, (static_cast<int>(kind) << 16) | peer);
        return -1;
      }
    }
  }
}

/// Spins until *flag carries `epoch` (or later); see wait_at_least.
__device__ __forceinline__ std::int64_t wait_flag(const std::uint64_t* flag, std::uint64_t epoch,
                                                  std::uint64_t deadline_ns, int* error,
                                                  WaitKind kind, int peer) {
  return wait_at_least(flag, epoch, 32, deadline_ns, error, kind, peer);
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

/// A 16-byte load of data read once: not allocated in L1.
__device__ __forceinline__ uint4 load_once_v4(const void* ptr) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(ptr));
  return v;
}

/// Loads this lane's 16 columns of the chunk at `chunk_base` of a row (zeros past hidden).
/// kOnce: a row read once, not allocated in L1 (load_chunk_once); else through L1 (__ldg).
template <bool kOnce = false>
__device__ __forceinline__ Bf16x16 load_chunk(const std::uint16_t* row, int chunk_base,
                                              int hidden) {
  const auto load = [](const std::uint16_t* p) {
    if constexpr (kOnce)
      return load_once_v4(p);
    else
      return __ldg(reinterpret_cast<const uint4*>(p));
  };
  const int c = lane_col(chunk_base);
  Bf16x16 v{make_uint4(0, 0, 0, 0), make_uint4(0, 0, 0, 0)};
  if (c < hidden) v.lo = load(row + c);
  if (c + kHalfChunkCols < hidden) v.hi = load(row + c + kHalfChunkCols);
  return v;
}

/// A row read once, not allocated in L1: a peer's row over NVLink (combine), or the dispatch's
/// input (HT FP8 dispatch and combine -1% against the L1 path, 2xH200, docs/performance.md).
__device__ __forceinline__ Bf16x16 load_chunk_once(const std::uint16_t* row, int chunk_base,
                                                   int hidden) {
  return load_chunk<true>(row, chunk_base, hidden);
}

__device__ __forceinline__ uint4 as_uint4(const float4& f) {
  return make_uint4(__float_as_uint(f.x), __float_as_uint(f.y), __float_as_uint(f.z),
                    __float_as_uint(f.w));
}

__device__ __forceinline__ void store_v4(void* ptr, uint4 v) {
  asm volatile("st.global.L1::no_allocate.v4.u32 [%0], {%1,%2,%3,%4};" ::"l"(ptr), "r"(v.x),
               "r"(v.y), "r"(v.z), "r"(v.w)
               : "memory");
}

/// Stores this lane's 16 BF16 columns of the chunk at `chunk_base` into `row` (local or peer).
__device__ __forceinline__ void store_chunk(std::uint16_t* row, int chunk_base, int hidden,
                                            const Bf16x16& v) {
  const int c = lane_col(chunk_base);
  if (c < hidden) store_v4(row + c, v.lo);
  if (c + kHalfChunkCols < hidden) store_v4(row + c + kHalfChunkCols, v.hi);
}

/// Tokens per block when `num_tokens` are split over `num_blocks` contiguous ranges.
__host__ __device__ __forceinline__ int tokens_per_block(int num_tokens, int num_blocks) {
  return (num_tokens + num_blocks - 1) / num_blocks;
}

/// One chunk as it goes on the wire, computed once per item and stored to every destination.
/// BF16: `v` (lane_col's layout). FP8: after quantizing, pairs of lanes swap halves so that each
/// lane holds 16 contiguous FP8 bytes (`fp8`, at chunk column `fp8_col`: even lanes cover
/// columns [0, 256), odd lanes [256, 512)), so one 16-byte store per lane writes the chunk's 512
/// bytes; lane 0 holds the chunk's four per-128 scales in `scales`.
struct ChunkPayload {
  Bf16x16 v;
  uint4 fp8;
  int fp8_col;
  float4 scales;
};

/// Call from all 32 lanes.
template <bool kFp8>
__device__ __forceinline__ ChunkPayload make_payload(const Bf16x16& v) {
  ChunkPayload p{};
  p.v = v;
  if constexpr (kFp8) {
    const Fp8x16 q = quantize_fp8(v);
    const bool odd = (lane_id() & 1) != 0;
    const uint2 give = odd ? q.lo : q.hi;
    const uint2 got = make_uint2(__shfl_xor_sync(0xffffffffu, give.x, 1),
                                 __shfl_xor_sync(0xffffffffu, give.y, 1));
    p.fp8 =
        odd ? make_uint4(got.x, got.y, q.hi.x, q.hi.y) : make_uint4(q.lo.x, q.lo.y, got.x, got.y);
    p.fp8_col = odd ? kHalfChunkCols + 8 * (lane_id() - 1) : 8 * lane_id();
    const float s1 = __shfl_sync(0xffffffffu, q.scale_lo, 16);
    const float s3 = __shfl_sync(0xffffffffu, q.scale_hi, 16);
    p.scales = make_float4(q.scale_lo, s1, q.scale_hi, s3);
  }
  return p;
}

/// Stores this lane's part of a chunk's data (FP8 bytes or BF16) into a message body at `data`.
template <bool kFp8>
__device__ __forceinline__ void store_chunk_data(std::uint8_t* data, int chunk_base, int hidden,
                                                 const ChunkPayload& p) {
  if constexpr (kFp8) {
    if (chunk_base + p.fp8_col < hidden) store_v4(data + chunk_base + p.fp8_col, p.fp8);
  } else {
    store_chunk(reinterpret_cast<std::uint16_t*>(data), chunk_base, hidden, p.v);
  }
}

/// Lane 0 stores the chunk's scales into a message's scale array (16-byte aligned): one 16-byte
/// store for a whole chunk, single floats for the short last chunk.
__device__ __forceinline__ void store_chunk_scales(float* scales, int chunk_base, int hidden,
                                                   const ChunkPayload& p) {
  if (lane_id() != 0) return;
  float* s = scales + chunk_base / kScaleBlock;
  const int remain = hidden - chunk_base;  // a multiple of kScaleBlock
  if (remain >= kChunkCols) {
    store_v4(s, as_uint4(p.scales));
    return;
  }
  s[0] = p.scales.x;
  if (remain > kScaleBlock) s[1] = p.scales.y;
  if (remain > 2 * kScaleBlock) s[2] = p.scales.z;
}

/// Lets a dependent kernel launched with programmatic stream serialization start its blocks.
__device__ __forceinline__ void allow_dependent_launch() {
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}

/// Waits until the kernels this one depends on have completed and their writes are visible (a
/// no-op when not launched as a dependent).
__device__ __forceinline__ void wait_for_prerequisites() {
  asm volatile("griddepcontrol.wait;" ::: "memory");
}

/// The token range [t0, t1) a dispatch block owns (contiguous ranges, in block order), the
/// deadline of its waits and its dynamic shared memory.
struct DispatchBlock {
  std::uint64_t deadline_ns;
  int t0, t1;
  int experts_per_rank;
  int* smem;
};

/// Entry of both dispatch kernels: lets the combine launch early (it waits for this kernel in
/// griddepcontrol.wait) and stamps the block's entry.
__device__ __forceinline__ DispatchBlock begin_dispatch(const DispatchArgs& a) {
  extern __shared__ int dynamic_smem[];
  allow_dependent_launch();
  const std::uint64_t t_start = now_ns();
  record_stamp(a.sync.stamps, 0, t_start);
  DispatchBlock b;
  b.deadline_ns = t_start + static_cast<std::uint64_t>(a.sync.timeout_ns);
  b.experts_per_rank = a.num_experts / a.sync.num_ranks;
  const int per_block = tokens_per_block(a.num_tokens, static_cast<int>(gridDim.x));
  b.t0 = min(a.num_tokens, static_cast<int>(blockIdx.x) * per_block);
  b.t1 = min(a.num_tokens, b.t0 + per_block);
  b.smem = dynamic_smem;
  return b;
}

/// Calls body(token, chunk index, chunk's first column, the chunk's BF16 values) for a dispatch
/// block's work items, (token, 512-column chunk) over rows [t0, t1) of x, spread over its warps.
/// The warp's next item is loaded before the body of the current one runs, so the load overlaps
/// the body's stores (HT FP8 dispatch, 32 SMs: -2.6% on 2xH200, docs/performance.md); loading
/// two items ahead was slower. With kWholeRows a warp takes whole rows, chunk by chunk in order
/// (rows w, w + warps, ...), instead of every warps-th item.
template <bool kWholeRows = false, typename Body>
__device__ __forceinline__ void for_each_chunk(const std::uint16_t* x, int hidden, int t0, int t1,
                                               Body&& body) {
  const int num_chunks = (hidden + kChunkCols - 1) / kChunkCols;
  const int num_items = (t1 - t0) * num_chunks;
  const int stride = static_cast<int>(blockDim.x >> 5);
  const int group = kWholeRows ? num_chunks : 1;
  const auto item_of = [&](int s) {
    return (s / group) * (group * stride) + group * warp_id() + s % group;
  };
  const auto load = [&](int item) {
    if (item >= num_items) return Bf16x16{};
    return load_chunk_once(x + static_cast<std::int64_t>(t0 + item / num_chunks) * hidden,
                           (item % num_chunks) * kChunkCols, hidden);
  };
  Bf16x16 next = load(item_of(0));
  for (int s = 0, item = item_of(0); item < num_items; item = item_of(++s)) {
    const Bf16x16 v = next;
    next = load(item_of(s + 1));
    const int chunk = item % num_chunks;
    body(t0 + item / num_chunks, chunk, chunk * kChunkCols, v);
  }
}

__device__ __forceinline__ void red_add_sys(std::uint64_t* ptr, std::uint64_t value) {
  asm volatile("red.relaxed.sys.global.add.u64 [%0], %1;" ::"l"(ptr), "l"(value) : "memory");
}

/// Done counters of the dispatch: `done_offset` words past each rank's count flags sits that
/// rank's counter array, whose word `rank` counts the blocks of `rank` that have finished sending
/// to it (monotone over launches). Call from all threads of the block after its sends (data and
/// counts): makes them visible system-wide, then adds one on every rank.
__device__ __forceinline__ void signal_block_done(const SyncArgs& sync,
                                                  std::uint64_t* const* count_flags,
                                                  int done_offset) {
  __syncthreads();
  if (sync.fault_ns < 0) return;  // fault injection: this rank never completes its dispatch
  if (sync.fault_ns > 0) {        // fault injection: every block signals this much later
    if (threadIdx.x == 0) sleep_until(now_ns() + static_cast<std::uint64_t>(sync.fault_ns));
    __syncthreads();
  }
  if (static_cast<int>(threadIdx.x) < sync.num_ranks) {
    __threadfence_system();
    red_add_sys(count_flags[threadIdx.x] + done_offset + sync.rank, 1);
  }
}

/// Waits (block 0) until every rank's blocks have all signalled done for this epoch: the
/// dispatch of the whole grid, `gridDim.x` blocks on every rank, has arrived here.
__device__ __forceinline__ void wait_all_done(const SyncArgs& sync, const std::uint64_t* done,
                                              std::uint64_t deadline_ns, WaitKind kind) {
  const int src = static_cast<int>(threadIdx.x);
  if (blockIdx.x == 0 && src < sync.num_ranks)
    wait_at_least(done + src, sync.epoch * gridDim.x, 0, deadline_ns, sync.error, kind, src);
  __syncthreads();
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

/// The frame both combine kernels share: waits for the kernels before it (the dispatch), stamps
/// entry, exchanges the ready flags (`kind` names a timeout), stamps the end of the wait, calls
/// body(token, chunk's first column) for every (token, 512-column chunk) item, one warp per item,
/// and stamps the exit.
template <typename Body>
__device__ __forceinline__ void combine_items(const CombineArgs& a, WaitKind kind, Body&& body) {
  wait_for_prerequisites();
  const std::uint64_t t_start = now_ns();
  record_stamp(a.sync.stamps, 0, t_start);
  exchange_ready(a.sync, a.ready_flags, t_start + static_cast<std::uint64_t>(a.sync.timeout_ns),
                 kind);
  record_stamp(a.sync.stamps, 1, now_ns());
  if (*reinterpret_cast<volatile int*>(a.sync.error) != 0) return;

  const int num_chunks = (a.hidden + kChunkCols - 1) / kChunkCols;
  const int num_items = a.num_tokens * num_chunks;
  const int warps_per_block = static_cast<int>(blockDim.x >> 5);
  const int num_warps = static_cast<int>(gridDim.x) * warps_per_block;
  for (int item = static_cast<int>(blockIdx.x) * warps_per_block + warp_id(); item < num_items;
       item += num_warps)
    body(item / num_chunks, (item % num_chunks) * kChunkCols);
  __syncthreads();
  record_stamp(a.sync.stamps, 2, now_ns());
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

/// Launches `kernel(args)` with `smem_bytes` of dynamic shared memory (raising its limit first
/// when above the default). With `dependent`, the launch may start while the previous kernel of
/// the stream still runs (programmatic dependent launch); the kernel must call
/// wait_for_prerequisites() before it reads anything that kernel wrote.
template <typename Args>
cudaError_t launch(void (*kernel)(Args), int num_blocks, int num_threads, std::size_t smem_bytes,
                   cudaStream_t stream, const Args& args, bool dependent = false) {
  if (smem_bytes > 48 * 1024) {
    const cudaError_t err = cudaFuncSetAttribute(
        kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem_bytes));
    if (err != cudaSuccess) return err;
  }
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>(num_blocks));
  config.blockDim = dim3(static_cast<unsigned>(num_threads));
  config.dynamicSmemBytes = smem_bytes;
  config.stream = stream;
  config.attrs = &attr;
  config.numAttrs = dependent ? 1 : 0;
  return cudaLaunchKernelEx(&config, kernel, args);
}

/// The shape limits both dispatch kernels share.
inline bool dispatch_shape_ok(const DispatchArgs& a, int num_blocks) {
  return num_blocks >= 1 && a.topk <= 32 && a.hidden % kScaleBlock == 0 && a.sync.num_ranks >= 1 &&
         a.sync.num_ranks <= kMaxPeers && a.num_experts % a.sync.num_ranks == 0;
}

}  // namespace epscope::gpu::device
