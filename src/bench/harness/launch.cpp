#include "bench/harness/launch.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/backends/backends.h"
#include "bench/harness/cases.h"
#include "bench/harness/harness.h"
#include "epscope/base/error.h"
#include "gpu/layout.h"

#if defined(EPSCOPE_HAVE_MPI)
#include <mpi.h>
#endif

namespace epscope::bench {
namespace {

/// The probes a run measures: with the kernels' own SM count and with every SM, stores and loads.
std::vector<LinkProbe> run_probes(Backend& backend, const BenchOptions& options) {
  std::vector<LinkProbe> probes;
  if (!options.link_probe) return probes;
  const int own = backend.info().dispatch_sms;
  for (int blocks : {own, backend.info().device_sms})
    for (bool pull : {false, true})
      probes.push_back(backend.probe_link(blocks, pull));
  return probes;
}

std::unique_ptr<Backend> make_backend(const Scenario& base, const BenchOptions& options,
                                      const std::vector<LocalRank>& ranks, PeerExchange* exchange,
                                      const std::vector<char>& nccl_id) {
  if (options.backend == "nccl") return make_nccl_backend(base, options, ranks, nccl_id);
  return make_nvlink_backend(base, options, ranks, exchange);
}

RunOutput run_one_process(const Scenario& base, const std::vector<BenchCase>& cases,
                          const BenchOptions& options) {
  std::vector<LocalRank> ranks;
  for (int r = 0; r < base.num_ranks(); ++r)
    ranks.push_back({r, r});  // validate_bench_scenario: ranks <= devices
  auto backend = make_backend(base, options, ranks, nullptr, {});
  RunOutput out;
  out.info = backend->info();
  out.probes = run_probes(*backend, options);
  out.cases = run_cases(*backend, base, cases, options);
  return out;
}

// ---- per-GPU processes (fork + CUDA IPC) ----------------------------------------------------

/// Lives in a shared anonymous mapping created before fork. A barrier is a monotone counter:
/// the k-th barrier waits until every rank has arrived k times.
struct SharedBlock {
  std::atomic<int> arrivals;
  std::atomic<int> failed;  // set by a rank that gives up, so the others stop waiting
  IpcHandle handles[gpu::kMaxPeers];
};

class ForkExchange final : public PeerExchange {
 public:
  ForkExchange(SharedBlock* shared, int num_ranks, double timeout_ms)
      : shared_(shared), num_ranks_(num_ranks), timeout_ms_(timeout_ms) {}

  std::vector<IpcHandle> all_gather(int rank, const IpcHandle& mine) override {
    shared_->handles[rank] = mine;
    barrier();
    return {shared_->handles, shared_->handles + num_ranks_};
  }

