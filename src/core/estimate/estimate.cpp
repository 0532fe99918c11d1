// The closed-form bottleneck model, docs/model.md §5.
#include "epscope/estimate/estimate.h"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <span>

#include "epscope/base/error.h"
#include "epscope/base/lists.h"
#include "epscope/base/units.h"
#include "message_unit.h"

namespace epscope {
namespace {

std::string megabytes(double bytes) {
  return fmt::format("{:.1f} MB", bytes / 1e6);
}

/// One candidate lower bound on a rank's finish time and the resource behind it.
struct Bound {
  double at_us = 0;
  Bottleneck what;
};

/// Busy times of one rank's own resources in one phase (docs/model.md §5.2).
struct RankLoad {
  Bound send;  // busiest sender-side resource (NIC tx, NVLink tx, local copy, issue, uplink)
  Bound recv;  // busiest receiver-side resource (NIC rx, NVLink rx, expert queue, downlink)
  double latency_us = 0;  // link latency of the slowest class it hears from
  std::array<double, kNumLinkClasses> port_tx_us{};  // busy time of each sending port alone
};

Bottleneck make(Resource r, int owner, double busy, double msgs, double bytes, double gbps,
                std::string reason) {
  Bottleneck b;
  b.resource = r;
  b.owner = owner;
  b.busy_us = busy;
  b.msgs = msgs;
  b.bytes = static_cast<std::uint64_t>(std::llround(bytes));
  b.gbps = gbps;
  b.reason = std::move(reason);
  return b;
}

/// Keeps the larger bound; the bottleneck (and its reason text) is only built when it wins.
template <typename MakeBottleneck>
void keep_max(Bound& cur, double busy, MakeBottleneck&& make_bottleneck) {
  if (busy > cur.at_us || cur.what.resource == Resource::kNone) {
    cur.at_us = busy;
    cur.what = make_bottleneck();
  }
}

/// Reason texts of link bottlenecks: "sender NIC of rank 3: 2880 copies, 21.3 MB at 50 GB/s".
/// Ranks with the same load share all that follows the rank, and formatting those numbers is most
/// of an estimate's text time; the last few are kept (a balanced phase reuses one).
class LinkReasons {
 public:
  explicit LinkReasons(const char* unit) : unit_(unit) {}

  std::string operator()(const char* what, int rank, double msgs, double bytes, double gbps) {
    const std::array<std::uint64_t, 3> key{std::bit_cast<std::uint64_t>(msgs),
                                           std::bit_cast<std::uint64_t>(bytes),
                                           std::bit_cast<std::uint64_t>(gbps)};
    const auto hit = std::find_if(recent_.begin(), recent_.end(),
                                  [&](const Recent& r) { return r.valid && r.key == key; });
    const std::string& tail = hit != recent_.end() ? hit->tail : add(key, msgs, bytes, gbps);
    std::string out = what;
    out += " of rank ";
    out += std::to_string(rank);
    out += tail;
    return out;
  }

 private:
  struct Recent {
    bool valid = false;
    std::array<std::uint64_t, 3> key{};
    std::string tail;
  };
  const std::string& add(const std::array<std::uint64_t, 3>& key, double msgs, double bytes,
                         double gbps) {
    Recent& r = recent_[next_];
    next_ = (next_ + 1) % recent_.size();
    r = {true, key,
         fmt::format(": {:.0f} {}, {} at {:g} GB/s", msgs, unit_, megabytes(bytes), gbps)};
    return r.tail;
  }

