#include "bench/harness/cases.h"

#include <fmt/format.h>

#include <sstream>

#include "epscope/base/error.h"
#include "epscope/base/lists.h"
#include "gpu/layout.h"

namespace epscope::bench {

std::vector<BenchCase> sweep_cases(int num_ranks, std::int64_t begin, std::int64_t end,
                                   std::int64_t factor) {
  if (begin < 0) throw InputError("-b", std::to_string(begin), "must be >= 0");
  if (end < begin) throw InputError("-e", std::to_string(end), "must be >= -b");
  if (factor < 2) throw InputError("-f", std::to_string(factor), "must be >= 2");
  std::vector<BenchCase> cases;
  for (std::int64_t t = begin;; t *= factor) {
    cases.push_back({fmt::format("balanced-{}", t),
                     std::vector<std::int64_t>(static_cast<std::size_t>(num_ranks), t),
                     {}});
    if (t == 0 || t > end / factor) break;
  }
  return cases;
}

std::vector<BenchCase> parse_case_file(const std::string& text, int num_ranks,
                                       const std::string& path) {
  std::vector<BenchCase> cases;
  std::istringstream lines(text);
  std::string line;
  for (int line_no = 1; std::getline(lines, line); ++line_no) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream fields(line);
    std::string name, tokens, offsets, extra;
    if (!(fields >> name)) continue;
    const std::string where = fmt::format("{}:{}", path, line_no);
    if (!(fields >> tokens))
      throw InputError(where, line, "a case line is NAME TOKENS [OFFSETS_US]");
    fields >> offsets;
    if (fields >> extra) throw InputError(where, line, "a case line is NAME TOKENS [OFFSETS_US]");
    BenchCase c;
    c.name = name;
    c.tokens_per_rank = expand_token_list(tokens, num_ranks, where + " tokens");
    if (!offsets.empty())
      c.start_offset_us = expand_real_list(offsets, num_ranks, where + " offsets");
    cases.push_back(std::move(c));
  }
  if (cases.empty()) throw InputError("--cases", path, "the file holds no case");
  return cases;
}

BenchCase scenario_case(const Scenario& scenario) {
  return {format_token_list(scenario.tokens_per_rank), scenario.tokens_per_rank,
          scenario.start_offset_us};
}

