// JSON views of the results only the command and the bindings print (the `--json` schema of
// estimate and simulate, documented in docs/cli.md). The scenario's and the model result's JSON
// live with their types (scenario/scenario_json.h, model/result_json.h).
#pragma once

#include <nlohmann/json.hpp>

#include "epscope/estimate/estimate.h"
#include "epscope/simulate/simulate.h"

namespace epscope {

/// to_json(unbalanced) plus `balanced` (same fields) and `ratio`.
nlohmann::json to_json(const Comparison& comparison);
/// The `fabric` object of `simulate --json`.
nlohmann::json to_json(const FabricReport& report);

}  // namespace epscope
