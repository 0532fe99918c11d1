// JSON views of the results only the command and the bindings print: the balanced comparison of
// `estimate --compare-balanced` and the `fabric` object of `simulate --json` (docs/cli.md).
#include "epscope/report/report_json.h"

#include "epscope/model/result_json.h"

namespace epscope {
namespace {

nlohmann::json phase_json(const PhaseFabric& phase) {
  nlohmann::json j;
  j["start_us"] = phase.start_us;
  j["end_us"] = phase.end_us;
  j["utilization"] = phase.utilization;
  j["peak_utilization"] = phase.peak_utilization;
  j["rdma_bytes"] = phase.rdma_bytes;
  j["nic_tx_time"] = {{"busy", phase.nic_tx.busy},
                      {"throttled", phase.nic_tx.throttled},
                      {"nothing_to_send", phase.nic_tx.done},
                      {"not_started", phase.nic_tx.not_started}};
  nlohmann::json kinds = nlohmann::json::object();
  for (const ResourceLoad& load : phase.by_kind) {
    kinds[to_string(load.kind)] = {{"count", load.count},
                                   {"capacity_gbps", load.capacity_gbps},
                                   {"bytes", load.bytes},
                                   {"busy_us", load.busy_us},
                                   {"utilization", load.utilization}};
  }
  j["resources"] = kinds;
  nlohmann::json timeline = nlohmann::json::array();
  for (const UtilizationSegment& seg : phase.utilization_timeline) {
    timeline.push_back({seg.t0_us, seg.t1_us, seg.utilization});
  }
  j["utilization_timeline"] = timeline;  // [t0_us, t1_us, utilization] per segment
  j["num_flows"] = phase.num_flows;
  j["num_events"] = phase.num_events;
  return j;
}

}  // namespace

nlohmann::json to_json(const FabricReport& report) {
  const Fabric& f = report.fabric;
  nlohmann::json j;
  j["wiring"] = to_string(f.wiring);
  j["gpus_per_leaf"] = f.gpus_per_leaf;
  j["oversubscription"] = f.oversubscription;
  j["ecmp"] = to_string(f.path);
  j["ecmp_seed"] = f.ecmp_seed;
  j["flow_cap_gbps"] = f.flow_cap_gbps;
  j["hop_latency_us"] = f.hop_latency_us;
  j["forward_chunks"] = f.forward_chunks;
  j["resolution"] = f.resolution;
  j["num_leaves"] = report.num_leaves;
  j["num_spines"] = report.num_spines;
  j["uplink_gbps"] = report.uplink_gbps;
  j["nic_capacity_gbps"] = report.nic_capacity_gbps;
  j["utilization"] = report.utilization;
  j["idle"] = report.idle;
  j["dispatch"] = phase_json(report.dispatch);
  j["combine"] = phase_json(report.combine);
  return j;
}

nlohmann::json to_json(const Comparison& c) {
  nlohmann::json j = to_json(c.unbalanced);
  j["balanced"] = to_json(c.balanced);
  j["ratio"] = c.ratio;
  j["why"] = c.why;
  return j;
}

}  // namespace epscope
