// The two ways routing counts are computed (routing_expected.cpp, routing_sampled.cpp), for
// compute_routing (routing.cpp). Internal to epscope_core.
#pragma once

#include "epscope/scenario/scenario.h"
#include "epscope/traffic/routing.h"

namespace epscope::detail {

/// Exact expected counts (docs/model.md §3.3).
RoutingCounts expected_routing(const Scenario& scenario);
/// Counts of seeded top-k draws, each rank counted as it is drawn (docs/model.md §3.2).
RoutingCounts sampled_routing(const Scenario& scenario);

}  // namespace epscope::detail
