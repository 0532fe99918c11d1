// `epscope estimate`: the closed-form model on one scenario. docs/cli.md.
#include <fmt/format.h>
#include <fstream>
#include <iostream>

#include "commands.h"
#include "epscope/base/error.h"
#include "epscope/model/result_json.h"
#include "epscope/report/report_json.h"
#include "epscope/scenario/scenario_json.h"
#include "output.h"
#include "scenario_options.h"
#include "text_report.h"

namespace epscope::cli {
namespace {

struct EstimateOptions {
  ScenarioOptions scenario;
  bool compare_balanced = false;
  std::string json_path;
};

int run_estimate(const EstimateOptions& o) {
  const bool builtin = o.scenario.nothing_given();
  const Scenario s = build_scenario(o.scenario);
  const ModelParams params = build_params(o.scenario, s);
  const bool compare = o.compare_balanced || builtin;
  std::string text;
  if (builtin) text += "No scenario given: the built-in default (DOMAIN.md section 4).\n";
  text += describe(s) + "\n\n";
  nlohmann::json j;
  if (compare) {
    const Comparison c = compare_balanced(s, params);
    text += rank_table(c.unbalanced) + "\n" + c.unbalanced.summary +
            "\n\nBalanced (same total):\n" + rank_table(c.balanced) + "\n" + c.why + "\n";
    j = to_json(c);
  } else {
    const EstimateResult r = estimate(s, params);
    text += rank_table(r) + "\n" + r.summary + "\n";
    j = to_json(r);
  }
  j["scenario"] = to_json(s);
  std::cout << text;
  if (!o.json_path.empty()) write_json(o.json_path, j);
  return 0;
}

}  // namespace

CLI::App* register_estimate(CLI::App& app) {
  auto opts = std::make_shared<EstimateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "estimate",
      "Closed-form bottleneck model: per-rank dispatch/combine time and what bounds it");
  add_scenario_options(cmd, opts->scenario);
  cmd->add_flag("--compare-balanced", opts->compare_balanced,
                "Also estimate the same total tokens spread evenly, and the ratio");
  cmd->add_option("--json", opts->json_path,
                  "Write the result as JSON to this path ('-' = stdout)");
  cmd->callback([opts]() { throw CommandDone(run_estimate(*opts)); });
  return cmd;
}

}  // namespace epscope::cli
