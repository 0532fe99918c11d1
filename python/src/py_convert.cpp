// Conversions between Python objects and the core's types (JSON, top-k arrays, parameters).
#include <fmt/format.h>

#include "epscope/base/error.h"
#include "epscope/calibrate/calibrate_cases.h"
#include "epscope/calibrate/calibrate_fit.h"
#include "epscope/calibrate/calibration_file.h"
#include "epscope/calibrate/records.h"
#include "py_bindings.h"

namespace epscope::python {

py::object to_python(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return py::none();
    case nlohmann::json::value_t::boolean:
      return py::bool_(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return py::int_(j.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return py::int_(j.get<std::uint64_t>());
    case nlohmann::json::value_t::number_float:
      return py::float_(j.get<double>());
    case nlohmann::json::value_t::string:
      return py::str(j.get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      py::list out;
      for (const auto& item : j)
        out.append(to_python(item));
      return out;
    }
    case nlohmann::json::value_t::object: {
      py::dict out;
      for (const auto& [key, value] : j.items())
        out[py::str(key)] = to_python(value);
      return out;
    }
    default:
      return py::none();
  }
}

nlohmann::json to_json_value(const py::handle& obj) {
  if (obj.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(obj)) return obj.cast<bool>();
  if (py::isinstance<py::str>(obj)) return obj.cast<std::string>();
  if (py::isinstance<py::int_>(obj)) return obj.cast<std::int64_t>();
  if (py::isinstance<py::float_>(obj)) return obj.cast<double>();
  if (py::isinstance<py::dict>(obj)) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, value] : obj.cast<py::dict>())
      out[py::str(key).cast<std::string>()] = to_json_value(value);
    return out;
  }
  // NumPy arrays and scalars: through .tolist() / .item(), which give plain Python values.
  if (py::hasattr(obj, "tolist")) {
    const py::object plain = obj.attr("tolist")();
    if (!py::hasattr(plain, "tolist")) return to_json_value(plain);
  }
  if (py::isinstance<py::sequence>(obj)) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : obj.cast<py::sequence>())
      out.push_back(to_json_value(item));
    return out;
  }
  throw InputError("value", py::repr(obj).cast<std::string>(),
                   "expected None, bool, int, float, str, a list, a dict or a NumPy array");
}

std::string field_text(const std::string& key, const py::handle& value) {
  if (py::isinstance<py::bool_>(value)) return value.cast<bool>() ? "true" : "false";
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  const nlohmann::json j = to_json_value(value);
  if (j.is_array()) {
    std::string out;
    for (const auto& item : j) {
      if (!item.is_number()) throw InputError(key, j.dump(), "a list of numbers");
      if (!out.empty()) out += ',';
      out += item.dump();
    }
    return out;
  }
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  if (j.is_number()) return j.dump();
  throw InputError(key, py::repr(value).cast<std::string>(), "a number, a string or a list");
}

ModelParams params_for(const Scenario& scenario, const std::optional<std::string>& calibration) {
  ModelParams params = ModelParams::from_cluster(scenario.cluster);
  if (calibration) apply_calibration_file(*calibration, params);
  return params;
}

std::vector<RankTopk> topk_from_python(const Scenario& scenario, const py::object& topk) {
  using Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
  std::vector<Array> per_rank;
  if (py::isinstance<py::array>(topk) && topk.cast<py::array>().ndim() == 3) {
    const Array all = topk.cast<Array>();
    for (py::ssize_t r = 0; r < all.shape(0); ++r)
      per_rank.push_back(topk.attr("__getitem__")(r).cast<Array>());
  } else {
    for (const auto& item : topk.cast<py::sequence>())
      per_rank.push_back(py::reinterpret_borrow<py::object>(item).cast<Array>());
  }
  const int k = scenario.moe.topk;
  if (static_cast<int>(per_rank.size()) != scenario.num_ranks()) {
    throw InputError(
        "topk", fmt::format("{} ranks", per_rank.size()),
        fmt::format("give one [tokens, k] array per rank ({} ranks)", scenario.num_ranks()));
  }
  std::vector<RankTopk> out(per_rank.size());
  for (std::size_t r = 0; r < per_rank.size(); ++r) {
    const Array& a = per_rank[r];
    if (a.ndim() != 2 || a.shape(1) != k) {
      throw InputError("topk", fmt::format("rank {}: shape with {} dims", r, a.ndim()),
                       fmt::format("each rank's array must have shape [tokens, {}] (topk)", k));
    }
    out[r].num_tokens = a.shape(0);
    out[r].expert_idx.resize(static_cast<std::size_t>(a.size()));
    const std::int64_t* data = a.data();
    for (py::ssize_t i = 0; i < a.size(); ++i) {
      const std::int64_t e = data[i];
      if (e < -1 || e >= scenario.moe.num_experts) {
        throw InputError(
            "topk", fmt::format("rank {} entry {} = {}", r, i, e),
            fmt::format("expert indices must be -1 (none) or 0..{}", scenario.moe.num_experts - 1));
      }
      out[r].expert_idx[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(e);
    }
  }
  return out;
}

}  // namespace epscope::python
