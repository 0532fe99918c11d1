// What a phase model produces, per rank and per phase: the result type of both fidelity levels
// (estimate and simulate fill the same fields with the same meaning). docs/model.md §5.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "epscope/model/resource.h"
#include "epscope/traffic/traffic.h"

namespace epscope {

/// What held a rank's phase back: the resource, whose it is, and its load.
struct Bottleneck {
  Resource resource = Resource::kNone;
  int owner = -1;      // rank (or node for kLeafUplink, expert for kExpertQueue)
  double busy_us = 0;  // time the resource needs
  double msgs = 0;     // messages through it
  std::uint64_t bytes = 0;
  double gbps = 0;
  std::string reason;  // "sender NIC of rank 3: 2880 copies, 21.3 MB at 50 GB/s"
};

/// One rank in one phase. Times on the step's clock: 0 = aligned start of dispatch.
struct RankPhase {
  double start_us = 0;     // when this rank's kernel starts
  double finish_us = 0;    // when this rank has received everything it waits for
  double transfer_us = 0;  // its own busiest resource (send or receive)
  double wait_us = 0;      // finish - start - transfer - fixed latency: idle for others
  Bottleneck bottleneck;
  double duration_us() const { return finish_us - start_us; }
};

struct PhaseResult {
  std::vector<RankPhase> ranks;
  double end_us = 0;       // latest finish over ranks
  double duration_us = 0;  // end_us - earliest start
  Bottleneck bottleneck;   // the bottleneck of the rank finishing last
};

/// Per-rank summary in the JSON schema of `estimate`.
struct RankResult {
  int rank = 0;
  std::int64_t tokens = 0;
  double dispatch_us = 0;  // this rank's dispatch kernel time (waiting included), as its timer sees
  double combine_us = 0;
  double total_us = 0;     // combine finish - dispatch start, this rank
  double wait_us = 0;      // dispatch + combine waiting
  double transfer_us = 0;  // dispatch + combine own transfer
  ClassTotals dispatch_send, dispatch_recv, combine_send, combine_recv;
  std::uint64_t send_bytes = 0;  // dispatch + combine
  std::uint64_t recv_bytes = 0;
  std::string bottleneck;  // of the phase that took longer on this rank
};

struct EstimateResult {
  PhaseResult dispatch;
  PhaseResult combine;
  double dispatch_us = 0;  // slowest rank's dispatch time
  double combine_us = 0;   // slowest rank's combine time
  double total_us = 0;     // what the slowest rank sees, end to end
  std::vector<RankResult> ranks;
  std::string summary;  // one line: what bounds the step and why
};

}  // namespace epscope
