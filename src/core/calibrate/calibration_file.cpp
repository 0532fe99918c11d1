#include <fmt/format.h>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "epscope/base/error.h"
#include "epscope/calibrate/calibration_file.h"

namespace epscope {

const std::vector<ParamField>& calibration_fields() {
  static const std::vector<ParamField> fields = {
      {"nvlink_tx_gbps", &ModelParams::nvlink_tx_gbps},
      {"nvlink_rx_gbps", &ModelParams::nvlink_rx_gbps},
      {"nic_tx_gbps", &ModelParams::nic_tx_gbps},
      {"nic_rx_gbps", &ModelParams::nic_rx_gbps},
      {"local_gbps", &ModelParams::local_gbps},
      {"nvlink_latency_us", &ModelParams::nvlink_latency_us},
      {"rdma_latency_us", &ModelParams::rdma_latency_us},
      {"dispatch_fixed_us", &ModelParams::dispatch_fixed_us},
      {"combine_fixed_us", &ModelParams::combine_fixed_us},
      {"per_msg_us", &ModelParams::per_msg_us},
      {"expert_rx_gbps", &ModelParams::expert_rx_gbps},
      {"count_exchange_us", &ModelParams::count_exchange_us},
      {"leaf_uplink_factor", &ModelParams::leaf_uplink_factor},
      {"combine_rate_factor", &ModelParams::combine_rate_factor},
      {"b2b_overlap_us", &ModelParams::b2b_overlap_us},
      {"fair_share", &ModelParams::fair_share},
      {"combine_pull", &ModelParams::combine_pull},
  };
  return fields;
}

void apply_calibration_file(const std::string& path, ModelParams& params) {
  std::ifstream in(path);
  if (!in) throw InputError("calibration", path, "the file cannot be opened");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {  // parse_error; out_of_range (1e400)
    throw InputError("calibration", path, fmt::format("malformed JSON: {}", e.what()));
  }
  if (!j.is_object() || !j.contains("params") || !j["params"].is_object()) {
    throw InputError("calibration", path, "expected an object with a 'params' object");
  }
  for (const auto& [key, value] : j["params"].items()) {
    const ParamField* f = nullptr;
    for (const auto& candidate : calibration_fields()) {
      if (key == candidate.name) f = &candidate;
    }
    if (f == nullptr) {
      std::string names;
      for (const auto& candidate : calibration_fields()) {
        if (!names.empty()) names += ", ";
        names += candidate.name;
      }
      throw InputError("calibration", fmt::format("{}: {}", path, key),
                       "known parameters: " + names);
    }
    if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < 0) {
      throw InputError("calibration", fmt::format("{}: {} = {}", path, key, value.dump()),
                       "must be a finite number >= 0");
    }
    params.*(f->member) = value.get<double>();
  }
}

}  // namespace epscope
