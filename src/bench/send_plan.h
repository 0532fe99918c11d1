// The rows one rank sends in the nccl backend, planned on the host at load time (untimed).
// Host-only, so CI tests it at any rank count.
#pragma once

#include <cstdint>
#include <vector>

#include "epscope/routing.h"

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

}  // namespace epscope::bench