  const char* unit_;
  std::array<Recent, 4> recent_;
  std::size_t next_ = 0;
};

/// The buffers of fair_share_served, kept across the rows of a phase so that no row allocates.
struct FairShareScratch {
  std::vector<std::uint64_t> sorted;  // the flows' bytes, ascending
  std::vector<std::uint64_t> below;   // below[i]: sum of the i smallest
};

/// served[i] = sum over j of min(b_j, b_i), the b the bytes of one sender's flows (fair share,
/// docs/model.md §6). In whole bytes, so exact: the flows below b_i count whole, the others b_i.
/// `served` is resized to the row; `scratch` is cleared, not reallocated, once large enough.
void fair_share_served(std::span<const TrafficMatrix::Cell> row, FairShareScratch& scratch,
                       std::vector<double>& served) {
  std::vector<std::uint64_t>& sorted = scratch.sorted;
  sorted.clear();
  for (const auto& cell : row)
    sorted.push_back(cell.transfer.bytes);
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::uint64_t>& below = scratch.below;
  below.assign(sorted.size() + 1, 0);
  for (std::size_t i = 0; i < sorted.size(); ++i)
    below[i + 1] = below[i] + sorted[i];
  served.resize(row.size());
  for (std::size_t i = 0; i < row.size(); ++i) {
    const std::uint64_t b = row[i].transfer.bytes;
    const auto smaller = static_cast<std::size_t>(
        std::lower_bound(sorted.begin(), sorted.end(), b) - sorted.begin());
    served[i] = static_cast<double>(below[smaller] + b * (sorted.size() - smaller));
  }
}

/// What one receiver hears in one phase: the sender that finishes last (the lowest rank among
/// equals) and the earliest start among its senders.
struct Heard {
  int slowest_sender = -1;
  double slowest_done = 0;
  double earliest_start = 0;  // its own start until a sender is earlier

  void from(int s, double done, const std::vector<double>& starts) {
    earliest_start = std::min(earliest_start, starts[static_cast<std::size_t>(s)]);
    if (done > slowest_done ||
        (slowest_sender >= 0 && done == slowest_done && s < slowest_sender)) {
      slowest_done = done;
      slowest_sender = s;
    }
  }
};

class PhaseModel {
 public:
  PhaseModel(const Scenario& sc, const PhaseTraffic& phase, const ModelParams& p, double fixed_us)
      : sc_(sc),
        cl_(sc.cluster),
        phase_(phase),
        p_(p),
        fixed_us_(fixed_us),
        n_(sc.num_ranks()),
        unit_(unit_name(sc.mode)),
        link_reasons_(unit_) {}

