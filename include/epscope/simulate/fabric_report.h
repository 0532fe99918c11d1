// What `simulate` reports beyond the phase times: per link resource loads, where the senders' NIC
// time went, utilization over time. docs/model.md §7§5.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "epscope/model/resource.h"
#include "epscope/simulate/fabric.h"

namespace epscope {

/// One kind of resource over one phase's window [start, end].
struct ResourceLoad {
  Resource kind = Resource::kNicTx;
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
  Resource kind = Resource::kNicTx;
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
  std::vector<ResourceLoad> by_kind;  // link resources present, in Resource order
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

/// Splits the senders' NIC time over [window_start, window_end] into busy, throttled, done and
/// not started (docs/model.md §7§5). nic_done[r]: when rank r's last RDMA flow left.
NicIdle nic_idle(const std::vector<double>& starts, const std::vector<double>& nic_done,
                 const std::vector<double>& nic_busy_us, double window_start_us,
                 double window_end_us);

/// Step-level utilization and the idle sentence, from the two phases.
void finish_report(FabricReport& report);

/// CSV: phase,t0_us,t1_us,resource,index,gbps,utilization; a `fabric` row per segment.
void write_timeline_csv(std::ostream& out, const FabricReport& report);

}  // namespace epscope
