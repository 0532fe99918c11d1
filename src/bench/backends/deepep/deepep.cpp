#include "bench/backends/deepep/deepep.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "bench/harness/cases.h"
#include "bench/harness/harness.h"
#include "epscope/base/error.h"
#include "epscope/scenario/scenario_json.h"
#include "epscope/traffic/routing.h"
#include "gpu/layout.h"

namespace epscope::bench {
namespace {

namespace fs = std::filesystem;

constexpr const char* kJobFormat = "epscope-deepep-job";
constexpr const char* kOutputFormat = "epscope-deepep-samples";
constexpr int kJobVersion = 1;

/// The driver script: the launch's, else $EPSCOPE_DEEPEP_DRIVER, else beside this executable (the
/// build tree), else ../share/epscope (an installed tree).
std::string find_driver(const DeepEpLaunch& launch) {
  if (!launch.driver.empty()) return launch.driver;
  if (const char* env = std::getenv("EPSCOPE_DEEPEP_DRIVER"); env != nullptr && *env != '\0')
    return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const fs::path& p : {exe.parent_path() / "deepep_driver.py",
                              exe.parent_path().parent_path() / "share/epscope/deepep_driver.py"})
      if (fs::exists(p)) return p.string();
  }
  throw InputError(
      "--backend", "deepep",
      "deepep_driver.py was not found beside the epscope executable or in "
      "../share/epscope; set EPSCOPE_DEEPEP_DRIVER to src/bench/backends/deepep/deepep_driver.py");
}

/// Runs `argv` (stdout and stderr inherited) and returns its exit status. A program that cannot
/// be started is an input error naming `--python`. The child reports a failed exec through a
/// close-on-exec pipe, so a started program's own status 127 is not mistaken for it.
int run_program(const std::vector<std::string>& argv) {
  std::vector<char*> args;  // built before fork: the child only execs
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) throw Error("pipe2 failed", __FILE__, __LINE__);
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw Error("fork failed", __FILE__, __LINE__);
  if (pid == 0) {
    close(pipe_fds[0]);
    execvp(args[0], args.data());
    const int err = errno;
    [[maybe_unused]] const ssize_t n = write(pipe_fds[1], &err, sizeof err);
    _exit(127);
  }
  close(pipe_fds[1]);
  int exec_errno = 0;
  const ssize_t got = read(pipe_fds[0], &exec_errno, sizeof exec_errno);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (got == static_cast<ssize_t>(sizeof exec_errno))
    throw InputError("--python", argv[0],
                     fmt::format("cannot run it ({}); name a Python that has torch and deep_ep",
                                 std::strerror(exec_errno)));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// A temporary directory removed with everything in it when this goes out of scope.
