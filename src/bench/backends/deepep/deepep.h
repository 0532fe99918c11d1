// `epscope bench --backend deepep`: DeepEP's own LL/HT kernels, run by the Python driver
// (src/bench/backends/deepep/deepep_driver.py, one process per GPU) under the scenario's exact
// per-rank token counts. This side does what it does for every backend: validate the scenario,
// resolve the cases and sample each case's top-k indices (sample_topk, as the harness does), then
// writes them into the driver's job file, runs the driver and reads every rank's samples back for
// the shared report. Host-only: no CUDA here, the driver brings torch and deep_ep. docs/cli.md.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/harness/launch.h"
#include "bench/harness/samples.h"
#include "epscope/scenario/scenario.h"

namespace epscope::bench {

/// How the driver is started.
struct DeepEpLaunch {
  std::string python = "python3";  // an interpreter that has torch and deep_ep (--python)
  std::string driver;  // "" = $EPSCOPE_DEEPEP_DRIVER, else deepep_driver.py beside the executable
                       // or in ../share/epscope
};

/// What the driver measured. When a rank failed part-way, `failure` says why and `run` holds the
/// cases every rank finished before it.
struct DeepEpRun {
  RunOutput run;
  std::string deepep_version;
  std::string torch_version;
  double sleep_us = 0;  // the GPU sleep of the aligned start the driver used (at least 500 us)
  std::string failure;  // "" when every case ran
};

/// The driver's job (format epscope-deepep-job, version 1): the scenario's shape, the options, and
/// per case the name, tokens, start offsets and every rank's top-k indices (flat, token-major).
nlohmann::json deepep_job(const Scenario& base, const std::vector<BenchCase>& cases,
                          const BenchOptions& options);

/// Reads the driver's output. Throws InputError for an input error the driver reported (one line,
/// as the driver wrote it), Error for a malformed file or a failure before any case finished.
DeepEpRun read_deepep_output(const nlohmann::json& out, int num_ranks);

/// Validates exactly as the other backends do (validate_bench_scenario; the device count comes
/// from the driver's probe of torch), writes the job, runs the driver and reads its output.
/// Throws InputError when the scenario cannot run on DeepEP or torch/deep_ep cannot be imported.
DeepEpRun run_deepep(const Scenario& base, const std::vector<BenchCase>& cases,
                     const BenchOptions& options, const DeepEpLaunch& launch);

/// Adds the DeepEP version to every record (records name the library that was measured).
void annotate_deepep_records(std::vector<nlohmann::json>& records, const DeepEpRun& run);

}  // namespace epscope::bench
