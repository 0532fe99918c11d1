// Shared fixtures of the bench host tests (tests/bench).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "epscope/scenario/scenario.h"

namespace epscope::bench::test {

/// One node of `preset` GPUs, one per entry of `tokens_per_rank`, all in one NVLink domain; LL
/// receive buffers of 256 tokens per rank.
inline Scenario one_node(const std::string& preset, std::vector<std::int64_t> tokens_per_rank) {
  Scenario s;
  s.cluster = cluster_preset(preset);
  s.cluster.num_nodes = 1;
  s.cluster.gpus_per_node = static_cast<int>(tokens_per_rank.size());
  s.cluster.nvlink_domain_size = s.cluster.gpus_per_node;
  s.moe.max_tokens_per_rank = 256;
  s.tokens_per_rank = std::move(tokens_per_rank);
  return s;
}

}  // namespace epscope::bench::test
