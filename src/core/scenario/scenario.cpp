#include "epscope/scenario/scenario.h"

#include <fmt/format.h>
#include <cmath>
#include <numeric>

#include "epscope/base/error.h"
#include "epscope/base/lists.h"

namespace epscope {
namespace {

std::string num(double v) {
  return fmt::format("{}", v);
}

void require_int(const char* field, long long value, long long lo, long long hi) {
  if (value < lo || value > hi) {
    throw InputError(field, std::to_string(value), fmt::format("allowed: {}..{}", lo, hi));
  }
}

// Real-valued fields have bounds too: a finite but absurd value (a NIC of 1e-300 GB/s, a launch
// of 1e308 us) would turn times into infinity, which JSON cannot carry.
constexpr double kMinGbps = 1e-6;  // 1 KB/s
constexpr double kMaxGbps = 1e6;   // 1 PB/s
constexpr double kMaxUs = 1e9;     // ~17 minutes
constexpr double kMaxSkew = 50;    // exp(50 * z) stays finite for every normal draw z

void require_gbps(const char* field, double value) {
  if (!std::isfinite(value) || value < kMinGbps || value > kMaxGbps) {
    throw InputError(field, num(value),
                     fmt::format("must be a finite number of GB/s in {}..{}", kMinGbps, kMaxGbps));
  }
}

void require_us(const char* field, double value) {
  if (!std::isfinite(value) || value < 0 || value > kMaxUs) {
    throw InputError(field, num(value),
                     fmt::format("must be a finite number of microseconds in 0..{}", kMaxUs));
  }
}

}  // namespace

void Cluster::validate() const {
  require_int("nodes", num_nodes, 1, kMaxRanks);
  require_int("gpus-per-node", gpus_per_node, 1, 1024);
  if (static_cast<long long>(num_nodes) * gpus_per_node > kMaxRanks) {
    throw InputError("nodes", std::to_string(num_nodes),
                     fmt::format("nodes x gpus-per-node = {} ranks; at most {} ranks are supported",
                                 static_cast<long long>(num_nodes) * gpus_per_node, kMaxRanks));
  }
  require_int("nvlink-domain", nvlink_domain_size, 1, kMaxRanks);
  if (nvlink_domain_size % gpus_per_node != 0) {
    throw InputError(
        "nvlink-domain", std::to_string(nvlink_domain_size),
        fmt::format("must be a multiple of gpus-per-node ({}): a domain holds whole nodes",
                    gpus_per_node));
  }
  require_gbps("nvlink-gbps", nvlink_gbps);
  require_gbps("nic-gbps", nic_gbps);
  require_int("nics-per-gpu", nics_per_gpu, 1, 64);
  require_gbps("local-copy-gbps", local_copy_gbps);
  require_us("nvlink-latency-us", nvlink_latency_us);
  require_us("rdma-latency-us", rdma_latency_us);
  require_us("launch-us", launch_us);
  if (!std::isfinite(oversubscription) || oversubscription < 1 || oversubscription > kMaxGbps) {
    throw InputError("oversubscription", num(oversubscription),
                     fmt::format("must be a finite number in 1..{}", kMaxGbps));
  }
}

void MoeShape::validate(int num_ranks) const {
  require_int("hidden", hidden, 1, kMaxHidden);
  require_int("experts", num_experts, 1, kMaxExperts);
  require_int("topk", topk, 1, num_experts);
  if ((dispatch_dtype == DispatchDtype::kFp8 || combine_dtype == CombineDtype::kLogfmt10) &&
      hidden % 128 != 0) {
    throw InputError(
        "hidden", std::to_string(hidden),
        "must be a multiple of 128 with fp8 dispatch or logfmt combine (per-128 scales)");
  }
  require_int("num-groups", num_groups, 1, num_experts);
  if (num_experts % num_groups != 0) {
    throw InputError("num-groups", std::to_string(num_groups),
                     fmt::format("must divide experts ({})", num_experts));
  }
  require_int("topk-groups", topk_groups, 1, num_groups);
  if (static_cast<long long>(topk_groups) * (num_experts / num_groups) < topk) {
    throw InputError("topk-groups", std::to_string(topk_groups),
                     fmt::format("topk-groups x experts per group must be >= topk ({})", topk));
  }
  require_int("max-tokens-per-rank", max_tokens_per_rank, 1, kMaxTokensPerRank);
  if (replicas.empty()) {
    if (num_experts % num_ranks != 0 && num_ranks % num_experts != 0) {
      throw InputError(
          "experts", std::to_string(num_experts),
          fmt::format("contiguous placement needs a multiple or a divisor of the rank count ({}); "
                      "change --experts or give --expert-map",
                      num_ranks));
    }
    return;
  }
  if (static_cast<int>(replicas.size()) != num_experts) {
    throw InputError(
        "expert-map", fmt::format("{} experts", replicas.size()),
        fmt::format("the map must list exactly experts = {} logical experts", num_experts));
  }
  for (std::size_t e = 0; e < replicas.size(); ++e) {
    if (replicas[e].empty()) {
      throw InputError("expert-map", fmt::format("expert {}", e), "every expert needs >= 1 rank");
    }
    for (int r : replicas[e]) {
      if (r < 0 || r >= num_ranks) {
        throw InputError("expert-map", fmt::format("expert {} on rank {}", e, r),
                         fmt::format("ranks must be 0..{}", num_ranks - 1));
      }
    }
  }
}

std::int64_t Scenario::total_tokens() const {
  return std::accumulate(tokens_per_rank.begin(), tokens_per_rank.end(), std::int64_t{0});
}

void Scenario::validate() const {
  cluster.validate();
  const int n = num_ranks();
  moe.validate(n);
  if (static_cast<int>(tokens_per_rank.size()) != n) {
    throw InputError("tokens", format_token_list(tokens_per_rank),
                     fmt::format("it lists {} ranks but the cluster has {} (nodes x gpus-per-node)",
                                 tokens_per_rank.size(), n));
  }
  for (int r = 0; r < n; ++r) {
    const std::int64_t t = tokens_per_rank[static_cast<std::size_t>(r)];
    if (t < 0 || t > kMaxTokensPerRank) {
      throw InputError("tokens", fmt::format("{} on rank {}", t, r),
                       fmt::format("tokens per rank must be 0..{}", kMaxTokensPerRank));
    }
    if (mode == KernelMode::kLowLatency && t > moe.max_tokens_per_rank) {
      throw InputError(
          "tokens", fmt::format("{} on rank {}", t, r),
          fmt::format("LL mode allows at most max-tokens-per-rank = {} per rank (the "
                      "receive buffer size, as in DeepEP); raise --max-tokens-per-rank",
                      moe.max_tokens_per_rank));
    }
  }
  if (!start_offset_us.empty()) {
    if (static_cast<int>(start_offset_us.size()) != n) {
      throw InputError("start-offset-us", fmt::format("{} entries", start_offset_us.size()),
                       fmt::format("give one offset per rank ({}) or one for all", n));
    }
    for (double o : start_offset_us)
      require_us("start-offset-us", o);
  }
  if (mode == KernelMode::kHighThroughput && !cluster.nvlink_enabled) {
    throw InputError("nvlink", "off",
                     "mode ht forwards over NVLink inside a domain (as DeepEP's normal kernels); "
                     "use --nvlink on, or mode ll / a2a for pure RDMA");
  }
  if (!std::isfinite(routing.skew) || routing.skew < 0 || routing.skew > kMaxSkew) {
    throw InputError("routing", routing.to_string(),
                     fmt::format("the skew parameter must be a finite number in 0..{}", kMaxSkew));
  }
  if (routing.file.empty() && routing.expected && moe.num_groups > 1 &&
      routing.popularity != RoutingSpec::Popularity::kUniform) {
    throw InputError("routing", routing.to_string(),
                     "expected routing with group-limited top-k needs uniform popularity; use a "
                     "sampled spec (lognormal:S or zipf:S) with --seed");
  }
}

Scenario default_scenario() {
  Scenario s;
  s.cluster = cluster_preset("h800-cx7");
  s.cluster.num_nodes = 2;
  s.cluster.nvlink_enabled = false;
  s.tokens_per_rank = parse_token_list("384x8,64x8", "tokens");
  s.mode = KernelMode::kLowLatency;
  s.routing = RoutingSpec{};
  return s;
}

Scenario balanced(const Scenario& scenario) {
  Scenario b = scenario;
  const auto n = static_cast<std::int64_t>(scenario.tokens_per_rank.size());
  if (n == 0) return b;
  const std::int64_t total = scenario.total_tokens();
  for (std::int64_t r = 0; r < n; ++r) {
    b.tokens_per_rank[static_cast<std::size_t>(r)] = total / n + (r < total % n ? 1 : 0);
  }
  return b;
}

std::string to_string(KernelMode mode) {
  switch (mode) {
    case KernelMode::kLowLatency:
      return "ll";
    case KernelMode::kHighThroughput:
      return "ht";
    case KernelMode::kAllToAll:
      return "a2a";
  }
  return "?";
}
std::string to_string(DispatchDtype dtype) {
  return dtype == DispatchDtype::kFp8 ? "fp8" : "bf16";
}
std::string to_string(CombineDtype dtype) {
  return dtype == CombineDtype::kBf16 ? "bf16" : "logfmt";
}
std::string to_string(A2aRows rows) {
  return rows == A2aRows::kPerRank ? "rank" : "expert";
}

KernelMode parse_kernel_mode(const std::string& text) {
  if (text == "ll") return KernelMode::kLowLatency;
  if (text == "ht") return KernelMode::kHighThroughput;
  if (text == "a2a") return KernelMode::kAllToAll;
  throw InputError("mode", text, "allowed: ll, ht, a2a");
}
DispatchDtype parse_dispatch_dtype(const std::string& text) {
  if (text == "fp8") return DispatchDtype::kFp8;
  if (text == "bf16") return DispatchDtype::kBf16;
  throw InputError("dispatch-dtype", text, "allowed: fp8, bf16");
}
CombineDtype parse_combine_dtype(const std::string& text) {
  if (text == "bf16") return CombineDtype::kBf16;
  if (text == "logfmt" || text == "logfmt-10" || text == "logfmt10") return CombineDtype::kLogfmt10;
  throw InputError("combine-dtype", text, "allowed: bf16, logfmt");
}
A2aRows parse_a2a_rows(const std::string& text) {
  if (text == "rank") return A2aRows::kPerRank;
  if (text == "expert") return A2aRows::kPerExpert;
  throw InputError("a2a-rows", text,
                   "allowed: rank (one row per token and rank), expert (one per token and expert)");
}

RoutingSpec parse_routing(const std::string& text) {
  const char* const allowed =
      "allowed: expected, uniform, lognormal:SIGMA, zipf:S, expected:lognormal:SIGMA, "
      "expected:zipf:S, file:PATH";
  RoutingSpec spec;
  std::string rest = text;
  if (rest.rfind("file:", 0) == 0) {
    spec.file = rest.substr(5);
    spec.expected = false;
    if (spec.file.empty()) throw InputError("routing", text, "file: needs a path");
    return spec;
  }
  if (rest == "expected") return spec;
  spec.expected = false;
  if (rest.rfind("expected:", 0) == 0) {
    spec.expected = true;
    rest = rest.substr(9);
  }
  if (rest == "uniform" && !spec.expected) return spec;
  const std::size_t colon = rest.find(':');
  const std::string kind = rest.substr(0, colon);
  if (colon == std::string::npos || (kind != "lognormal" && kind != "zipf")) {
    throw InputError("routing", text, allowed);
  }
  spec.popularity =
      kind == "lognormal" ? RoutingSpec::Popularity::kLognormal : RoutingSpec::Popularity::kZipf;
  const std::string value = rest.substr(colon + 1);
  std::size_t used = 0;
  try {
    spec.skew = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || !std::isfinite(spec.skew) || spec.skew < 0) {
    throw InputError("routing", text, fmt::format("{} needs a finite number >= 0 after ':'", kind));
  }
  return spec;
}

std::string RoutingSpec::to_string() const {
  if (!file.empty()) return "file:" + file;
  std::string out = expected ? "expected" : "";
  if (popularity == Popularity::kUniform) return expected ? out : "uniform";
  if (expected) out += ":";
  out += popularity == Popularity::kLognormal ? "lognormal:" : "zipf:";
  return out + fmt::format("{}", skew);
}

}  // namespace epscope
