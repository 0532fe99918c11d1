// Each subcommand lives in its own file and registers itself here; main.cpp calls them all.
#pragma once

#include <CLI/CLI.hpp>

namespace epscope::cli {

/// Registers `epscope estimate`. Returns the subcommand.
CLI::App* register_estimate(CLI::App& app);
/// Registers `epscope simulate`. Returns the subcommand.
CLI::App* register_simulate(CLI::App& app);

}  // namespace epscope::cli