void validate_bench_scenario(const Scenario& base, const std::vector<BenchCase>& cases,
                             const BenchOptions& options, int num_devices) {
  const Cluster& c = base.cluster;
  const int ranks = base.num_ranks();
  if (options.fault.kind != FaultKind::kNone && options.fault.rank >= ranks)
    throw InputError("--fault", to_string(options.fault),
                     fmt::format("the rank must be below the scenario's {} ranks", ranks));
  if (options.backend != "nccl") {
    if (c.num_nodes != 1)
      throw InputError("--nodes", std::to_string(c.num_nodes),
                       fmt::format("the {} backend runs on one node (NVLink peers); use "
                                   "--nodes 1, or --backend nccl --launch mpi for several nodes",
                                   options.backend));
    if (ranks > gpu::kMaxPeers)
      throw InputError(
          "--gpus-per-node", std::to_string(ranks),
          fmt::format("the {} backend drives at most {} GPUs", options.backend, gpu::kMaxPeers));
  }
  if (options.launch != "mpi" && ranks > num_devices)
    throw InputError(
        "--gpus-per-node", std::to_string(ranks),
        fmt::format("this machine has {} CUDA device(s){}", num_devices,
                    options.backend == "nccl"
                        ? fmt::format(" for the {} ranks; more ranks need --launch mpi", ranks)
                        : std::string()));
  if (base.moe.num_experts % ranks != 0)
    throw InputError("--experts", std::to_string(base.moe.num_experts),
                     fmt::format("must be a multiple of the {} ranks", ranks));
  if (!base.moe.replicas.empty())
    throw InputError("--expert-map", "(explicit placement)",
                     "bench places experts contiguously (E/R per rank)");
  if (base.moe.hidden % gpu::kScaleBlock != 0)
    throw InputError("--hidden", std::to_string(base.moe.hidden), "must be a multiple of 128");
  // LL messages (also the NCCL backend's rows) are 16 + hidden + hidden / 32 bytes with FP8 and
  // are stored with 16-byte accesses (src/gpu/layout.h).
  if (base.mode != KernelMode::kHighThroughput && base.moe.dispatch_dtype == DispatchDtype::kFp8 &&
      base.moe.hidden % gpu::kChunkCols != 0)
    throw InputError("--hidden", std::to_string(base.moe.hidden),
                     "a multiple of 512 for FP8 LL/a2a dispatch (16-byte aligned messages)");
  if (base.moe.topk > 32)
    throw InputError("--topk", std::to_string(base.moe.topk), "at most 32 for bench");
  if (base.moe.combine_dtype != CombineDtype::kBf16)
    throw InputError("--combine-dtype", to_string(base.moe.combine_dtype),
                     "bench combines in bf16");
  for (const BenchCase& bc : cases) {
    if (static_cast<int>(bc.tokens_per_rank.size()) != ranks)
      throw InputError("--tokens", format_token_list(bc.tokens_per_rank),
                       fmt::format("case '{}' lists {} ranks, the cluster has {}", bc.name,
                                   bc.tokens_per_rank.size(), ranks));
    for (std::int64_t t : bc.tokens_per_rank)
      if (t < 0 || t > base.moe.max_tokens_per_rank)
        throw InputError("--tokens", std::to_string(t),
                         fmt::format("case '{}': at most max_tokens_per_rank = {} per rank",
                                     bc.name, base.moe.max_tokens_per_rank));
    if (!bc.start_offset_us.empty() && static_cast<int>(bc.start_offset_us.size()) != ranks)
      throw InputError("--start-offset-us", std::to_string(bc.start_offset_us.size()),
                       fmt::format("case '{}' needs one offset per rank ({})", bc.name, ranks));
    for (double o : bc.start_offset_us)
      if (!(o >= 0) || o > 1e6)
        throw InputError("--start-offset-us", fmt::format("{}", o),
                         fmt::format("case '{}': offsets in [0, 1e6] us", bc.name));
  }
}

MpiPlacement place_mpi_rank(const MpiHostView& v, int gpus_per_node, int num_devices) {
  const int host_last = v.host_first_rank + v.local_size - 1;
  if (v.world_rank - v.local_rank != v.host_first_rank)
    throw InputError("mpirun", fmt::format("rank {}", v.world_rank),
                     fmt::format("the ranks of one host must be consecutive (mpirun maps by slot "
                                 "by default); this one is local rank {} of a host whose first "
                                 "rank is {}",
                                 v.local_rank, v.host_first_rank));
  if (gpus_per_node < 1 || v.host_first_rank % gpus_per_node != 0 ||
      v.local_size % gpus_per_node != 0)
    throw InputError("--gpus-per-node", std::to_string(gpus_per_node),
                     fmt::format("a host must run whole nodes, but this host runs ranks {}..{} "
                                 "({} processes)",
                                 v.host_first_rank, host_last, v.local_size));
  if (v.local_size > num_devices)
    throw InputError("--gpus-per-node", std::to_string(gpus_per_node),
                     fmt::format("this host runs ranks {}..{} ({} processes) but has {} CUDA "
                                 "device(s)",
                                 v.host_first_rank, host_last, v.local_size, num_devices));
  return {v.local_rank, v.local_size / gpus_per_node};
}

std::string short_gpu_name(const std::string& device_name) {
  for (const char* model : {"GB200", "B200", "H200", "H100", "H800", "H20", "A100"})
    if (device_name.find(model) != std::string::npos) return model;
  return device_name;
}

}  // namespace epscope::bench
