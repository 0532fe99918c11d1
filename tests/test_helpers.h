// Shared fixtures for the core tests.
#pragma once

#include <string>

#include "epscope/scenario/scenario.h"

namespace epscope::test {

inline std::string data_path(const std::string& name) {
  return std::string(EPSCOPE_TEST_DATA_DIR) + "/" + name;
}

/// 2 nodes x 2 GPUs with round numbers so that times can be computed by hand:
/// NIC 1 GB/s (1000 B/us), NVLink 2 GB/s, local copy 10 GB/s, latencies NVLink 1 us, RDMA 2 us,
/// launch 5 us; hidden 128, top-2 of 4 experts (one per rank); fp8 dispatch = 16 + 128 + 4 = 148 B,
/// bf16 combine = 256 B per copy.
inline Scenario tiny_scenario(KernelMode mode = KernelMode::kLowLatency) {
  Scenario s;
  s.cluster.preset = "";
  s.cluster.num_nodes = 2;
  s.cluster.gpus_per_node = 2;
  s.cluster.nvlink_domain_size = 2;
  s.cluster.nvlink_gbps = 2;
  s.cluster.nic_gbps = 1;
  s.cluster.local_copy_gbps = 10;
  s.cluster.nvlink_latency_us = 1;
  s.cluster.rdma_latency_us = 2;
  s.cluster.launch_us = 5;
  s.moe.hidden = 128;
  s.moe.topk = 2;
  s.moe.num_experts = 4;
  s.tokens_per_rank = {1, 2, 0, 1};
  s.mode = mode;
  s.routing.file = data_path("golden_ll_topk.json");
  s.routing.expected = false;
  return s;
}

}  // namespace epscope::test
