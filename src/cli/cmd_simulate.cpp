// `epscope simulate`: the flow-level fabric simulator on one scenario. docs/cli.md,
// docs/model.md §7.
#include <fmt/format.h>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "epscope/base/error.h"
#include "epscope/model/result_json.h"
#include "epscope/report/report_json.h"
#include "epscope/scenario/scenario_json.h"
#include "epscope/simulate/simulate.h"
#include "output.h"
#include "scenario_options.h"
#include "text_report.h"

namespace epscope::cli {
namespace {

struct SimulateCliOptions {
  ScenarioOptions scenario;
  std::string wiring, ecmp;
  int gpus_per_leaf = 0, forward_chunks = 0;
  double flow_cap_gbps = 0, hop_latency_us = 0, resolution = 0;
  std::uint64_t ecmp_seed = 1;
  bool compare_balanced = false;
  std::string json_path, timeline_path;
};

/// Preset (from the cluster), then the file's [fabric] table, then the flags.
Fabric build_fabric(const SimulateCliOptions& o, const Scenario& scenario) {
  Fabric fabric = fabric_preset(scenario.cluster);
  if (!o.scenario.file.empty()) apply_fabric_file(o.scenario.file, fabric);
  const ScenarioOptions& so = o.scenario;
  if (so.given("--oversubscription")) fabric.oversubscription = scenario.cluster.oversubscription;
  if (so.given("--wiring")) fabric.wiring = parse_wiring(o.wiring);
  if (so.given("--ecmp")) fabric.path = parse_path_selection(o.ecmp);
  if (so.given("--ecmp-seed")) fabric.ecmp_seed = o.ecmp_seed;
  if (so.given("--gpus-per-leaf")) fabric.gpus_per_leaf = o.gpus_per_leaf;
  if (so.given("--flow-cap-gbps")) fabric.flow_cap_gbps = o.flow_cap_gbps;
  if (so.given("--hop-latency-us")) fabric.hop_latency_us = o.hop_latency_us;
  if (so.given("--forward-chunks")) fabric.forward_chunks = o.forward_chunks;
  if (so.given("--resolution")) fabric.resolution = o.resolution;
  fabric.validate();
  return fabric;
}

std::string fabric_text(const FabricReport& report) {
  const Fabric& f = report.fabric;
  std::string text =
      fmt::format("fabric: {} wiring, {} leaves", to_string(f.wiring), report.num_leaves);
  if (report.num_spines > 0) {
    text += fmt::format(", {} spine{}, {:g}:1, ECMP {}", report.num_spines,
                        report.num_spines == 1 ? "" : "s", f.oversubscription, to_string(f.path));
  }
  if (f.flow_cap_gbps > 0) text += fmt::format(", flows capped at {:g} GB/s", f.flow_cap_gbps);
  text += "\n" + report.idle + "\n";
  for (const auto& [name, phase] :
       {std::pair{"dispatch", &report.dispatch}, std::pair{"combine", &report.combine}}) {
    text += fmt::format("  {}:", name);
    for (const ResourceLoad& load : phase->by_kind) {
      text += fmt::format(" {} {:.0f}%", to_string(load.kind), 100 * load.utilization);
    }
    text += "\n";
  }
  return text;
}

int run_simulate(const SimulateCliOptions& o) {
  const bool builtin = o.scenario.nothing_given();
  const Scenario s = build_scenario(o.scenario);
  const ModelParams params = build_params(o.scenario, s);
  const Fabric fabric = build_fabric(o, s);
  const bool compare = o.compare_balanced || builtin;
  epscope::SimulateOptions sim_options;
  sim_options.timeline = !o.timeline_path.empty();
  const SimulateResult sim = simulate(s, compute_traffic(s), params, fabric, sim_options);

  std::string text;
  if (builtin) text += "No scenario given: the built-in default (DOMAIN.md section 4).\n";
  text += describe(s) + "\n\n" + rank_table(sim.result) + "\n" + sim.result.summary + "\n" +
          fabric_text(sim.fabric);
  nlohmann::json j = to_json(sim.result);
  j["fabric"] = to_json(sim.fabric);
  if (compare) {
    const Scenario even = balanced(s);
    const SimulateResult bal = simulate(even, compute_traffic(even), params, fabric);
    const double ratio = sim.result.total_us / bal.result.total_us;
    text += fmt::format(
        "\nBalanced (same total):\n{}\n{}\n{}\nratio {:.2f}; fabric utilization {:.0f}% "
        "unbalanced vs {:.0f}% balanced\n",
        rank_table(bal.result), bal.result.summary, fabric_text(bal.fabric), ratio,
        100 * sim.fabric.utilization, 100 * bal.fabric.utilization);
    j["balanced"] = to_json(bal.result);
    j["balanced"]["fabric"] = to_json(bal.fabric);
    j["ratio"] = ratio;
  }
  j["scenario"] = to_json(s);
  std::cout << text;
  if (!o.json_path.empty()) write_json(o.json_path, j);
  if (!o.timeline_path.empty()) {
    std::ofstream out(o.timeline_path);
    if (!out) throw InputError("--timeline", o.timeline_path, "the output file cannot be created");
    write_timeline_csv(out, sim.fabric);
    if (!out) throw InputError("--timeline", o.timeline_path, "writing the output file failed");
  }
  return 0;
}

}  // namespace

CLI::App* register_simulate(CLI::App& app) {
  auto opts = std::make_shared<SimulateCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "simulate",
      "Flow-level fabric simulator: same scenario and output as estimate, plus fabric utilization");
  add_scenario_options(cmd, opts->scenario);
  const char* g = "Fabric (override the preset and the file's [fabric] table)";
  cmd->add_option("--wiring", opts->wiring, "NIC wiring: rail (default), tor or single")->group(g);
  cmd->add_option("--gpus-per-leaf", opts->gpus_per_leaf, "NIC ports per leaf switch (32)")
      ->group(g);
  cmd->add_option("--ecmp", opts->ecmp,
                  "Spine choice: spray (per packet, default), hash (seeded per flow) or adaptive "
                  "(least-loaded per flow)")
      ->group(g);
  cmd->add_option("--ecmp-seed", opts->ecmp_seed, "Seed of the ECMP hash")->group(g);
  cmd->add_option("--flow-cap-gbps", opts->flow_cap_gbps, "Per-flow rate cap, GB/s (0 = none)")
      ->group(g);
  cmd->add_option("--hop-latency-us", opts->hop_latency_us,
                  "Latency per extra switch hop, us (0.5; leaf-spine-leaf adds 2 hops)")
      ->group(g);
  cmd->add_option("--forward-chunks", opts->forward_chunks,
                  "HT store-and-forward steps per forwarder (16)")
      ->group(g);
  cmd->add_option("--resolution", opts->resolution,
                  "Flows ending within this share of the phase time finish together (1e-3; 0 = "
                  "exact)")
      ->group(g);
  cmd->add_flag("--compare-balanced", opts->compare_balanced,
                "Also simulate the same total tokens spread evenly, and the ratio");
  cmd->add_option("--json", opts->json_path,
                  "Write the result as JSON to this path ('-' = stdout): estimate's schema plus "
                  "`fabric`");
  cmd->add_option("--timeline", opts->timeline_path,
                  "Write per-resource throughput over time as CSV to this path");
  cmd->callback([opts]() { throw CommandDone(run_simulate(*opts)); });
  return cmd;
}

}  // namespace epscope::cli