  PhaseResult run(const std::vector<double>& starts, const RoutingCounts& routing,
                  bool is_dispatch) {
    compute_leaf_loads();
    if (is_dispatch && p_.expert_rx_gbps > 0 && sc_.mode == KernelMode::kLowLatency)
      compute_hottest_experts(routing);
    std::vector<RankLoad> load(static_cast<std::size_t>(n_));
    for (int r = 0; r < n_; ++r)
      load[static_cast<std::size_t>(r)] = rank_load(r, is_dispatch);

    // Latest start of anyone: the implicit barrier (every rank signals every peer, docs/model.md
    // §5.1).
    const auto latest = std::max_element(starts.begin(), starts.end());
    const int latest_rank = static_cast<int>(latest - starts.begin());
    // When data starts to move from each rank: its start, or in a pull-based combine the ready
    // barrier, after which every rank pulls (docs/model.md §6.7).
    const bool pull = !is_dispatch && p_.combine_pull > 0;
    std::vector<double> moving = starts;
    if (pull && !starts.empty()) std::fill(moving.begin(), moving.end(), *latest);

    // For every receiver: the sender that finishes last among those sending to it, and the
    // earliest start among them. One pass over each stage's pairs.
    std::vector<Heard> heard(static_cast<std::size_t>(n_));
    for (int r = 0; r < n_; ++r)
      heard[static_cast<std::size_t>(r)].earliest_start = moving[static_cast<std::size_t>(r)];
    std::vector<double> done(static_cast<std::size_t>(n_));  // a sender's whole send
    for (int s = 0; s < n_; ++s) {
      const auto si = static_cast<std::size_t>(s);
      done[si] = moving[si] + load[si].send.at_us;
    }
    // The fair-share branch's buffers, one set for every row of every stage: a row clears them.
    std::array<std::vector<TrafficMatrix::Cell>, kNumLinkClasses> pools;
    FairShareScratch scratch;
    std::vector<double> served;
    for (const auto& stage : phase_.stages) {
      if (p_.fair_share > 0 || pull) {
        // Fair share (docs/model.md §6.2, a calibrated choice): a sender serves its destinations
        // at once, so its flow of b_r bytes to r ends after sum_j min(b_j, b_r) of its B bytes,
        // not B. The flows that share: a pusher's all (one loop issues them, at its busiest
        // resource's pace); a pulled-from rank's on the port of r's link class (§6.7).
        stage.matrix.for_each_row([&](int s, std::span<const TrafficMatrix::Cell> row) {
          const auto si = static_cast<std::size_t>(s);
          const RankLoad& sender = load[si];
          for (auto& pool : pools)
            pool.clear();
          for (const auto& cell : row)
            pools[static_cast<std::size_t>(pull ? link_class(cl_, s, cell.peer)
                                                : LinkClass::kLocal)]
                .push_back(cell);
          for (std::size_t c = 0; c < kNumLinkClasses; ++c) {
            const std::vector<TrafficMatrix::Cell>& pool = pools[c];
            if (pool.empty()) continue;
            fair_share_served(pool, scratch, served);
            double total = 0;
            std::uint64_t largest = 0;
            for (const auto& cell : pool) {
              total += static_cast<double>(cell.transfer.bytes);
              largest = std::max(largest, cell.transfer.bytes);
            }
            for (std::size_t i = 0; i < pool.size(); ++i) {
              const std::uint64_t bytes = pool[i].transfer.bytes;
              if (bytes == 0 || pool[i].peer == s) continue;
              const double share = p_.fair_share > 0 && total > 0 ? served[i] / total : 1;
              double at = moving[si] + sender.send.at_us * share;
              if (pull) {
                // r's last loads also wait behind at most one round trip of a heavier puller's.
                const auto cls = static_cast<LinkClass>(c);
                const double queue =
                    pull_queue_us(largest, bytes, p_.tx_gbps(cls), latency_of(cls));
                at = moving[si] + sender.port_tx_us[c] * share + queue;
              }
              heard[static_cast<std::size_t>(pool[i].peer)].from(s, at, moving);
            }
          }
        });
      } else if (stage.matrix.transposed()) {  // stored by receiver: its senders come together
        stage.matrix.for_each_column([&](int r, std::span<const TrafficMatrix::Cell> column) {
          Heard h = heard[static_cast<std::size_t>(r)];
          for (const auto& [s, t] : column) {
            if (t.bytes != 0 && s != r) h.from(s, done[static_cast<std::size_t>(s)], moving);
          }
          heard[static_cast<std::size_t>(r)] = h;
        });
      } else {  // every flow of a sender ends with the sender
        stage.matrix.for_each_cell([&](int s, int r, const Transfer& t) {
          if (t.bytes != 0 && r != s)
            heard[static_cast<std::size_t>(r)].from(s, done[static_cast<std::size_t>(s)], moving);
        });
      }
    }

    PhaseResult out;
    out.ranks.resize(static_cast<std::size_t>(n_));
    for (int r = 0; r < n_; ++r) {
      const RankLoad& me = load[static_cast<std::size_t>(r)];
      const double start = starts[static_cast<std::size_t>(r)];
      // (a) own sends; (b) every peer's sends that reach r; (c) r's own receive; (d) barrier.
      Bound best;
      // A pull-based combine (combine_pull, §6.7) ends when r's own rows are in (its local ones
      // copied, the others loaded): r's egress serves its peers and does not hold r back.
      const auto local = static_cast<std::size_t>(LinkClass::kLocal);
      best.at_us =
          pull ? moving[static_cast<std::size_t>(r)] + me.port_tx_us[local] : start + me.send.at_us;
      best.what = pull ? port_bottleneck(r, LinkClass::kLocal) : me.send.what;
      const Heard& h = heard[static_cast<std::size_t>(r)];
      const int peer = h.slowest_sender;
      if (peer >= 0 && h.slowest_done > best.at_us) {
        const RankLoad& p = load[static_cast<std::size_t>(peer)];
        best.at_us = h.slowest_done;
        best.what = pull               ? port_bottleneck(peer, link_class(cl_, peer, r))
                    : p.send.at_us > 0 ? p.send.what
                                       : late_start(peer, starts[static_cast<std::size_t>(peer)]);
      }
      const double earliest_sender = h.earliest_start;
      if (earliest_sender + me.recv.at_us > best.at_us) {
        best.at_us = earliest_sender + me.recv.at_us;
        best.what = me.recv.what;
      }
      if (*latest > best.at_us) {
        best.at_us = *latest;
        best.what = late_start(latest_rank, *latest);
      }
      RankPhase& rp = out.ranks[static_cast<std::size_t>(r)];
      rp.start_us = start;
      const double overhead = fixed_us_ + me.latency_us;
      rp.finish_us = std::max(best.at_us, start) + overhead;
      rp.transfer_us = pull ? std::max(me.recv.at_us, me.port_tx_us[local])
                            : std::max(me.send.at_us, me.recv.at_us);
      rp.wait_us = std::max(0.0, rp.finish_us - start - overhead - rp.transfer_us);
      rp.bottleneck = best.what;
      if (rp.bottleneck.resource == Resource::kNone || best.at_us - start <= 0) {
        rp.bottleneck =
            make(Resource::kFixedLatency, r, overhead, 0, 0, 0,
                 fmt::format("fixed latency: {:.1f} us launch/handshake + {:.1f} us link",
                             fixed_us_, me.latency_us));
      }
    }
    int last = 0;
    double first_start = starts.empty() ? 0 : starts[0];
    for (int r = 0; r < n_; ++r) {
      if (out.ranks[static_cast<std::size_t>(r)].finish_us >
          out.ranks[static_cast<std::size_t>(last)].finish_us)
        last = r;
      first_start = std::min(first_start, starts[static_cast<std::size_t>(r)]);
    }
    out.end_us = n_ ? out.ranks[static_cast<std::size_t>(last)].finish_us : 0;
    out.duration_us = out.end_us - first_start;
    if (n_) out.bottleneck = out.ranks[static_cast<std::size_t>(last)].bottleneck;
    return out;
  }

