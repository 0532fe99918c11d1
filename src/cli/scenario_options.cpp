#include "scenario_options.h"

#include <fmt/format.h>
#include <algorithm>

#include "epscope/base/error.h"
#include "epscope/base/lists.h"
#include "epscope/calibrate/calibration_file.h"
#include "epscope/scenario/scenario_file.h"

namespace epscope::cli {
namespace {

const char* const kScenarioFlags[] = {"--preset",
                                      "--nodes",
                                      "--gpus-per-node",
                                      "--nvlink-domain",
                                      "--nvlink-gbps",
                                      "--nic-gbps",
                                      "--nics-per-gpu",
                                      "--oversubscription",
                                      "--launch-us",
                                      "--nvlink-latency-us",
                                      "--rdma-latency-us",
                                      "--mode",
                                      "--nvlink",
                                      "--hidden",
                                      "--topk",
                                      "--experts",
                                      "--num-groups",
                                      "--topk-groups",
                                      "--expert-map",
                                      "--tokens",
                                      "--routing",
                                      "--seed",
                                      "--max-tokens-per-rank",
                                      "--dispatch-dtype",
                                      "--combine-dtype",
                                      "--a2a-rows",
                                      "--start-offset-us",
                                      "--back-to-back"};

}  // namespace

bool ScenarioOptions::nothing_given() const {
  if (!file.empty()) return false;
  for (const char* flag : kScenarioFlags) {
    if (given(flag)) return false;
  }
  return true;
}

void add_scenario_options(CLI::App* app, ScenarioOptions& o) {
  o.app = app;
  app->add_option("scenario_file", o.file, "Scenario file (TOML); flags override its keys");
  auto* g = "Cluster";
  app->add_option("--preset", o.preset,
                  "Cluster preset: " + fmt::format("{}", fmt::join(preset_names(), ", ")))
      ->group(g);
  app->add_option("--nodes", o.nodes, "Number of nodes")->group(g);
  app->add_option("--gpus-per-node", o.gpus_per_node, "GPUs (EP ranks) per node")->group(g);
  app->add_option("--nvlink-domain", o.nvlink_domain, "GPUs per NVLink domain (72 for NVL72)")
      ->group(g);
  app->add_option("--nvlink-gbps", o.nvlink_gbps, "NVLink GB/s per GPU per direction")->group(g);
  app->add_option("--nic-gbps", o.nic_gbps, "NIC GB/s per NIC per direction")->group(g);
  app->add_option("--nics-per-gpu", o.nics_per_gpu, "NICs per GPU")->group(g);
  app->add_option("--oversubscription", o.oversubscription, "Leaf-to-spine oversubscription (>= 1)")
      ->group(g);
  app->add_option("--launch-us", o.launch_us, "Kernel launch + handshake per phase, us")->group(g);
  app->add_option("--nvlink-latency-us", o.nvlink_latency_us, "NVLink latency, us")->group(g);
  app->add_option("--rdma-latency-us", o.rdma_latency_us, "RDMA latency, us")->group(g);
  app->add_option("--nvlink", o.nvlink, "NVLink inside a domain: on, or off (pure RDMA)")->group(g);
  g = "MoE and kernels";
  app->add_option("--mode", o.mode, "Kernel mode: ll, ht or a2a")->group(g);
  app->add_option("--hidden", o.hidden, "Hidden size")->group(g);
  app->add_option("--topk", o.topk, "Experts per token")->group(g);
  app->add_option("--experts", o.experts, "Routed experts")->group(g);
  app->add_option("--num-groups", o.num_groups, "Expert groups for group-limited routing")
      ->group(g);
  app->add_option("--topk-groups", o.topk_groups, "Groups a token may use")->group(g);
  app->add_option("--expert-map", o.expert_map,
                  "Expert placement JSON (EPLB physical_to_logical or logical_to_ranks)")
      ->group(g);
  app->add_option("--max-tokens-per-rank", o.max_tokens, "LL receive buffer size (tokens per rank)")
      ->group(g);
  app->add_option("--dispatch-dtype", o.dispatch_dtype, "fp8 or bf16")->group(g);
  app->add_option("--combine-dtype", o.combine_dtype, "bf16 or logfmt")->group(g);
  app->add_option("--a2a-rows", o.a2a_rows,
                  "a2a rows per (token, expert) or per (token, rank): expert | rank")
      ->group(g);
  g = "Batch and routing";
  app->add_option("--tokens", o.tokens,
                  "Tokens per rank: 384x8,64x8 (VxN repeats), or one value for all")
      ->group(g);
  app->add_option("--start-offset-us", o.start_offsets, "Per-rank start offsets in us, same syntax")
      ->group(g);
  app->add_option("--routing", o.routing,
                  "expected | uniform | lognormal:S | zipf:S | expected:lognormal:S | "
                  "expected:zipf:S | file:PATH")
      ->group(g);
  app->add_option("--seed", o.seed, "Seed for sampled routing")->group(g);
  app->add_flag("--back-to-back", o.back_to_back, "No sync between dispatch and combine")->group(g);
  app->add_option("--calibration", o.calibration, "Calibration JSON from `epscope calibrate`")
      ->group("Model");
}

Scenario build_scenario(const ScenarioOptions& o) {
  if (o.nothing_given()) return default_scenario();
  Scenario s;
  std::string preset = o.given("--preset") ? o.preset : "";
  if (preset.empty() && !o.file.empty()) preset = scenario_file_preset(o.file);
  s.cluster = cluster_preset(preset.empty() ? "h800-cx7" : preset);
  s.tokens_per_rank.assign(static_cast<std::size_t>(s.num_ranks()), 128);
  if (!o.file.empty()) apply_scenario_file(o.file, s);

  Cluster& c = s.cluster;
  const int ranks_before = s.num_ranks();
  if (o.given("--nodes")) c.num_nodes = o.nodes;
  if (o.given("--gpus-per-node")) c.set_gpus_per_node(o.gpus_per_node);
  if (o.given("--nvlink-domain")) c.nvlink_domain_size = o.nvlink_domain;
  if (o.given("--nvlink-gbps")) c.nvlink_gbps = o.nvlink_gbps;
  if (o.given("--nic-gbps")) c.nic_gbps = o.nic_gbps;
  if (o.given("--nics-per-gpu")) c.nics_per_gpu = o.nics_per_gpu;
  if (o.given("--oversubscription")) c.oversubscription = o.oversubscription;
  if (o.given("--launch-us")) c.launch_us = o.launch_us;
  if (o.given("--nvlink-latency-us")) c.nvlink_latency_us = o.nvlink_latency_us;
  if (o.given("--rdma-latency-us")) c.rdma_latency_us = o.rdma_latency_us;
  if (o.given("--nvlink")) {
    if (o.nvlink != "on" && o.nvlink != "off")
      throw InputError("nvlink", o.nvlink, "allowed: on, off");
    c.nvlink_enabled = o.nvlink == "on";
  }
  c.validate();  // rank count must be sane before lists are expanded against it

  if (o.given("--mode")) s.mode = parse_kernel_mode(o.mode);
  if (o.given("--hidden")) s.moe.hidden = o.hidden;
  if (o.given("--topk")) s.moe.topk = o.topk;
  if (o.given("--experts")) s.moe.num_experts = o.experts;
  if (o.given("--num-groups")) s.moe.num_groups = o.num_groups;
  if (o.given("--topk-groups")) s.moe.topk_groups = o.topk_groups;
  if (o.given("--max-tokens-per-rank")) s.moe.max_tokens_per_rank = o.max_tokens;
  if (o.given("--dispatch-dtype")) s.moe.dispatch_dtype = parse_dispatch_dtype(o.dispatch_dtype);
  if (o.given("--combine-dtype")) s.moe.combine_dtype = parse_combine_dtype(o.combine_dtype);
  if (o.given("--a2a-rows")) s.a2a_rows = parse_a2a_rows(o.a2a_rows);
  if (o.given("--back-to-back")) s.back_to_back = o.back_to_back;
  if (o.given("--routing")) {
    const auto seed = s.routing.seed;
    s.routing = parse_routing(o.routing);
    s.routing.seed = seed;
  }
  if (o.given("--seed")) s.routing.seed = o.seed;
  if (o.given("--expert-map"))
    s.moe.replicas = read_expert_map(o.expert_map, s.moe.num_experts, s.num_ranks());

  if (o.given("--tokens")) {
    s.tokens_per_rank = expand_token_list(o.tokens, s.num_ranks(), "tokens");
  } else if (!s.routing.file.empty()) {
    // Tokens come from the routing file itself.
    const auto topk =
        read_topk_file(s.routing.file, s.num_ranks(), s.moe.topk, s.moe.num_experts, {});
    s.tokens_per_rank.clear();
    for (const auto& r : topk)
      s.tokens_per_rank.push_back(r.num_tokens);
  } else if (s.num_ranks() != ranks_before ||
             static_cast<int>(s.tokens_per_rank.size()) != s.num_ranks()) {
    // The rank count changed after the token list was set: keep a uniform list uniform.
    const bool uniform = !s.tokens_per_rank.empty() &&
                         std::all_of(s.tokens_per_rank.begin(), s.tokens_per_rank.end(),
                                     [&](auto t) { return t == s.tokens_per_rank.front(); });
    if (!uniform) {
      throw InputError(
          "tokens", format_token_list(s.tokens_per_rank),
          fmt::format("the token list has {} ranks but the cluster now has {}; give --tokens",
                      s.tokens_per_rank.size(), s.num_ranks()));
    }
    s.tokens_per_rank.assign(static_cast<std::size_t>(s.num_ranks()), s.tokens_per_rank.front());
  }
  if (o.given("--start-offset-us")) {
    s.start_offset_us = expand_real_list(o.start_offsets, s.num_ranks(), "start-offset-us");
  }
  s.validate();
  return s;
}

ModelParams build_params(const ScenarioOptions& o, const Scenario& scenario) {
  ModelParams p = ModelParams::from_cluster(scenario.cluster);
  if (!o.calibration.empty()) apply_calibration_file(o.calibration, p);
  return p;
}

}  // namespace epscope::cli
