// The phase rules both fidelity levels share: when combine starts, what it runs with, the pull
// queue term, and the per-rank summary of the two phases. docs/model.md §5.3, §6.2, §6.7.
#pragma once

#include <cstdint>
#include <vector>

#include "epscope/model/model_params.h"
#include "epscope/model/result.h"
#include "epscope/scenario/scenario.h"
#include "epscope/traffic/traffic.h"

namespace epscope {

/// Start times of combine given dispatch finishes: all at the latest dispatch finish (sync, the
/// default) or each rank at its own dispatch finish (back to back). docs/model.md §5.3.
std::vector<double> combine_starts(const Scenario& scenario, const PhaseResult& dispatch);

/// What the combine phase runs with: every link and local rate x combine_rate_factor, and back to
/// back a fixed cost of max(0, combine_fixed_us - b2b_overlap_us) (docs/model.md §6.2). Shared by
/// estimate and simulate.
ModelParams combine_phase_params(const Scenario& scenario, const ModelParams& params);

/// docs/model.md §6.7's queue term: in a pull, a puller's last loads at a port wait behind a
/// heavier puller's, at most one round trip: min((heaviest - own) bytes / port rate, latency).
/// Shared by estimate and simulate.
double pull_queue_us(std::uint64_t heaviest_bytes, std::uint64_t own_bytes, double port_gbps,
                     double latency_us);

/// Fills `ranks`, totals and summary from the two phases. Shared by estimate and simulate.
void summarize(const Scenario& scenario, const Traffic& traffic, EstimateResult& result);

}  // namespace epscope
