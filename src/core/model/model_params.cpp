#include "epscope/model/model_params.h"

namespace epscope {

ModelParams ModelParams::from_cluster(const Cluster& cluster) {
  ModelParams p;
  p.nvlink_tx_gbps = cluster.nvlink_gbps;
  p.nvlink_rx_gbps = cluster.nvlink_gbps;
  p.nic_tx_gbps = cluster.rank_nic_gbps();
  p.nic_rx_gbps = cluster.rank_nic_gbps();
  p.local_gbps = cluster.local_copy_gbps;
  p.nvlink_latency_us = cluster.nvlink_latency_us;
  p.rdma_latency_us = cluster.rdma_latency_us;
  p.dispatch_fixed_us = cluster.launch_us;
  p.combine_fixed_us = cluster.launch_us;
  p.count_exchange_us = cluster.launch_us + cluster.rdma_latency_us;
  p.leaf_uplink_factor = 1.0 / cluster.oversubscription;
  return p;
}

}  // namespace epscope
