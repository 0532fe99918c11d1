// Scenario files (TOML) and expert-map files (JSON). docs/cli.md lists every key.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "epscope/scenario/scenario.h"

namespace epscope {

/// Which preset a scenario file names ("" when none). Read before the rest so that the preset
/// can be applied first and the file's own cluster keys override it.
std::string scenario_file_preset(const std::string& path);

/// Applies every key of a TOML scenario file onto `scenario`. Unknown keys, wrong types and bad
/// values are InputErrors naming the key.
void apply_scenario_file(const std::string& path, Scenario& scenario);

/// Reads an expert placement: JSON {"physical_to_logical": [...]} (EPLB's map: slot i lives on
/// rank i / (slots / ranks)) or {"logical_to_ranks": [[r, ...], ...]}. Returns replicas per
/// logical expert, as MoeShape::replicas.
std::vector<std::vector<int>> read_expert_map(const std::string& path, int num_experts,
                                              int num_ranks);
/// The same from an already parsed JSON value (the Python module passes NumPy maps this way).
/// `origin` names the source in error messages.
std::vector<std::vector<int>> expert_map_from_json(const nlohmann::json& map, int num_experts,
                                                   int num_ranks, const std::string& origin);

}  // namespace epscope
