// Message layouts and test payloads shared by the kernels (device) and the checker (host).
// Byte sizes follow docs/model.md §2 (the same formulas as traffic.h); the bench asserts that the
// two agree. Plain C++ with __host__ __device__ markers so that g++ can include it too.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define EPSCOPE_HD __host__ __device__ __forceinline__
#else
#define EPSCOPE_HD inline
#endif

namespace epscope::gpu {

/// Most ranks one launch addresses (one NVLink node).
inline constexpr int kMaxPeers = 8;
/// Columns per FP8 scale (DeepEP's per-128 fp32 scales).
inline constexpr int kScaleBlock = 128;
/// Columns one warp moves per work item: 32 lanes x 16 columns.
inline constexpr int kChunkCols = 512;
/// Largest FP8 e4m3 magnitude; scale = amax / kFp8Max.
inline constexpr float kFp8Max = 448.0f;

/// `bytes` rounded up to a multiple of `unit`.
EPSCOPE_HD constexpr std::int64_t round_up(std::int64_t bytes, std::int64_t unit) {
  return (bytes + unit - 1) / unit * unit;
}

/// Receive slots are a multiple of this many bytes long (slot_bytes), so that every message's
/// data starts on a 128-byte line and each 512-byte chunk store covers four whole lines.
inline constexpr std::int64_t kSlotAlign = 128;

/// Bytes of a row's data: FP8 one byte per column, BF16 two.
EPSCOPE_HD constexpr std::int64_t data_bytes(int hidden, bool fp8) {
  return fp8 ? hidden : 2 * std::int64_t{hidden};
}

/// Bytes of the fp32 per-128-column scales of a row (none for BF16).
EPSCOPE_HD constexpr std::int64_t scale_bytes(int hidden, bool fp8) {
  return fp8 ? std::int64_t{hidden} / kScaleBlock * 4 : 0;
}

/// LL dispatch message: [data | fp32 scales (FP8 only) | 16 B header]. Header: int32 source
/// token, int32 top-k slot, int32 source rank, int32 global expert. `bytes()` is what goes on the
/// wire (docs/model.md §2); receive slots are `slot_bytes()` apart. The data comes first so that
/// it starts on a line of an aligned slot (4xH200: HT FP8 dispatch 316 -> 304 us, LL dispatch
/// at 128 tokens 28.4 -> 27.4 us; docs/performance.md).
struct LlMessage {
  int hidden = 0;
  bool fp8 = true;
  EPSCOPE_HD std::int64_t data_offset() const { return 0; }
  EPSCOPE_HD std::int64_t data_bytes() const { return gpu::data_bytes(hidden, fp8); }
  EPSCOPE_HD std::int64_t scale_offset() const { return data_bytes(); }
  EPSCOPE_HD std::int64_t header_offset() const { return data_bytes() + scale_bytes(hidden, fp8); }
  EPSCOPE_HD std::int64_t bytes() const { return header_offset() + 16; }
  EPSCOPE_HD std::int64_t slot_bytes() const { return round_up(bytes(), kSlotAlign); }
};

/// HT dispatch record: [data | fp32 scales (FP8) | int32 topk idx (local expert or -1) |
/// fp32 topk weights | int32 source token, int32 source rank | pad to 16 B]; receive slots are
/// `slot_bytes()` apart (see LlMessage).
struct HtRecord {
  int hidden = 0;
  int topk = 0;
  bool fp8 = true;
  EPSCOPE_HD std::int64_t data_bytes() const { return gpu::data_bytes(hidden, fp8); }
  EPSCOPE_HD std::int64_t scale_offset() const { return data_bytes(); }
  EPSCOPE_HD std::int64_t idx_offset() const { return data_bytes() + scale_bytes(hidden, fp8); }
  EPSCOPE_HD std::int64_t weight_offset() const { return idx_offset() + 4 * std::int64_t{topk}; }
  EPSCOPE_HD std::int64_t meta_offset() const { return weight_offset() + 4 * std::int64_t{topk}; }
  EPSCOPE_HD std::int64_t bytes() const { return round_up(meta_offset() + 8, 16); }
  EPSCOPE_HD std::int64_t slot_bytes() const { return round_up(bytes(), kSlotAlign); }
  /// The kernel stores [idx | weights | meta] zero-padded to here, whole 32-byte sectors.
  EPSCOPE_HD std::int64_t tail_end() const { return round_up(meta_offset() + 8, 32); }
};

// Test payloads. Every value is k/16 or k/32 with small |k|, so BF16 holds it exactly and the
// checker can recompute every received element.

/// Dispatch input of `rank`, token `token_idx`, column `col`: in [-7.8125, 7.8125].
EPSCOPE_HD float input_value(int rank, int token_idx, int col) {
  const int k = (rank * 37 + token_idx * 11 + col * 3) % 251;
  return static_cast<float>(k - 125) / 16.0f;
}

/// Expert output that `tag` (LL: global expert, HT: expert rank) computes for token `token_idx`
/// of `src_rank`, column `col`: in [-0.9375, 0.9375].
EPSCOPE_HD float expert_output_value(int src_rank, int token_idx, int tag, int col) {
  const int k = (src_rank * 131 + token_idx * 29 + tag * 17 + col * 7) % 61;
  return static_cast<float>(k - 30) / 32.0f;
}

/// Top-k weight of copy `k` of token `token_idx` (LL combine): 0.125, 0.15625, 0.1875, 0.21875.
EPSCOPE_HD float topk_weight(int token_idx, int k) {
  return 0.125f * (1.0f + 0.25f * static_cast<float>((token_idx + k) % 4));
}

}  // namespace epscope::gpu
