// Each subcommand lives in its own file and registers itself here; main.cpp calls them all.
#pragma once

#include <CLI/CLI.hpp>

namespace epscope::cli {

/// Registers `epscope estimate`. Returns the subcommand.
CLI::App* register_estimate(CLI::App& app);
/// Registers `epscope calibrate`.
CLI::App* register_calibrate(CLI::App& app);

}  // namespace epscope::cli