  void barrier() override {
    ++generation_;
    shared_->arrivals.fetch_add(1);
    const auto start = std::chrono::steady_clock::now();
    while (shared_->arrivals.load() < generation_ * num_ranks_) {
      if (shared_->failed.load() != 0)
        throw Error("another rank failed during setup", __FILE__, __LINE__);
      const std::chrono::duration<double, std::milli> waited =
          std::chrono::steady_clock::now() - start;
      if (waited.count() > timeout_ms_ + 30000)  // setup includes CUDA init and allocation
        throw Error("timed out waiting for the other GPU processes at setup", __FILE__, __LINE__);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

 private:
  SharedBlock* shared_;
  int num_ranks_;
  double timeout_ms_;
  int generation_ = 0;
};

nlohmann::json run_forked_rank(const Scenario& base, const std::vector<BenchCase>& cases,
                               const BenchOptions& options, int rank, SharedBlock* shared) {
  ForkExchange exchange(shared, base.num_ranks(), options.timeout_ms);
  auto backend = make_backend(base, options, {{rank, rank}}, &exchange, {});
  const std::vector<LinkProbe> probes = run_probes(*backend, options);
  const std::vector<CaseSamples> samples = run_cases(*backend, base, cases, options);
  nlohmann::json j;
  const RunInfo info = backend->info();
  j["info"] = {{"system", info.system},
               {"backend", info.backend},
               {"launch", info.launch},
               {"gpu", info.gpu},
               {"device_name", info.device_name},
               {"dispatch_sms", info.dispatch_sms},
               {"combine_sms", info.combine_sms},
               {"device_sms", info.device_sms},
               {"nccl_version", info.nccl_version}};
  for (const auto& s : samples)
    j["cases"].push_back(to_json(s));
  for (const auto& p : probes)
    j["probes"].push_back(to_json(p));
  return j;
}

/// The forked child of one GPU: runs its rank and reports through a file in `dir` (rankN.json,
/// or rankN.err and the shared failure flag). Never returns into the caller.
[[noreturn]] void run_child_rank(const Scenario& base, const std::vector<BenchCase>& cases,
                                 const BenchOptions& options, int rank, SharedBlock* shared,
                                 const std::filesystem::path& dir) {
  int code = 0;
  std::string message;
  try {
    const nlohmann::json j = run_forked_rank(base, cases, options, rank, shared);
    std::ofstream(dir / fmt::format("rank{}.json", rank)) << j.dump();
  } catch (const InputError& e) {
    message = e.what();
    code = 2;
  } catch (const std::exception& e) {
    message = e.what();
    code = 1;
  }
  if (code != 0) {
    shared->failed.store(1);
    std::fprintf(stderr, "epscope: rank %d: %s\n", rank, message.c_str());
    std::ofstream(dir / fmt::format("rank{}.err", rank)) << message;
  }
  std::fflush(nullptr);
  _exit(code);
}

/// Waits for every child; returns the worst exit code (2: bad input) and one line per failed rank.
int wait_for_ranks(const std::vector<pid_t>& children, const std::filesystem::path& dir,
                   std::vector<std::string>& failures) {
  int worst = 0;
  for (std::size_t rank = 0; rank < children.size(); ++rank) {
    int status = 0;
    waitpid(children[rank], &status, 0);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    worst = std::max(worst, code);
    if (WIFSIGNALED(status)) {
      failures.push_back(fmt::format("rank {}: killed by signal {} ({})", rank, WTERMSIG(status),
                                     strsignal(WTERMSIG(status))));
    } else if (code != 0) {
      std::ifstream err(dir / fmt::format("rank{}.err", rank));
      const std::string text{std::istreambuf_iterator<char>(err), {}};
      failures.push_back(fmt::format("rank {}: {}", rank, text.empty() ? "failed" : text));
    }
  }
  return worst;
}

/// The ranks' reports (rankN.json in `dir`) merged: rank 0's run facts, every rank's samples and
/// every rank's link probe egress.
RunOutput read_rank_outputs(int num_ranks, const std::filesystem::path& dir) {
  RunOutput out;
  std::vector<std::vector<CaseSamples>> parts;
  for (int rank = 0; rank < num_ranks; ++rank) {
    std::ifstream file(dir / fmt::format("rank{}.json", rank));
    const nlohmann::json j = nlohmann::json::parse(file);
    const auto& info = j.at("info");
    if (rank == 0) {
      out.info = {info.at("system"),      info.at("backend"),     info.at("launch"),
                  info.at("gpu"),         info.at("device_name"), info.at("dispatch_sms"),
                  info.at("combine_sms"), info.at("device_sms"),  info.at("nccl_version")};
    }
    std::vector<CaseSamples> part;
    for (const auto& c : j.value("cases", nlohmann::json::array()))
      part.push_back(case_samples_from_json(c));
    parts.push_back(std::move(part));
    const auto probes = j.value("probes", nlohmann::json::array());
    for (std::size_t i = 0; i < probes.size(); ++i) {
      const LinkProbe p = link_probe_from_json(probes[i]);
      if (rank == 0) {
        out.probes.push_back(p);
      } else {
        out.probes[i].egress_gbps.push_back(p.egress_gbps.front());
      }
    }
  }
  out.cases = merge_ranks(parts);
  return out;
}

RunOutput run_per_gpu(const Scenario& base, const std::vector<BenchCase>& cases,
                      const BenchOptions& options) {
  const int num_ranks = base.num_ranks();
  void* mem =
      mmap(nullptr, sizeof(SharedBlock), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw Error("mmap of the shared setup block failed", __FILE__, __LINE__);
  auto* shared = new (mem) SharedBlock{};
  char dir_template[] = "/tmp/epscope-bench-XXXXXX";
  if (mkdtemp(dir_template) == nullptr)
    throw Error("cannot create a temporary directory", __FILE__, __LINE__);
  const std::filesystem::path dir = dir_template;

  std::fflush(nullptr);
  std::vector<pid_t> children;
  for (int rank = 0; rank < num_ranks; ++rank) {
    const pid_t pid = fork();
    if (pid < 0) throw Error("fork failed", __FILE__, __LINE__);
    if (pid == 0) run_child_rank(base, cases, options, rank, shared, dir);
    children.push_back(pid);
  }
  // Every child ends by itself: its device-side waits and setup barriers have deadlines.
  std::vector<std::string> failures;
  const int worst = wait_for_ranks(children, dir, failures);
  munmap(mem, sizeof(SharedBlock));
  if (worst != 0) {
    std::filesystem::remove_all(dir);
    const std::string all = fmt::format("{}", fmt::join(failures, "; "));
    if (worst == 2) throw InputError(all);
    throw RunFailure("GPU processes failed: " + all);
  }
  RunOutput out = read_rank_outputs(num_ranks, dir);
  std::filesystem::remove_all(dir);
  return out;
}

#if defined(EPSCOPE_HAVE_MPI)
/// This rank's device: its rank among the processes of its host (MPI_Comm_split_type SHARED),
/// checked against the scenario's nodes on every rank together, so either all go on or all
/// throw.
MpiPlacement place_this_rank(const Scenario& base, int num_devices) {
  MPI_Comm host;
  MpiHostView view;
  MPI_Comm_rank(MPI_COMM_WORLD, &view.world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &view.world_size);
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, view.world_rank, MPI_INFO_NULL, &host);
  MPI_Comm_rank(host, &view.local_rank);
  MPI_Comm_size(host, &view.local_size);
  MPI_Allreduce(&view.world_rank, &view.host_first_rank, 1, MPI_INT, MPI_MIN, host);
  MPI_Comm_free(&host);
  MpiPlacement place;
  std::string error;
  try {
    place = place_mpi_rank(view, base.cluster.gpus_per_node, num_devices);
  } catch (const InputError& e) {
    error = e.what();
  }
  const int mine = error.empty() ? 0 : 1;
  int any = 0;
  MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (mine != 0) throw InputError(error);
  if (any != 0)
    throw InputError("mpirun", "placement",
                     "another rank's host does not fit the scenario (see "
                     "its message)");
  return place;
}

RunOutput run_mpi(const Scenario& base, const std::vector<BenchCase>& cases,
                  const BenchOptions& options) {
  const int num_devices = cuda_device_count();  // forks: before MPI_Init
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) MPI_Init(nullptr, nullptr);
  // A rank that fails leaves without MPI_Finalize (a collective a dead or stuck peer would never
  // join); mpirun then reports it and ends the job.
  struct Finalize {
    int exceptions = std::uncaught_exceptions();
    ~Finalize() {
      if (std::uncaught_exceptions() == exceptions) MPI_Finalize();
    }
  } finalize;
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size != base.num_ranks())
    throw InputError("mpirun -np", std::to_string(size),
                     fmt::format("must equal the scenario's {} ranks", base.num_ranks()));
  const MpiPlacement place = place_this_rank(base, num_devices);
  if (rank == 0 && place.nodes_on_host > 1)
    fmt::print(stderr,
               "epscope: note: {} scenario nodes share a host (emulated nodes); NCCL still uses "
               "NVLink and shared memory between them unless NCCL_P2P_DISABLE=1 "
               "NCCL_SHM_DISABLE=1\n",
               place.nodes_on_host);
  std::vector<char> id(128);
  if (rank == 0) id = make_nccl_unique_id();
  MPI_Bcast(id.data(), static_cast<int>(id.size()), MPI_CHAR, 0, MPI_COMM_WORLD);
  auto backend = make_backend(base, options, {{rank, place.device}}, nullptr, id);
  const std::vector<CaseSamples> samples = run_cases(*backend, base, cases, options);
  nlohmann::json j = nlohmann::json::array();
  for (const auto& s : samples)
    j.push_back(to_json(s));
  const std::string mine = j.dump();
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(static_cast<std::size_t>(size));
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::vector<int> displs(static_cast<std::size_t>(size), 0);
  for (int i = 1; i < size; ++i)
    displs[static_cast<std::size_t>(i)] =
        displs[static_cast<std::size_t>(i - 1)] + lens[static_cast<std::size_t>(i - 1)];
  std::string all(rank == 0 ? static_cast<std::size_t>(displs.back() + lens.back()) : 0, '\0');
  MPI_Gatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, 0,
              MPI_COMM_WORLD);
  RunOutput out;
  out.info = backend->info();
  out.reporter = rank == 0;
  if (rank != 0) return out;
  std::vector<std::vector<CaseSamples>> parts;
  for (int i = 0; i < size; ++i) {
    const auto part_json = nlohmann::json::parse(
        all.substr(static_cast<std::size_t>(displs[static_cast<std::size_t>(i)]),
                   static_cast<std::size_t>(lens[static_cast<std::size_t>(i)])));
    std::vector<CaseSamples> part;
    for (const auto& c : part_json)
      part.push_back(case_samples_from_json(c));
    parts.push_back(std::move(part));
  }
  out.cases = merge_ranks(parts);
  return out;
}
#endif

}  // namespace

bool have_mpi() {
#if defined(EPSCOPE_HAVE_MPI)
  return true;
#else
  return false;
#endif
}

RunOutput run_bench(const Scenario& base, const std::vector<BenchCase>& cases,
                    const BenchOptions& options) {
  options.validate();
  // Kernels load eagerly (see gpu::load_all_kernels): lazy loading can deadlock with kernels that
  // wait for peers. Must be set before this process initializes CUDA.
  setenv("CUDA_MODULE_LOADING", "EAGER", 0);
  if (options.launch == "per-gpu") return run_per_gpu(base, cases, options);
  if (options.launch == "mpi") {
#if defined(EPSCOPE_HAVE_MPI)
    return run_mpi(base, cases, options);
#else
    throw InputError("--launch", "mpi", "this build has no MPI; rebuild with -DEPSCOPE_MPI=ON");
#endif
  }
  return run_one_process(base, cases, options);
}

}  // namespace epscope::bench
