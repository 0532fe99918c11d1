// JSON views of scenarios and results (the `--json` schema of estimate and simulate,
// documented in docs/cli.md). nlohmann::json is a CPU-only header.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "epscope/estimate.h"
#include "epscope/flowsim.h"
#include "epscope/scenario.h"

namespace epscope {

nlohmann::json to_json(const Scenario& scenario);
/// The MoE-shape fields that a scenario, a measurement record (docs/measurements.md) and the
/// DeepEP driver's job all carry: hidden, topk, experts, dispatch_dtype, combine_dtype,
/// max_tokens_per_rank. Merge them into an object with `j.update(moe_shape_json(moe))`.
nlohmann::json moe_shape_json(const MoeShape& moe);
nlohmann::json to_json(const Bottleneck& bottleneck);
/// {dispatch_us, combine_us, total_us, summary, dispatch: {...}, combine: {...}, ranks: [...]}
nlohmann::json to_json(const EstimateResult& result);
/// to_json(unbalanced) plus `balanced` (same fields) and `ratio`.
nlohmann::json to_json(const Comparison& comparison);
/// The `fabric` object of `simulate --json` (src/core/flowsim_json.cpp).
nlohmann::json to_json(const FabricReport& report);

/// Reads and parses a JSON file; a missing file or malformed JSON is an InputError on `field`.
nlohmann::json read_json_file(const std::string& path, const std::string& field);

}  // namespace epscope
