#include "bench/harness/send_plan.h"

#include <algorithm>

#include "epscope/base/error.h"
#include "gpu/layout.h"

namespace epscope::bench {

SendPlan plan_send_rows(const RankTopk& topk, int k_max, int num_ranks, int experts_per_rank,
                        bool per_rank) {
  EPSCOPE_ASSERT(num_ranks >= 1 && experts_per_rank >= 1 && k_max >= 1);
  const auto num_tokens = static_cast<int>(topk.num_tokens);
  const auto ranks = static_cast<std::size_t>(num_ranks);
  // The destination of every copy that sends a row; -1 for none (or a per-rank duplicate).
  std::vector<int> dst_of_copy(static_cast<std::size_t>(num_tokens) * k_max, -1);
  SendPlan plan;
  plan.rows_to.assign(ranks, 0);
  for (int t = 0; t < num_tokens; ++t) {
    const std::size_t base = static_cast<std::size_t>(t) * k_max;
    for (int k = 0; k < k_max; ++k) {
      const int e = topk.expert_idx[base + k];
      if (e < 0) continue;
      const int d = e / experts_per_rank;
      EPSCOPE_ASSERT(d < num_ranks);
      bool duplicate = false;
      for (int j = 0; per_rank && j < k && !duplicate; ++j)
        duplicate = dst_of_copy[base + j] == d;
      if (duplicate) continue;
      dst_of_copy[base + k] = d;
      ++plan.rows_to[static_cast<std::size_t>(d)];
    }
  }
  plan.first_row.assign(ranks, 0);
  for (std::size_t d = 1; d < ranks; ++d)
    plan.first_row[d] = plan.first_row[d - 1] + plan.rows_to[d - 1];
  const std::int64_t total = plan.first_row.back() + plan.rows_to.back();
  plan.token.resize(static_cast<std::size_t>(total));
  plan.k.resize(static_cast<std::size_t>(total));
  plan.expert.resize(static_cast<std::size_t>(total));
  plan.row_of_copy.assign(dst_of_copy.size(), -1);
  std::vector<std::int64_t> next = plan.first_row;
  for (int t = 0; t < num_tokens; ++t)
    for (int k = 0; k < k_max; ++k) {
      const std::size_t copy = static_cast<std::size_t>(t) * k_max + k;
      const int d = dst_of_copy[copy];
      if (d < 0) continue;
      const auto row = static_cast<std::size_t>(next[static_cast<std::size_t>(d)]++);
      plan.token[row] = t;
      plan.k[row] = k;
      plan.expert[row] = topk.expert_idx[copy];
      plan.row_of_copy[copy] = static_cast<std::int32_t>(row);
    }
  return plan;
}

std::int64_t max_send_rows(int max_tokens_per_rank, int topk, int num_ranks, bool per_rank) {
  const int rows_per_token = per_rank ? std::min(num_ranks, topk) : topk;
  return std::int64_t{max_tokens_per_rank} * rows_per_token;
}

std::int64_t lay_out_recv_rows(std::span<const std::int64_t> rows_from,
                               std::span<std::int64_t> first_row) {
  EPSCOPE_ASSERT(first_row.size() == rows_from.size());
  std::int64_t total = 0;
  for (std::size_t p = 0; p < rows_from.size(); ++p) {
    first_row[p] = total;
    total += std::max<std::int64_t>(rows_from[p], 0);
  }
  return total;
}

RecvBytes recv_buffer_bytes(std::int64_t rows, int hidden, bool fp8) {
  return {rows * gpu::LlMessage{hidden, fp8}.bytes(), rows * hidden * 2};
}

}  // namespace epscope::bench
