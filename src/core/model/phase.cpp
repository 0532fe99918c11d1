// Phase rules shared by estimate and simulate. docs/model.md §5.3, §6.2, §6.7.
#include "epscope/model/phase.h"

#include <fmt/format.h>
#include <algorithm>

#include "epscope/base/units.h"

namespace epscope {

std::vector<double> combine_starts(const Scenario& scenario, const PhaseResult& dispatch) {
  std::vector<double> starts(dispatch.ranks.size(), dispatch.end_us);
  for (std::size_t r = 0; r < starts.size(); ++r) {
    if (scenario.back_to_back) {
      starts[r] = dispatch.ranks[r].finish_us;
    } else if (scenario.offsets_each_phase) {
      starts[r] += scenario.start_offset(static_cast<int>(r));
    }
  }
  return starts;
}

double pull_queue_us(std::uint64_t heaviest_bytes, std::uint64_t own_bytes, double port_gbps,
                     double latency_us) {
  const double excess =
      heaviest_bytes > own_bytes ? static_cast<double>(heaviest_bytes - own_bytes) : 0;
  return std::min(busy_us(excess, port_gbps), latency_us);
}

ModelParams combine_phase_params(const Scenario& scenario, const ModelParams& params) {
  // Combine moves data with other kernels than dispatch (reduction, other queues): its effective
  // rates may differ by one factor (docs/model.md §6, fitted by `calibrate`).
  ModelParams combine = params;
  for (double ModelParams::*rate :
       {&ModelParams::nvlink_tx_gbps, &ModelParams::nvlink_rx_gbps, &ModelParams::nic_tx_gbps,
        &ModelParams::nic_rx_gbps, &ModelParams::local_gbps})
    combine.*rate *= params.combine_rate_factor;
  // Back to back, combine is queued behind dispatch: part of its launch hides (docs/model.md §6).
  if (scenario.back_to_back)
    combine.combine_fixed_us = std::max(0.0, params.combine_fixed_us - params.b2b_overlap_us);
  return combine;
}

void summarize(const Scenario& scenario, const Traffic& traffic, EstimateResult& result) {
  const int n = scenario.num_ranks();
  result.ranks.assign(static_cast<std::size_t>(n), RankResult{});
  result.dispatch_us = 0;
  result.combine_us = 0;
  for (int r = 0; r < n; ++r) {
    const auto i = static_cast<std::size_t>(r);
    const RankPhase& d = result.dispatch.ranks[i];
    const RankPhase& c = result.combine.ranks[i];
    RankResult& rr = result.ranks[i];
    rr.rank = r;
    rr.tokens = scenario.tokens_per_rank[i];
    rr.dispatch_us = d.duration_us();
    rr.combine_us = c.duration_us();
    rr.total_us = c.finish_us - d.start_us;
    rr.wait_us = d.wait_us + c.wait_us;
    rr.transfer_us = d.transfer_us + c.transfer_us;
    rr.dispatch_send = traffic.dispatch.send[i];
    rr.dispatch_recv = traffic.dispatch.recv[i];
    rr.combine_send = traffic.combine.send[i];
    rr.combine_recv = traffic.combine.recv[i];
    rr.send_bytes = rr.dispatch_send.total_bytes() + rr.combine_send.total_bytes();
    rr.recv_bytes = rr.dispatch_recv.total_bytes() + rr.combine_recv.total_bytes();
    rr.bottleneck = (rr.dispatch_us >= rr.combine_us ? d : c).bottleneck.reason;
    result.dispatch_us = std::max(result.dispatch_us, rr.dispatch_us);
    result.combine_us = std::max(result.combine_us, rr.combine_us);
  }
  result.total_us = result.combine.end_us;  // step clock starts at the aligned dispatch start (0)
  result.summary = fmt::format(
      "dispatch {:.1f} us, bound by {}; combine {:.1f} us, bound by {}; end to end {:.1f} us",
      result.dispatch_us, result.dispatch.bottleneck.reason, result.combine_us,
      result.combine.bottleneck.reason, result.total_us);
}

}  // namespace epscope
