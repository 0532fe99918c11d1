// epscope.sweep: the grid runner of include/epscope/sweep/sweep.h, parallel in C++ threads.
#include "epscope/sweep/sweep.h"
#include "py_bindings.h"

namespace epscope::python {

void bind_sweep(py::module_& m) {
  m.def(
      "sweep",
      [](const Scenario& base, const py::dict& vary, int threads, bool compare, bool per_rank,
         const std::optional<std::string>& calibration) {
        SweepGrid grid;
        for (const auto& [field, values] : vary) {
          SweepAxis axis{py::str(field).cast<std::string>(), {}};
          for (const auto& v : py::reinterpret_borrow<py::sequence>(values))
            axis.values.push_back(field_text(axis.field, v));
          merge_grids(grid, SweepGrid{{axis}});
        }
        SweepOptions options;
        options.num_threads = threads;
        options.compare_balanced = compare;
        options.per_rank = per_rank;
        options.evaluate = [calibration](const Scenario& s) {
          return estimate(s, params_for(s, calibration));
        };
        nlohmann::json out;
        {
          py::gil_scoped_release release;  // the threads never touch Python objects
          out = sweep_json(base, grid, run_sweep(base, grid, options));
        }
        return to_python(out);
      },
      py::arg("base"), py::arg("vary"), py::kw_only(), py::arg("threads") = 0,
      py::arg("compare_balanced") = false, py::arg("per_rank") = false,
      py::arg("calibration") = py::none(),
      R"doc(Estimate every point of a grid over scenario fields, in parallel C++ threads.

vary: {field: [values]}, e.g. {"tokens": [64, 128, 256], "nvlink": [True, False]}; a value
that is a list is a per-rank list. Returns the `epscope sweep --json` dict: {"sweep": {...},
"results": [rows in grid order]} (docs/sweep.md).)doc");
}

}  // namespace epscope::python
