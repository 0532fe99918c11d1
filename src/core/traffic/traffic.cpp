// Traffic per mode: docs/model.md §2 (message bytes) and §4 (who sends what to whom).
#include "epscope/traffic/traffic.h"

#include <algorithm>
#include <cmath>

#include "epscope/base/error.h"

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

void finish_phase(const Cluster& cl, PhaseTraffic& phase, std::int64_t message_bytes) {
  const int n = cl.num_ranks();
  phase.message_bytes = message_bytes;
  phase.send.assign(static_cast<std::size_t>(n), ClassTotals{});
  phase.recv.assign(static_cast<std::size_t>(n), ClassTotals{});
  std::vector<int> domain(static_cast<std::size_t>(n));
  for (int r = 0; r < n; ++r)
    domain[static_cast<std::size_t>(r)] = cl.domain_of(r);
  for (const auto& stage : phase.stages) {
    // Each rank's sums see their terms in the order of a row-major pass (for_each_cell).
    stage.matrix.for_each_cell([&](int s, int d, const Transfer& t) {
      // link_class(), inlined for the hot loop.
      const std::size_t c = s == d ? 0
                                   : (cl.nvlink_enabled && domain[static_cast<std::size_t>(d)] ==
                                                               domain[static_cast<std::size_t>(s)]
                                          ? 1
                                          : 2);
      auto& snd = phase.send[static_cast<std::size_t>(s)];
      auto& rcv = phase.recv[static_cast<std::size_t>(d)];
      snd.msgs[c] += t.num_msgs;
      snd.bytes[c] += t.bytes;
      rcv.msgs[c] += t.num_msgs;
      rcv.bytes[c] += t.bytes;
    });
  }
}

/// Totals of a one-stage mode (LL, a2a) in one pass over the rows: combine is dispatch transposed,
/// so its messages per rank and class are dispatch's with send and receive swapped (the same sums
/// in the same order) and only its bytes differ. Sums run in the order finish_phase() uses;
/// a row's own sums stay in registers, one link class at a time.
void direct_totals(const Cluster& cl, const ScaledRows& rows, Traffic& t) {
  const int n = cl.num_ranks();
  PhaseTraffic& dispatch = t.dispatch;
  PhaseTraffic& combine = t.combine;
  for (PhaseTraffic* phase : {&dispatch, &combine}) {
    phase->send.assign(static_cast<std::size_t>(n), ClassTotals{});
    phase->recv.assign(static_cast<std::size_t>(n), ClassTotals{});
    phase->algorithm_bytes.assign(static_cast<std::size_t>(n), 0.0);
  }
  const auto dispatch_msg_bytes = static_cast<double>(dispatch.message_bytes);
  const auto combine_msg_bytes = static_cast<double>(combine.message_bytes);
  for (int s = 0; s < n; ++s) {
    const ScaledRows::Row row = rows.row(s);
    const auto si = static_cast<std::size_t>(s);
    ClassTotals& d_send = dispatch.send[si];  // row s: dispatch sends, combine receives
    std::uint64_t* c_recv_bytes = combine.recv[si].bytes.data();
    double msgs_sum = 0;
    // Cells [from, to) of the row, all of link class c.
    auto add_cells = [&](std::size_t from, std::size_t to, std::size_t c) {
      double row_msgs = d_send.msgs[c];
      std::uint64_t row_d_bytes = d_send.bytes[c], row_c_bytes = c_recv_bytes[c];
      double row_sum = msgs_sum;
      for (std::size_t i = from; i < to; ++i) {
        const double msgs = row.scale * row.values[i];
        if (msgs <= 0) continue;
        const std::uint64_t d_bytes = transfer_bytes(msgs, dispatch_msg_bytes);
        const std::uint64_t c_bytes = transfer_bytes(msgs, combine_msg_bytes);
        const auto d = static_cast<std::size_t>(row.cols[i]);
        row_msgs += msgs;
        row_sum += msgs;
        row_d_bytes += d_bytes;
        row_c_bytes += c_bytes;
        ClassTotals& d_recv = dispatch.recv[d];  // column d: dispatch receives, combine sends
        d_recv.msgs[c] += msgs;
        d_recv.bytes[c] += d_bytes;
        combine.send[d].bytes[c] += c_bytes;
      }
      d_send.msgs[c] = row_msgs;
      d_send.bytes[c] = row_d_bytes;
      c_recv_bytes[c] = row_c_bytes;
      msgs_sum = row_sum;
    };
    // Link classes along the row: RDMA, then s's NVLink domain (NVLink, or RDMA without it) with
    // s itself a local copy, then RDMA.
    const int first = cl.domain_of(s) * cl.nvlink_domain_size;
    const int last = std::min(n, first + cl.nvlink_domain_size);
    auto position = [&](int col) {
      return static_cast<std::size_t>(std::lower_bound(row.cols.begin(), row.cols.end(), col) -
                                      row.cols.begin());
    };
    const std::size_t domain_begin = position(first), self = position(s),
                      self_end = position(s + 1), domain_end = position(last);
    const std::size_t in_domain = cl.nvlink_enabled ? 1 : 2;
    add_cells(0, domain_begin, 2);
    add_cells(domain_begin, self, in_domain);
    add_cells(self, self_end, 0);
    add_cells(self_end, domain_end, in_domain);
    add_cells(domain_end, row.cols.size(), 2);
    dispatch.algorithm_bytes[si] = msgs_sum * dispatch_msg_bytes;
    combine.algorithm_bytes[si] = msgs_sum * combine_msg_bytes;
  }
  for (int r = 0; r < n; ++r) {
    const auto ri = static_cast<std::size_t>(r);
    combine.send[ri].msgs = dispatch.recv[ri].msgs;
    combine.recv[ri].msgs = dispatch.send[ri].msgs;
  }
}

