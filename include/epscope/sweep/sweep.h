// Sweeps: a grid over scenario fields, each point estimated (or simulated) in parallel threads,
// results in grid order. `epscope sweep` and the Python module both use this. docs/sweep.md.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "epscope/estimate/estimate.h"
#include "epscope/scenario/scenario.h"
#include "epscope/scenario/scenario_fields.h"

namespace epscope {

/// One varied field and its values (text, as scenario_fields.h reads them).
struct SweepAxis {
  std::string field;
  std::vector<std::string> values;
};

/// The grid is the product of the axes; point index = row-major, the first axis varies slowest.
struct SweepGrid {
  std::vector<SweepAxis> axes;

  std::size_t num_points() const;
  /// The assignments of point `point_idx` (one per axis, in axis order).
  std::vector<FieldValue> point(std::size_t point_idx) const;
};

/// Parses `--vary field=v1,v2,...` flags. Values are separated by ';' when any ';' is present
/// (so a per-rank list "384x8,64x8" can be one value), else by ','. A field given twice is an
/// InputError.
SweepGrid parse_vary_flags(const std::vector<std::string>& flags);

/// Reads the [sweep] table of a TOML file: `field = [v1, v2, ...]` (strings, numbers or
/// booleans) or a single value. Axes in the table's key order. Returns no axes when the file has
/// no [sweep] table.
SweepGrid read_sweep_table(const std::string& path);

/// Appends `more`'s axes to `grid`; a field on both is an InputError.
void merge_grids(SweepGrid& grid, const SweepGrid& more);

/// Turns one scenario into a result. Default: estimate() with parameters from the cluster.
using Evaluator = std::function<EstimateResult(const Scenario&)>;

struct SweepOptions {
  int num_threads = 0;            // 0 = hardware concurrency
  bool compare_balanced = false;  // also evaluate balanced(scenario), report the ratio
  bool per_rank = false;          // keep per-rank columns in each row's JSON ("ranks")
  Evaluator evaluate;             // empty = estimate(scenario)
  /// Called from the calling thread every ~100 ms and once at the end: points done, points total.
  std::function<void(std::size_t, std::size_t)> progress;
};

/// Runs the points `point_indices` of the grid (all points when empty) on `base`. Returns one JSON
/// row per point in the order of `point_indices` (sweep_row schema, docs/sweep.md). A point whose
/// scenario is invalid gives a row with "error" set instead of results; the sweep goes on.
std::vector<nlohmann::json> run_sweep(const Scenario& base, const SweepGrid& grid,
                                      const SweepOptions& options,
                                      std::vector<std::size_t> point_indices = {});

/// The whole result file: {"sweep": {"axes": [...], "base": scenario, "num_points": N},
/// "results": rows}.
nlohmann::json sweep_json(const Scenario& base, const SweepGrid& grid,
                          std::vector<nlohmann::json> rows);
/// CSV: point, the axes' fields, then the scalar result columns (sweep_csv_columns()), one line
/// per row, header first.
std::string sweep_csv(const SweepGrid& grid, const std::vector<nlohmann::json>& rows);
std::vector<std::string> sweep_csv_columns();

}  // namespace epscope
