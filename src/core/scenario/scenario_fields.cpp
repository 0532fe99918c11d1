#include "epscope/scenario/scenario_fields.h"

#include <fmt/format.h>
#include <algorithm>
#include <functional>

#include "epscope/base/error.h"
#include "epscope/base/lists.h"

namespace epscope {
namespace {

int to_int(const std::string& field, const std::string& value) {
  const auto v = parse_token_list(value, field);
  if (v.size() != 1 || v[0] > INT32_MAX)
    throw InputError(field, value, "expected one integer >= 0");
  return static_cast<int>(v[0]);
}

double to_real(const std::string& field, const std::string& value) {
  const auto v = parse_real_list(value, field);
  if (v.size() != 1) throw InputError(field, value, "expected one number");
  return v[0];
}

bool to_bool(const std::string& field, const std::string& value) {
  std::string v = value;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "true" || v == "on" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "off" || v == "0" || v == "no") return false;
  throw InputError(field, value, "allowed: true, false, on, off, 1, 0");
}

struct Field {
  const char* name;
  std::function<void(Scenario&, const std::string&)> apply;
};

/// A field read by `parse` (to_int, to_real, to_bool) into the member `get` returns.
template <typename Parse, typename Get>
Field member(const char* name, Parse parse, Get get) {
  return {name, [name, parse, get](Scenario& s, const std::string& v) { get(s) = parse(name, v); }};
}

/// Application order matters: preset first (it replaces the cluster), lists last.
const std::vector<Field>& fields() {
  static const std::vector<Field> kFields = {
      {"preset", [](Scenario& s, const std::string& v) { s.cluster = cluster_preset(v); }},
      member("nodes", to_int, [](Scenario& s) -> int& { return s.cluster.num_nodes; }),
      {"gpus_per_node",
       [](Scenario& s, const std::string& v) {
         // A one-node NVLink domain follows the node size; a multi-node domain (NVL72) stays.
         Cluster& c = s.cluster;
         const bool one_node_domain = c.nvlink_domain_size <= c.gpus_per_node;
         c.gpus_per_node = to_int("gpus_per_node", v);
         if (one_node_domain || c.gpus_per_node == 0 || c.nvlink_domain_size % c.gpus_per_node != 0)
           c.nvlink_domain_size = c.gpus_per_node;
       }},
      member("nvlink_domain", to_int,
             [](Scenario& s) -> int& { return s.cluster.nvlink_domain_size; }),
      member("nvlink", to_bool, [](Scenario& s) -> bool& { return s.cluster.nvlink_enabled; }),
      member("nvlink_gbps", to_real, [](Scenario& s) -> double& { return s.cluster.nvlink_gbps; }),
      member("nic_gbps", to_real, [](Scenario& s) -> double& { return s.cluster.nic_gbps; }),
      member("nics_per_gpu", to_int, [](Scenario& s) -> int& { return s.cluster.nics_per_gpu; }),
      member("local_copy_gbps", to_real,
             [](Scenario& s) -> double& { return s.cluster.local_copy_gbps; }),
      member("nvlink_latency_us", to_real,
             [](Scenario& s) -> double& { return s.cluster.nvlink_latency_us; }),
      member("rdma_latency_us", to_real,
             [](Scenario& s) -> double& { return s.cluster.rdma_latency_us; }),
      member("launch_us", to_real, [](Scenario& s) -> double& { return s.cluster.launch_us; }),
      member("oversubscription", to_real,
             [](Scenario& s) -> double& { return s.cluster.oversubscription; }),
      {"mode", [](Scenario& s, const std::string& v) { s.mode = parse_kernel_mode(v); }},
      member("hidden", to_int, [](Scenario& s) -> int& { return s.moe.hidden; }),
      member("topk", to_int, [](Scenario& s) -> int& { return s.moe.topk; }),
      member("experts", to_int, [](Scenario& s) -> int& { return s.moe.num_experts; }),
      member("num_groups", to_int, [](Scenario& s) -> int& { return s.moe.num_groups; }),
      member("topk_groups", to_int, [](Scenario& s) -> int& { return s.moe.topk_groups; }),
      member("max_tokens_per_rank", to_int,
             [](Scenario& s) -> int& { return s.moe.max_tokens_per_rank; }),
      {"dispatch_dtype",
       [](Scenario& s, const std::string& v) { s.moe.dispatch_dtype = parse_dispatch_dtype(v); }},
      {"combine_dtype",
       [](Scenario& s, const std::string& v) { s.moe.combine_dtype = parse_combine_dtype(v); }},
      {"a2a_rows", [](Scenario& s, const std::string& v) { s.a2a_rows = parse_a2a_rows(v); }},
      member("back_to_back", to_bool, [](Scenario& s) -> bool& { return s.back_to_back; }),
      {"routing",
       [](Scenario& s, const std::string& v) {
         const std::uint64_t seed = s.routing.seed;
         s.routing = parse_routing(v);
         s.routing.seed = seed;
       }},
      {"skew",
       [](Scenario& s, const std::string& v) {
         s.routing.skew = to_real("skew", v);
         if (s.routing.popularity == RoutingSpec::Popularity::kUniform && s.routing.skew > 0)
           s.routing.popularity = RoutingSpec::Popularity::kLognormal;
       }},
      {"seed",
       [](Scenario& s, const std::string& v) {
         const auto seed = parse_token_list(v, "seed");
         if (seed.size() != 1) throw InputError("seed", v, "expected one integer >= 0");
         s.routing.seed = static_cast<std::uint64_t>(seed[0]);
       }},
      {"tokens",
       [](Scenario& s, const std::string& v) {
         s.tokens_per_rank = expand_token_list(v, s.num_ranks(), "tokens");
       }},
      {"start_offset_us",
       [](Scenario& s, const std::string& v) {
         s.start_offset_us = expand_real_list(v, s.num_ranks(), "start_offset_us");
       }},
  };
  return kFields;
}

/// Aliases accepted on input: the JSON output's "tokens_per_rank" and the CLI's flag spellings.
std::string canonical_name(const std::string& name) {
  std::string n = name;
  std::replace(n.begin(), n.end(), '-', '_');
  if (n == "tokens_per_rank") return "tokens";
  if (n == "max_tokens") return "max_tokens_per_rank";
  if (n == "start_offsets") return "start_offset_us";
  return n;
}

template <typename T>
bool uniform(const std::vector<T>& v) {
  return std::all_of(v.begin(), v.end(), [&](const T& t) { return t == v.front(); });
}

}  // namespace