 private:
  Bottleneck late_start(int rank, double start) const {
    return make(
        Resource::kLateStart, rank, 0, 0, 0, 0,
        fmt::format("late start of rank {}: it begins at {:.1f} us and every rank waits for "
                    "its signal",
                    rank, start));
  }

  int leaf_of(int rank) const { return cl_.local_index(rank); }

  /// The sending port of class c of rank s, as a bottleneck (a pulled-from rank, §6.7).
  Bottleneck port_bottleneck(int s, LinkClass c) const {
    static constexpr Resource kPort[] = {Resource::kLocalCopy, Resource::kNvlinkTx,
                                         Resource::kNicTx};
    static constexpr const char* kWhat[] = {"local copy", "NVLink egress", "sender NIC"};
    const auto i = static_cast<std::size_t>(c);
    const ClassTotals& t = phase_.send[static_cast<std::size_t>(s)];
    const auto bytes = static_cast<double>(t.bytes[i]);
    const double busy = busy_us(bytes, p_.tx_gbps(c));
    return make(kPort[i], s, busy, t.msgs[i], bytes, p_.tx_gbps(c),
                link_reasons_(kWhat[i], s, t.msgs[i], bytes, p_.tx_gbps(c)));
  }

  double latency_of(LinkClass c) const {
    return c == LinkClass::kRdma     ? p_.rdma_latency_us
           : c == LinkClass::kNvlink ? p_.nvlink_latency_us
                                     : 0.0;
  }

  /// Rail-optimized leaves: leaf i holds NIC i of every node; RDMA between different rails
  /// crosses the spine (docs/model.md §5.2).
  void compute_leaf_loads() {
    up_bytes_.assign(static_cast<std::size_t>(cl_.gpus_per_node), 0.0);
    down_bytes_.assign(static_cast<std::size_t>(cl_.gpus_per_node), 0.0);
    if (p_.leaf_uplink_factor >= 1.0) return;  // non-blocking: NICs bind first
    for (const auto& stage : phase_.stages) {
      // Whole bytes summed in doubles: exact in any order (below 2^53 B).
      stage.matrix.for_each_cell([&](int s, int d, const Transfer& t) {
        if (t.bytes == 0 || link_class(cl_, s, d) != LinkClass::kRdma || leaf_of(s) == leaf_of(d))
          return;
        up_bytes_[static_cast<std::size_t>(leaf_of(s))] += static_cast<double>(t.bytes);
        down_bytes_[static_cast<std::size_t>(leaf_of(d))] += static_cast<double>(t.bytes);
      });
    }
  }

