// epscope.estimate / compare_balanced / ModelParams: the closed-form model (docs/model.md §5).
#include <fmt/format.h>

#include "epscope/base/error.h"
#include "epscope/model/result_json.h"
#include "epscope/report/report_json.h"
#include "epscope/scenario/scenario_json.h"
#include "epscope/traffic/traffic.h"
#include "py_bindings.h"

namespace epscope::python {
namespace {

EstimateResult run_estimate(const Scenario& scenario, const py::object& topk,
                            const std::optional<ModelParams>& params,
                            const std::optional<std::string>& calibration) {
  const ModelParams p = params ? *params : params_for(scenario, calibration);
  if (topk.is_none()) return estimate(scenario, p);
  // Explicit routing: the batch is what the top-k arrays hold, so tokens follow their lengths.
  const std::vector<RankTopk> ranks = topk_from_python(scenario, topk);
  Scenario s = scenario;
  for (std::size_t r = 0; r < ranks.size(); ++r)
    s.tokens_per_rank[r] = ranks[r].num_tokens;
  s.validate();
  const Traffic traffic = compute_traffic(s, count_routing(s, ranks));
  return estimate(s, traffic, p);
}

/// One per-rank column of a result as a NumPy array.
py::array_t<double> rank_column(const EstimateResult& r, const std::string& name) {
  py::array_t<double> out(static_cast<py::ssize_t>(r.ranks.size()));
  auto view = out.mutable_unchecked<1>();
  for (std::size_t i = 0; i < r.ranks.size(); ++i) {
    const RankResult& rr = r.ranks[i];
    const auto idx = static_cast<py::ssize_t>(i);
    if (name == "tokens")
      view(idx) = static_cast<double>(rr.tokens);
    else if (name == "dispatch_us")
      view(idx) = rr.dispatch_us;
    else if (name == "combine_us")
      view(idx) = rr.combine_us;
    else if (name == "total_us")
      view(idx) = rr.total_us;
    else if (name == "wait_us")
      view(idx) = rr.wait_us;
    else if (name == "transfer_us")
      view(idx) = rr.transfer_us;
    else if (name == "send_bytes")
      view(idx) = static_cast<double>(rr.send_bytes);
    else if (name == "recv_bytes")
      view(idx) = static_cast<double>(rr.recv_bytes);
    else
      throw InputError("column", name,
                       "allowed: tokens, dispatch_us, combine_us, total_us, wait_us, "
                       "transfer_us, send_bytes, recv_bytes");
  }
  return out;
}

}  // namespace

void bind_estimate(py::module_& m) {
  py::class_<ModelParams>(m, "ModelParams",
                          "Effective rates (GB/s) and fixed costs (us) of the model")
      .def_static("from_cluster",
                  [](const Scenario& s) { return ModelParams::from_cluster(s.cluster); })
      .def_static(
          "for_scenario",
          [](const Scenario& s, const std::optional<std::string>& calibration) {
            return params_for(s, calibration);
          },
          py::arg("scenario"), py::arg("calibration") = py::none(),
          "The cluster's parameters with a calibration JSON applied when given")
      .def_readwrite("nvlink_tx_gbps", &ModelParams::nvlink_tx_gbps)
      .def_readwrite("nvlink_rx_gbps", &ModelParams::nvlink_rx_gbps)
      .def_readwrite("nic_tx_gbps", &ModelParams::nic_tx_gbps)
      .def_readwrite("nic_rx_gbps", &ModelParams::nic_rx_gbps)
      .def_readwrite("local_gbps", &ModelParams::local_gbps)
      .def_readwrite("nvlink_latency_us", &ModelParams::nvlink_latency_us)
      .def_readwrite("rdma_latency_us", &ModelParams::rdma_latency_us)
      .def_readwrite("dispatch_fixed_us", &ModelParams::dispatch_fixed_us)
      .def_readwrite("combine_fixed_us", &ModelParams::combine_fixed_us)
      .def_readwrite("per_msg_us", &ModelParams::per_msg_us)
      .def_readwrite("expert_rx_gbps", &ModelParams::expert_rx_gbps)
      .def_readwrite("count_exchange_us", &ModelParams::count_exchange_us)
      .def_readwrite("leaf_uplink_factor", &ModelParams::leaf_uplink_factor);

  py::class_<EstimateResult>(m, "EstimateResult", "Per-rank dispatch/combine times and bottlenecks")
      .def_readonly("dispatch_us", &EstimateResult::dispatch_us)
      .def_readonly("combine_us", &EstimateResult::combine_us)
      .def_readonly("total_us", &EstimateResult::total_us)
      .def_readonly("summary", &EstimateResult::summary)
      .def("rank_column", &rank_column, py::arg("name"),
           "A per-rank column as a NumPy array: tokens, dispatch_us, combine_us, total_us, "
           "wait_us, transfer_us, send_bytes, recv_bytes")
      .def(
          "to_dict", [](const EstimateResult& r) { return to_python(to_json(r)); },
          "The `estimate --json` schema (docs/cli.md)")
      .def("__repr__", [](const EstimateResult& r) {
        return fmt::format("EstimateResult(dispatch_us={:.1f}, combine_us={:.1f}, total_us={:.1f})",
                           r.dispatch_us, r.combine_us, r.total_us);
      });

  py::class_<Comparison>(m, "Comparison", "An imbalanced step against the same total spread evenly")
      .def_readonly("unbalanced", &Comparison::unbalanced)
      .def_readonly("balanced", &Comparison::balanced)
      .def_readonly("ratio", &Comparison::ratio)
      .def_readonly("why", &Comparison::why)
      .def("to_dict", [](const Comparison& c) { return to_python(to_json(c)); })
      .def("__repr__", [](const Comparison& c) {
        return fmt::format("Comparison(unbalanced_us={:.1f}, balanced_us={:.1f}, ratio={:.3f})",
                           c.unbalanced.total_us, c.balanced.total_us, c.ratio);
      });

  m.def("estimate", &run_estimate, py::arg("scenario"), py::kw_only(), py::arg("topk") = py::none(),
        py::arg("params") = py::none(), py::arg("calibration") = py::none(),
        R"doc(Closed-form estimate of one step.

topk: explicit routing, a list with one [tokens_r, k] integer array per rank (or one
[ranks, tokens, k] array); tokens per rank then follow the arrays' lengths. -1 = no expert.
params: ModelParams to use; calibration: path of a calibration JSON (`epscope calibrate`).)doc");
  m.def(
      "compare_balanced",
      [](const Scenario& s, const std::optional<ModelParams>& params,
         const std::optional<std::string>& calibration) {
        return compare_balanced(s, params ? *params : params_for(s, calibration));
      },
      py::arg("scenario"), py::kw_only(), py::arg("params") = py::none(),
      py::arg("calibration") = py::none(),
      "Estimate the scenario and the same total spread evenly; ratio = unbalanced / balanced");
}

}  // namespace epscope::python
