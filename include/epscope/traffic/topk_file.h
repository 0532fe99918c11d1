// Reading explicit top-k routing from a file (routing spec `file:PATH`): an input reader, it
// depends on no model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace epscope {

/// Explicit top-k choices for one rank's tokens: expert_idx[token * topk + j], -1 = no expert.
struct RankTopk {
  std::int64_t num_tokens = 0;
  std::vector<std::int32_t> expert_idx;
};

/// Reads explicit top-k indices per token per rank (routing spec `file:PATH`). By extension:
/// - .json: {"topk_idx": [[[e0..ek-1] per token] per rank]} or the bare nested array;
/// - .csv: rows `rank,token,e0,...,ek-1` (a first line starting with a letter is a header);

}  // namespace epscope
