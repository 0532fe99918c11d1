// `epscope sweep`: a grid over scenario fields, estimated in parallel threads (and split across
// MPI ranks under mpirun), written as CSV and/or JSON. docs/sweep.md.
#include <fmt/format.h>
#include <iostream>

#include "commands.h"
#include "epscope/base/error.h"
#include "epscope/calibrate/calibration_file.h"
#include "epscope/sweep/sweep.h"
#include "mpi_session.h"
#include "output.h"
#include "progress.h"
#include "scenario_options.h"

namespace epscope::cli {
namespace {

struct SweepCliOptions {
  ScenarioOptions scenario;
  std::vector<std::string> vary;
  int num_threads = 0;
  bool compare_balanced = false;
  bool per_rank = false;
  bool no_progress = false;
  std::string csv_path;
  std::string json_path;
};

int run_sweep_command(const SweepCliOptions& o) {
  const Scenario base = build_scenario(o.scenario);
  SweepGrid grid;
  if (!o.scenario.file.empty()) grid = read_sweep_table(o.scenario.file);
  merge_grids(grid, parse_vary_flags(o.vary));
  if (grid.axes.empty()) {
    throw InputError("vary", "(none)",
                     "give at least one --vary field=v1,v2,... or a [sweep] table in the file");
  }

  SweepOptions options;
  options.num_threads = o.num_threads;
  options.compare_balanced = o.compare_balanced;
  options.per_rank = o.per_rank;
  const std::string calibration = o.scenario.calibration;
  options.evaluate = [calibration](const Scenario& s) {
    ModelParams p = ModelParams::from_cluster(s.cluster);
    if (!calibration.empty()) apply_calibration_file(calibration, p);
    return estimate(s, p);
  };

  MpiSession mpi;
  const std::size_t num_points = grid.num_points();
  const std::vector<std::size_t> mine = mpi.my_points(num_points);
  ProgressBar bar(mpi.size() > 1 ? fmt::format("sweep (rank 0 of {})", mpi.size()) : "sweep",
                  mpi.is_root() && !o.no_progress);
  options.progress = [&bar](std::size_t done, std::size_t total) { bar.update(done, total); };
  // A rank with no points (more ranks than points) still takes part in the gather.
  std::vector<nlohmann::json> rows;
  if (!mine.empty()) rows = run_sweep(base, grid, options, mine);
  bar.finish();
  rows = mpi.gather(rows);
  if (!mpi.is_root()) return 0;

  std::size_t num_errors = 0;
  for (const auto& row : rows)
    num_errors += row.contains("error") ? 1 : 0;
  const bool to_stdout = o.csv_path.empty() && o.json_path.empty();
  if (!o.csv_path.empty() || to_stdout)
    write_text(to_stdout ? "-" : o.csv_path, sweep_csv(grid, rows), "csv");
  if (!o.json_path.empty()) write_json(o.json_path, sweep_json(base, grid, std::move(rows)));
  if (num_errors > 0) {
    fmt::print(stderr, "epscope sweep: {} of {} points are invalid scenarios (see 'error')\n",
               num_errors, num_points);
  }
  if (!to_stdout && o.csv_path != "-" && o.json_path != "-") {
    fmt::print("{} points{} -> {}{}{}\n", num_points,
               mpi.size() > 1 ? fmt::format(" on {} MPI ranks", mpi.size()) : "", o.csv_path,
               !o.csv_path.empty() && !o.json_path.empty() ? ", " : "", o.json_path);
  }
  return 0;
}

}  // namespace

CLI::App* register_sweep(CLI::App& app) {
  auto opts = std::make_shared<SweepCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sweep", "Estimate a grid of scenarios (any scenario field) in parallel; CSV and JSON out");
  add_scenario_options(cmd, opts->scenario);
  cmd->add_option("--vary", opts->vary,
                  "field=v1,v2,... (repeatable; ';' separates values that contain commas, e.g. "
                  "tokens=384x8,64x8;224). Fields: the scenario file keys, see docs/sweep.md")
      ->group("Sweep");
  cmd->add_option("-j,--threads", opts->num_threads, "Worker threads (0 = all cores)")
      ->group("Sweep");
  cmd->add_flag("--compare-balanced", opts->compare_balanced,
                "Also estimate each point with its tokens spread evenly; adds balanced_total_us "
                "and ratio")
      ->group("Sweep");
  cmd->add_flag("--per-rank", opts->per_rank, "Keep per-rank results in the JSON rows")
      ->group("Sweep");
  cmd->add_flag("--no-progress", opts->no_progress, "No progress bar even on a terminal")
      ->group("Sweep");
  cmd->add_option("--csv", opts->csv_path, "Write CSV here ('-' = stdout; default when no --json)")
      ->group("Sweep");
  cmd->add_option("--json", opts->json_path, "Write JSON here ('-' = stdout)")->group("Sweep");
  cmd->callback([opts]() { throw CommandDone(run_sweep_command(*opts)); });
  return cmd;
}

}  // namespace epscope::cli
