// The flow-level fabric simulator: the same Scenario in, the same EstimateResult out as
// estimate.h (model/result.h), plus a FabricReport. Flows per (source, destination, stage) share
// links max-min fairly, recomputed at every flow start and finish. docs/model.md §7.
#pragma once

#include "epscope/model/model_params.h"
#include "epscope/model/result.h"
#include "epscope/scenario/scenario.h"
#include "epscope/simulate/fabric.h"
#include "epscope/simulate/fabric_report.h"
#include "epscope/traffic/traffic.h"

namespace epscope {

struct SimulateResult {
  EstimateResult result;  // same schema and phase semantics as estimate()
  FabricReport fabric;
};

struct SimulateOptions {
  bool timeline = false;  // record per-resource throughput per segment
};

SimulateResult simulate(const Scenario& scenario, const Traffic& traffic, const ModelParams& params,
                        const Fabric& fabric, const SimulateOptions& options = {});
/// Traffic from the scenario, rates from ModelParams::from_cluster, fabric from its preset.
SimulateResult simulate(const Scenario& scenario);

}  // namespace epscope
