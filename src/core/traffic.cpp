// Traffic per mode: docs/model.md §2 (message bytes) and §4 (who sends what to whom).
#include "epscope/traffic.h"

#include <algorithm>
#include <cmath>

#include "epscope/error.h"

namespace epscope {
namespace {

std::int64_t align16(std::int64_t bytes) {
  return (bytes + 15) / 16 * 16;
}

/// Payload of one token row in the dispatch dtype: fp8 values plus per-128 fp32 scales, or bf16.
std::int64_t dispatch_payload_bytes(const MoeShape& moe) {
  const std::int64_t h = moe.hidden;
  return moe.dispatch_dtype == DispatchDtype::kFp8 ? h + h / 128 * 4 : 2 * h;
}

/// Payload of one combine row: bf16, or LogFMT-10 (10 bits per value + 8 B per 128 values).
std::int64_t combine_payload_bytes(const MoeShape& moe) {
  const std::int64_t h = moe.hidden;
  return moe.combine_dtype == CombineDtype::kBf16 ? 2 * h : h * 10 / 8 + h / 128 * 8;
}

/// HT forwarding GPU in domain `dom` for tokens of `src`: the GPU with src's index inside its own
/// domain (DeepEP: "the GPU with the same local index"), wrapped for a partial last domain.
int forwarder(const Cluster& cl, int src, int dom) {
  const int size = cl.nvlink_domain_size;
  const int first = dom * size;
  const int in_dom = std::min(size, cl.num_ranks() - first);
  return first + (src % size) % in_dom;
}

void finish_phase(const Cluster& cl, PhaseTraffic& phase, std::int64_t message_bytes) {
  const int n = cl.num_ranks();
  phase.message_bytes = message_bytes;
  phase.send.assign(static_cast<std::size_t>(n), ClassTotals{});
  phase.recv.assign(static_cast<std::size_t>(n), ClassTotals{});
  const auto bytes_per_msg = static_cast<double>(message_bytes);
  for (auto& stage : phase.stages) {
    for (int s = 0; s < n; ++s) {
      auto& snd = phase.send[static_cast<std::size_t>(s)];
      const int s_domain = cl.domain_of(s);
      Transfer* row = &stage.matrix.at(s, 0);
      for (int d = 0; d < n; ++d) {
        Transfer& t = row[d];
        if (t.num_msgs <= 0) continue;
        t.bytes = static_cast<std::uint64_t>(t.num_msgs * bytes_per_msg + 0.5);  // round, >= 0
        // link_class(), inlined for the hot loop.
        const std::size_t c =
            s == d ? 0 : (cl.nvlink_enabled && cl.domain_of(d) == s_domain ? 1 : 2);
        auto& rcv = phase.recv[static_cast<std::size_t>(d)];
        snd.msgs[c] += t.num_msgs;
        snd.bytes[c] += t.bytes;
        rcv.msgs[c] += t.num_msgs;
        rcv.bytes[c] += t.bytes;
      }
    }
  }
}

/// One-stage phase: msgs(src, dst) = rows(src, dst), reversed for combine.
PhaseTraffic direct_phase(const Cluster& cl, const std::vector<double>& rows, bool reverse) {
  const int n = cl.num_ranks();
  PhaseTraffic p;
  p.stages.push_back({"direct", TrafficMatrix(n)});
  TrafficMatrix& m = p.stages.back().matrix;
  if (!reverse) {
    for (int s = 0; s < n; ++s) {
      for (int d = 0; d < n; ++d)
        m.at(s, d).num_msgs = rows[static_cast<std::size_t>(s) * n + d];
    }
    return p;
  }
  // Transpose in tiles so that both sides stay in cache.
  constexpr int kTile = 64;
  for (int s0 = 0; s0 < n; s0 += kTile) {
    for (int d0 = 0; d0 < n; d0 += kTile) {
      for (int s = s0; s < std::min(n, s0 + kTile); ++s) {
        for (int d = d0; d < std::min(n, d0 + kTile); ++d) {
          m.at(d, s).num_msgs = rows[static_cast<std::size_t>(s) * n + d];
        }
      }
    }
  }
  return p;
}

/// HT: the stage between domains (RDMA to forwarders, plus direct NVLink inside the source's
/// domain) and the forward stage inside the destination domain. docs/model.md §4.2.
void ht_stages(const Cluster& cl, const RoutingCounts& rc, TrafficMatrix& rdma, TrafficMatrix& fwd,
               bool reverse) {
  const int n = cl.num_ranks();
  auto add = [&](TrafficMatrix& m, int s, int d, double v) {
    if (reverse) {
      m.at(d, s).num_msgs += v;
    } else {
      m.at(s, d).num_msgs += v;
    }
  };
  for (int s = 0; s < n; ++s) {
    const int own = cl.domain_of(s);
    for (int dom = 0; dom < cl.num_domains(); ++dom) {
      const int first = dom * cl.nvlink_domain_size;
      const int last = std::min(n, first + cl.nvlink_domain_size);
      if (dom == own) {
        for (int d = first; d < last; ++d)
          add(rdma, s, d, rc.token_ranks_at(s, d));
        continue;
      }
      const int f = forwarder(cl, s, dom);
      add(rdma, s, f, rc.token_domains_at(s, dom));
      for (int d = first; d < last; ++d)
        add(fwd, f, d, rc.token_ranks_at(s, d));
    }
  }
}

std::vector<double> algorithm_bytes(const Cluster& cl, const std::vector<double>& rows,
                                    std::int64_t message_bytes) {
  const int n = cl.num_ranks();
  std::vector<double> out(static_cast<std::size_t>(n), 0.0);
  for (int s = 0; s < n; ++s) {
    double sum = 0;
    for (int d = 0; d < n; ++d)
      sum += rows[static_cast<std::size_t>(s) * n + d];
    out[static_cast<std::size_t>(s)] = sum * static_cast<double>(message_bytes);
  }
  return out;
}

}  // namespace

const char* to_string(LinkClass link_class) {
  switch (link_class) {
    case LinkClass::kLocal:
      return "local";
    case LinkClass::kNvlink:
      return "nvlink";
    case LinkClass::kRdma:
      return "rdma";
  }
  return "?";
}

LinkClass link_class(const Cluster& cluster, int src, int dst) {
  if (src == dst) return LinkClass::kLocal;
  if (cluster.nvlink_enabled && cluster.domain_of(src) == cluster.domain_of(dst)) {
    return LinkClass::kNvlink;
  }
  return LinkClass::kRdma;
}

// docs/model.md §2.
std::int64_t dispatch_message_bytes(const MoeShape& moe, KernelMode mode) {
  switch (mode) {
    case KernelMode::kLowLatency:
      return 16 + dispatch_payload_bytes(moe);
    case KernelMode::kHighThroughput:
      return align16(dispatch_payload_bytes(moe) + 8 + 2 * static_cast<std::int64_t>(moe.topk) * 4);
    case KernelMode::kAllToAll:
      return dispatch_payload_bytes(moe);
  }
  return 0;
}

std::int64_t combine_message_bytes(const MoeShape& moe, KernelMode mode) {
  switch (mode) {
    case KernelMode::kLowLatency:
      return combine_payload_bytes(moe);
    case KernelMode::kHighThroughput:
      return align16(combine_payload_bytes(moe) + static_cast<std::int64_t>(moe.topk) * 4);
    case KernelMode::kAllToAll:
      return combine_payload_bytes(moe);
  }
  return 0;
}

Traffic compute_traffic(const Scenario& scenario) {
  scenario.validate();
  return compute_traffic(scenario, compute_routing(scenario));
}

Traffic compute_traffic(const Scenario& scenario, RoutingCounts routing) {
  const Cluster& cl = scenario.cluster;
  const int n = cl.num_ranks();
  EPSCOPE_ASSERT(routing.num_ranks == n);
  Traffic t;
  const std::int64_t dispatch_bytes = dispatch_message_bytes(scenario.moe, scenario.mode);
  const std::int64_t combine_bytes = combine_message_bytes(scenario.moe, scenario.mode);
  const std::vector<double>* rows = &routing.copies;
  switch (scenario.mode) {
    case KernelMode::kLowLatency:
      break;
    case KernelMode::kAllToAll:
      if (scenario.a2a_rows == A2aRows::kPerRank) rows = &routing.token_ranks;
      break;
    case KernelMode::kHighThroughput:
      rows = &routing.token_ranks;
      break;
  }
  if (scenario.mode == KernelMode::kHighThroughput) {
    t.dispatch.stages.push_back({"rdma", TrafficMatrix(n)});
    t.dispatch.stages.push_back({"forward", TrafficMatrix(n)});
    ht_stages(cl, routing, t.dispatch.stages[0].matrix, t.dispatch.stages[1].matrix, false);
    // Combine runs the path backwards: reduce inside the destination domain, then RDMA home.
    t.combine.stages.push_back({"forward", TrafficMatrix(n)});
    t.combine.stages.push_back({"rdma", TrafficMatrix(n)});
    ht_stages(cl, routing, t.combine.stages[1].matrix, t.combine.stages[0].matrix, true);
  } else {
    t.dispatch = direct_phase(cl, *rows, false);
    t.combine = direct_phase(cl, *rows, true);
  }
  finish_phase(cl, t.dispatch, dispatch_bytes);
  finish_phase(cl, t.combine, combine_bytes);
  t.dispatch.algorithm_bytes = algorithm_bytes(cl, *rows, dispatch_bytes);
  t.combine.algorithm_bytes = algorithm_bytes(cl, *rows, combine_bytes);
  t.routing = std::move(routing);
  return t;
}

}  // namespace epscope
