// The fabric report: utilization over the step, where NIC capacity sat idle, the timeline CSV.
// docs/model.md §7§5.
#include "epscope/simulate/fabric_report.h"

#include <algorithm>
#include <ostream>

#include <fmt/format.h>

namespace epscope {

NicIdle nic_idle(const std::vector<double>& starts, const std::vector<double>& nic_done,
                 const std::vector<double>& nic_busy_us, double window_start_us,
                 double window_end_us) {
  NicIdle idle;
  const double window_us = window_end_us - window_start_us;
  if (starts.empty() || !(window_us > 0)) return idle;
  for (std::size_t r = 0; r < starts.size(); ++r) {
    const double not_started = std::clamp(starts[r] - window_start_us, 0.0, window_us);
    const double done =
        std::clamp(window_end_us - std::max(nic_done[r], starts[r]), 0.0, window_us - not_started);
    const double busy = std::min(nic_busy_us[r], window_us - not_started - done);
    idle.not_started += not_started;
    idle.done += done;
    idle.busy += busy;
    idle.throttled += window_us - not_started - done - busy;
  }
  const double total = window_us * static_cast<double>(starts.size());
  idle.not_started /= total;
  idle.done /= total;
  idle.busy /= total;
  idle.throttled /= total;
  return idle;
}

void finish_report(FabricReport& report) {
  const double wd = report.dispatch.end_us - report.dispatch.start_us;
  const double wc = report.combine.end_us - report.combine.start_us;
  const double window = wd + wc;
  if (!(window > 0)) return;
  report.utilization =
      (report.dispatch.utilization * wd + report.combine.utilization * wc) / window;
  NicIdle step;
  for (const auto& [phase, w] : {std::pair{&report.dispatch, wd}, std::pair{&report.combine, wc}}) {
    step.busy += phase->nic_tx.busy * w / window;
    step.throttled += phase->nic_tx.throttled * w / window;
    step.done += phase->nic_tx.done * w / window;
    step.not_started += phase->nic_tx.not_started * w / window;
  }
  report.idle = fmt::format(
      "fabric utilization {:.0f}% (dispatch {:.0f}%, combine {:.0f}%); senders' NIC time: {:.0f}% "
      "busy, {:.0f}% idle with nothing left to send, {:.0f}% throttled by receivers or fabric, "
      "{:.0f}% before their start",
      100 * report.utilization, 100 * report.dispatch.utilization, 100 * report.combine.utilization,
      100 * step.busy, 100 * step.done, 100 * step.throttled, 100 * step.not_started);
}

void write_timeline_csv(std::ostream& out, const FabricReport& report) {
  out << "phase,t0_us,t1_us,resource,index,gbps,utilization\n";
  for (const auto& [name, phase] :
       {std::pair{"dispatch", &report.dispatch}, std::pair{"combine", &report.combine}}) {
    for (const UtilizationSegment& seg : phase->utilization_timeline) {
      out << fmt::format("{},{:.6f},{:.6f},fabric,-1,{:.6f},{:.6f}\n", name, seg.t0_us, seg.t1_us,
                         seg.utilization * report.nic_capacity_gbps, seg.utilization);
    }
    for (const TimelineRow& row : phase->timeline) {
      out << fmt::format("{},{:.6f},{:.6f},{},{},{:.6f},{:.6f}\n", name, row.t0_us, row.t1_us,
                         to_string(row.kind), row.index, row.gbps, row.gbps / row.capacity_gbps);
    }
  }
}

}  // namespace epscope
