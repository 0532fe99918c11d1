// `epscope bench`: real dispatch and combine on this node's GPUs under the scenario's exact
// per-rank token counts, with the model's prediction beside every measured number.
// docs/performance.md describes the timing, the output and the records.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "bench/backends/backends.h"
#include "bench/backends/deepep/deepep.h"
#include "bench/harness/bench_records.h"
#include "bench/harness/cases.h"
#include "bench/harness/launch.h"
#include "commands.h"
#include "epscope/base/error.h"
#include "output.h"
#include "scenario_options.h"

namespace epscope::cli {
namespace {

struct BenchCliOptions {
  ScenarioOptions scenario;
  bench::BenchOptions bench;
  std::int64_t sweep_begin = -1, sweep_end = -1, sweep_factor = 2;
  std::string cases_path;
  std::string fault;           // --fault, parsed by bench::parse_fault
  bench::DeepEpLaunch deepep;  // --backend deepep
};

/// The NCCL backend is a plain all-to-all-v: LL scenarios map to one row per (token, expert),
/// HT scenarios to one row per (token, destination rank), unless --a2a-rows says otherwise.
Scenario for_backend(Scenario s, const BenchCliOptions& o) {
  if (o.bench.backend != "nccl" || s.mode == KernelMode::kAllToAll) return s;
  if (!o.scenario.given("--a2a-rows"))
    s.a2a_rows = s.mode == KernelMode::kHighThroughput ? A2aRows::kPerRank : A2aRows::kPerExpert;
  s.mode = KernelMode::kAllToAll;
  return s;
}

std::vector<bench::BenchCase> cases_of(const Scenario& s, const BenchCliOptions& o) {
  if (!o.cases_path.empty()) {
    std::ifstream file(o.cases_path);
    if (!file) throw InputError("--cases", o.cases_path, "cannot open the file");
    std::stringstream text;
    text << file.rdbuf();
    return bench::parse_case_file(text.str(), s.num_ranks(), o.cases_path);
  }
  if (o.sweep_begin >= 0) {
    const std::int64_t end = o.sweep_end >= 0 ? o.sweep_end : o.sweep_begin;
    return bench::sweep_cases(s.num_ranks(), o.sweep_begin, end, o.sweep_factor);
  }
  return {bench::scenario_case(s)};
}

int run_bench_command(const BenchCliOptions& o) {
  bench::BenchOptions options = o.bench;
  if (!o.fault.empty()) options.fault = bench::parse_fault(o.fault);
  options.validate();
  const Scenario s = for_backend(build_scenario(o.scenario), o);
  const ModelParams params = build_params(o.scenario, s);
  const std::vector<bench::BenchCase> cases = cases_of(s, o);
  bench::RunOutput run;
  bench::DeepEpRun deepep;  // --backend deepep: DeepEP's kernels through its Python driver
  if (o.bench.backend == "deepep") {
    deepep = bench::run_deepep(s, cases, options, o.deepep);
    run = std::move(deepep.run);
    fmt::print("# DeepEP {}, torch {}; aligned start: {:.0f} us GPU sleep + NCCL all-reduce\n",
               deepep.deepep_version, deepep.torch_version, deepep.sleep_us);
  } else {
    bench::validate_bench_scenario(s, cases, options, bench::cuda_device_count());
    run = bench::run_bench(s, cases, options);
  }
  if (!run.reporter) return 0;
  bench::ReportSummary summary =
      bench::report(s, params, run.info, run.cases, run.probes, std::cout);
  if (o.bench.backend == "deepep") bench::annotate_deepep_records(summary.records, deepep);
  if (!options.json_path.empty()) bench::write_records(options.json_path, summary.records);
  if (!deepep.failure.empty()) {
    fmt::print(stderr, "epscope: DeepEP stopped after {} of {} cases: {}\n", run.cases.size(),
               cases.size(), deepep.failure);
    return 1;
  }
  if (summary.wrong > 0) {
    fmt::print(stderr, "epscope: --check found {} wrong rows of {}\n", summary.wrong,
               summary.checked);
    return 1;
  }
  if (options.check) fmt::print("# check: {} rows verified, all correct\n", summary.checked);
  return 0;
}

}  // namespace

CLI::App* register_bench(CLI::App& app) {
  auto opts = std::make_shared<BenchCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Measure dispatch/combine on this node's GPUs (our kernels, NCCL or DeepEP)");
  add_scenario_options(cmd, opts->scenario);
  const char* g = "Bench";
  auto& b = opts->bench;
  cmd->add_option("--backend", b.backend,
                  "nvlink (our LL/HT kernels), nccl, or deepep (DeepEP's, via --python)")
      ->group(g);
  cmd->add_option("--python", opts->deepep.python,
                  "--backend deepep: a Python with torch and deep_ep (default python3)")
      ->group(g);
  cmd->add_option("--launch", b.launch,
                  "one-process (all GPUs), per-gpu (fork + CUDA IPC, nvlink), mpi (nccl)")
      ->group(g);
  cmd->add_option("-w,--warmup", b.warmup, "Warm-up iterations per case")->group(g);
  cmd->add_option("-n,--iters", b.iters, "Measured iterations per case")->group(g);
  cmd->add_option("--timeout-ms", b.timeout_ms,
                  "Deadline of every device-side wait; a timeout names rank and peer, exit 1")
      ->group(g);
  cmd->add_flag("-c,--check", b.check, "Verify every received row and combined sum on the CPU")
      ->group(g);
  cmd->add_option("--num-sms", b.num_sms, "Blocks (SMs) of our kernels; 0 = LL all, HT 32")
      ->group(g);
  cmd->add_option("--sleep-us", b.sleep_us, "GPU sleep of the aligned start")->group(g);
  cmd->add_flag("--link-probe", b.link_probe,
                "Also measure the link limit: every GPU storing to (loading from) every other")
      ->group(g);
  cmd->add_option("--json", b.json_path, "Write measurement records (JSON Lines) to this path")
      ->group(g);
  cmd->add_option("--system", b.system,
                  "System name in the records (default epscope-ll/-ht, "
                  "nccl-a2a)")
      ->group(g);
  cmd->add_option("-b,--sweep-begin", opts->sweep_begin,
                  "Sweep: first balanced tokens per rank (nccl-tests -b)")
      ->group(g);
  cmd->add_option("-e,--sweep-end", opts->sweep_end, "Sweep: last tokens per rank (-e)")->group(g);
  cmd->add_option("-f,--sweep-factor", opts->sweep_factor, "Sweep: multiply by this (-f)")
      ->group(g);
  cmd->add_option("--fault", opts->fault,
                  "Inject a fault into one rank's dispatch: RANK:never-send, RANK:late:US or "
                  "RANK:exit (per-gpu/mpi); every other rank must name it and exit 1")
      ->group(g);
  cmd->add_option("--cases", opts->cases_path,
                  "Case file: NAME TOKENS [OFFSETS_US] per line (scripts/validation_grid.py)")
      ->group(g);
  cmd->callback([opts]() { throw CommandDone(run_bench_command(*opts)); });
  return cmd;
}

}  // namespace epscope::cli
