// The fabric description: presets, names, the `[fabric]` table of a scenario file.
// docs/model.md §7§2.
#include "epscope/simulate/fabric.h"

#include <cmath>
#include <string>

#include <toml++/toml.h>

#include "base/toml_read.h"
#include "epscope/base/error.h"

namespace epscope {

void Fabric::validate() const {
  if (gpus_per_leaf < 1 || gpus_per_leaf > kMaxRanks) {
    throw InputError("fabric.gpus_per_leaf", std::to_string(gpus_per_leaf),
                     "allowed: 1 to " + std::to_string(kMaxRanks));
  }
  if (!(oversubscription >= 1 && oversubscription <= 64)) {
    throw InputError("fabric.oversubscription", std::to_string(oversubscription),
                     "allowed: 1 (non-blocking) to 64");
  }
  if (!(flow_cap_gbps >= 0 && std::isfinite(flow_cap_gbps))) {
    throw InputError("fabric.flow_cap_gbps", std::to_string(flow_cap_gbps),
                     "allowed: 0 (no cap) or a positive rate in GB/s");
  }
  if (!(hop_latency_us >= 0 && hop_latency_us <= 1e6)) {
    throw InputError("fabric.hop_latency_us", std::to_string(hop_latency_us),
                     "allowed: 0 to 1e6 us");
  }
  if (!(resolution >= 0 && resolution <= 0.1)) {
    throw InputError("fabric.resolution", std::to_string(resolution), "allowed: 0 (exact) to 0.1");
  }
  if (forward_chunks < 1 || forward_chunks > 4096) {
    throw InputError("fabric.forward_chunks", std::to_string(forward_chunks), "allowed: 1 to 4096");
  }
}

Fabric fabric_preset(const Cluster& cluster) {
  Fabric fabric;
  fabric.oversubscription = cluster.oversubscription;
  return fabric;
}

std::string to_string(Wiring wiring) {
  switch (wiring) {
    case Wiring::kRailOptimized:
      return "rail";
    case Wiring::kTopOfRack:
      return "tor";
    case Wiring::kSingleSwitch:
      return "single";
  }
  return "?";
}

std::string to_string(PathSelection path) {
  switch (path) {
    case PathSelection::kHash:
      return "hash";
    case PathSelection::kAdaptive:
      return "adaptive";
    case PathSelection::kSpray:
      return "spray";
  }
  return "?";
}

Wiring parse_wiring(const std::string& text) {
  for (Wiring w : {Wiring::kRailOptimized, Wiring::kTopOfRack, Wiring::kSingleSwitch}) {
    if (text == to_string(w)) return w;
  }
  throw InputError("--wiring", text, "allowed: rail, tor, single");
}

PathSelection parse_path_selection(const std::string& text) {
  for (PathSelection p : {PathSelection::kHash, PathSelection::kAdaptive, PathSelection::kSpray}) {
    if (text == to_string(p)) return p;
  }
  throw InputError("--ecmp", text, "allowed: hash, adaptive, spray");
}

namespace {

double real_field(const toml::table& table, const char* key, double fallback) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return fallback;
  if (auto v = node->value<double>()) return *v;
  throw InputError(std::string("fabric.") + key, detail::toml_text(*node), "expected a number");
}

int int_field(const toml::table& table, const char* key, int fallback) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return fallback;
  if (auto v = detail::toml_integer(*node); v && *v >= INT32_MIN && *v <= INT32_MAX) {
    return static_cast<int>(*v);
  }
  throw InputError(std::string("fabric.") + key, detail::toml_text(*node), "expected an integer");
}

std::string string_field(const toml::table& table, const char* key, const std::string& fallback) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return fallback;
  if (auto v = node->value<std::string>()) return *v;
  throw InputError(std::string("fabric.") + key, detail::toml_text(*node), "expected a string");
}

}  // namespace

void apply_fabric_file(const std::string& path, Fabric& fabric) {
  const toml::table file = detail::parse_toml_file(path, "--scenario");
  const toml::table* table = file["fabric"].as_table();
  if (table == nullptr) return;
  for (const auto& [key, node] : *table) {
    static const char* const kKeys[] = {"wiring",         "gpus_per_leaf",  "oversubscription",
                                        "ecmp",           "ecmp_seed",      "flow_cap_gbps",
                                        "hop_latency_us", "forward_chunks", "resolution"};
    bool known = false;
    for (const char* k : kKeys)
      known = known || key.str() == k;
    if (!known) {
      throw InputError("fabric." + std::string(key.str()), "(unknown key)",
                       "allowed keys: wiring, gpus_per_leaf, oversubscription, ecmp, ecmp_seed, "
                       "flow_cap_gbps, hop_latency_us, forward_chunks, resolution");
    }
  }
  fabric.wiring = parse_wiring(string_field(*table, "wiring", to_string(fabric.wiring)));
  fabric.gpus_per_leaf = int_field(*table, "gpus_per_leaf", fabric.gpus_per_leaf);
  fabric.oversubscription = real_field(*table, "oversubscription", fabric.oversubscription);
  fabric.path = parse_path_selection(string_field(*table, "ecmp", to_string(fabric.path)));
  fabric.ecmp_seed = static_cast<std::uint64_t>(
      int_field(*table, "ecmp_seed", static_cast<int>(fabric.ecmp_seed)));
  fabric.flow_cap_gbps = real_field(*table, "flow_cap_gbps", fabric.flow_cap_gbps);
  fabric.hop_latency_us = real_field(*table, "hop_latency_us", fabric.hop_latency_us);
  fabric.forward_chunks = int_field(*table, "forward_chunks", fabric.forward_chunks);
  fabric.resolution = real_field(*table, "resolution", fabric.resolution);
  fabric.validate();
}

}  // namespace epscope
