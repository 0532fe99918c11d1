// `simulate`: maps a Scenario's traffic onto the fabric and runs the flow engine once per phase.
// Phase semantics (starts, the implicit barrier, combine start) are those of estimate.
// docs/model.md §7.
#include "epscope/simulate/simulate.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <span>

#include <fmt/format.h>

#include "base/rng.h"
#include "epscope/base/error.h"
#include "epscope/base/units.h"
#include "epscope/model/phase.h"
#include "flow_engine.h"

namespace epscope {
namespace {

using flowsim::FlowEngine;
using flowsim::kInfinity;
using flowsim::ResourceId;

/// Which leaf each rank's NIC hangs off, and the spine layer. docs/model.md §7§2.1.
struct Topology {
  std::vector<int> leaf_of;  // [rank]
  std::vector<int> ports;    // [leaf]: NICs below it
  int num_spines = 0;        // 0: a single leaf, no spine
  double oversubscription = 1;
  double nic_gbps = 0;

  int num_leaves() const { return static_cast<int>(ports.size()); }
  /// Capacity of one leaf-spine link (spray: of the leaf's whole uplink bundle).
  double uplink_gbps(int leaf, bool spray) const {
    const double bundle = ports[static_cast<std::size_t>(leaf)] * nic_gbps / oversubscription;
    return spray ? bundle : bundle / num_spines;
  }
};

Topology build_topology(const Cluster& cluster, const Fabric& fabric, double nic_gbps) {
  const int num_ranks = cluster.num_ranks();
  Topology topo;
  topo.oversubscription = fabric.oversubscription;
  topo.nic_gbps = nic_gbps;
  topo.leaf_of.resize(static_cast<std::size_t>(num_ranks));
  const int groups = (cluster.num_nodes + fabric.gpus_per_leaf - 1) / fabric.gpus_per_leaf;
  for (int rank = 0; rank < num_ranks; ++rank) {
    int leaf = 0;
    switch (fabric.wiring) {
      case Wiring::kRailOptimized:  // rail = local index; gpus_per_leaf nodes share a rail leaf
        leaf = cluster.local_index(rank) * groups + cluster.node_of(rank) / fabric.gpus_per_leaf;
        break;
      case Wiring::kTopOfRack:
        leaf = rank / fabric.gpus_per_leaf;
        break;
      case Wiring::kSingleSwitch:
        leaf = 0;
        break;
    }
    topo.leaf_of[static_cast<std::size_t>(rank)] = leaf;
    if (leaf >= topo.num_leaves()) topo.ports.resize(static_cast<std::size_t>(leaf) + 1, 0);
    ++topo.ports[static_cast<std::size_t>(leaf)];
  }
  if (topo.num_leaves() > 1) {
    const int max_ports = *std::max_element(topo.ports.begin(), topo.ports.end());
    topo.num_spines =
        std::max(1, static_cast<int>(std::lround(max_ports / fabric.oversubscription)));
  }
  return topo;
}

/// One phase on the fabric: resources are created as flows need them.
class PhaseSim {
 public:
  PhaseSim(const Scenario& scenario, const ModelParams& params, const Fabric& fabric,
           const Topology& topo, bool timeline)
      : scenario_(scenario),
        params_(params),
        fabric_(fabric),
        topo_(topo),
        timeline_(timeline),
        num_ranks_(scenario.num_ranks()) {}

  /// `pull`: a pull-based combine (docs/model.md §6.7, §7§4).
  void run(const PhaseTraffic& traffic, const std::vector<double>& starts, double fixed_us,
           bool pull, PhaseResult& result, PhaseFabric& report);

 private:
  ResourceId rank_resource(int rank, Resource kind);
  ResourceId spine_links(int leaf, Resource kind);
  int add_path(int src, int dst, LinkClass link_class, int stage, std::array<ResourceId, 4>& path,
               int& choice_idx);
  double latency_us(int src, int dst) const;
  Bottleneck describe(ResourceId resource, std::int64_t message_bytes) const;
  void report_fabric(double start_us, double end_us, PhaseFabric& report) const;

