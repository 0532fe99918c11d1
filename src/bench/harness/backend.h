// The plug-in interface of the bench: a backend moves tokens, the harness (harness.h) decides
// what runs when, times it and checks it. A backend drives one or more local ranks (all GPUs of
// the node from one process, or one GPU per process). Host-only header.
#pragma once

#include <string>
#include <vector>

#include "bench/harness/check.h"
#include "bench/harness/samples.h"
#include "epscope/scenario/scenario.h"
#include "epscope/traffic/routing.h"

namespace epscope::bench {

/// One rank a process drives and the CUDA device it runs on.
struct LocalRank {
  int rank = 0;
  int device = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  /// Ranks this process drives, ascending.
  virtual std::vector<int> local_ranks() const = 0;
  /// Facts for the records (GPU name, SMs used, NCCL version).
  virtual RunInfo info() const = 0;

  /// Loads one case: inputs, routing, counts. `scenario` holds the case's tokens and offsets.
  virtual void load_case(const Scenario& scenario, const std::vector<RankTopk>& topk) = 0;

  /// Queues the aligned start on every local rank: a GPU sleep, a tiny all-reduce (or barrier)
  /// over all ranks, then each rank's start offset.
  virtual void align(const std::vector<double>& start_offset_us) = 0;
  /// Queues `op` behind the aligned start, waits for it and returns each local rank's timing, in
  /// local_ranks() order. Throws when a device-side wait timed out, naming rank and peer.
  virtual std::vector<OpTiming> time(Op op) = 0;

  /// Runs the test expert on what the last dispatch delivered (untimed). Call once per case
  /// after the first dispatch, before any combine.
  virtual void run_expert() = 0;
  /// Verifies what the last dispatch delivered and what the last combine produced, per local
  /// rank (the CPU reference of check.h).
  virtual std::vector<CheckResult> check() = 0;

  /// The link limit: every rank stores (or loads) to (from) every other at once.
  virtual LinkProbe probe_link(int num_blocks, bool pull) = 0;
};

}  // namespace epscope::bench
