// The rates and fixed costs both fidelity levels (estimate, simulate) run with. docs/model.md §5.1.
#pragma once

#include "epscope/scenario/scenario.h"
#include "epscope/traffic/traffic.h"

namespace epscope {

/// Effective rates and fixed costs the model uses. Defaults come from the cluster; a calibration
/// (calibrate/calibration_file.h) overrides them. Bandwidths in GB/s per direction, times in us.
/// docs/model.md §5.1.
struct ModelParams {
  double nvlink_tx_gbps = 0;
  double nvlink_rx_gbps = 0;
  double nic_tx_gbps = 0;
  double nic_rx_gbps = 0;
  double local_gbps = 0;
  double nvlink_latency_us = 0;
  double rdma_latency_us = 0;
  double dispatch_fixed_us = 0;  // launch + count handshake of dispatch
  double combine_fixed_us = 0;   // launch + flag handshake of combine
  double per_msg_us = 0;         // sender-side cost per message (per token copy) beyond bandwidth
  double expert_rx_gbps =
      0;  // per-expert receive rate (LL: one receiver queue per expert); 0 = off
  double count_exchange_us = 0;    // a2a only: the host-side count exchange before the data moves
  double leaf_uplink_factor = 1;   // 1 / oversubscription
  double combine_rate_factor = 1;  // combine's link and copy rates = dispatch's x this (§6)
  double fair_share = 0;           // 1: a sender serves its destinations at once (flow-size share)
  double combine_pull = 0;         // 1: combine pulls after a ready barrier (§6.7)
  double b2b_overlap_us = 0;  // back to back: combine's fixed cost hides this much behind dispatch

  static ModelParams from_cluster(const Cluster& cluster);

  /// The sending rate of a link class: NIC tx (RDMA), NVLink tx, or the local copy.
  double tx_gbps(LinkClass link_class) const {
    return link_class == LinkClass::kRdma     ? nic_tx_gbps
           : link_class == LinkClass::kNvlink ? nvlink_tx_gbps
                                              : local_gbps;
  }
};

}  // namespace epscope
