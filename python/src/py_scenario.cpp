// epscope.Scenario: built from keyword arguments (the scenario field names of
// include/epscope/scenario/scenario_fields.h) or a TOML file; NumPy in and out for per-rank lists.
#include <fmt/format.h>

#include "epscope/base/error.h"
#include "epscope/base/lists.h"
#include "epscope/scenario/scenario_fields.h"
#include "epscope/scenario/scenario_file.h"
#include "epscope/scenario/scenario_json.h"
#include "py_bindings.h"

namespace epscope::python {
namespace {

/// Keywords that are not scalar scenario fields: expert maps, applied after the rank count is
/// final.
const char* const kMapKeywords[] = {"expert_map", "physical_to_logical", "logical_to_ranks"};

bool is_map_keyword(const std::string& key) {
  for (const char* k : kMapKeywords)
    if (key == k) return true;
  return false;
}

Scenario apply_keywords(Scenario base, const py::kwargs& kwargs) {
  std::vector<FieldValue> fields;
  for (const auto& [k, v] : kwargs) {
    const std::string key = py::str(k).cast<std::string>();
    if (!is_map_keyword(key)) fields.emplace_back(key, field_text(key, v));
  }
  Scenario s = with_fields(std::move(base), fields);
  for (const auto& [k, v] : kwargs) {
    const std::string key = py::str(k).cast<std::string>();
    if (!is_map_keyword(key)) continue;
    if (key == "expert_map") {
      s.moe.replicas = read_expert_map(v.cast<std::string>(), s.moe.num_experts, s.num_ranks());
    } else {
      const nlohmann::json map = {{key, to_json_value(v)}};
      s.moe.replicas = expert_map_from_json(map, s.moe.num_experts, s.num_ranks(), key);
    }
    s.validate();
  }
  return s;
}

/// The base the CLI uses when something is given: a preset's cluster (h800-cx7 unless named)
/// with 128 tokens on every rank.
Scenario preset_base(const std::string& preset) {
  Scenario s;
  s.cluster = cluster_preset(preset.empty() ? "h800-cx7" : preset);
  s.tokens_per_rank.assign(static_cast<std::size_t>(s.num_ranks()), 128);
  return s;
}

}  // namespace

void bind_scenario(py::module_& m) {
  py::class_<Scenario>(m, "Scenario", R"doc(
One dispatch/combine step: cluster, MoE shape, tokens per rank, routing, kernel mode.

Scenario() is the built-in default (DOMAIN.md section 4: h800-cx7, 2x8, LL, pure RDMA,
tokens 384x8,64x8). Scenario(**fields) starts from a preset (h800-cx7 unless preset= is given)
with 128 tokens per rank and sets the fields: the keys of scenario files and of `epscope sweep
--vary` (epscope.Scenario.field_names()). tokens= takes the list syntax "384x8,64x8", one
number, or a list / NumPy array with one entry per rank. Expert placement: physical_to_logical=
(EPLB map, NumPy array), logical_to_ranks= (list of rank lists) or expert_map= (JSON path).
)doc")
      .def(py::init([](const py::kwargs& kwargs) {
             if (kwargs.empty()) return default_scenario();
             const std::string preset =
                 kwargs.contains("preset") ? py::str(kwargs["preset"]).cast<std::string>() : "";
             return apply_keywords(preset_base(preset), kwargs);
           }),
           "Build a scenario from field keywords (see the class doc)")
      .def_static(
          "from_file",
          [](const std::string& path, const py::kwargs& kwargs) {
            Scenario s = preset_base(scenario_file_preset(path));
            apply_scenario_file(path, s);
            return apply_keywords(std::move(s), kwargs);
          },
          py::arg("path"), "Read a TOML scenario file; keywords override its keys")
      .def_static("field_names", &scenario_field_names, "Every field a keyword or sweep may set")
      .def("replace", &apply_keywords, "A copy with the given fields changed")
      .def("balanced", &balanced, "The same total tokens spread evenly over the ranks")
      .def("to_dict", [](const Scenario& s) { return to_python(to_json(s)); })
      .def_property(
          "tokens_per_rank",
          [](const Scenario& s) {
            return py::array_t<std::int64_t>(static_cast<py::ssize_t>(s.tokens_per_rank.size()),
                                             s.tokens_per_rank.data());
          },
          [](Scenario& s, const py::object& tokens) {
            s = with_fields(s, {{"tokens", field_text("tokens", tokens)}});
          },
          "Tokens on each rank this step (NumPy int64 array; assign a list, array or '384x8,64x8')")
      .def_property_readonly("num_ranks", &Scenario::num_ranks)
      .def_property_readonly("total_tokens", &Scenario::total_tokens)
      .def_property_readonly("mode", [](const Scenario& s) { return to_string(s.mode); })
      .def_property_readonly("nvlink", [](const Scenario& s) { return s.cluster.nvlink_enabled; })
      .def_property_readonly("preset", [](const Scenario& s) { return s.cluster.preset; })
      .def("__repr__", [](const Scenario& s) {
        return fmt::format(
            "Scenario(preset='{}', nodes={}, gpus_per_node={}, mode='{}', "
            "nvlink={}, tokens='{}', routing='{}')",
            s.cluster.preset, s.cluster.num_nodes, s.cluster.gpus_per_node, to_string(s.mode),
            s.cluster.nvlink_enabled ? "True" : "False", format_token_list(s.tokens_per_rank),
            s.routing.to_string());
      });
  m.def("preset_names", &preset_names, "Names of the cluster presets");
}

}  // namespace epscope::python
