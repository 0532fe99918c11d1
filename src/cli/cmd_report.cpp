// `epscope report RESULTS... -o report.html`: one self-contained HTML page. docs/report.md.
#include <fmt/format.h>

#include "commands.h"
#include "epscope/report/html_report.h"
#include "output.h"

namespace epscope::cli {
namespace {

struct ReportCliOptions {
  std::vector<std::string> inputs;
  std::string output = "report.html";
  std::string title = "epscope report";
  std::string calibration;
};

int run_report(const ReportCliOptions& o) {
  std::vector<ReportInput> inputs;
  for (const auto& path : o.inputs)
    inputs.push_back(read_report_input(path));
  ReportOptions options;
  options.title = o.title;
  options.calibration = o.calibration;
  write_text(o.output, render_report(inputs, options), "output");
  if (o.output != "-") fmt::print("{} inputs -> {}\n", inputs.size(), o.output);
  return 0;
}

}  // namespace

CLI::App* register_report(CLI::App& app) {
  auto opts = std::make_shared<ReportCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "report",
      "One self-contained HTML page (inline SVG) from estimate/sweep JSON, measurement records "
      "(.jsonl) and plan JSON");
  cmd->add_option("inputs", opts->inputs,
                  "Result files: estimate --json, sweep --json, records .jsonl, plan JSON")
      ->required();
  cmd->add_option("-o,--output", opts->output, "HTML file to write ('-' = stdout)");
  cmd->add_option("--title", opts->title, "Page title");
  cmd->add_option("--calibration", opts->calibration,
                  "Calibration JSON for the predictions against measured records");
  cmd->callback([opts]() { throw CommandDone(run_report(*opts)); });
  return cmd;
}

}  // namespace epscope::cli
