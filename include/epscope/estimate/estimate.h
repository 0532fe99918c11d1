// The closed-form bottleneck model: per rank, per phase, the latest of a few lower bounds, each
// tied to one resource. docs/model.md §5. `simulate.h` produces the same result type
// (model/result.h).
#pragma once

#include <string>

#include "epscope/model/model_params.h"
#include "epscope/model/phase.h"
#include "epscope/model/result.h"
#include "epscope/scenario/scenario.h"
#include "epscope/traffic/traffic.h"

namespace epscope {

EstimateResult estimate(const Scenario& scenario, const Traffic& traffic,
                        const ModelParams& params);
EstimateResult estimate(const Scenario& scenario, const ModelParams& params);
EstimateResult estimate(const Scenario& scenario);

/// An imbalanced scenario against the same total spread evenly.
struct Comparison {
  EstimateResult unbalanced;
  EstimateResult balanced;
  double ratio = 1;  // unbalanced.total_us / balanced.total_us
  std::string why;   // multi-line explanation
};
Comparison compare_balanced(const Scenario& scenario, const ModelParams& params);

}  // namespace epscope