  /// LL receive queues: per rank, its hottest expert (the first of equals) and the copies it
  /// gets, a replica's share of the expert's load (docs/model.md §5.2).
  void compute_hottest_experts(const RoutingCounts& routing) {
    hottest_copies_.assign(static_cast<std::size_t>(n_), 0.0);
    hottest_expert_.assign(static_cast<std::size_t>(n_), -1);
    const ExpertPlacement placement(sc_.moe, n_);
    for (int e = 0; e < placement.num_experts(); ++e) {
      const auto& reps = placement.replicas(e);
      const double share =
          routing.expert_load[static_cast<std::size_t>(e)] / static_cast<double>(reps.size());
      for (const int r : reps) {
        if (share > hottest_copies_[static_cast<std::size_t>(r)]) {
          hottest_copies_[static_cast<std::size_t>(r)] = share;
          hottest_expert_[static_cast<std::size_t>(r)] = e;
        }
      }
    }
  }

  double leaf_gbps() const { return cl_.num_nodes * p_.nic_tx_gbps * p_.leaf_uplink_factor; }

  RankLoad rank_load(int r, bool is_dispatch) const {
    RankLoad out;
    const ClassTotals& snd = phase_.send[static_cast<std::size_t>(r)];
    const ClassTotals& rcv = phase_.recv[static_cast<std::size_t>(r)];
    const auto L = static_cast<std::size_t>(LinkClass::kLocal);
    const auto N = static_cast<std::size_t>(LinkClass::kNvlink);
    const auto R = static_cast<std::size_t>(LinkClass::kRdma);
    auto bytes = [](const ClassTotals& t, std::size_t c) {
      return static_cast<double>(t.bytes[c]);
    };

    // One bound per (side, link class): the busy time of that port and, if it wins, its reason.
    auto link = [&](Bound& side, Resource resource, const char* what, const ClassTotals& t,
                    std::size_t c, double gbps) {
      const double busy = busy_us(bytes(t, c), gbps);
      keep_max(side, busy, [&] {
        return make(resource, r, busy, t.msgs[c], bytes(t, c), gbps,
                    link_reasons_(what, r, t.msgs[c], bytes(t, c), gbps));
      });
    };
    link(out.send, Resource::kNicTx, "sender NIC", snd, R, p_.nic_tx_gbps);
    link(out.send, Resource::kNvlinkTx, "NVLink egress", snd, N, p_.nvlink_tx_gbps);
    link(out.send, Resource::kLocalCopy, "local copy", snd, L, p_.local_gbps);
    for (std::size_t c = 0; c < kNumLinkClasses; ++c)
      out.port_tx_us[c] = busy_us(bytes(snd, c), p_.tx_gbps(static_cast<LinkClass>(c)));
    if (p_.per_msg_us > 0) {
      const double msgs = snd.msgs[N] + snd.msgs[R];
      keep_max(out.send, msgs * p_.per_msg_us, [&] {
        return make(Resource::kMessageRate, r, msgs * p_.per_msg_us, msgs, 0, 0,
                    fmt::format("message issue of rank {}: {:.0f} {} at {:.3f} us each", r, msgs,
                                unit_, p_.per_msg_us));
      });
    }
    link(out.recv, Resource::kNicRx, "receiver NIC", rcv, R, p_.nic_rx_gbps);
    link(out.recv, Resource::kNvlinkRx, "NVLink ingress", rcv, N, p_.nvlink_rx_gbps);
    if (p_.leaf_uplink_factor < 1.0) {
      const int leaf = leaf_of(r);
      const double up = up_bytes_[static_cast<std::size_t>(leaf)];
      const double down = down_bytes_[static_cast<std::size_t>(leaf)];
      keep_max(out.send, busy_us(up, leaf_gbps()), [&] {
        return make(Resource::kLeafUplink, leaf, busy_us(up, leaf_gbps()), 0, up, leaf_gbps(),
                    fmt::format("spine uplink of leaf {}: {} at {:g} GB/s", leaf, megabytes(up),
                                leaf_gbps()));
      });
      keep_max(out.recv, busy_us(down, leaf_gbps()), [&] {
        return make(Resource::kLeafUplink, leaf, busy_us(down, leaf_gbps()), 0, down, leaf_gbps(),
                    fmt::format("spine downlink of leaf {}: {} at {:g} GB/s", leaf, megabytes(down),
                                leaf_gbps()));
      });
    }
    // LL receive: one queue per local expert (docs/model.md §5.2); the hottest one binds.
    if (is_dispatch && p_.expert_rx_gbps > 0 && sc_.mode == KernelMode::kLowLatency) {
      const double hottest = hottest_copies_[static_cast<std::size_t>(r)];
      const int hottest_expert = hottest_expert_[static_cast<std::size_t>(r)];
      const double qbytes = hottest * static_cast<double>(phase_.message_bytes);
      const double busy = busy_us(qbytes, p_.expert_rx_gbps);
      keep_max(out.recv, busy, [&] {
        return make(
            Resource::kExpertQueue, hottest_expert, busy, hottest, qbytes, p_.expert_rx_gbps,
            fmt::format("receive queue of expert {} on rank {}: {:.0f} copies, {} at {:g} GB/s",
                        hottest_expert, r, hottest, megabytes(qbytes), p_.expert_rx_gbps));
      });
    }
    // A pull-based combine: r waits for the round trip of its own loads only, over the classes it
    // pulls rows on; a rank with nothing to pull pays none (docs/model.md §6.7).
    if (!is_dispatch && p_.combine_pull > 0) {
      if (rcv.bytes[N] > 0) out.latency_us = p_.nvlink_latency_us;
      if (rcv.bytes[R] > 0) out.latency_us = std::max(out.latency_us, p_.rdma_latency_us);
      return out;
    }
    // Every peer signals r (the barrier), so r hears from every class it has a peer on.
    for (int s = 0; s < n_; ++s) {
      if (s == r) continue;
      const LinkClass c = link_class(cl_, s, r);
      out.latency_us = std::max(out.latency_us,
                                c == LinkClass::kRdma ? p_.rdma_latency_us : p_.nvlink_latency_us);
      if (c == LinkClass::kRdma) break;
    }
    return out;
  }

