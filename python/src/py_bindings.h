// The Python module `epscope._epscope`: thin bindings over epscope_core, one .cpp per capability.
// To add one (simulate, calibrate, plan): write python/src/<name>.cpp defining
// `void bind_<name>(pybind11::module_& m)`, declare it below, call it in module.cpp and list the
// file in python/CMakeLists.txt. Results go back to Python through epscope::to_json + to_python.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "epscope/estimate/estimate.h"
#include "epscope/scenario/scenario.h"
#include "epscope/traffic/routing.h"

namespace epscope::python {

namespace py = pybind11;

void bind_scenario(py::module_& m);
void bind_estimate(py::module_& m);
void bind_sweep(py::module_& m);
void bind_report(py::module_& m);

/// nlohmann::json -> Python dict/list/str/int/float/bool/None.
py::object to_python(const nlohmann::json& j);
/// Python (dict/list/str/int/float/bool/None, NumPy arrays and scalars) -> nlohmann::json.
nlohmann::json to_json_value(const py::handle& obj);

/// One field value as the text the core's field setter reads (scenario_fields.h): lists and
/// arrays comma-joined (NumPy token arrays work), booleans as true/false, numbers via JSON.
std::string field_text(const std::string& key, const py::handle& value);

/// Model parameters for a scenario: from its cluster, with a calibration file applied when given.
ModelParams params_for(const Scenario& scenario, const std::optional<std::string>& calibration);

/// Top-k indices per rank from Python: a list of [tokens_r, k] integer arrays (one per rank) or a
/// single [ranks, tokens, k] array. Checked against the scenario (rank count, k, expert range).
std::vector<RankTopk> topk_from_python(const Scenario& scenario, const py::object& topk);

}  // namespace epscope::python
