// `epscope plan`: DP-rank placement on a decode step (snapshot) or over a trace (replay).
// docs/model.md §8; the findings it produces are in docs/findings.md ("Plan").
#include <fmt/format.h>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "epscope/base/error.h"
#include "epscope/base/lists.h"
#include "epscope/model/result_json.h"
#include "epscope/plan/decode_config.h"
#include "epscope/plan/decode_model.h"
#include "epscope/plan/plan_io.h"
#include "epscope/plan/plan_pareto.h"
#include "epscope/plan/plan_policies.h"
#include "epscope/plan/plan_replay.h"
#include "epscope/report/report_json.h"
#include "epscope/scenario/scenario_json.h"
#include "output.h"
#include "plan_text.h"
#include "scenario_options.h"

namespace epscope::cli {
namespace {

struct PlanOptions {
  ScenarioOptions scenario;
  // Model
  std::string model_file, attention_samples;
  bool tbo = false;
  double hbm_efficiency = 0.85, flops_efficiency = 0.6, gemm_launch_us = 5.0;
  double attn_fixed_us = -1, attn_us_per_token = -1, attn_us_per_kv_token = -1, step_fixed_us = -1;
  // Workload
  std::string snapshot, trace, kv_capacity, save_snapshot;
  int num_requests = 0;  // 0 = 64 per rank (snapshot) or 4096 (trace)
  double avg_kv = 5000, kv_sigma = 1.0;
  int drafts = 0;
  double acceptance = 0.7, acceptance_spread = 0.1;
  std::uint64_t workload_seed = 1;
  // Policies
  std::string policies = "all", lambdas;
  int max_moves = -1;
  // Replay
  bool replay = false, surrogate = false;
  double rate_per_s = 0;  // 0 = derived from the cluster size
  double avg_prompt = 5000, prompt_sigma = 1.0, avg_output = 500, output_sigma = 0.5;
  int max_batch = 256;
  std::int64_t max_steps = 1000000;
  std::string timeline_csv;
  // Output
  std::string json_path, svg_path;
};

/// The scenario: the shared flags, or (none given) h800-cx7 2 x 8 with NVLink, LL, expected
/// routing.
Scenario plan_scenario(const ScenarioOptions& o) {
  if (!o.nothing_given()) return build_scenario(o);
  Scenario s;
  s.cluster = cluster_preset("h800-cx7");
  s.cluster.num_nodes = 2;
  s.tokens_per_rank.assign(static_cast<std::size_t>(s.num_ranks()), 1);
  return s;
}

DecodeModel build_model(const PlanOptions& o, const Scenario& s) {
  const ModelConfig model = o.model_file.empty() ? deepseek_v3() : load_model_config(o.model_file);
  DecodeParams params =
      DecodeParams::derive(model, gpu_for_preset(s.cluster.preset), o.hbm_efficiency,
                           o.flops_efficiency, o.gemm_launch_us);
  if (!o.attention_samples.empty()) {
    params = fit_attention(params, load_attention_samples(o.attention_samples));
  }
  if (o.attn_fixed_us >= 0) params.attn_fixed_us = o.attn_fixed_us;
  if (o.attn_us_per_token >= 0) params.attn_us_per_token = o.attn_us_per_token;
  if (o.attn_us_per_kv_token >= 0) params.attn_us_per_kv_token = o.attn_us_per_kv_token;
  if (o.step_fixed_us >= 0) params.step_fixed_us = o.step_fixed_us;
  params.two_batch_overlap = o.tbo;
  return DecodeModel(s, model, params, build_params(o.scenario, s));
}

std::vector<Policy> parse_policies(const std::string& text) {
  if (text == "all") return all_policies();
  std::vector<Policy> out;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const auto comma = text.find(',', begin);
    const std::string name = text.substr(begin, comma == std::string::npos ? comma : comma - begin);
    if (name == "lambda") {
      throw InputError("policy", name, "use --lambda for the lambda sweep");
    }
    out.push_back(parse_policy(name));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return out;
}

/// "0:1:0.1" (from:to:step) or a list "0,0.25,1".
std::vector<double> parse_lambdas(const std::string& text) {
  std::vector<double> out;
  if (text.find(':') != std::string::npos) {
    const std::vector<double> parts =
        parse_real_list(text.substr(0, text.find(':')) + "," +
                            text.substr(text.find(':') + 1, text.rfind(':') - text.find(':') - 1) +
                            "," + text.substr(text.rfind(':') + 1),
                        "lambda");
    if (parts.size() != 3 || !(parts[2] > 0) || parts[1] < parts[0]) {
      throw InputError("lambda", text, "from:to:step with step > 0 and to >= from, e.g. 0:1:0.1");
    }
    for (int i = 0; parts[0] + i * parts[2] <= parts[1] + 1e-9 && i < 1001; ++i) {
      out.push_back(std::min(parts[1], parts[0] + i * parts[2]));
    }
  } else {
    out = parse_real_list(text, "lambda");
  }
  for (double l : out) {
    if (!(l >= 0 && l <= 1)) throw InputError("lambda", fmt::format("{}", l), "allowed: 0..1");
  }
  return out;
}

Capacity parse_capacity(const std::string& text, int num_ranks) {
  Capacity cap;
  if (!text.empty()) cap.kv_tokens = expand_token_list(text, num_ranks, "kv-capacity");
  return cap;
}

std::string header(const Scenario& s, const DecodeModel& model) {
  const Cluster& c = s.cluster;
  return fmt::format(
      "{} x {} {} ({} ranks), NVLink {}, {}; model {} ({} layers, {} MoE), two-batch overlap {}",
      c.num_nodes, c.gpus_per_node, c.preset.empty() ? "custom" : c.preset, s.num_ranks(),
      c.nvlink_enabled ? "on" : "off", to_string(s.mode), model.model().name,
      model.model().num_layers, model.model().num_moe_layers(),
      model.params().two_batch_overlap ? "on" : "off");
}

int run_snapshot(const PlanOptions& o, const Scenario& s, const DecodeModel& model,
                 nlohmann::json& j) {
  Snapshot snapshot;
  if (!o.snapshot.empty()) {
    snapshot = load_snapshot(o.snapshot);
  } else {
    SyntheticSnapshotSpec spec;
    spec.num_requests = o.num_requests > 0 ? o.num_requests : 64 * s.num_ranks();
    spec.mean_context_tokens = o.avg_kv;
    spec.sigma = o.kv_sigma;
    spec.num_drafts = o.drafts;
    spec.acceptance = o.acceptance;
    spec.seed = o.workload_seed;
    snapshot = synthetic_snapshot(spec);
  }
  if (!o.save_snapshot.empty()) save_snapshot(snapshot, o.save_snapshot);
  const Capacity capacity = parse_capacity(o.kv_capacity, s.num_ranks());
  double kv = 0, tokens = 0;
  for (const Request& q : snapshot.requests) {
    kv += static_cast<double>(q.context_tokens);
    tokens += static_cast<double>(q.tokens);
  }
  const auto n = static_cast<double>(snapshot.requests.size());
  std::cout << header(s, model) << "\n"
            << fmt::format(
                   "snapshot: {} requests, {} tokens this step, average KV {:.0f} tokens{}\n\n",
                   snapshot.requests.size(), tokens, kv / n,
                   o.snapshot.empty() ? " (synthetic, log-normal)" : "");

  PlacementOptions options;
  options.max_moves = o.max_moves;
  std::vector<PolicyReport> reports;
  j["policies"] = nlohmann::json::array();
  std::string unplaced;
  for (Policy p : parse_policies(o.policies)) {
    try {
      reports.push_back(evaluate(snapshot, p, model, capacity, options));
      j["policies"].push_back(to_json(reports.back()));
    } catch (const InputError& e) {
      if (e.field() != "kv-capacity") throw;
      // A policy that cannot fit the snapshot is a result, not a failure of the command.
      unplaced += fmt::format("{:<16} cannot place the snapshot: {}\n", to_string(p), e.what());
      j["policies"].push_back({{"policy", to_string(p)}, {"error", e.what()}});
    }
  }
  if (reports.empty())
    throw InputError("kv-capacity", o.kv_capacity, "no policy fits the snapshot");
  std::cout << policy_table(reports) << unplaced;

  if (!o.lambdas.empty() || !o.svg_path.empty()) {
    const ParetoResult sweep = lambda_sweep(
        snapshot, model, capacity, parse_lambdas(o.lambdas.empty() ? "0:1:0.1" : o.lambdas));
    const ParetoPoint& best = sweep.points[static_cast<std::size_t>(sweep.best_idx)];
    std::cout << "\nLambda sweep (1 = balance batch, 0 = balance KV):\n" << pareto_table(sweep);
    std::cout << fmt::format("sweet spot: lambda = {:g}, {:.3f} ms per step\n", best.lambda,
                             best.step_us / 1e3);
    j["pareto"] = to_json(sweep);
    if (!o.svg_path.empty()) {
      std::vector<PolicyReport> baselines;
      for (const PolicyReport& r : reports) {
        if (r.policy != "epscope_online") baselines.push_back(r);
      }
      std::ofstream out(o.svg_path);
      if (!out) throw InputError("svg", o.svg_path, "the output file cannot be created");
      out << pareto_svg(
          sweep, baselines,
          fmt::format("{} x {} {}, avg KV {:.0f}: batch vs KV balance", s.cluster.num_nodes,
                      s.cluster.gpus_per_node, s.cluster.preset, kv / n));
    }
  }
  return 0;
}

int run_replay(const PlanOptions& o, const Scenario& s, const DecodeModel& model,
               nlohmann::json& j) {
  std::vector<TraceRequest> trace;
  if (!o.trace.empty()) {
    trace = load_trace(o.trace);
  } else {
    SyntheticTraceSpec spec;
    spec.num_requests = o.num_requests > 0 ? o.num_requests : 4096;
    // Default load: about 48 running requests per rank in steady state at ~50 ms per step.
    spec.rate_per_s =
        o.rate_per_s > 0 ? o.rate_per_s : 48.0 * s.num_ranks() / (o.avg_output * 0.05);
    spec.mean_prompt_tokens = o.avg_prompt;
    spec.prompt_sigma = o.prompt_sigma;
    spec.mean_output_tokens = o.avg_output;
    spec.output_sigma = o.output_sigma;
    spec.seed = o.workload_seed;
    trace = synthetic_trace(spec);
  }
  ReplayOptions options;
  options.num_drafts = o.drafts;
  options.acceptance = o.acceptance;
  options.acceptance_spread = o.acceptance_spread;
  options.max_requests_per_rank = o.max_batch;
  options.max_steps = o.max_steps;
  options.surrogate = o.surrogate;
  options.seed = o.workload_seed;
  const Capacity capacity = parse_capacity(o.kv_capacity, s.num_ranks());
  std::cout << header(s, model) << "\n"
            << fmt::format(
                   "replay: {} requests{}, MTP drafts {}\n\n", trace.size(),
                   o.trace.empty() ? " (synthetic: Poisson arrivals, log-normal lengths)" : "",
                   o.drafts);
  std::vector<ReplayResult> results;
  for (Policy p : parse_policies(o.policies)) {
    results.push_back(replay(trace, p, model, capacity, options));
  }
  std::cout << replay_table(results);
  j["replay"] = nlohmann::json::array();
  for (const ReplayResult& r : results) {
    const int stride = static_cast<int>(std::max<std::int64_t>(1, r.num_steps / 1000));
    j["replay"].push_back(to_json(r, stride));
  }
  if (!o.timeline_csv.empty()) write_timeline_csv(o.timeline_csv, results);
  return 0;
}

int run_plan(const PlanOptions& o) {
  const Scenario s = plan_scenario(o.scenario);
  const DecodeModel model = build_model(o, s);
  nlohmann::json j;
  j["scenario"] = to_json(s);
  j["model"] = to_json(model.model(), model.params());
  const int rc = o.replay ? run_replay(o, s, model, j) : run_snapshot(o, s, model, j);
  if (!o.json_path.empty()) write_json(o.json_path, j);
  return rc;
}

/// The decode-step model: model config, efficiencies, attention overrides and fit.
void add_decode_model_options(CLI::App* cmd, PlanOptions* o) {
  const char* g = "Decode model";
  cmd->add_option("--model", o->model_file, "Model config (.json or .toml); default DeepSeek-V3")
      ->group(g);
  cmd->add_flag("--tbo", o->tbo, "Two-batch overlap: half-batch communication hides under compute")
      ->group(g);
  cmd->add_option("--hbm-efficiency", o->hbm_efficiency, "Fraction of HBM bandwidth reached (0.85)")
      ->group(g);
  cmd->add_option("--flops-efficiency", o->flops_efficiency, "Fraction of FP8 peak reached (0.6)")
      ->group(g);
  cmd->add_option("--gemm-launch-us", o->gemm_launch_us, "Launch cost per GEMM stage, us (5)")
      ->group(g);
  cmd->add_option("--attn-fixed-us", o->attn_fixed_us, "Override: attention us per layer, fixed")
      ->group(g);
  cmd->add_option("--attn-us-per-token", o->attn_us_per_token,
                  "Override: attention us per layer per token of the step")
      ->group(g);
  cmd->add_option("--attn-us-per-kv-token", o->attn_us_per_kv_token,
                  "Override: attention us per layer per KV token")
      ->group(g);
  cmd->add_option("--attention-samples", o->attention_samples,
                  "Fit the attention terms to measurements: CSV tokens,kv_tokens,attention_us")
      ->group(g);
  cmd->add_option("--step-fixed-us", o->step_fixed_us, "Override: fixed us per step (LM head, ...)")
      ->group(g);
}

/// The snapshot (a file or synthetic), MTP drafts and the KV capacity.
void add_workload_options(CLI::App* cmd, PlanOptions* o) {
  const char* g = "Workload";
  cmd->add_option("--snapshot", o->snapshot,
                  "Requests: CSV id,context_tokens,tokens[,rank] or JSON; default synthetic")
      ->group(g);
  cmd->add_option("--requests", o->num_requests,
                  "Synthetic requests (default 64 per rank; replay 4096)")
      ->group(g);
  cmd->add_option("--avg-kv", o->avg_kv, "Synthetic snapshot: mean context tokens (5000)")
      ->group(g);
  cmd->add_option("--kv-sigma", o->kv_sigma, "Synthetic snapshot: log-normal sigma (1.0)")
      ->group(g);
  cmd->add_option("--drafts", o->drafts, "MTP draft tokens per step (0)")->group(g);
  cmd->add_option("--acceptance", o->acceptance, "Mean per-draft acceptance rate (0.7)")->group(g);
  cmd->add_option("--acceptance-spread", o->acceptance_spread,
                  "Replay: per-request rate = acceptance +- U(spread) (0.1)")
      ->group(g);
  cmd->add_option("--workload-seed", o->workload_seed, "Seed of the synthetic workload (1)")
      ->group(g);
  cmd->add_option("--kv-capacity", o->kv_capacity,
                  "KV capacity in tokens per rank: one value or a list (VxN)")
      ->group(g);
  cmd->add_option("--save-snapshot", o->save_snapshot, "Write the snapshot used as CSV")->group(g);
}

/// Which policies run, the lambda sweep and the move budget.
void add_policy_options(CLI::App* cmd, PlanOptions* o) {
  const char* g = "Policies";
  cmd->add_option("--policy", o->policies,
                  "Comma list of round_robin, shortest_queue, total_tokens, balance_batch, "
                  "balance_kv, epscope_online, epscope_offline (epscope), or all")
      ->group(g);
  cmd->add_option("--lambda", o->lambdas,
                  "Sweep batch (1) vs KV (0) balance: from:to:step or a list; prints the front")
      ->group(g);
  cmd->add_option("--max-moves", o->max_moves, "epscope_offline: move at most this many requests")
      ->group(g);
}

/// Trace replay: the trace (a file or synthetic), batch limit, steps, timeline.
void add_replay_options(CLI::App* cmd, PlanOptions* o) {
  const char* g = "Replay";
  cmd->add_flag("--replay", o->replay, "Replay a trace instead of placing one snapshot")->group(g);
  cmd->add_option("--trace", o->trace,
                  "Trace CSV arrival_s|arrival_us,prompt_tokens,output_tokens; default synthetic")
      ->group(g);
  cmd->add_option("--rate", o->rate_per_s, "Synthetic trace: arrivals per second")->group(g);
  cmd->add_option("--avg-prompt", o->avg_prompt, "Synthetic trace: mean prompt tokens (5000)")
      ->group(g);
  cmd->add_option("--prompt-sigma", o->prompt_sigma, "Synthetic trace: prompt sigma (1.0)")
      ->group(g);
  cmd->add_option("--avg-output", o->avg_output, "Synthetic trace: mean output tokens (500)")
      ->group(g);
  cmd->add_option("--output-sigma", o->output_sigma, "Synthetic trace: output sigma (0.5)")
      ->group(g);
  cmd->add_option("--max-batch", o->max_batch, "Running requests per rank at most (256)")->group(g);
  cmd->add_option("--steps", o->max_steps, "Stop after this many decode steps")->group(g);
  cmd->add_flag("--surrogate", o->surrogate, "Step times from the surrogate (fast, approximate)")
      ->group(g);
  cmd->add_option("--timeline", o->timeline_csv, "Write per-step imbalance over time as CSV")
      ->group(g);
}

}  // namespace

CLI::App* register_plan(CLI::App& app) {
  auto o = std::make_shared<PlanOptions>();
  CLI::App* cmd = app.add_subcommand(
      "plan",
      "Place decode requests on DP ranks: step time per policy, the batch-vs-KV Pareto front, "
      "and trace replay");
  add_scenario_options(cmd, o->scenario);
  add_decode_model_options(cmd, o.get());
  add_workload_options(cmd, o.get());
  add_policy_options(cmd, o.get());
  add_replay_options(cmd, o.get());
  const char* g = "Output";
  cmd->add_option("--json", o->json_path, "Write the result as JSON ('-' = stdout)")->group(g);
  cmd->add_option("--svg", o->svg_path, "Write the Pareto plot as SVG (runs the lambda sweep)")
      ->group(g);
  cmd->callback([o]() { throw CommandDone(run_plan(*o)); });
  return cmd;
}

}  // namespace epscope::cli
