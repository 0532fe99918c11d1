// JSON view of a scenario: the `scenario` object of the `--json` output of estimate, simulate and
// sweep (documented in docs/cli.md). nlohmann::json is a CPU-only header.
#pragma once

#include <nlohmann/json.hpp>

#include "epscope/scenario/scenario.h"

namespace epscope {

nlohmann::json to_json(const Scenario& scenario);
/// The MoE-shape fields that a scenario, a measurement record (docs/measurements.md) and the
/// DeepEP driver's job all carry: hidden, topk, experts, dispatch_dtype, combine_dtype,
/// max_tokens_per_rank. Merge them into an object with `j.update(moe_shape_json(moe))`.
nlohmann::json moe_shape_json(const MoeShape& moe);

}  // namespace epscope
