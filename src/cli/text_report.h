// Human-readable output of an EstimateResult (estimate, simulate): a per-rank table with
// identical ranks grouped, so 256 ranks stay readable.
#pragma once

#include <string>

#include "epscope/estimate/estimate.h"
#include "epscope/scenario/scenario.h"

namespace epscope::cli {

/// One line describing the scenario ("h800-cx7, 2 nodes x 8 GPUs, LL, pure RDMA, ...").
std::string describe(const Scenario& scenario);
/// The per-rank table, ranks with identical rows grouped ("0-7").
std::string rank_table(const EstimateResult& result);

}  // namespace epscope::cli
