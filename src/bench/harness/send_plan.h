// The rows one rank sends in the nccl backend, planned on the host at load time (untimed), and
// the size of what it receives. Host-only, so CI tests it at any rank count.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "epscope/traffic/routing.h"

namespace epscope::bench {

/// Rows grouped by destination rank, token-major inside each group: one row per (token, expert)
/// or, `per_rank`, one row per (token, destination rank) (a token with several experts on one
/// rank sends that rank one row, tagged with its first such k).
struct SendPlan {
  std::vector<std::int64_t> rows_to;    // [R] rows for each destination rank
  std::vector<std::int64_t> first_row;  // [R] index of each destination's first row
  std::vector<std::int32_t> token;      // per row: the token
  std::vector<std::int32_t> k;          // per row: the top-k slot
  std::vector<std::int32_t> expert;     // per row: the global expert
  /// [num_tokens, k_max]: the row that carries copy (t, k), or -1 (no expert, or per_rank and an
  /// earlier k of t already goes to the same rank). The combine sums these rows per token.
  std::vector<std::int32_t> row_of_copy;

  std::int64_t num_rows() const { return static_cast<std::int64_t>(token.size()); }
};

/// Plans the rows of one rank for `num_ranks` ranks with `experts_per_rank` contiguous experts
/// each. Works for any rank count (no per-token rank mask).
SendPlan plan_send_rows(const RankTopk& topk, int k_max, int num_ranks, int experts_per_rank,
                        bool per_rank);

/// The most rows one rank sends in a case: top-k per token, or with per-rank rows at most one per
/// destination rank.
std::int64_t max_send_rows(int max_tokens_per_rank, int topk, int num_ranks, bool per_rank);

/// A rank's received rows, grouped by source rank in rank order (the nccl backend's recv_rows):
/// writes the first row of each peer's block to `first_row` and returns the total. `rows_from[p]`
/// is the count peer p announced; -1 (a count that never arrived) counts as none. Allocates
/// nothing: the timed dispatch calls it.
std::int64_t lay_out_recv_rows(std::span<const std::int64_t> rows_from,
                               std::span<std::int64_t> first_row);

/// Bytes of a rank's two receive buffers for `rows` received rows: the LL messages as they
/// arrive (src/gpu/layout.h) and one BF16 expert output row each, sent back in combine.
struct RecvBytes {
  std::int64_t messages = 0;
  std::int64_t expert_rows = 0;
  std::int64_t total() const { return messages + expert_rows; }
};
RecvBytes recv_buffer_bytes(std::int64_t rows, int hidden, bool fp8);

}  // namespace epscope::bench
