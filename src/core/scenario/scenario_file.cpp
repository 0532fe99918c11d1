#include "epscope/scenario/scenario_file.h"

#include <fmt/format.h>
#include <toml++/toml.h>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "base/toml_read.h"
#include "epscope/base/error.h"
#include "epscope/base/json_file.h"
#include "epscope/base/lists.h"

namespace epscope {
namespace {

/// Tables that other parts of epscope read from the same file (flowsim's fabric, plan's model,
/// sweep's grid).
const std::set<std::string> kForeignTables = {"fabric", "plan", "model", "sweep"};

toml::table parse(const std::string& path) {
  return detail::parse_toml_file(path, "scenario file");
}

class Reader {
 public:
  Reader(const std::string& path, const toml::table& table, std::string prefix)
      : path_(path), table_(table), prefix_(std::move(prefix)) {}

  std::string key_name(const std::string& key) const {
    return prefix_.empty() ? key : prefix_ + "." + key;
  }

  /// Calls f(node) when the key is present; records it as known.
  template <typename F>
  void with(const std::string& key, F&& f) {
    known_.insert(key);
    if (const toml::node* node = table_.get(key)) f(*node);
  }

  void integer(const std::string& key, int& out) {
    with(key, [&](const toml::node& n) {
      const auto v = detail::toml_integer(n);
      if (!v || *v < INT32_MIN || *v > INT32_MAX) throw bad(key, n, "an integer");
      out = static_cast<int>(*v);
    });
  }
  void real(const std::string& key, double& out) {
    with(key, [&](const toml::node& n) {
      const auto v = n.value<double>();
      if (!v || !std::isfinite(*v)) throw bad(key, n, "a finite number");
      out = *v;
    });
  }
  void boolean(const std::string& key, bool& out) {
    with(key, [&](const toml::node& n) {
      const auto v = n.value<bool>();
      if (!v) throw bad(key, n, "true or false");
      out = *v;
    });
  }
  void text(const std::string& key, const std::function<void(const std::string&)>& apply) {
    with(key, [&](const toml::node& n) {
      const auto v = n.value<std::string>();
      if (!v) throw bad(key, n, "a string");
      apply(*v);
    });
  }
  /// A per-rank list: a string in list syntax ("384x8,64x8") or an array of numbers.
  std::string list_text(const std::string& key) {
    std::string out;
    with(key, [&](const toml::node& n) {
      if (const auto s = n.value<std::string>()) {
        out = *s;
      } else if (const toml::array* a = n.as_array()) {
        for (const auto& item : *a) {
          const auto v = item.value<double>();
          if (!v) throw bad(key, item, "numbers");
          if (!out.empty()) out += ',';
          out += fmt::format("{}", *v);
        }
        if (out.empty()) throw bad(key, n, "a non-empty list");
      } else {
        throw bad(key, n, "a list string (\"384x8,64x8\") or an array of numbers");
      }
    });
    return out;
  }

  void reject_unknown(const std::set<std::string>& also_allowed = {}) const {
    for (const auto& [k, v] : table_) {
      const std::string key(k.str());
      if (known_.count(key) || also_allowed.count(key)) continue;
      std::string names;
      for (const auto& n : known_) {
        if (!names.empty()) names += ", ";
        names += n;
      }
      throw InputError("scenario file", fmt::format("{}: {}", path_, key_name(key)),
                       fmt::format("unknown key; known keys here: {}", names));
    }
  }

 private:
  InputError bad(const std::string& key, const toml::node& n, const char* want) const {
    return InputError(key_name(key), detail::toml_text(n),
                      fmt::format("{} in {}: expected {}", key_name(key), path_, want));
  }

