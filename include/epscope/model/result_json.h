// JSON view of a model result: the `--json` schema of estimate and simulate (and of sweep's
// per-rank rows), documented in docs/cli.md. nlohmann::json is a CPU-only header.
#pragma once

#include <nlohmann/json.hpp>

#include "epscope/model/result.h"

namespace epscope {

nlohmann::json to_json(const Bottleneck& bottleneck);
/// {dispatch_us, combine_us, total_us, summary, dispatch: {...}, combine: {...}, ranks: [...]}
nlohmann::json to_json(const EstimateResult& result);

}  // namespace epscope
