// What the bench measures: cases, per-rank samples of each timed operation, and the options that
// drive a run. Host-only; shared by the harness, the backends, the launchers and the reporter.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace epscope::bench {

/// One measured configuration: the per-rank token counts and start offsets of one step.
struct BenchCase {
  std::string name;
  std::vector<std::int64_t> tokens_per_rank;
  std::vector<double> start_offset_us;  // empty = all zero
};

/// The timed operations. Dispatch and combine are timed separately with an aligned start (and
/// so a sync) before each; back-to-back times dispatch followed directly by combine.
enum class Op { kDispatch, kCombine, kBackToBack };

/// One rank's view of one timed operation. Wait/transfer come from in-kernel global-timer stamps
/// (docs/performance.md "Timing"); negative when the backend cannot split them.
struct OpTiming {
  double total_us = 0;
  double wait_us = -1;
  double transfer_us = -1;
};

/// All iterations of one case on one rank.
struct RankSamples {
  int rank = 0;
  std::vector<double> dispatch_us, combine_us, b2b_us;
  std::vector<double> dispatch_wait_us, dispatch_transfer_us;
  std::vector<double> combine_wait_us, combine_transfer_us;
  std::int64_t checked = 0;  // received rows + combined rows verified (0 = --check off)
  std::int64_t wrong = 0;
  std::string first_error;  // the first mismatch, for the message
};

struct CaseSamples {
  BenchCase bench_case;
  std::vector<RankSamples> ranks;  // sorted by rank once merged
};

/// Link limit measured in the same run: every GPU storing to (or loading from) every other.
struct LinkProbe {
  int num_blocks = 0;
  bool pull = false;
  std::int64_t bytes_per_peer = 0;
  std::vector<double> egress_gbps;  // per rank: (num_ranks - 1) * bytes_per_peer / time
};

/// Facts about the run that every record carries.
struct RunInfo {
  std::string system;   // "epscope-ll", "epscope-ht", "nccl-a2a"
  std::string backend;  // "nvlink", "nccl"
  std::string launch;   // "one-process", "per-gpu", "mpi"
  std::string gpu;      // "H100", "H200", from the device name
  std::string device_name;
  int dispatch_sms = 0;  // blocks (one per SM) of our kernels; 0 for NCCL
  int combine_sms = 0;
  int device_sms = 0;        // SMs of the GPU
  std::string nccl_version;  // "" unless the NCCL backend ran
};

/// A fault injected into one rank (`--fault`), to show that a broken peer never hangs a run:
/// every other rank names the peer it waited for and the run exits non-zero within the timeout.
enum class FaultKind {
  kNone,
  kNeverSend,  // the rank's dispatch never signals completion (our kernels: rows stored, counts
               // never sent; NCCL: the rank posts no send or receive)
  kLate,       // the rank's dispatch completes `delay_us` late (our kernels: counts held back;
               // NCCL: a GPU sleep before its sends)
  kExit,       // the rank's process dies (SIGKILL) mid-dispatch: one process per GPU only
};

struct FaultSpec {
  FaultKind kind = FaultKind::kNone;
  int rank = -1;
  double delay_us = 0;  // kLate only
};

/// Parses `RANK:never-send`, `RANK:late:US` or `RANK:exit`. Throws InputError("--fault", ...)
/// for a bad rank, kind or delay (the rank's upper bound is checked against the scenario by
/// validate_bench_scenario).
FaultSpec parse_fault(const std::string& text);
std::string to_string(const FaultSpec& fault);

/// Options of `epscope bench` that are not part of the scenario.
struct BenchOptions {
  std::string backend = "nvlink";
  std::string launch = "one-process";
  int warmup = 3;
  int iters = 20;
  double timeout_ms = 5000;
  bool check = false;
  int num_sms = 0;       // 0: LL uses every SM, HT uses 24
  double sleep_us = 50;  // GPU sleep of the aligned start
  bool link_probe = false;
  std::string json_path;
  std::string system;  // overrides RunInfo::system in records
  FaultSpec fault;     // kNone unless --fault
  /// Validates ranges; throws InputError naming the flag.
  void validate() const;
};

nlohmann::json to_json(const CaseSamples& samples);
CaseSamples case_samples_from_json(const nlohmann::json& j);
nlohmann::json to_json(const LinkProbe& probe);
LinkProbe link_probe_from_json(const nlohmann::json& j);

/// Merges the per-process sample lists (same cases in the same order) into one list with every
/// rank, sorted by rank.
std::vector<CaseSamples> merge_ranks(const std::vector<std::vector<CaseSamples>>& parts);

}  // namespace epscope::bench