struct TempDir {
  fs::path path;
  TempDir() {
    char pattern[] = "/tmp/epscope-deepep-XXXXXX";
    if (mkdtemp(pattern) == nullptr)
      throw Error("cannot create a temporary directory", __FILE__, __LINE__);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

/// The driver reports bad input (or no torch/deep_ep, too few GPUs) as an error of kind "input":
/// one line, which becomes ours.
void rethrow_input_error(const nlohmann::json& out) {
  if (out.contains("error") && out["error"].value("kind", "") == "input")
    throw InputError(out["error"].value("message", "the DeepEP driver rejected the input"));
}

/// Runs the driver with `args` plus --out; returns its output. Throws InputError for an input
/// error it reported, Error when it wrote nothing.
nlohmann::json run_driver(const DeepEpLaunch& launch, const std::vector<std::string>& args,
                          const fs::path& out_path) {
  std::vector<std::string> argv = {launch.python, find_driver(launch)};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--out", out_path.string()});
  const int status = run_program(argv);
  std::ifstream file(out_path);
  if (!file)
    throw Error(fmt::format("the DeepEP driver ({} {}) exited with status {} and wrote no output "
                            "(see its messages above)",
                            argv[0], argv[1], status),
                __FILE__, __LINE__);
  nlohmann::json out = nlohmann::json::parse(file, nullptr, false);
  if (out.is_discarded() || !out.is_object() || out.value("format", "") != kOutputFormat)
    throw Error("the DeepEP driver wrote a malformed " + out_path.string(), __FILE__, __LINE__);
  rethrow_input_error(out);
  return out;
}

}  // namespace

nlohmann::json deepep_job(const Scenario& base, const std::vector<BenchCase>& cases,
                          const BenchOptions& options) {
  nlohmann::json job = {
      {"format", kJobFormat},
      {"version", kJobVersion},
      {"mode", to_string(base.mode)},
      {"num_ranks", base.num_ranks()},
      {"nvlink", base.cluster.nvlink_enabled},
      {"warmup", options.warmup},
      {"iters", options.iters},
      {"sleep_us", options.sleep_us},
      {"timeout_ms", options.timeout_ms},
      {"num_sms", options.num_sms},
      {"check", options.check},
      {"system", options.system},
      {"cases", nlohmann::json::array()},
  };
  job.update(moe_shape_json(base.moe));
  for (const BenchCase& bench_case : cases) {
    // The same top-k indices the harness would use for our own backends (harness.cpp).
    const std::vector<RankTopk> topk = sample_topk(case_scenario(base, bench_case));
    nlohmann::json topk_idx = nlohmann::json::array();
    for (const RankTopk& r : topk)
      topk_idx.push_back(r.expert_idx);
    job["cases"].push_back({{"name", bench_case.name},
                            {"tokens_per_rank", bench_case.tokens_per_rank},
                            {"start_offset_us", bench_case.start_offset_us},
                            {"topk_idx", std::move(topk_idx)}});
  }
  return job;
}

DeepEpRun read_deepep_output(const nlohmann::json& out, int num_ranks) {
  rethrow_input_error(out);
  DeepEpRun result;
  if (out.contains("error")) result.failure = out["error"].value("message", "a rank failed");
  try {
    const nlohmann::json& cases = out.at("cases");
    if (cases.empty() && !result.failure.empty())
      throw Error("DeepEP driver: " + result.failure, __FILE__, __LINE__);
    const nlohmann::json& info = out.at("info");
    RunInfo& r = result.run.info;
    r.system = info.at("system").get<std::string>();
    if (info.contains("test_double")) r.system = "test-double-" + r.system;
    r.backend = info.at("backend").get<std::string>();
    r.launch = info.at("launch").get<std::string>();
    r.device_name = info.at("device_name").get<std::string>();
    r.gpu = short_gpu_name(r.device_name);
    r.dispatch_sms = info.at("dispatch_sms").get<int>();
    r.combine_sms = info.at("combine_sms").get<int>();
    r.device_sms = info.at("device_sms").get<int>();
    r.nccl_version = info.value("nccl_version", "");
    result.deepep_version = info.value("deepep_version", "");
    result.torch_version = info.value("torch_version", "");
    result.sleep_us = info.value("sleep_us", 0.0);
    for (const nlohmann::json& c : cases) {
      CaseSamples samples = case_samples_from_json(c);
      if (static_cast<int>(samples.ranks.size()) != num_ranks)
        throw Error(fmt::format("DeepEP driver: case '{}' has {} ranks, expected {}",
                                samples.bench_case.name, samples.ranks.size(), num_ranks),
                    __FILE__, __LINE__);
      result.run.cases.push_back(std::move(samples));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("DeepEP driver output: ") + e.what(), __FILE__, __LINE__);
  }
  return result;
}

DeepEpRun run_deepep(const Scenario& base, const std::vector<BenchCase>& cases,
                     const BenchOptions& options, const DeepEpLaunch& launch) {
  if (base.mode == KernelMode::kAllToAll)
    throw InputError("--mode", "a2a", "the deepep backend runs DeepEP's ll or ht kernels");
  // Every check but the device count first: bad input fails before Python starts.
  validate_bench_scenario(base, cases, options, gpu::kMaxPeers);
  const TempDir dir;
  const nlohmann::json probe = run_driver(launch, {"--probe"}, dir.path / "probe.json");
  validate_bench_scenario(base, cases, options, probe.value("device_count", 0));

  const fs::path job_path = dir.path / "job.json";
  {
    std::ofstream job_file(job_path);
    job_file << deepep_job(base, cases, options).dump();
    if (!job_file) throw Error("cannot write " + job_path.string(), __FILE__, __LINE__);
  }
  const nlohmann::json out =
      run_driver(launch, {"--job", job_path.string()}, dir.path / "samples.json");
  return read_deepep_output(out, base.num_ranks());
}

void annotate_deepep_records(std::vector<nlohmann::json>& records, const DeepEpRun& run) {
  for (nlohmann::json& r : records) {
    r["deepep_version"] = run.deepep_version;
    r["torch_version"] = run.torch_version;
    r["sleep_us"] = run.sleep_us;
  }
}

}  // namespace epscope::bench
