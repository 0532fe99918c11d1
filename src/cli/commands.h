// Each subcommand lives in its own file and registers itself here; main.cpp calls them all.
#pragma once

#include <CLI/CLI.hpp>

namespace epscope::cli {

/// Registers `epscope estimate`. Returns the subcommand.
CLI::App* register_estimate(CLI::App& app);
/// Registers `epscope plan` (DP-rank placement, Pareto sweep, replay).
CLI::App* register_plan(CLI::App& app);
/// Registers `epscope simulate`. Returns the subcommand.
CLI::App* register_simulate(CLI::App& app);
/// Registers `epscope bench` (src/cli/cmd_bench.cpp).
CLI::App* register_bench(CLI::App& app);
/// Registers `epscope sweep` (src/cli/cmd_sweep.cpp).
CLI::App* register_sweep(CLI::App& app);
/// Registers `epscope report` (src/cli/cmd_report.cpp).
CLI::App* register_report(CLI::App& app);
/// Registers `epscope calibrate`.
CLI::App* register_calibrate(CLI::App& app);

}  // namespace epscope::cli
