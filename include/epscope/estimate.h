// The closed-form bottleneck model: per rank, per phase, the latest of a few lower bounds, each
// tied to one resource. docs/model.md §5. `flowsim.h` produces the same result type.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "epscope/scenario.h"
#include "epscope/traffic.h"

namespace epscope {

/// Effective rates and fixed costs the model uses. Defaults come from the cluster; a calibration
/// (calibrate.h) overrides them. Bandwidths in GB/s per direction, times in us. docs/model.md §5.1.
struct ModelParams {
  double nvlink_tx_gbps = 0;
  double nvlink_rx_gbps = 0;
  double nic_tx_gbps = 0;
  double nic_rx_gbps = 0;
  double local_gbps = 0;
  double nvlink_latency_us = 0;
  double rdma_latency_us = 0;
  double dispatch_fixed_us = 0;  // launch + count handshake of dispatch
  double combine_fixed_us = 0;   // launch + flag handshake of combine
  double per_msg_us = 0;         // sender-side cost per message (per token copy) beyond bandwidth
  double expert_rx_gbps =
      0;  // per-expert receive rate (LL: one receiver queue per expert); 0 = off
  double count_exchange_us = 0;    // a2a only: the host-side count exchange before the data moves
  double leaf_uplink_factor = 1;   // 1 / oversubscription
  double combine_rate_factor = 1;  // combine's link and copy rates = dispatch's x this (§6)
  double fair_share = 0;           // 1: a sender serves its destinations at once (flow-size share)
  double combine_pull = 0;         // 1: combine pulls after a ready barrier (§6.7)
  double b2b_overlap_us = 0;  // back to back: combine's fixed cost hides this much behind dispatch

  static ModelParams from_cluster(const Cluster& cluster);

  /// The sending rate of a link class: NIC tx (RDMA), NVLink tx, or the local copy.
  double tx_gbps(LinkClass link_class) const {
    return link_class == LinkClass::kRdma     ? nic_tx_gbps
           : link_class == LinkClass::kNvlink ? nvlink_tx_gbps
                                              : local_gbps;
  }
};

/// Things a rate or a start time can be limited by.
enum class Resource {
  kNone,
  kLocalCopy,
  kNvlinkTx,
  kNvlinkRx,
  kNicTx,
  kNicRx,
  kLeafUplink,
  kExpertQueue,
  kMessageRate,
  kLateStart,
  kFixedLatency,
};
const char* to_string(Resource resource);

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

/// Start times of combine given dispatch finishes: all at the latest dispatch finish (sync, the
/// default) or each rank at its own dispatch finish (back to back). docs/model.md §5.3.
std::vector<double> combine_starts(const Scenario& scenario, const PhaseResult& dispatch);

/// What the combine phase runs with: every link and local rate x combine_rate_factor, and back to
/// back a fixed cost of max(0, combine_fixed_us - b2b_overlap_us) (docs/model.md §6.2). Shared by
/// estimate and simulate.
ModelParams combine_phase_params(const Scenario& scenario, const ModelParams& params);

/// docs/model.md §6.7's queue term: in a pull, a puller's last loads at a port wait behind a
/// heavier puller's, at most one round trip: min((heaviest - own) bytes / port rate, latency).
/// Shared by estimate and simulate.
double pull_queue_us(std::uint64_t heaviest_bytes, std::uint64_t own_bytes, double port_gbps,
                     double latency_us);

/// Fills `ranks`, totals and summary from the two phases. Shared by estimate and simulate.
void summarize(const Scenario& scenario, const Traffic& traffic, EstimateResult& result);

EstimateResult estimate(const Scenario& scenario, const Traffic& traffic,
                        const ModelParams& params);
EstimateResult estimate(const Scenario& scenario, const ModelParams& params);
EstimateResult estimate(const Scenario& scenario);

/// An imbalanced scenario against the same total spread evenly.
struct Comparison {
  EstimateResult unbalanced;
  EstimateResult balanced;
  double ratio = 1;  // unbalanced.total_us / balanced.total_us
  std::string why;   // multi-line explanation
};
Comparison compare_balanced(const Scenario& scenario, const ModelParams& params);

}  // namespace epscope
