// Fabric report helpers shared by flowsim.cpp; internal to epscope_core.
#pragma once

#include <vector>

#include "epscope/flowsim.h"

namespace epscope {

/// Splits the senders' NIC time over [window_start, window_end] into busy, throttled, done and
/// not started (docs/model.md §7§5). nic_done[r]: when rank r's last RDMA flow left.
NicIdle nic_idle(const std::vector<double>& starts, const std::vector<double>& nic_done,
                 const std::vector<double>& nic_busy_us, double window_start_us,
                 double window_end_us);

/// Step-level utilization and the idle sentence, from the two phases.
void finish_report(FabricReport& report);

}  // namespace epscope