  const Scenario& scenario_;
  const ModelParams& params_;
  const Fabric& fabric_;
  const Topology& topo_;
  const bool timeline_;
  const int num_ranks_;

  FlowEngine engine_;
  std::vector<ResourceId> rank_res_;               // [rank * 5 + kind], -1 until used
  std::vector<ResourceId> up_first_, down_first_;  // [leaf], -1 until used
  std::vector<int> choice_of_leaf_pair_;           // adaptive: [src_leaf * L + dst_leaf]
  std::vector<Resource> kind_of_;                  // [resource]
  std::vector<int> owner_of_;                      // [resource]: rank, or leaf * S + spine
  std::vector<double> nic_tx_busy_us_;             // [rank], filled after the run
  std::vector<int> flow_src_, flow_dst_;
  std::vector<LinkClass> flow_class_;
  std::vector<std::uint64_t> flow_bytes_;
  std::vector<UtilizationSegment> util_;
  std::vector<TimelineRow> rows_;
};

ResourceId PhaseSim::rank_resource(int rank, Resource kind) {
  if (rank_res_.empty()) rank_res_.assign(static_cast<std::size_t>(num_ranks_) * 5, -1);
  ResourceId& id = rank_res_[static_cast<std::size_t>(rank) * 5 + static_cast<int>(kind)];
  if (id >= 0) return id;
  double gbps = 0;
  switch (kind) {
    case Resource::kLocalCopy:
      gbps = params_.local_gbps;
      break;
    case Resource::kNvlinkTx:
      gbps = params_.nvlink_tx_gbps;
      break;
    case Resource::kNvlinkRx:
      gbps = params_.nvlink_rx_gbps;
      break;
    case Resource::kNicTx:
      gbps = params_.nic_tx_gbps;
      break;
    case Resource::kNicRx:
      gbps = params_.nic_rx_gbps;
      break;
    default:
      EPSCOPE_ASSERT(false);
  }
  if (!(gbps > 0)) {
    throw InputError(std::string("rate of ") + to_string(kind), std::to_string(gbps),
                     "traffic uses this link, so its rate must be > 0 GB/s");
  }
  id = engine_.add_resource(gbps);
  kind_of_.push_back(kind);
  owner_of_.push_back(rank);
  return id;
}

// A leaf's uplinks (or downlinks) to all spines, contiguous: first + spine. Spray: one bundle.
ResourceId PhaseSim::spine_links(int leaf, Resource kind) {
  auto& firsts = kind == Resource::kLeafUplink ? up_first_ : down_first_;
  if (firsts.empty()) firsts.assign(static_cast<std::size_t>(topo_.num_leaves()), -1);
  ResourceId& first = firsts[static_cast<std::size_t>(leaf)];
  if (first >= 0) return first;
  const bool spray = fabric_.path == PathSelection::kSpray;
  const int count = spray ? 1 : topo_.num_spines;
  for (int spine = 0; spine < count; ++spine) {
    const ResourceId id = engine_.add_resource(topo_.uplink_gbps(leaf, spray));
    if (spine == 0) first = id;
    kind_of_.push_back(kind);
    owner_of_.push_back(leaf * count + spine);
  }
  return first;
}

// Returns the path length. docs/model.md §7§2.2.
int PhaseSim::add_path(int src, int dst, LinkClass link_class, int stage,
                       std::array<ResourceId, 4>& path, int& choice_idx) {
  choice_idx = -1;
  switch (link_class) {
    case LinkClass::kLocal:
      path[0] = rank_resource(src, Resource::kLocalCopy);
      return 1;
    case LinkClass::kNvlink:
      path[0] = rank_resource(src, Resource::kNvlinkTx);
      path[1] = rank_resource(dst, Resource::kNvlinkRx);
      return 2;
    case LinkClass::kRdma:
      break;
  }
  path[0] = rank_resource(src, Resource::kNicTx);
  const int src_leaf = topo_.leaf_of[static_cast<std::size_t>(src)];
  const int dst_leaf = topo_.leaf_of[static_cast<std::size_t>(dst)];
  if (src_leaf == dst_leaf) {
    path[1] = rank_resource(dst, Resource::kNicRx);
    return 2;
  }
  const ResourceId up = spine_links(src_leaf, Resource::kLeafUplink);
  const ResourceId down = spine_links(dst_leaf, Resource::kSpineDownlink);
  path[3] = rank_resource(dst, Resource::kNicRx);
  switch (fabric_.path) {
    case PathSelection::kSpray:
      path[1] = up;
      path[2] = down;
      break;
    case PathSelection::kHash: {
      const std::uint64_t key =
          detail::splitmix64(fabric_.ecmp_seed ^
                             detail::splitmix64(static_cast<std::uint64_t>(src) * num_ranks_ +
                                                static_cast<std::uint64_t>(dst)) ^
                             static_cast<std::uint64_t>(stage) << 56);
      const auto spine =
          static_cast<ResourceId>(key % static_cast<std::uint64_t>(topo_.num_spines));
      path[1] = up + spine;
      path[2] = down + spine;
      break;
    }
    case PathSelection::kAdaptive: {
      const int num_leaves = topo_.num_leaves();
      if (choice_of_leaf_pair_.empty()) {
        choice_of_leaf_pair_.assign(static_cast<std::size_t>(num_leaves) * num_leaves, -1);
      }
      int& choice =
          choice_of_leaf_pair_[static_cast<std::size_t>(src_leaf) * num_leaves + dst_leaf];
      if (choice < 0) choice = engine_.add_choice({up, down, topo_.num_spines});
      choice_idx = choice;
      path[1] = flowsim::kUplinkSlot;
      path[2] = flowsim::kDownlinkSlot;
      break;
    }
  }
  return 4;
}

double PhaseSim::latency_us(int src, int dst) const {
  switch (link_class(scenario_.cluster, src, dst)) {
    case LinkClass::kLocal:
      return 0;
    case LinkClass::kNvlink:
      return params_.nvlink_latency_us;
    case LinkClass::kRdma:
      break;
  }
  const bool via_spine =
      topo_.leaf_of[static_cast<std::size_t>(src)] != topo_.leaf_of[static_cast<std::size_t>(dst)];
  return params_.rdma_latency_us + (via_spine ? 2 * fabric_.hop_latency_us : 0);
}

Bottleneck PhaseSim::describe(ResourceId resource, std::int64_t message_bytes) const {
  Bottleneck b;
  if (resource < 0) {
    b.resource = Resource::kNone;
    b.gbps = fabric_.flow_cap_gbps;
    b.reason = fmt::format("per-flow rate cap of {:g} GB/s", fabric_.flow_cap_gbps);
    return b;
  }
  const auto i = static_cast<std::size_t>(resource);
  const Resource kind = kind_of_[i];
  b.owner = owner_of_[i];
  b.bytes = static_cast<std::uint64_t>(std::llround(engine_.resource_bytes(resource)));
  b.gbps = engine_.capacity_gbps(resource);
  b.busy_us = engine_.resource_bytes(resource) / (b.gbps * kBytesPerUsPerGbps);
  b.msgs =
      message_bytes > 0 ? engine_.resource_bytes(resource) / static_cast<double>(message_bytes) : 0;
  std::string what;
  const bool spray = fabric_.path == PathSelection::kSpray;
  const int leaf = spray ? b.owner : b.owner / std::max(1, topo_.num_spines);
  const int spine = spray ? -1 : b.owner % std::max(1, topo_.num_spines);
  switch (kind) {
    case Resource::kLocalCopy:
      b.resource = Resource::kLocalCopy;
      what = fmt::format("local copy of rank {}", b.owner);
      break;
    case Resource::kNvlinkTx:
      b.resource = Resource::kNvlinkTx;
      what = fmt::format("sender NVLink of rank {}", b.owner);
      break;
    case Resource::kNvlinkRx:
      b.resource = Resource::kNvlinkRx;
      what = fmt::format("receiver NVLink of rank {}", b.owner);
      break;
    case Resource::kNicTx:
      b.resource = Resource::kNicTx;
      what = fmt::format("sender NIC of rank {}", b.owner);
      break;
    case Resource::kNicRx:
      b.resource = Resource::kNicRx;
      what = fmt::format("receiver NIC of rank {}", b.owner);
      break;
    case Resource::kLeafUplink:
      b.resource = Resource::kLeafUplink;
      what = spray ? fmt::format("uplinks of leaf {}", leaf)
                   : fmt::format("uplink of leaf {} to spine {}", leaf, spine);
      break;
    case Resource::kSpineDownlink:
      b.resource = Resource::kLeafUplink;
      what = spray ? fmt::format("downlinks to leaf {}", leaf)
                   : fmt::format("downlink of spine {} to leaf {}", spine, leaf);
      break;
    default:  // only link resources are simulated
      EPSCOPE_ASSERT(false);
  }
  b.reason = fmt::format("{}: {:.2f} MB at {:g} GB/s ({:.1f} us at full rate)", what,
                         engine_.resource_bytes(resource) / 1e6, b.gbps, b.busy_us);
  return b;
}

void PhaseSim::run(const PhaseTraffic& traffic, const std::vector<double>& starts, double fixed_us,
                   bool pull, PhaseResult& result, PhaseFabric& report) {
  const auto num_ranks = static_cast<std::size_t>(num_ranks_);
  // The ready barrier of a pull: no row moves before the last rank has flagged ready.
  const auto latest = std::max_element(starts.begin(), starts.end());
  const double ready = latest != starts.end() ? *latest : 0;
  const int ready_rank = static_cast<int>(latest - starts.begin());
  const int num_stages = static_cast<int>(traffic.stages.size());
  EPSCOPE_ASSERT(num_stages >= 1 && num_stages <= 2);
  engine_.set_flow_cap_gbps(fabric_.flow_cap_gbps);
  engine_.set_resolution(fabric_.resolution);

  // Store-and-forward (HT): a stage-1 flow of class c out of rank f waits on gate (f, c), which
  // fills with f's stage-0 inbound of the other remote class. docs/model.md §7§2.5.
  std::vector<int> gate_of(num_ranks * kNumLinkClasses, -1);
  if (num_stages == 2) {
    traffic.stages[1].matrix.for_each_row([&](int f, std::span<const TrafficMatrix::Cell> row) {
      for (const auto& cell : row) {
        if (cell.transfer.bytes == 0) continue;
        const auto c = static_cast<int>(link_class(scenario_.cluster, f, cell.peer));
        int& gate = gate_of[static_cast<std::size_t>(f) * kNumLinkClasses + c];
        if (gate >= 0 || c == static_cast<int>(LinkClass::kLocal)) continue;
        const double delay = c == static_cast<int>(LinkClass::kNvlink) ? params_.rdma_latency_us
                                                                       : params_.nvlink_latency_us;
        gate = engine_.add_gate(fabric_.forward_chunks, delay);
      }
    });
  }
  std::array<ResourceId, 4> path{};
  for (int stage = 0; stage < num_stages; ++stage) {
    const TrafficMatrix& matrix = traffic.stages[static_cast<std::size_t>(stage)].matrix;
    matrix.for_each_row([&](int s, std::span<const TrafficMatrix::Cell> row) {
      for (const auto& [d, transfer] : row) {
        if (transfer.bytes == 0) continue;
        const LinkClass cls = link_class(scenario_.cluster, s, d);
        flowsim::FlowSpec spec;
        spec.bytes = static_cast<double>(transfer.bytes);
        spec.start_us = pull ? ready : starts[static_cast<std::size_t>(s)];
        if (num_stages == 2 && cls != LinkClass::kLocal) {
          if (stage == 0) {
            const LinkClass other = cls == LinkClass::kRdma ? LinkClass::kNvlink : LinkClass::kRdma;
            spec.gate_in =
                gate_of[static_cast<std::size_t>(d) * kNumLinkClasses + static_cast<int>(other)];
          } else {
            spec.gate_out =
                gate_of[static_cast<std::size_t>(s) * kNumLinkClasses + static_cast<int>(cls)];
          }
        }
        const int len = add_path(s, d, cls, stage, path, spec.choice_idx);
        engine_.add_flow(spec,
                         std::span<const ResourceId>(path.data(), static_cast<std::size_t>(len)));
        flow_src_.push_back(s);
        flow_dst_.push_back(d);
        flow_class_.push_back(cls);
        flow_bytes_.push_back(transfer.bytes);
      }
    });
  }

  // Fabric utilization: RDMA bytes leaving NICs per second over the capacity of all NICs.
  const double nic_capacity_gbps = static_cast<double>(num_ranks) * params_.nic_tx_gbps;
  engine_.set_segment_sink([&](double t0, double t1, const std::vector<double>& used_gbps) {
    double nic_gbps = 0;
    for (std::size_t r = 0; r < used_gbps.size(); ++r) {
      if (kind_of_[r] == Resource::kNicTx) nic_gbps += used_gbps[r];
      if (timeline_ && used_gbps[r] > 0) {
        rows_.push_back({t0, t1, kind_of_[r], owner_of_[r], used_gbps[r],
                         engine_.capacity_gbps(static_cast<ResourceId>(r))});
      }
    }
    const double util = nic_capacity_gbps > 0 ? nic_gbps / nic_capacity_gbps : 0;
    if (!util_.empty() && util_.back().t1_us == t0 &&
        std::abs(util_.back().utilization - util) < 1e-12) {
      util_.back().t1_us = t1;
    } else {
      util_.push_back({t0, t1, util});
    }
  });
  engine_.run();

  // Per rank: its last own send, then what it waits for (docs/model.md §7§4): r has s's data
  // when the flow s -> r ends (fair_share), else when s has sent everything (push: token order
  // interleaves all destinations, as estimate's slowest-sender term assumes) or s's port of that
  // class has answered every puller (pull); plus the link latency (push: per sender; pull: once,
  // the round trip of r's own loads over the classes it pulls on). A pull also waits §6.7's queue
  // behind the heaviest puller at that port: max-min sharing serves every puller at once.
  const bool fair = params_.fair_share > 0;
  std::vector<double> own_done(starts), nic_done(starts), recv_last(num_ranks, -kInfinity);
  std::vector<double> port_done(num_ranks * kNumLinkClasses, -kInfinity), pull_latency(num_ranks);
  std::vector<int> own_flow(num_ranks, -1), recv_flow(num_ranks, -1);
  std::vector<int> port_flow(num_ranks * kNumLinkClasses, -1);
  std::vector<std::uint64_t> port_heaviest(num_ranks * kNumLinkClasses, 0);
  for (int flow = 0; flow < engine_.num_flows(); ++flow) {
    const auto s = static_cast<std::size_t>(flow_src_[static_cast<std::size_t>(flow)]);
    const LinkClass cls = flow_class_[static_cast<std::size_t>(flow)];
    const auto port = s * kNumLinkClasses + static_cast<std::size_t>(cls);
    const double end = engine_.finish_us(flow);
    if (end > own_done[s] || own_flow[s] < 0) {
      own_done[s] = std::max(own_done[s], end);
      own_flow[s] = flow;
    }
    if (end > port_done[port]) {
      port_done[port] = end;
      port_flow[port] = flow;
    }
    port_heaviest[port] =
        std::max(port_heaviest[port], flow_bytes_[static_cast<std::size_t>(flow)]);
    if (cls == LinkClass::kRdma) nic_done[s] = std::max(nic_done[s], end);
  }
  for (int flow = 0; flow < engine_.num_flows(); ++flow) {
    const auto s = static_cast<std::size_t>(flow_src_[static_cast<std::size_t>(flow)]);
    const auto d = static_cast<std::size_t>(flow_dst_[static_cast<std::size_t>(flow)]);
    const LinkClass cls = flow_class_[static_cast<std::size_t>(flow)];
    const auto port = s * kNumLinkClasses + static_cast<std::size_t>(cls);
    const int from = fair ? flow : pull ? port_flow[port] : own_flow[s];
    double arrival = fair ? engine_.finish_us(flow) : pull ? port_done[port] : own_done[s];
    if (pull) {
      const double latency = latency_us(static_cast<int>(s), static_cast<int>(d));
      pull_latency[d] = std::max(pull_latency[d], latency);
      if (cls != LinkClass::kLocal)
        arrival += pull_queue_us(port_heaviest[port], flow_bytes_[static_cast<std::size_t>(flow)],
                                 params_.tx_gbps(cls), latency);
    } else {
      arrival += latency_us(static_cast<int>(s), static_cast<int>(d));
    }
    if (arrival > recv_last[d]) {
      recv_last[d] = arrival;
      recv_flow[d] = from;
    }
  }

  const std::int64_t message_bytes = traffic.message_bytes;
  result.ranks.assign(num_ranks, {});
  double earliest = kInfinity;
  for (int r = 0; r < num_ranks_; ++r) {
    const auto ri = static_cast<std::size_t>(r);
    RankPhase& rank = result.ranks[ri];
    rank.start_us = starts[ri];
    earliest = std::min(earliest, rank.start_us);
    double finish = rank.start_us;
    int deciding_flow = -1;
    if (!pull && own_flow[ri] >= 0 && own_done[ri] > finish) {  // a pull's egress serves its peers
      finish = own_done[ri];
      deciding_flow = own_flow[ri];
    }
    if (recv_flow[ri] >= 0 && recv_last[ri] > finish) {
      finish = recv_last[ri];
      deciding_flow = recv_flow[ri];
    }
    // The implicit barrier: every rank signals every peer (LL counts, HT/a2a count exchange),
    // so nobody finishes before the latest start has reached it; in a pull, the ready barrier.
    int signal_rank = -1;  // whose start signal decided, when no flow did
    if (pull && ready > finish) {
      finish = ready;
      deciding_flow = -1;
      signal_rank = ready_rank;
    }
    for (int s = 0; s < num_ranks_ && !pull; ++s) {
      const double signal = starts[static_cast<std::size_t>(s)] + latency_us(s, r);
      if (signal > finish) {
        finish = signal;
        deciding_flow = -1;
        signal_rank = s;
      }
    }
    const double overhead = fixed_us + (pull ? pull_latency[ri] : 0);
    rank.finish_us = finish + overhead;
    // A pull's transfer is r's own: its rows loaded and its local rows copied.
    constexpr std::array kAll{Resource::kLocalCopy, Resource::kNvlinkTx, Resource::kNvlinkRx,
                              Resource::kNicTx, Resource::kNicRx};
    constexpr std::array kOwnPull{Resource::kLocalCopy, Resource::kNvlinkRx, Resource::kNicRx};
    for (Resource kind :
         pull ? std::span<const Resource>(kOwnPull) : std::span<const Resource>(kAll)) {
      const ResourceId id = rank_res_.empty() ? -1 : rank_res_[ri * 5 + static_cast<int>(kind)];
      if (id < 0) continue;
      rank.transfer_us =
          std::max(rank.transfer_us,
                   engine_.resource_bytes(id) / (engine_.capacity_gbps(id) * kBytesPerUsPerGbps));
    }
    rank.wait_us = std::max(0.0, rank.finish_us - rank.start_us - rank.transfer_us - overhead);
    if (deciding_flow >= 0) {
      rank.bottleneck = describe(engine_.last_bottleneck(deciding_flow), message_bytes);
    } else if (signal_rank >= 0) {
      const double signal_start = starts[static_cast<std::size_t>(signal_rank)];
      const bool late = signal_start > rank.start_us;
      rank.bottleneck.resource = late ? Resource::kLateStart : Resource::kFixedLatency;
      rank.bottleneck.owner = signal_rank;
      rank.bottleneck.reason =
          late ? fmt::format("late start of rank {}: it begins at {:.1f} us and signals every rank",
                             signal_rank, signal_start)
               : fmt::format("start signal of rank {}: {:.1f} us link latency", signal_rank,
                             latency_us(signal_rank, r));
    } else {
      rank.bottleneck.resource = Resource::kFixedLatency;
      rank.bottleneck.reason = fmt::format("no traffic: launch and handshake, {:.1f} us", fixed_us);
    }
  }
  result.end_us = -kInfinity;
  for (const RankPhase& rank : result.ranks) {
    if (rank.finish_us > result.end_us) {
      result.end_us = rank.finish_us;
      result.bottleneck = rank.bottleneck;
    }
  }
  result.duration_us = result.end_us - earliest;

  nic_tx_busy_us_.assign(num_ranks, 0);
  if (!rank_res_.empty()) {
    for (std::size_t r = 0; r < num_ranks; ++r) {
      const ResourceId id = rank_res_[r * 5 + static_cast<int>(Resource::kNicTx)];
      if (id >= 0) nic_tx_busy_us_[r] = engine_.resource_busy_us(id);
    }
  }
  report_fabric(earliest, result.end_us, report);
  report.nic_tx = nic_idle(starts, nic_done, nic_tx_busy_us_, earliest, result.end_us);
  report.num_events = engine_.num_events();
}

void PhaseSim::report_fabric(double start_us, double end_us, PhaseFabric& report) const {
  report.start_us = start_us;
  report.end_us = end_us;
  report.num_flows = engine_.num_flows();
  std::array<ResourceLoad, kNumLinkResources> loads{};
  for (ResourceId r = 0; r < engine_.num_resources(); ++r) {
    ResourceLoad& load = loads[static_cast<std::size_t>(kind_of_[static_cast<std::size_t>(r)])];
    ++load.count;
    load.capacity_gbps += engine_.capacity_gbps(r);
    load.bytes += engine_.resource_bytes(r);
    load.busy_us += engine_.resource_busy_us(r);
  }
  const double window_us = end_us - start_us;
  for (int k = 0; k < kNumLinkResources; ++k) {
    ResourceLoad load = loads[static_cast<std::size_t>(k)];
    if (load.count == 0) continue;
    load.kind = static_cast<Resource>(k);
    load.utilization = window_us > 0 ? load.busy_us / (load.count * window_us) : 0;
    report.by_kind.push_back(load);
    if (load.kind == Resource::kNicTx) report.rdma_bytes = load.bytes;
  }
  report.utilization_timeline = util_;
  double integral = 0;
  for (const UtilizationSegment& seg : util_) {
    integral += seg.utilization * (seg.t1_us - seg.t0_us);
    report.peak_utilization = std::max(report.peak_utilization, seg.utilization);
  }
  report.utilization = window_us > 0 ? integral / window_us : 0;
  report.timeline = rows_;
}

}  // namespace

SimulateResult simulate(const Scenario& scenario, const Traffic& traffic, const ModelParams& params,
                        const Fabric& fabric, const SimulateOptions& options) {
  scenario.validate();
  fabric.validate();
  SimulateResult out;
  const Topology topo = build_topology(scenario.cluster, fabric, params.nic_tx_gbps);
  FabricReport& report = out.fabric;
  report.fabric = fabric;
  report.num_leaves = topo.num_leaves();
  report.num_spines = topo.num_spines;
  report.uplink_gbps = topo.num_spines > 0 ? topo.uplink_gbps(0, false) : 0;
  report.nic_capacity_gbps = scenario.num_ranks() * params.nic_tx_gbps;

  std::vector<double> starts(static_cast<std::size_t>(scenario.num_ranks()));
  for (int r = 0; r < scenario.num_ranks(); ++r)
    starts[static_cast<std::size_t>(r)] = scenario.start_offset(r);
  {
    PhaseSim sim(scenario, params, fabric, topo, options.timeline);
    sim.run(traffic.dispatch, starts, params.dispatch_fixed_us, /*pull=*/false, out.result.dispatch,
            report.dispatch);
  }
  {
    const ModelParams combine_params = combine_phase_params(scenario, params);
    PhaseSim sim(scenario, combine_params, fabric, topo, options.timeline);
    sim.run(traffic.combine, combine_starts(scenario, out.result.dispatch),
            combine_params.combine_fixed_us, /*pull=*/params.combine_pull > 0, out.result.combine,
            report.combine);
  }
  summarize(scenario, traffic, out.result);
  finish_report(report);
  return out;
}

SimulateResult simulate(const Scenario& scenario) {
  return simulate(scenario, compute_traffic(scenario), ModelParams::from_cluster(scenario.cluster),
                  fabric_preset(scenario.cluster));
}

}  // namespace epscope