/// HT: the stage between domains (RDMA to forwarders, plus direct NVLink inside the source's
/// domain) and the forward stage inside the destination domain, as dispatch runs them; combine
/// runs both backwards. docs/model.md §4.2.
void ht_stages(const Cluster& cl, const RoutingCounts& rc, ScaledRows& rdma, ScaledRows& fwd) {
  const int n = cl.num_ranks();
  const int size = cl.nvlink_domain_size;
  rdma = ScaledRows(n, n);
  fwd = ScaledRows(n, n);
  // fwd_msgs[f * size + j]: forwarder f to rank j of its own domain, summed over sources in
  // source order (as the dense form summed them).
  std::vector<double> fwd_msgs(static_cast<std::size_t>(n) * static_cast<std::size_t>(size), 0.0);
  std::vector<std::int32_t> cols;
  std::vector<double> values;
  for (int s = 0; s < n; ++s) {
    const int own = cl.domain_of(s);
    const ScaledRows::Row ranks = rc.token_ranks.row(s);
    const ScaledRows::Row domains = rc.token_domains.row(s);
    cols.clear();
    values.clear();
    // The stage-1 row of s, destinations ascending: forwarders of the domains before its own,
    // the ranks of its own domain, forwarders of the domains after it.
    bool own_done = false;
    auto own_domain = [&] {
      for (std::size_t i = 0; i < ranks.cols.size(); ++i) {
        if (cl.domain_of(ranks.cols[i]) != own) continue;
        cols.push_back(ranks.cols[i]);
        values.push_back(ranks.scale * ranks.values[i]);
      }
      own_done = true;
    };
    for (std::size_t i = 0; i < domains.cols.size(); ++i) {
      const int dom = domains.cols[i];
      if (dom >= own && !own_done) own_domain();
      if (dom == own) continue;
      cols.push_back(ht_forwarder(cl, s, dom));
      values.push_back(domains.scale * domains.values[i]);
    }
    if (!own_done) own_domain();
    rdma.set_row(s, rdma.add_unit(cols, values), 1.0);
    for (std::size_t i = 0; i < ranks.cols.size(); ++i) {
      const int d = ranks.cols[i];
      const int dom = cl.domain_of(d);
      if (dom == own) continue;
      const int f = ht_forwarder(cl, s, dom);
      fwd_msgs[static_cast<std::size_t>(f) * static_cast<std::size_t>(size) +
               static_cast<std::size_t>(d - dom * size)] += ranks.scale * ranks.values[i];
    }
  }
  for (int f = 0; f < n; ++f) {
    const int first = cl.domain_of(f) * size;
    cols.clear();
    values.clear();
    for (int j = 0; j < size && first + j < n; ++j) {
      const double v = fwd_msgs[static_cast<std::size_t>(f) * static_cast<std::size_t>(size) +
                                static_cast<std::size_t>(j)];
      if (v == 0) continue;
      cols.push_back(first + j);
      values.push_back(v);
    }
    fwd.set_row(f, fwd.add_unit(cols, values), 1.0);
  }
}