std::vector<std::string> scenario_field_names() {
  std::vector<std::string> names;
  for (const Field& f : fields())
    names.push_back(f.name);
  return names;
}

Scenario with_fields(Scenario s, const std::vector<FieldValue>& assignments) {
  std::vector<FieldValue> given;
  for (const auto& [name, value] : assignments) {
    const std::string n = canonical_name(name);
    const bool known =
        std::any_of(fields().begin(), fields().end(), [&](const Field& f) { return n == f.name; });
    if (!known) {
      throw InputError("field", name,
                       fmt::format("known fields: {}", fmt::join(scenario_field_names(), ", ")));
    }
    given.emplace_back(n, value);
  }
  auto value_of = [&](const char* name) -> const std::string* {
    const std::string* last = nullptr;
    for (const auto& [n, v] : given)
      if (n == name) last = &v;
    return last;
  };
  const int ranks_before = s.num_ranks();
  for (const Field& f : fields()) {
    const bool is_list =
        std::string(f.name) == "tokens" || std::string(f.name) == "start_offset_us";
    if (is_list && s.num_ranks() != ranks_before) {
      s.cluster.validate();  // a sane rank count before lists are expanded against it
      // The rank count changed: a uniform list stays uniform unless a new one is given.
      auto follow = [&](auto& list, const char* name) {
        if (value_of(name) != nullptr || list.empty()) return;
        if (!uniform(list)) {
          throw InputError(name, fmt::format("{} values", list.size()),
                           fmt::format("the list has {} ranks but the cluster now has {}; give {}",
                                       list.size(), s.num_ranks(), name));
        }
        list.assign(static_cast<std::size_t>(s.num_ranks()), list.front());
      };
      if (std::string(f.name) == "tokens") follow(s.tokens_per_rank, "tokens");
      if (std::string(f.name) == "start_offset_us") follow(s.start_offset_us, "start_offset_us");
    }
    if (const std::string* v = value_of(f.name)) f.apply(s, *v);
  }
  s.validate();
  return s;
}

}  // namespace epscope
