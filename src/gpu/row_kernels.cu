// Row kernels of the NCCL backend: pack LL messages into a send buffer, run the test expert on
// received rows, and reduce combined rows at home. None of them is timed.
#include <cuda_runtime.h>

#include "gpu/device.cuh"

namespace epscope::gpu {
namespace {

using device::Bf16x16;
using device::lane_id;
using device::warp_id;

/// One warp per (row, 512-column chunk).
__global__ void pack_rows_kernel(int rank, int hidden, bool fp8, std::int64_t num_rows,
                                 const std::uint16_t* x, const std::int32_t* entry_token,
                                 const std::int32_t* entry_k, const std::int32_t* entry_expert,
                                 std::uint8_t* send_buf) {
  const LlMessage msg{hidden, fp8};
  const int num_chunks = (hidden + kChunkCols - 1) / kChunkCols;
  const std::int64_t num_items = num_rows * num_chunks;
  const std::int64_t num_warps = static_cast<std::int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (std::int64_t item = blockIdx.x * static_cast<std::int64_t>(blockDim.x >> 5) + warp_id();
       item < num_items; item += num_warps) {
    const std::int64_t row = item / num_chunks;
    const int chunk = static_cast<int>(item % num_chunks);
    const int t = entry_token[row];
    const int base = chunk * kChunkCols;
    const Bf16x16 v = device::load_chunk(x + static_cast<std::int64_t>(t) * hidden, base, hidden);
    std::uint8_t* m = send_buf + row * msg.bytes();
    if (fp8) {
      const device::ChunkPayload p = device::make_payload<true>(v);
      device::store_chunk_data<true>(m + msg.data_offset(), base, hidden, p);
      device::store_chunk_scales(reinterpret_cast<float*>(m + msg.scale_offset()), base, hidden, p);
    } else {
      device::store_chunk_data<false>(m + msg.data_offset(), base, hidden,
                                      device::make_payload<false>(v));
    }
    if (chunk == 0 && lane_id() == 0)
      device::store_v4(
          m + msg.header_offset(),
          make_uint4(static_cast<unsigned>(t), static_cast<unsigned>(entry_k[row]),
                     static_cast<unsigned>(rank), static_cast<unsigned>(entry_expert[row])));
  }
}

__global__ void fill_row_outputs_kernel(int rank, int hidden, bool fp8, bool per_rank,
                                        std::int64_t num_rows, const std::uint8_t* recv_rows,
                                        std::uint16_t* out_rows) {
  const LlMessage msg{hidden, fp8};
  for (std::int64_t row = blockIdx.x; row < num_rows; row += gridDim.x) {
    const int* header =
        reinterpret_cast<const int*>(recv_rows + row * msg.bytes() + msg.header_offset());
    const int token = header[0], src = header[2];
    const int tag = per_rank ? rank : header[3];
    for (int col = threadIdx.x; col < hidden; col += blockDim.x) {
      const __nv_bfloat16 v = __float2bfloat16(expert_output_value(src, token, tag, col));
      out_rows[row * hidden + col] = *reinterpret_cast<const std::uint16_t*>(&v);
    }
  }
}

__global__ void reduce_rows_kernel(int hidden, int num_tokens, int per_token,
                                   const std::int32_t* row_idx, const float* weights,
                                   const std::uint16_t* rows, std::uint16_t* out) {
  const int num_chunks = (hidden + kChunkCols - 1) / kChunkCols;
  const int num_items = num_tokens * num_chunks;
  const int num_warps = static_cast<int>(gridDim.x * (blockDim.x >> 5));
  for (int item = static_cast<int>(blockIdx.x * (blockDim.x >> 5)) + warp_id(); item < num_items;
       item += num_warps) {
    const int t = item / num_chunks;
    const int base = (item % num_chunks) * kChunkCols;
    float acc[16] = {};
    for (int j = 0; j < per_token; ++j) {
      const int row = row_idx[t * per_token + j];
      if (row < 0) continue;
      const float w = weights != nullptr ? weights[t * per_token + j] : 1.0f;
      float f[16];
      device::unpack(
          device::load_chunk(rows + static_cast<std::int64_t>(row) * hidden, base, hidden), f);
#pragma unroll
      for (int i = 0; i < 16; ++i)
        acc[i] += w * f[i];
    }
    device::store_chunk(out + static_cast<std::int64_t>(t) * hidden, base, hidden,
                        device::pack_bf16(acc));
  }
}

}  // namespace

cudaError_t launch_pack_rows(int rank, int hidden, bool fp8, std::int64_t num_rows,
                             const std::uint16_t* x, const std::int32_t* entry_token,
                             const std::int32_t* entry_k, const std::int32_t* entry_expert,
                             std::uint8_t* send_buf, cudaStream_t stream) {
  if (hidden % kScaleBlock != 0 || (fp8 && hidden % kChunkCols != 0)) return cudaErrorInvalidValue;
  if (num_rows == 0) return cudaSuccess;
  pack_rows_kernel<<<264, 256, 0, stream>>>(rank, hidden, fp8, num_rows, x, entry_token, entry_k,
                                            entry_expert, send_buf);
  return cudaGetLastError();
}

cudaError_t launch_fill_row_outputs(int rank, int hidden, bool fp8, bool per_rank,
                                    std::int64_t num_rows, const std::uint8_t* recv_rows,
                                    std::uint16_t* out_rows, cudaStream_t stream) {
  if (num_rows == 0) return cudaSuccess;
  fill_row_outputs_kernel<<<528, 256, 0, stream>>>(rank, hidden, fp8, per_rank, num_rows, recv_rows,
                                                   out_rows);
  return cudaGetLastError();
}

cudaError_t launch_reduce_rows(int hidden, int num_tokens, int per_token,
                               const std::int32_t* row_idx, const float* weights,
                               const std::uint16_t* rows, std::uint16_t* out, cudaStream_t stream) {
  if (hidden % kScaleBlock != 0) return cudaErrorInvalidValue;
  if (num_tokens == 0) return cudaSuccess;
  reduce_rows_kernel<<<132, 512, 0, stream>>>(hidden, num_tokens, per_token, row_idx, weights, rows,
                                              out);
  return cudaGetLastError();
}

cudaError_t load_row_kernels() {
  return device::load_kernels(pack_rows_kernel, fill_row_outputs_kernel, reduce_rows_kernel);
}

}  // namespace epscope::gpu