/// Per source: messages summed over destinations, times the message bytes.
std::vector<double> algorithm_bytes(const ScaledRows& rows, std::int64_t message_bytes) {
  std::vector<double> out(static_cast<std::size_t>(rows.num_rows()), 0.0);
  for (int s = 0; s < rows.num_rows(); ++s) {
    const ScaledRows::Row row = rows.row(s);
    double sum = 0;
    for (std::size_t i = 0; i < row.cols.size(); ++i)
      sum += row.scale * row.values[i];
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

// The GPU with src's index inside its own domain (DeepEP: "the GPU with the same local index"),
// wrapped for a partial last domain.
int ht_forwarder(const Cluster& cluster, int src, int dom) {
  const int size = cluster.nvlink_domain_size;
  const int first = dom * size;
  const int in_dom = std::min(size, cluster.num_ranks() - first);
  return first + (src % size) % in_dom;
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
  const ScaledRows* rows = &routing.copies;
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
    ScaledRows rdma, fwd;
    ht_stages(cl, routing, rdma, fwd);
    t.dispatch.stages.push_back({"rdma", TrafficMatrix(rdma, dispatch_bytes, false)});
    t.dispatch.stages.push_back({"forward", TrafficMatrix(fwd, dispatch_bytes, false)});
    // Combine runs the path backwards: reduce inside the destination domain, then RDMA home.
    t.combine.stages.push_back({"forward", TrafficMatrix(fwd, combine_bytes, true)});
    t.combine.stages.push_back({"rdma", TrafficMatrix(rdma, combine_bytes, true)});
    finish_phase(cl, t.dispatch, dispatch_bytes);
    finish_phase(cl, t.combine, combine_bytes);
    t.dispatch.algorithm_bytes = algorithm_bytes(*rows, dispatch_bytes);
    t.combine.algorithm_bytes = algorithm_bytes(*rows, combine_bytes);
  } else {
    // One stage; combine is dispatch transposed (msgs(src, dst) = rows(dst, src)).
    t.dispatch.stages.push_back({"direct", TrafficMatrix(*rows, dispatch_bytes, false)});
    t.combine.stages.push_back({"direct", TrafficMatrix(*rows, combine_bytes, true)});
    t.dispatch.message_bytes = dispatch_bytes;
    t.combine.message_bytes = combine_bytes;
    direct_totals(cl, *rows, t);
  }
  t.routing = std::move(routing);
  return t;
}

TrafficMatrix::TrafficMatrix(int num_ranks, std::int64_t message_bytes)
    : TrafficMatrix(ScaledRows(num_ranks, num_ranks), message_bytes, false) {}

TrafficMatrix::TrafficMatrix(ScaledRows msgs, std::int64_t message_bytes, bool transposed)
    : msgs_(std::move(msgs)),
      message_bytes_(message_bytes),
      bytes_per_msg_(static_cast<double>(message_bytes)),
      transposed_(transposed) {
  EPSCOPE_ASSERT(msgs_.num_rows() == msgs_.num_cols());
}

std::vector<std::vector<TrafficMatrix::Cell>> TrafficMatrix::crosswise() const {
  std::vector<std::vector<Cell>> lines(static_cast<std::size_t>(num_ranks()));
  // Stored rows in order give every column its cells in ascending order.
  for (int r = 0; r < num_ranks(); ++r) {
    const ScaledRows::Row row = msgs_.row(r);
    for (std::size_t i = 0; i < row.cols.size(); ++i) {
      const double num_msgs = row.scale * row.values[i];
      if (num_msgs > 0)
        lines[static_cast<std::size_t>(row.cols[i])].push_back({r, transfer(num_msgs)});
    }
  }
  return lines;
}

}  // namespace epscope