  const Scenario& sc_;
  const Cluster& cl_;
  const PhaseTraffic& phase_;
  const ModelParams& p_;
  double fixed_us_;
  int n_;
  const char* unit_;
  mutable LinkReasons link_reasons_;  // a cache of texts: rank_load() stays a const query
  std::vector<double> up_bytes_, down_bytes_;
  std::vector<double> hottest_copies_;
  std::vector<int> hottest_expert_;
};

}  // namespace

EstimateResult estimate(const Scenario& scenario, const Traffic& traffic,
                        const ModelParams& params) {
  const int n = scenario.num_ranks();
  EstimateResult result;
  std::vector<double> starts(static_cast<std::size_t>(n));
  for (int r = 0; r < n; ++r)
    starts[static_cast<std::size_t>(r)] = scenario.start_offset(r);
  double dispatch_fixed = params.dispatch_fixed_us;
  if (scenario.mode == KernelMode::kAllToAll) dispatch_fixed += params.count_exchange_us;
  result.dispatch = PhaseModel(scenario, traffic.dispatch, params, dispatch_fixed)
                        .run(starts, traffic.routing, true);
  const ModelParams combine_params = combine_phase_params(scenario, params);
  result.combine =
      PhaseModel(scenario, traffic.combine, combine_params, combine_params.combine_fixed_us)
          .run(combine_starts(scenario, result.dispatch), traffic.routing, false);
  summarize(scenario, traffic, result);
  return result;
}

EstimateResult estimate(const Scenario& scenario, const ModelParams& params) {
  return estimate(scenario, compute_traffic(scenario), params);
}

EstimateResult estimate(const Scenario& scenario) {
  return estimate(scenario, ModelParams::from_cluster(scenario.cluster));
}

}  // namespace epscope
