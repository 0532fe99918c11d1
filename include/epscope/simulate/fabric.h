// The network beyond the GPUs that `simulate` maps flows onto: wiring, spine path selection,
// per-flow caps. docs/model.md §7§2.
#pragma once

#include <cstdint>
#include <string>

#include "epscope/scenario/scenario.h"

namespace epscope {

/// How NICs attach to leaf switches. docs/model.md §7§2.1.
enum class Wiring {
  kRailOptimized,  // "rail": NIC of local GPU i of every node on rail (leaf) i
  kTopOfRack,      // "tor": all NICs of a node on one leaf
  kSingleSwitch,   // "single": one non-blocking switch, no spine
};

/// How a flow that leaves its leaf picks a spine. docs/model.md §7§2.3.
enum class PathSelection {
  kHash,      // "hash": ECMP, a seeded hash of (source, destination, stage) picks one spine
  kAdaptive,  // "adaptive": the spine with the fewest unsent bytes when the flow starts
  kSpray,     // "spray": per-packet spraying over all spines; no collisions
};

/// The network beyond the GPUs. Rates of the GPU ports come from ModelParams.
struct Fabric {
  Wiring wiring = Wiring::kRailOptimized;
  int gpus_per_leaf = 32;       // NIC ports (one per GPU) below one leaf switch
  double oversubscription = 1;  // leaf downlink capacity / uplink capacity
  PathSelection path = PathSelection::kSpray;
  std::uint64_t ecmp_seed = 1;
  double flow_cap_gbps = 0;     // most one flow (one QP, a few SMs) can push; 0 = no cap
  double hop_latency_us = 0.5;  // per extra switch hop: leaf-spine-leaf adds 2 hops
  int forward_chunks = 16;      // HT store-and-forward: a forwarder's inbound in this many steps
  /// Flows finishing within this share of the phase's busiest-resource time of one event finish
  /// with it (fewer rate recomputations; error of the same order). 0 = exact.
  double resolution = 1e-3;

  /// Throws InputError naming the first bad field.
  void validate() const;
};

/// The fabric of a cluster preset (docs/model.md §7§2.4): rail-optimized, 32 GPUs per
/// leaf, the cluster's oversubscription.
Fabric fabric_preset(const Cluster& cluster);
/// Overrides fields from the `[fabric]` table of a TOML scenario file; no table, no change.
void apply_fabric_file(const std::string& path, Fabric& fabric);

std::string to_string(Wiring wiring);
std::string to_string(PathSelection path);
Wiring parse_wiring(const std::string& text);
PathSelection parse_path_selection(const std::string& text);

}  // namespace epscope
