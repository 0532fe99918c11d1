// The scenario flags every subcommand shares (estimate, simulate, bench, plan): one definition,
// so the same flags mean the same thing everywhere. docs/cli.md lists them.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "epscope/estimate/estimate.h"
#include "epscope/scenario/scenario.h"

namespace epscope::cli {

struct ScenarioOptions {
  std::string file;
  std::string preset, mode, nvlink, tokens, routing, dispatch_dtype, combine_dtype, a2a_rows;
  std::string start_offsets, expert_map, calibration;
  int nodes = 0, gpus_per_node = 0, nvlink_domain = 0, nics_per_gpu = 0;
  int hidden = 0, topk = 0, experts = 0, num_groups = 0, topk_groups = 0, max_tokens = 0;
  double nvlink_gbps = 0, nic_gbps = 0, oversubscription = 0, launch_us = 0;
  double nvlink_latency_us = 0, rdma_latency_us = 0;
  std::uint64_t seed = 1;
  bool back_to_back = false;
  CLI::App* app = nullptr;

  /// True when the user gave no scenario at all (no file and no scenario flag).
  bool nothing_given() const;
  bool given(const char* flag) const { return app->count(flag) > 0; }
};

/// Adds the shared scenario flags (and the positional SCENARIO_FILE) to `app`.
void add_scenario_options(CLI::App* app, ScenarioOptions& opts);

/// Builds the scenario: base (built-in default when nothing is given, else the preset with
/// library defaults), then the file, then the flags; validates it.
Scenario build_scenario(const ScenarioOptions& opts);

/// Model parameters for the scenario's cluster, with --calibration applied when given.
ModelParams build_params(const ScenarioOptions& opts, const Scenario& scenario);

}  // namespace epscope::cli
