// Cluster presets. Every value and its source is listed in docs/presets.md; keep the two in sync.
#include <fmt/format.h>

#include "epscope/base/error.h"
#include "epscope/scenario/scenario.h"

namespace epscope {
namespace {

struct Preset {
  const char* name;
  Cluster cluster;
};

Cluster make(const char* name, int nodes, int gpus_per_node, int domain, double nvlink_gbps,
             double local_copy_gbps, double nvlink_latency_us) {
  Cluster c;
  c.preset = name;
  c.num_nodes = nodes;
  c.gpus_per_node = gpus_per_node;
  c.nvlink_domain_size = domain;
  c.nvlink_gbps = nvlink_gbps;
  c.nic_gbps = 50;  // ConnectX-7 400 Gb/s per GPU, ~50 GB/s practical (DeepEP README)
  c.nics_per_gpu = 1;
  c.local_copy_gbps = local_copy_gbps;
  c.nvlink_latency_us = nvlink_latency_us;
  c.rdma_latency_us = 4.0;
  c.launch_us = 12.0;
  c.oversubscription = 1.0;
  c.nvlink_enabled = true;
  return c;
}

const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = {
      {"h800-cx7", make("h800-cx7", 2, 8, 8, 160, 1500, 2.0)},
      {"h100-cx7", make("h100-cx7", 2, 8, 8, 350, 1500, 2.0)},
      {"h200-cx7", make("h200-cx7", 2, 8, 8, 350, 2150, 2.0)},
      {"h20-cx7", make("h20-cx7", 2, 8, 8, 350, 1800, 2.0)},
      {"b200-cx7", make("b200-cx7", 2, 8, 8, 700, 3500, 2.0)},
      {"gb200-nvl72", make("gb200-nvl72", 18, 4, 72, 700, 3500, 2.0)},
  };
  return table;
}

}  // namespace

Cluster cluster_preset(const std::string& name) {
  for (const auto& p : presets()) {
    if (name == p.name) return p.cluster;
  }
  throw InputError("preset", name,
                   fmt::format("known presets: {}", fmt::join(preset_names(), ", ")));
}

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& p : presets())
    names.emplace_back(p.name);
  return names;
}

}  // namespace epscope