  const std::string& path_;
  const toml::table& table_;
  std::string prefix_;
  std::set<std::string> known_;
};

const toml::table* subtable(const std::string& path, const toml::table& root, const char* name) {
  const toml::node* n = root.get(name);
  if (n == nullptr) return nullptr;
  if (!n->is_table())
    throw InputError("scenario file", fmt::format("{}: {}", path, name),
                     "must be a table ([" + std::string(name) + "])");
  return n->as_table();
}

}  // namespace

std::string scenario_file_preset(const std::string& path) {
  const toml::table root = parse(path);
  if (const toml::node* n = root.get("preset")) {
    if (const auto v = n->value<std::string>()) return *v;
    throw InputError("preset", "(not a string)", "preset in " + path + " must be a string");
  }
  return "";
}

void apply_scenario_file(const std::string& path, Scenario& s) {
  const toml::table root = parse(path);
  // Paths inside the file are relative to the file's own folder.
  const auto relative_to_file = [&](const std::string& p) {
    const std::filesystem::path fp(p);
    return fp.is_absolute() ? p : (std::filesystem::path(path).parent_path() / fp).string();
  };
  Reader top(path, root, "");
  top.text("preset", [](const std::string&) {});  // applied by the caller, before this
  top.text("mode", [&](const std::string& v) { s.mode = parse_kernel_mode(v); });
  top.text("routing", [&](const std::string& v) {
    const std::uint64_t seed = s.routing.seed;
    s.routing = parse_routing(v);
    s.routing.seed = seed;
    if (!s.routing.file.empty()) s.routing.file = relative_to_file(s.routing.file);
  });
  top.with("seed", [&](const toml::node& n) {
    const auto v = detail::toml_integer(n);
    if (!v || *v < 0) throw InputError("seed", "?", "seed in " + path + " must be an integer >= 0");
    s.routing.seed = static_cast<std::uint64_t>(*v);
  });
  top.boolean("back_to_back", s.back_to_back);
  top.text("a2a_rows", [&](const std::string& v) { s.a2a_rows = parse_a2a_rows(v); });

  if (const toml::table* t = subtable(path, root, "cluster")) {
    Reader r(path, *t, "cluster");
    r.integer("nodes", s.cluster.num_nodes);
    int gpus_per_node = s.cluster.gpus_per_node;
    r.integer("gpus_per_node", gpus_per_node);
    if (gpus_per_node != s.cluster.gpus_per_node) s.cluster.set_gpus_per_node(gpus_per_node);
    r.integer("nvlink_domain", s.cluster.nvlink_domain_size);
    r.real("nvlink_gbps", s.cluster.nvlink_gbps);
    r.real("nic_gbps", s.cluster.nic_gbps);
    r.integer("nics_per_gpu", s.cluster.nics_per_gpu);
    r.real("local_copy_gbps", s.cluster.local_copy_gbps);
    r.real("nvlink_latency_us", s.cluster.nvlink_latency_us);
    r.real("rdma_latency_us", s.cluster.rdma_latency_us);
    r.real("launch_us", s.cluster.launch_us);
    r.real("oversubscription", s.cluster.oversubscription);
    r.boolean("nvlink", s.cluster.nvlink_enabled);
    r.reject_unknown();
    // The rank count must be sane (no int overflow, no zero) before the expert map and the lists
    // below are read against it.
    s.cluster.validate();
  }
  if (const toml::table* t = subtable(path, root, "moe")) {
    Reader r(path, *t, "moe");
    r.integer("hidden", s.moe.hidden);
    r.integer("topk", s.moe.topk);
    r.integer("experts", s.moe.num_experts);
    r.integer("num_groups", s.moe.num_groups);
    r.integer("topk_groups", s.moe.topk_groups);
    r.integer("max_tokens_per_rank", s.moe.max_tokens_per_rank);
    r.text("dispatch_dtype",
           [&](const std::string& v) { s.moe.dispatch_dtype = parse_dispatch_dtype(v); });
    r.text("combine_dtype",
           [&](const std::string& v) { s.moe.combine_dtype = parse_combine_dtype(v); });
    r.text("expert_map", [&](const std::string& v) {
      s.moe.replicas =
          read_expert_map(relative_to_file(v), s.moe.num_experts, s.cluster.num_ranks());
    });
    r.reject_unknown();
  }
  // Lists last: their length is checked against the (possibly changed) rank count.
  const std::string tokens = top.list_text("tokens");
  if (!tokens.empty()) s.tokens_per_rank = expand_token_list(tokens, s.num_ranks(), "tokens");
  const std::string offsets = top.list_text("start_offset_us");
  if (!offsets.empty())
    s.start_offset_us = expand_real_list(offsets, s.num_ranks(), "start-offset-us");
  std::set<std::string> allowed = kForeignTables;
  allowed.insert("cluster");
  allowed.insert("moe");
  top.reject_unknown(allowed);
}

std::vector<std::vector<int>> read_expert_map(const std::string& path, int num_experts,
                                              int num_ranks) {
  return expert_map_from_json(read_json_file(path, "expert-map"), num_experts, num_ranks, path);
}

std::vector<std::vector<int>> expert_map_from_json(const nlohmann::json& j, int num_experts,
                                                   int num_ranks, const std::string& path) {
  // The shape the map is read against may not be validated yet (flags and file keys apply in any
  // order); without this a zero rank count divides by zero and a negative expert count allocates.
  if (num_experts < 1 || num_experts > kMaxExperts) {
    throw InputError(
        "experts", std::to_string(num_experts),
        fmt::format("allowed: 1..{} (the expert map is read against it)", kMaxExperts));
  }
  if (num_ranks < 1 || num_ranks > kMaxRanks) {
    throw InputError(
        "nodes", fmt::format("{} ranks", num_ranks),
        fmt::format("allowed: 1..{} ranks (the expert map is read against it)", kMaxRanks));
  }
  std::vector<std::vector<int>> replicas(static_cast<std::size_t>(num_experts));
  auto check_int = [&](const nlohmann::json& v, int lo, int hi, const std::string& what) {
    if (!v.is_number_integer() || v.get<long long>() < lo || v.get<long long>() > hi) {
      throw InputError("expert-map", fmt::format("{}: {} = {}", path, what, v.dump()),
                       fmt::format("must be an integer in {}..{}", lo, hi));
    }
    return v.get<int>();
  };
  if (j.is_object() && j.contains("physical_to_logical") && j["physical_to_logical"].is_array()) {
    const auto& map = j["physical_to_logical"];
    const auto slots = static_cast<int>(map.size());
    if (slots == 0 || slots % num_ranks != 0) {
      throw InputError(
          "expert-map", fmt::format("{}: {} slots", path, slots),
          fmt::format("the slot count must be a positive multiple of the rank count ({})",
                      num_ranks));
    }
    const int per_rank = slots / num_ranks;
    for (int i = 0; i < slots; ++i) {
      const int e = check_int(map[static_cast<std::size_t>(i)], 0, num_experts - 1,
                              fmt::format("slot {}", i));
      replicas[static_cast<std::size_t>(e)].push_back(i / per_rank);
    }
  } else if (j.is_object() && j.contains("logical_to_ranks") && j["logical_to_ranks"].is_array()) {
    const auto& map = j["logical_to_ranks"];
    if (static_cast<int>(map.size()) != num_experts) {
      throw InputError("expert-map", fmt::format("{}: {} experts", path, map.size()),
                       fmt::format("list exactly experts = {}", num_experts));
    }
    for (int e = 0; e < num_experts; ++e) {
      const auto& ranks = map[static_cast<std::size_t>(e)];
      if (!ranks.is_array())
        throw InputError("expert-map", fmt::format("{}: expert {}", path, e),
                         "must be a list of ranks");
      for (const auto& r : ranks) {
        replicas[static_cast<std::size_t>(e)].push_back(
            check_int(r, 0, num_ranks - 1, fmt::format("expert {}", e)));
      }
    }
  } else {
    throw InputError(
        "expert-map", path,
        "expected {\"physical_to_logical\": [...]} or {\"logical_to_ranks\": [[...], ...]}");
  }
  for (int e = 0; e < num_experts; ++e) {
    if (replicas[static_cast<std::size_t>(e)].empty()) {
      throw InputError("expert-map", fmt::format("{}: expert {}", path, e),
                       "every logical expert needs at least one slot");
    }
  }
  return replicas;
}

}  // namespace epscope
