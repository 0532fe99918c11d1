// Aligned start (sleep + barrier + per-rank delay), input fill and the link-limit probe.
#include <cuda_runtime.h>

#include "gpu/device.cuh"

namespace epscope::gpu {
namespace {

__global__ void aligned_start_kernel(SyncArgs sync, PerRank<std::uint64_t> flags,
                                     std::int64_t sleep_ns, std::int64_t delay_ns) {
  __shared__ std::uint64_t t_wake;
  if (threadIdx.x == 0) {
    device::sleep_until(device::now_ns() + static_cast<std::uint64_t>(sleep_ns));
    t_wake = device::now_ns();
  }
  __syncthreads();
  const std::uint64_t deadline = t_wake + static_cast<std::uint64_t>(sync.timeout_ns);
  const int peer = static_cast<int>(threadIdx.x);
  if (peer < sync.num_ranks) {
    device::store_release_sys(&flags.ptr[peer][sync.rank], device::make_flag(sync.epoch, 1));
    device::wait_flag(&flags.ptr[sync.rank][peer], sync.epoch, deadline, sync.error,
                      WaitKind::kBarrier, peer);
  }
  __syncthreads();
  if (threadIdx.x == 0 && delay_ns > 0)
    device::sleep_until(device::now_ns() + static_cast<std::uint64_t>(delay_ns));
}

__global__ void sleep_kernel(std::int64_t sleep_ns) {
  device::sleep_until(device::now_ns() + static_cast<std::uint64_t>(sleep_ns));
}

__global__ void fill_input_kernel(int rank, int num_tokens, int hidden, std::uint16_t* x) {
  const std::int64_t n = static_cast<std::int64_t>(num_tokens) * hidden;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const __nv_bfloat16 v = __float2bfloat16(
        input_value(rank, static_cast<int>(i / hidden), static_cast<int>(i % hidden)));
    x[i] = *reinterpret_cast<const std::uint16_t*>(&v);
  }
}

/// Every rank moves bytes_per_peer to (from) each other rank, all peers at once: each warp moves
/// 512 contiguous bytes (32 x 16) of one peer per step, consecutive warps cycle through the
/// peers, as the dispatch and combine kernels access rows. The pull variant folds what it loads
/// into a value it keeps alive.
__global__ void link_probe_kernel(int num_ranks, int rank, PerRank<std::uint8_t> buf,
                                  std::int64_t bytes_per_peer, bool pull) {
  const std::int64_t vecs = bytes_per_peer / 16;
  const int num_peers = num_ranks - 1;
  const std::int64_t total = vecs * num_peers;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  uint4 fold = make_uint4(0, 0, 0, 0);
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += stride) {
    const std::int64_t run = i >> 5;  // the warp's 512-byte run
    const int peer = (rank + 1 + static_cast<int>(run % num_peers)) % num_ranks;
    const std::int64_t v = (run / num_peers) * 32 + (i & 31);
    if (pull) {
      const uint4* src = reinterpret_cast<const uint4*>(buf.ptr[peer] + rank * bytes_per_peer);
      uint4 x;
      asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
                   : "=r"(x.x), "=r"(x.y), "=r"(x.z), "=r"(x.w)
                   : "l"(src + v));
      fold.x ^= x.x;
      fold.y ^= x.y;
      fold.z ^= x.z;
      fold.w ^= x.w;
    } else {
      uint4* dst = reinterpret_cast<uint4*>(buf.ptr[peer] + rank * bytes_per_peer);
      device::store_v4(dst + v, make_uint4(static_cast<unsigned>(v), 1u, 2u, 3u));
    }
  }
  // Keeps the loads alive; the condition is practically never true.
  if (pull && (fold.x & fold.y & fold.z & fold.w) == 0xdeadbeefu)
    reinterpret_cast<uint4*>(buf.ptr[rank])[0] = fold;
}

}  // namespace

cudaError_t launch_aligned_start(const SyncArgs& sync, PerRank<std::uint64_t> flags,
                                 std::int64_t sleep_ns, std::int64_t delay_ns,
                                 cudaStream_t stream) {
  if (sync.num_ranks < 1 || sync.num_ranks > kMaxPeers) return cudaErrorInvalidValue;
  aligned_start_kernel<<<1, 32, 0, stream>>>(sync, flags, sleep_ns, delay_ns);
  return cudaGetLastError();
}

cudaError_t launch_sleep(std::int64_t sleep_ns, cudaStream_t stream) {
  sleep_kernel<<<1, 1, 0, stream>>>(sleep_ns);
  return cudaGetLastError();
}

cudaError_t launch_fill_input(int rank, int num_tokens, int hidden, std::uint16_t* x,
                              cudaStream_t stream) {
  if (num_tokens == 0) return cudaSuccess;
  fill_input_kernel<<<256, 256, 0, stream>>>(rank, num_tokens, hidden, x);
  return cudaGetLastError();
}

cudaError_t launch_link_probe(int num_ranks, int rank, PerRank<std::uint8_t> peer_buf,
                              std::int64_t bytes_per_peer, bool pull, int num_blocks,
                              cudaStream_t stream) {
  if (num_ranks < 2 || num_ranks > kMaxPeers || num_blocks < 1) return cudaErrorInvalidValue;
  link_probe_kernel<<<num_blocks, 1024, 0, stream>>>(num_ranks, rank, peer_buf, bytes_per_peer,
                                                     pull);
  return cudaGetLastError();
}

cudaError_t load_all_kernels() {
  if (const cudaError_t err = device::load_kernels(aligned_start_kernel, sleep_kernel,
                                                   fill_input_kernel, link_probe_kernel);
      err != cudaSuccess)
    return err;
  for (cudaError_t (*load)() : {load_ll_kernels, load_ht_kernels, load_row_kernels})
    if (const cudaError_t err = load(); err != cudaSuccess) return err;
  return cudaSuccess;
}

}  // namespace epscope::gpu
