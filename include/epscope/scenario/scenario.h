// The one input type of epscope: cluster + MoE shape + per-rank batch + routing + kernel mode.
// Every subcommand (estimate, simulate, bench, plan) takes a Scenario. Formulas that use these
// fields live in docs/model.md; the presets' values and sources are in docs/presets.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "epscope/base/limits.h"

namespace epscope {

/// Kernel family, see docs/model.md §1.
enum class KernelMode {
  kLowLatency,      // "ll": one copy per (token, selected expert), implicit all-to-all barrier
  kHighThroughput,  // "ht": dedup per destination rank, RDMA once per destination NVLink domain
  kAllToAll,        // "a2a": plain NCCL all-to-all-v, host driven
};

enum class DispatchDtype { kFp8, kBf16 };
enum class CombineDtype { kBf16, kLogfmt10 };

/// Rows of a plain all-to-all-v: one per (token, destination rank) or one per (token, expert).
enum class A2aRows { kPerRank, kPerExpert };

/// Hardware. Bandwidths are GB/s (1e9 bytes/s) per direction; latencies in microseconds.
struct Cluster {
  std::string preset;  // name of the preset this came from, "" when built by hand
  int num_nodes = 2;
  int gpus_per_node = 8;
  int nvlink_domain_size = 8;      // GPUs per NVLink domain: gpus_per_node, or 72 for NVL72
  double nvlink_gbps = 160;        // per GPU, per direction, practical
  double nic_gbps = 50;            // per NIC, per direction
  int nics_per_gpu = 1;            // NICs per GPU; a GPU's RDMA rate is nic_gbps * nics_per_gpu
  double local_copy_gbps = 1500;   // HBM-to-HBM copy rate for a rank's traffic to itself
  double nvlink_latency_us = 1.0;  // one NVLink store becoming visible to the peer
  double rdma_latency_us = 3.0;    // one RDMA write through NIC, switch and NIC
  double launch_us = 4.0;          // kernel launch plus the count/flag handshake of one phase
  double oversubscription = 1.0;   // leaf uplink capacity = downlink capacity / oversubscription
  bool nvlink_enabled = true;      // false: "pure RDMA", same-node peers go through the NIC

  int num_ranks() const { return num_nodes * gpus_per_node; }
  int node_of(int rank) const { return rank / gpus_per_node; }
  int local_index(int rank) const { return rank % gpus_per_node; }
  int domain_of(int rank) const { return rank / nvlink_domain_size; }
  int num_domains() const { return (num_ranks() + nvlink_domain_size - 1) / nvlink_domain_size; }
  double rank_nic_gbps() const { return nic_gbps * nics_per_gpu; }
  /// Changes the node size. A one-node NVLink domain follows it; a multi-node domain (NVL72)
  /// stays when it still holds whole nodes.
  void set_gpus_per_node(int gpus) {
    const bool one_node_domain = nvlink_domain_size <= gpus_per_node;
    gpus_per_node = gpus;
    if (one_node_domain || gpus <= 0 || nvlink_domain_size % gpus != 0) nvlink_domain_size = gpus;
  }
  /// Throws InputError naming the first bad field.
  void validate() const;
};

/// MoE layer shape. Byte sizes per message are derived in traffic.h (docs/model.md §2).
struct MoeShape {
  int hidden = 7168;
  int topk = 8;
  int num_experts = 256;
  int num_groups = 1;   // expert groups for group-limited routing (DeepSeek-V3: 8); 1 = off
  int topk_groups = 1;  // groups a token may pick experts from (DeepSeek-V3: 4)
  DispatchDtype dispatch_dtype = DispatchDtype::kFp8;
  CombineDtype combine_dtype = CombineDtype::kBf16;
  int max_tokens_per_rank = 1024;  // LL receive buffer size; more tokens on a rank is an error
  /// Explicit placement: replicas[e] lists the ranks holding a copy of logical expert e (EPLB
  /// redundant experts give several). Empty: contiguous, num_experts / num_ranks per rank.
  std::vector<std::vector<int>> replicas;

  void validate(int num_ranks) const;
};

/// How tokens pick experts. See docs/model.md §3.
struct RoutingSpec {
  enum class Popularity { kUniform, kLognormal, kZipf };
  Popularity popularity = Popularity::kUniform;
  double skew = 0;       // lognormal sigma, or zipf exponent
  bool expected = true;  // true: exact expectation; false: sample top-k per token with `seed`
  std::string file;      // non-empty: explicit top-k indices from this file (CSV, JSON, .npy)
  std::uint64_t seed = 1;

  bool sampled() const { return !expected || !file.empty(); }
  /// The spec as written on the command line: expected, uniform, lognormal:S, zipf:S,
  /// expected:lognormal:S, expected:zipf:S, file:PATH.
  std::string to_string() const;
};

struct Scenario {
  Cluster cluster;
  MoeShape moe;
  std::vector<std::int64_t> tokens_per_rank;  // this step's tokens on each DP/EP rank
  std::vector<double> start_offset_us;        // per rank, late arrival from attention; empty = 0
  RoutingSpec routing;
  KernelMode mode = KernelMode::kLowLatency;
  A2aRows a2a_rows = A2aRows::kPerExpert;
  bool back_to_back = false;  // false: a sync between dispatch and combine (docs/model.md §5)
  /// Bench timing (docs/measurements.md): with a sync, each rank's combine starts its offset
  /// after the sync as well, as `epscope bench` times every op behind an aligned start + offset.
  bool offsets_each_phase = false;

  int num_ranks() const { return cluster.num_ranks(); }
  double start_offset(int rank) const {
    return start_offset_us.empty() ? 0.0 : start_offset_us[static_cast<std::size_t>(rank)];
  }
  std::int64_t total_tokens() const;
  /// Validates every part and their agreement (token list length vs rank count, LL buffer).
  void validate() const;
};

/// Cluster presets (docs/presets.md): h800-cx7, h100-cx7, h200-cx7, h20-cx7, b200-cx7, gb200-nvl72.
Cluster cluster_preset(const std::string& name);
std::vector<std::string> preset_names();

/// The built-in default: DOMAIN.md §4 (h800-cx7, 2x8, LL, pure RDMA, 384x8,64x8, expected).
Scenario default_scenario();

/// Same scenario with the same total tokens spread evenly (the first total % n ranks get one more).
Scenario balanced(const Scenario& scenario);

std::string to_string(KernelMode mode);
std::string to_string(DispatchDtype dtype);
std::string to_string(CombineDtype dtype);
std::string to_string(A2aRows rows);
KernelMode parse_kernel_mode(const std::string& text);
DispatchDtype parse_dispatch_dtype(const std::string& text);
CombineDtype parse_combine_dtype(const std::string& text);
A2aRows parse_a2a_rows(const std::string& text);
RoutingSpec parse_routing(const std::string& text);

}  // namespace epscope
