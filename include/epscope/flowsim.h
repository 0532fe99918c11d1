// The flow-level fabric simulator: the same Scenario in, the same EstimateResult out as
// estimate.h, plus a FabricReport. Flows per (source, destination, stage) share links max-min
// fairly, recomputed at every flow start and finish. docs/model.md §7.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "epscope/estimate.h"
#include "epscope/scenario.h"
#include "epscope/traffic.h"

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

/// Kinds of simulated resource; the fabric report groups by them.
enum class LinkKind {
  kLocalCopy,
  kNvlinkTx,
  kNvlinkRx,
  kNicTx,
  kNicRx,
  kLeafUplink,     // leaf to spine
  kSpineDownlink,  // spine to leaf
};
inline constexpr int kNumLinkKinds = 7;
const char* to_string(LinkKind kind);

/// One kind of resource over one phase's window [start, end].
struct LinkKindLoad {
  LinkKind kind = LinkKind::kNicTx;
  int count = 0;             // resources of this kind
  double capacity_gbps = 0;  // summed over them
  double bytes = 0;
  double busy_us = 0;      // summed over them: integral of used / capacity
  double utilization = 0;  // busy_us / (count * window)
};

/// Where the senders' NIC capacity went, as shares of (ranks x window). They sum to 1.
struct NicIdle {
  double busy = 0;         // sending at full rate (time-equivalent)
  double throttled = 0;    // had data but sent below line rate: held back by receivers or fabric
  double done = 0;         // had nothing left to send (finished early or sent nothing)
  double not_started = 0;  // before the rank's start (late arrival, or back-to-back combine)
};

struct UtilizationSegment {
  double t0_us = 0;
  double t1_us = 0;
  double utilization = 0;  // delivered RDMA bytes/s over the capacity of all NICs
};

/// One row of the per-resource timeline (only resources with traffic).
struct TimelineRow {
  double t0_us = 0;
  double t1_us = 0;
  LinkKind kind = LinkKind::kNicTx;
  int index = 0;  // rank; for uplinks/downlinks leaf x num_spines + spine (spray: leaf)
  double gbps = 0;
  double capacity_gbps = 0;
};

struct PhaseFabric {
  double start_us = 0;     // earliest start of the phase
  double end_us = 0;       // latest finish
  double utilization = 0;  // time-weighted average over [start, end]
  double peak_utilization = 0;
  double rdma_bytes = 0;
  NicIdle nic_tx;
  std::vector<LinkKindLoad> by_kind;  // kinds present, in LinkKind order
  std::vector<UtilizationSegment> utilization_timeline;
  std::vector<TimelineRow> timeline;  // filled with SimulateOptions::timeline
  int num_flows = 0;
  int num_events = 0;
};

struct FabricReport {
  Fabric fabric;
  int num_leaves = 0;
  int num_spines = 0;            // 0: every NIC on one leaf
  double uplink_gbps = 0;        // one leaf-spine link
  double nic_capacity_gbps = 0;  // all NICs, one direction
  PhaseFabric dispatch;
  PhaseFabric combine;
  double utilization = 0;  // over both phases' windows, time weighted
  std::string idle;        // one line: where capacity sat idle
};

struct SimulateResult {
  EstimateResult result;  // same schema and phase semantics as estimate()
  FabricReport fabric;
};

struct SimulateOptions {
  bool timeline = false;  // record per-resource throughput per segment
};

SimulateResult simulate(const Scenario& scenario, const Traffic& traffic, const ModelParams& params,
                        const Fabric& fabric, const SimulateOptions& options = {});
/// Traffic from the scenario, rates from ModelParams::from_cluster, fabric from its preset.
SimulateResult simulate(const Scenario& scenario);

/// CSV: phase,t0_us,t1_us,resource,index,gbps,utilization; a `fabric` row per segment.
void write_timeline_csv(std::ostream& out, const SimulateResult& result);

}  // namespace epscope
