// Text tables and JSON of `epscope plan`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "epscope/plan/decode_config.h"
#include "epscope/plan/decode_model.h"
#include "epscope/plan/plan_io.h"
#include "epscope/plan/plan_pareto.h"
#include "epscope/plan/plan_policies.h"
#include "epscope/plan/plan_replay.h"

namespace epscope::cli {

/// One row per policy: step time and its parts (ms), tokens/s, balance of batch and KV, moves.
std::string policy_table(const std::vector<PolicyReport>& reports);
/// The lambda sweep, one row per lambda, the sweet spot marked.
std::string pareto_table(const ParetoResult& sweep);
/// One row per replayed policy.
std::string replay_table(const std::vector<ReplayResult>& results);

nlohmann::json to_json(const PolicyReport& report);
nlohmann::json to_json(const ParetoResult& sweep);
/// Summary plus every `stride`-th step of the timeline.
nlohmann::json to_json(const ReplayResult& result, int stride);
nlohmann::json to_json(const ModelConfig& model, const DecodeParams& params);

/// Writes the replay timelines as CSV (policy, step, time_us, step_us, running, imbalances).
void write_timeline_csv(const std::string& path, const std::vector<ReplayResult>& results);

}  // namespace epscope::cli
