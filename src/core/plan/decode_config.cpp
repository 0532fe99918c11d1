// Model configs, GPU specs, the derived per-layer coefficients and their calibration.
// docs/model.md §8.1.
#include <fmt/format.h>
#include <toml++/toml.h>

#include <array>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include "base/toml_read.h"

#include "epscope/base/error.h"
#include "epscope/base/units.h"
#include "epscope/plan/decode_config.h"
#include "plan_table.h"

namespace epscope {

namespace {

constexpr double kFlopsPerUsPerTflops = 1e6;

void require_positive(const char* field, double value) {
  if (!(value > 0) || !std::isfinite(value)) {
    throw InputError(field, fmt::format("{}", value), "must be a finite number > 0");
  }
}
void require_non_negative(const char* field, double value) {
  if (!(value >= 0) || !std::isfinite(value)) {
    throw InputError(field, fmt::format("{}", value), "must be a finite number >= 0");
  }
}

/// The fields of ModelConfig a file may set, by name.
struct IntField {
  const char* name;
  int ModelConfig::*member;
};
struct RealField {
  const char* name;
  double ModelConfig::*member;
};
constexpr std::array kIntFields = {
    IntField{"num_layers", &ModelConfig::num_layers},
    IntField{"num_dense_layers", &ModelConfig::num_dense_layers},
    IntField{"hidden", &ModelConfig::hidden},
    IntField{"num_experts", &ModelConfig::num_experts},
    IntField{"topk", &ModelConfig::topk},
    IntField{"num_groups", &ModelConfig::num_groups},
    IntField{"topk_groups", &ModelConfig::topk_groups},
    IntField{"moe_ffn", &ModelConfig::moe_ffn},
    IntField{"num_shared_experts", &ModelConfig::num_shared_experts},
    IntField{"shared_ffn", &ModelConfig::shared_ffn},
    IntField{"dense_ffn", &ModelConfig::dense_ffn},
};
constexpr std::array kRealFields = {
    RealField{"kv_bytes_per_token", &ModelConfig::kv_bytes_per_token},
    RealField{"attn_params", &ModelConfig::attn_params},
    RealField{"weight_bytes_per_param", &ModelConfig::weight_bytes_per_param},
    RealField{"lm_head_bytes", &ModelConfig::lm_head_bytes},
};

std::string known_fields() {
  std::string names = "name";
  for (const auto& f : kIntFields)
    names += std::string(", ") + f.name;
  for (const auto& f : kRealFields)
    names += std::string(", ") + f.name;
  return names;
}

/// Sets one field from a number; `key` must be a known field.
void set_field(ModelConfig& model, const std::string& path, const std::string& key, double value) {
  for (const auto& f : kIntFields) {
    if (key != f.name) continue;
    if (value != std::floor(value) || std::abs(value) > 1e9) {
      throw InputError("model " + key, fmt::format("{}", value), "must be an integer");
    }
    model.*f.member = static_cast<int>(value);
    return;
  }
  for (const auto& f : kRealFields) {
    if (key != f.name) continue;
    model.*f.member = value;
    return;
  }
  throw InputError("model", fmt::format("{}: {}", path, key), "known fields: " + known_fields());
}

}  // namespace

double ModelConfig::expert_weight_bytes() const {
  return 3.0 * hidden * static_cast<double>(moe_ffn) * weight_bytes_per_param;
}

void ModelConfig::validate() const {
  auto positive_int = [](const char* field, int value) {
    if (value <= 0) throw InputError(field, std::to_string(value), "must be an integer > 0");
  };
  positive_int("model num_layers", num_layers);
  if (num_dense_layers < 0 || num_dense_layers >= num_layers) {
    throw InputError("model num_dense_layers", std::to_string(num_dense_layers),
                     fmt::format("allowed: 0..{} (num_layers - 1)", num_layers - 1));
  }
  positive_int("model hidden", hidden);
  positive_int("model num_experts", num_experts);
  positive_int("model topk", topk);
  if (topk > num_experts) {
    throw InputError("model topk", std::to_string(topk), "must not exceed num_experts");
  }
  positive_int("model num_groups", num_groups);
  positive_int("model topk_groups", topk_groups);
  positive_int("model moe_ffn", moe_ffn);
  if (num_shared_experts < 0) {
    throw InputError("model num_shared_experts", std::to_string(num_shared_experts),
                     "must be an integer >= 0");
  }
  positive_int("model shared_ffn", shared_ffn);
  positive_int("model dense_ffn", dense_ffn);
  require_positive("model kv_bytes_per_token", kv_bytes_per_token);
  require_positive("model attn_params", attn_params);
  require_positive("model weight_bytes_per_param", weight_bytes_per_param);
  require_non_negative("model lm_head_bytes", lm_head_bytes);
}

ModelConfig deepseek_v3() {
  return ModelConfig{};
}

ModelConfig load_model_config(const std::string& path) {
  ModelConfig model;
  model.name = path;
  const bool is_toml = path.size() >= 5 && path.compare(path.size() - 5, 5, ".toml") == 0;
  if (is_toml) {
    const toml::table table = detail::parse_toml_file(path, "model");
    for (const auto& [key, node] : table) {
      const std::string k(key.str());
      if (k == "name") {
        if (!node.is_string()) throw InputError("model name", path, "must be a string");
        model.name = node.value_or(std::string());
      } else if (auto v = node.value<double>()) {
        set_field(model, path, k, *v);
      } else {
        throw InputError("model " + k, path, "must be a number");
      }
    }
  } else {
    std::ifstream in(path);
    if (!in) throw InputError("model", path, "the file cannot be opened");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {  // parse_error; out_of_range (1e400)
      throw InputError("model", path, fmt::format("malformed JSON: {}", e.what()));
    }
    if (!j.is_object()) throw InputError("model", path, "expected a JSON object");
    for (const auto& [key, value] : j.items()) {
      if (key == "name") {
        if (!value.is_string()) throw InputError("model name", path, "must be a string");
        model.name = value.get<std::string>();
      } else if (value.is_number()) {
        set_field(model, path, key, value.get<double>());
      } else {
        throw InputError("model " + key, path, "must be a number");
      }
    }
  }
  model.validate();
  return model;
}

// Datasheet numbers: HBM bandwidth and dense (no sparsity) FP8 tensor rate.
GpuSpec gpu_for_preset(const std::string& cluster_preset) {
  struct Row {
    const char* prefix;
    GpuSpec gpu;
  };
  static const Row kRows[] = {
      {"h800", {"H800 SXM", 3350, 1979}}, {"h100", {"H100 SXM", 3350, 1979}},
      {"h200", {"H200 SXM", 4800, 1979}}, {"h20", {"H20", 4000, 296}},
      {"b200", {"B200", 8000, 4500}},     {"gb200", {"GB200", 8000, 5000}},
  };
  for (const auto& row : kRows) {
    if (cluster_preset.rfind(row.prefix, 0) == 0 &&
        (cluster_preset.size() == std::char_traits<char>::length(row.prefix) ||
         cluster_preset[std::char_traits<char>::length(row.prefix)] == '-')) {
      return row.gpu;
    }
  }
  return kRows[0].gpu;
}

DecodeParams DecodeParams::derive(const ModelConfig& model, const GpuSpec& gpu,
                                  double hbm_efficiency, double flops_efficiency,
                                  double launch_us) {
  require_positive("hbm-efficiency", hbm_efficiency);
  require_positive("flops-efficiency", flops_efficiency);
  require_non_negative("launch-us", launch_us);
  DecodeParams p;
  p.hbm_gbps = gpu.hbm_gbps * hbm_efficiency;
  p.tflops = gpu.fp8_tflops * flops_efficiency;
  const double bytes_per_us = p.hbm_gbps * kBytesPerUsPerGbps;
  p.attn_fixed_us = model.attn_params * model.weight_bytes_per_param / bytes_per_us + launch_us;
  p.attn_us_per_token = 2.0 * model.attn_params / (p.tflops * kFlopsPerUsPerTflops);
  p.attn_us_per_kv_token = model.kv_bytes_per_token / bytes_per_us;
  p.gemm_fixed_us = launch_us;
  p.step_fixed_us = model.lm_head_bytes / bytes_per_us + launch_us;
  return p;
}

void DecodeParams::validate() const {
  require_non_negative("attn-fixed-us", attn_fixed_us);
  require_non_negative("attn-us-per-token", attn_us_per_token);
  require_non_negative("attn-us-per-kv-token", attn_us_per_kv_token);
  require_positive("hbm-gbps", hbm_gbps);
  require_positive("tflops", tflops);
  require_non_negative("gemm-fixed-us", gemm_fixed_us);
  require_non_negative("step-fixed-us", step_fixed_us);
}

// Ordinary least squares on [1, tokens, kv_tokens] (3x3 normal equations, Cramer's rule).
DecodeParams fit_attention(DecodeParams params, const std::vector<AttentionSample>& samples) {
  double a[3][3] = {};
  double y[3] = {};
  for (const AttentionSample& s : samples) {
    const double x[3] = {1.0, s.tokens, s.kv_tokens};
    for (int i = 0; i < 3; ++i) {
      y[i] += x[i] * s.attention_us;
      for (int j = 0; j < 3; ++j)
        a[i][j] += x[i] * x[j];
    }
  }
  auto det3 = [](const double m[3][3]) {
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
           m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  };
  const double det = det3(a);
  const double scale = std::max(1.0, std::abs(a[1][1] * a[2][2]));
  if (samples.size() < 3 || std::abs(det) <= 1e-12 * scale * std::max(1.0, a[0][0])) {
    throw InputError("attention samples", fmt::format("{} samples", samples.size()),
                     "need at least 3 samples whose tokens and KV tokens are not collinear");
  }
  double coef[3];
  for (int k = 0; k < 3; ++k) {
    double m[3][3];
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j)
        m[i][j] = j == k ? y[i] : a[i][j];
    }
    coef[k] = det3(m) / det;
  }
  // A negative coefficient is noise around zero; clamp so the model stays monotone.
  params.attn_fixed_us = std::max(0.0, coef[0]);
  params.attn_us_per_token = std::max(0.0, coef[1]);
  params.attn_us_per_kv_token = std::max(0.0, coef[2]);
  return params;
}

std::vector<AttentionSample> load_attention_samples(const std::string& path) {
  const detail::CsvTable table = detail::read_csv(path, "attention samples");
  const int tokens = table.column("tokens");
  const int kv = table.column("kv_tokens");
  const int us = table.column("attention_us");
  std::vector<AttentionSample> samples;
  for (std::size_t row = 0; row < table.rows.size(); ++row) {
    AttentionSample s;
    s.tokens = table.number(row, tokens);
    s.kv_tokens = table.number(row, kv);
    s.attention_us = table.number(row, us);
    samples.push_back(s);
  }
  return samples;
}

}  // namespace epscope
