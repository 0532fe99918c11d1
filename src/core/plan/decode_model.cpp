// The decode-step model: full (estimate-based) and surrogate. docs/model.md §8.1-§8.4.
#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <numeric>

#include "epscope/base/error.h"
#include "epscope/base/units.h"
#include "epscope/plan/decode_model.h"
#include "epscope/traffic/traffic.h"

namespace epscope {

namespace {

constexpr double kFlopsPerUsPerTflops = 1e6;  // 1 TFLOP/s = 1e6 flop/us

/// Halves of a rank's batch for two-batch overlap: the first half gets the odd token / KV token.
RankLoad first_half(const RankLoad& load) {
  return {(load.num_requests + 1) / 2, (load.tokens + 1) / 2, (load.kv_tokens + 1) / 2};
}
RankLoad second_half(const RankLoad& load) {
  const RankLoad first = first_half(load);
  return {load.num_requests - first.num_requests, load.tokens - first.tokens,
          load.kv_tokens - first.kv_tokens};
}

/// Time to move `bytes` at `gbps`; 0 bytes take no time, and a zero rate with bytes is a bug.
double transfer_us(double bytes, double gbps) {
  if (bytes <= 0) return 0;
  EPSCOPE_ASSERT(gbps > 0);
  return bytes / (gbps * kBytesPerUsPerGbps);
}

/// The busiest resource of one rank's send side in one phase, as docs/model.md §5 charges it:
/// sender NIC, NVLink egress, local copy and message issue are separate resources.
double send_side_us(const ClassTotals& send, const ModelParams& comm) {
  return std::max({transfer_us(static_cast<double>(send.bytes[0]), comm.local_gbps),
                   transfer_us(static_cast<double>(send.bytes[1]), comm.nvlink_tx_gbps),
                   transfer_us(static_cast<double>(send.bytes[2]), comm.nic_tx_gbps),
                   comm.per_msg_us * (send.msgs[1] + send.msgs[2])});
}

/// The busiest resource of one rank's receive side: receiver NIC or NVLink ingress.
double recv_side_us(const ClassTotals& recv, const ModelParams& comm) {
  return std::max(transfer_us(static_cast<double>(recv.bytes[1]), comm.nvlink_rx_gbps),
                  transfer_us(static_cast<double>(recv.bytes[2]), comm.nic_rx_gbps));
}

std::vector<double> received_copies(const RoutingCounts& routing) {
  std::vector<double> copies(static_cast<std::size_t>(routing.num_ranks), 0.0);
  for (int src = 0; src < routing.num_ranks; ++src) {
    const ScaledRows::Row row = routing.copies.row(src);
    for (std::size_t i = 0; i < row.cols.size(); ++i)
      copies[static_cast<std::size_t>(row.cols[i])] += row.scale * row.values[i];
  }
  return copies;
}

}  // namespace

Imbalance imbalance(const std::vector<double>& values) {
  Imbalance out;
  if (values.empty()) return out;
  out.max = *std::max_element(values.begin(), values.end());
  out.min = *std::min_element(values.begin(), values.end());
  out.mean =
      std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  out.balance_ratio = out.max > 0 ? out.mean / out.max : 1.0;
  out.max_over_mean = out.mean > 0 ? (out.max - out.mean) / out.mean : 0.0;
  return out;
}

DecodeModel::DecodeModel(Scenario scenario, ModelConfig model, DecodeParams params)
    : DecodeModel(scenario, model, params, ModelParams::from_cluster(scenario.cluster)) {}

DecodeModel::DecodeModel(Scenario scenario, ModelConfig model, DecodeParams params,
                         ModelParams comm)
    : scenario_(std::move(scenario)), model_(std::move(model)), params_(params), comm_(comm) {
  model_.validate();
  params_.validate();
  scenario_.moe.hidden = model_.hidden;
  scenario_.moe.topk = model_.topk;
  scenario_.moe.num_experts = model_.num_experts;
  scenario_.moe.num_groups = model_.num_groups;
  scenario_.moe.topk_groups = model_.topk_groups;
  scenario_.back_to_back = false;  // the plan times combine from each rank's own start (§8.2)
  scenario_.start_offset_us.clear();
  const int num_ranks = scenario_.num_ranks();
  scenario_.tokens_per_rank.assign(static_cast<std::size_t>(num_ranks), 1);
  scenario_.validate();

  experts_on_rank_.assign(static_cast<std::size_t>(num_ranks), 0);
  if (scenario_.moe.replicas.empty()) {
    std::fill(experts_on_rank_.begin(), experts_on_rank_.end(), model_.num_experts / num_ranks);
  } else {
    for (const auto& replicas : scenario_.moe.replicas) {
      for (int rank : replicas)
        ++experts_on_rank_[static_cast<std::size_t>(rank)];
    }
  }
  derive_surrogate();
}

// docs/model.md §8.4: per-token send/receive costs from a probe with one token on every rank.
// Under expected routing the traffic is linear in the tokens, so the probe's per-rank bytes are
// exact per-token coefficients.
void DecodeModel::derive_surrogate() {
  const int num_ranks = scenario_.num_ranks();
  probe_routing_ = compute_routing(scenario_);  // 1 token per rank (set by the constructor)
  const Traffic probe = compute_traffic(scenario_, probe_routing_);
  const auto n = static_cast<std::size_t>(num_ranks);
  dispatch_send_us_per_token_.assign(n, 0.0);
  combine_recv_us_per_token_.assign(n, 0.0);
  expert_copy_share_.assign(n, 0.0);
  const std::vector<double> copies = received_copies(probe.routing);
  const double total_copies = std::accumulate(copies.begin(), copies.end(), 0.0);
  bool any_rdma = false;
  for (int r = 0; r < num_ranks; ++r) {
    const auto i = static_cast<std::size_t>(r);
    const ClassTotals& d_send = probe.dispatch.send[i];
    const ClassTotals& d_recv = probe.dispatch.recv[i];
    const ClassTotals& c_send = probe.combine.send[i];
    const ClassTotals& c_recv = probe.combine.recv[i];
    any_rdma = any_rdma || d_send.bytes[2] > 0;
    dispatch_send_us_per_token_[i] = send_side_us(d_send, comm_);
    combine_recv_us_per_token_[i] = recv_side_us(c_recv, comm_);
    dispatch_recv_us_per_total_token_ =
        std::max(dispatch_recv_us_per_total_token_, recv_side_us(d_recv, comm_) / num_ranks);
    combine_send_us_per_total_token_ =
        std::max(combine_send_us_per_total_token_, send_side_us(c_send, comm_) / num_ranks);
    expert_copy_share_[i] = total_copies > 0 ? copies[i] / total_copies : 0.0;
  }
  const double latency_us = any_rdma ? comm_.rdma_latency_us : comm_.nvlink_latency_us;
  dispatch_fixed_us_ = comm_.dispatch_fixed_us + latency_us;
  combine_fixed_us_ = comm_.combine_fixed_us + latency_us;
}

Traffic DecodeModel::traffic_for(const Scenario& sc) const {
  if (sc.routing.sampled()) return compute_traffic(sc);
  // Expected routing is linear in each source's tokens (docs/model.md §3): scale the probe.
  RoutingCounts routing = probe_routing_;
  const int num_ranks = routing.num_ranks;
  double total_tokens = 0;
  for (int src = 0; src < num_ranks; ++src) {
    const auto tokens = static_cast<double>(sc.tokens_per_rank[static_cast<std::size_t>(src)]);
    total_tokens += tokens;
    routing.copies.scale_row(src, tokens);
    routing.token_ranks.scale_row(src, tokens);
    routing.token_domains.scale_row(src, tokens);
  }
  // Expert popularity does not depend on the source, so expert load scales with the total.
  for (double& load : routing.expert_load)
    load *= total_tokens / num_ranks;
  return compute_traffic(sc, std::move(routing));
}

// docs/model.md §8.1.
double DecodeModel::attention_us(std::int64_t tokens, std::int64_t kv_tokens) const {
  if (tokens <= 0) return 0.0;  // an idle rank joins dispatch/combine with an empty batch
  return params_.attn_fixed_us + params_.attn_us_per_token * static_cast<double>(tokens) +
         params_.attn_us_per_kv_token * static_cast<double>(kv_tokens);
}

// docs/model.md §8.3: expected active experts n (1 - exp(-copies / n)), each read once.
double DecodeModel::expert_us(int rank, double copies) const {
  if (copies <= 0) return params_.gemm_fixed_us;
  const double num_local = experts_on_rank_[static_cast<std::size_t>(rank)];
  if (num_local <= 0) return params_.gemm_fixed_us;
  const double active = num_local * (1.0 - std::exp(-copies / num_local));
  const double weight_bytes = active * model_.expert_weight_bytes();
  const double flops = 2.0 * 3.0 * model_.hidden * static_cast<double>(model_.moe_ffn) * copies;
  return params_.gemm_fixed_us + std::max(weight_bytes / (params_.hbm_gbps * kBytesPerUsPerGbps),
                                          flops / (params_.tflops * kFlopsPerUsPerTflops));
}

namespace {
/// Roofline of one dense SwiGLU FFN of intermediate size `ffn` on `tokens` tokens.
double ffn_roofline_us(const ModelConfig& model, const DecodeParams& params, double ffn,
                       double tokens) {
  const double weight_bytes = 3.0 * model.hidden * ffn * model.weight_bytes_per_param;
  const double flops = 2.0 * 3.0 * model.hidden * ffn * tokens;
  return params.gemm_fixed_us + std::max(weight_bytes / (params.hbm_gbps * kBytesPerUsPerGbps),
                                         flops / (params.tflops * kFlopsPerUsPerTflops));
}
}  // namespace

double DecodeModel::shared_expert_us(double tokens) const {
  if (tokens <= 0 || model_.num_shared_experts == 0) return 0.0;
  return ffn_roofline_us(
      model_, params_, static_cast<double>(model_.shared_ffn) * model_.num_shared_experts, tokens);
}

double DecodeModel::dense_ffn_us(double tokens) const {
  if (tokens <= 0) return 0.0;
  return ffn_roofline_us(model_, params_, model_.dense_ffn, tokens);
}

// docs/model.md §8.2 (no TBO) and §8.3 (TBO), then the dense layers and the fixed part.
StepResult DecodeModel::step(const std::vector<RankLoad>& loads) const {
  const int num_ranks = scenario_.num_ranks();
  if (static_cast<int>(loads.size()) != num_ranks) {
    throw InputError("loads", fmt::format("{} ranks", loads.size()),
                     fmt::format("must have one entry per rank ({})", num_ranks));
  }
  const auto n = static_cast<std::size_t>(num_ranks);
  StepResult result;
  result.loads = loads;
  result.rank_parts.assign(n, StepParts{});

  auto scenario_with = [&](auto tokens_of) {
    Scenario sc = scenario_;
    std::int64_t max_tokens = 0;
    for (std::size_t r = 0; r < n; ++r) {
      sc.tokens_per_rank[r] = tokens_of(loads[r]);
      max_tokens = std::max(max_tokens, sc.tokens_per_rank[r]);
    }
    // The LL receive buffer is sized by the deployment; the plan asks what a placement would cost,
    // so it grows the buffer instead of rejecting a placement (docs/model.md §8.2).
    sc.moe.max_tokens_per_rank =
        static_cast<int>(std::max<std::int64_t>(sc.moe.max_tokens_per_rank, max_tokens));
    return sc;
  };

  const auto num_moe = static_cast<double>(model_.num_moe_layers());
  double moe_layer_us = 0;
  if (!params_.two_batch_overlap) {
    std::vector<double> attention(n);
    for (std::size_t r = 0; r < n; ++r)
      attention[r] = attention_us(loads[r].tokens, loads[r].kv_tokens);
    const double first_start = *std::min_element(attention.begin(), attention.end());
    Scenario sc = scenario_with([](const RankLoad& l) { return l.tokens; });
    sc.start_offset_us.resize(n);
    for (std::size_t r = 0; r < n; ++r)
      sc.start_offset_us[r] = attention[r] - first_start;
    const Traffic traffic = traffic_for(sc);
    const EstimateResult est = estimate(sc, traffic, comm_);
    const std::vector<double> copies = received_copies(traffic.routing);

    std::vector<double> expert(n), combine_start(n);
    for (std::size_t r = 0; r < n; ++r) {
      expert[r] = expert_us(static_cast<int>(r), copies[r]) +
                  shared_expert_us(static_cast<double>(loads[r].tokens));
      combine_start[r] = first_start + est.dispatch.ranks[r].finish_us + expert[r];
    }
    // Combine is an all-to-all barrier: the estimate times it from an aligned start, and the
    // latest rank to start it shifts everyone's finish (docs/model.md §8.2).
    const double last_combine_start = *std::max_element(combine_start.begin(), combine_start.end());
    for (std::size_t r = 0; r < n; ++r) {
      const RankPhase& c = est.combine.ranks[r];
      moe_layer_us = std::max(moe_layer_us, last_combine_start + c.finish_us - c.start_us);
    }
    for (std::size_t r = 0; r < n; ++r) {
      const RankPhase& d = est.dispatch.ranks[r];
      const RankPhase& c = est.combine.ranks[r];
      StepParts& p = result.rank_parts[r];
      p.attention_us = attention[r];
      p.dispatch_us = d.duration_us() - d.wait_us;
      p.expert_us = expert[r];
      p.combine_us = c.duration_us() - c.wait_us;
      p.waiting_us = moe_layer_us - p.attention_us - p.dispatch_us - p.expert_us - p.combine_us;
    }
  } else {
    const Scenario sc1 = scenario_with([](const RankLoad& l) { return first_half(l).tokens; });
    const Scenario sc2 = scenario_with([](const RankLoad& l) { return second_half(l).tokens; });
    const Traffic traffic1 = traffic_for(sc1);
    const Traffic traffic2 = traffic_for(sc2);
    const EstimateResult est1 = estimate(sc1, traffic1, comm_);
    const EstimateResult est2 = estimate(sc2, traffic2, comm_);
    const std::vector<double> copies1 = received_copies(traffic1.routing);
    const std::vector<double> copies2 = received_copies(traffic2.routing);
    std::vector<double> attention(n), expert(n);
    double max_compute = 0;
    for (std::size_t r = 0; r < n; ++r) {
      const RankLoad h1 = first_half(loads[r]);
      const RankLoad h2 = second_half(loads[r]);
      attention[r] = attention_us(h1.tokens, h1.kv_tokens) + attention_us(h2.tokens, h2.kv_tokens);
      expert[r] = expert_us(static_cast<int>(r), copies1[r]) +
                  expert_us(static_cast<int>(r), copies2[r]) +
                  shared_expert_us(static_cast<double>(h1.tokens)) +
                  shared_expert_us(static_cast<double>(h2.tokens));
      max_compute = std::max(max_compute, attention[r] + expert[r]);
    }
    const double comm_us = est1.total_us + est2.total_us;
    moe_layer_us = std::max(max_compute, comm_us);
    // Communication shows only where compute cannot cover it; split it as dispatch vs combine.
    const double exposed_us = std::max(0.0, comm_us - max_compute);
    const double dispatch_share_den =
        est1.dispatch_us + est2.dispatch_us + est1.combine_us + est2.combine_us;
    const double dispatch_share =
        dispatch_share_den > 0 ? (est1.dispatch_us + est2.dispatch_us) / dispatch_share_den : 0.5;
    for (std::size_t r = 0; r < n; ++r) {
      StepParts& p = result.rank_parts[r];
      p.attention_us = attention[r];
      p.expert_us = expert[r];
      p.dispatch_us = exposed_us * dispatch_share;
      p.combine_us = exposed_us * (1.0 - dispatch_share);
      p.waiting_us = moe_layer_us - p.attention_us - p.expert_us - p.dispatch_us - p.combine_us;
    }
  }
  for (StepParts& p : result.rank_parts) {
    p.attention_us *= num_moe;
    p.dispatch_us *= num_moe;
    p.expert_us *= num_moe;
    p.combine_us *= num_moe;
    p.waiting_us *= num_moe;
  }
  result.moe_layer_us = moe_layer_us;
  result.step_us = num_moe * moe_layer_us;
  add_dense_and_other(loads, result);
  return result;
}

// The dense layers run before the first MoE layer, whose dispatch barrier aligns the ranks: the
// step pays the slowest rank's dense layers; the others wait (docs/model.md §8.2).
void DecodeModel::add_dense_and_other(const std::vector<RankLoad>& loads,
                                      StepResult& result) const {
  const auto n = loads.size();
  std::vector<double> dense(n);
  for (std::size_t r = 0; r < n; ++r) {
    dense[r] = model_.num_dense_layers * (attention_us(loads[r].tokens, loads[r].kv_tokens) +
                                          dense_ffn_us(static_cast<double>(loads[r].tokens)));
  }
  const double dense_us = *std::max_element(dense.begin(), dense.end());
  result.step_us += dense_us + params_.step_fixed_us;

  std::vector<double> batch(n), kv(n);
  double total_tokens = 0;
  double least_wait = 0;
  for (std::size_t r = 0; r < n; ++r) {
    StepParts& p = result.rank_parts[r];
    p.dense_us = dense[r];
    p.waiting_us += dense_us - dense[r];
    p.other_us = params_.step_fixed_us;
    result.mean_parts.attention_us += p.attention_us / static_cast<double>(n);
    result.mean_parts.dispatch_us += p.dispatch_us / static_cast<double>(n);
    result.mean_parts.expert_us += p.expert_us / static_cast<double>(n);
    result.mean_parts.combine_us += p.combine_us / static_cast<double>(n);
    result.mean_parts.dense_us += p.dense_us / static_cast<double>(n);
    result.mean_parts.other_us += p.other_us / static_cast<double>(n);
    result.mean_parts.waiting_us += p.waiting_us / static_cast<double>(n);
    if (r == 0 || p.waiting_us < least_wait) {
      least_wait = p.waiting_us;
      result.critical_rank = static_cast<int>(r);
    }
    batch[r] = static_cast<double>(loads[r].tokens);
    kv[r] = static_cast<double>(loads[r].kv_tokens);
    total_tokens += batch[r];
  }
  result.tokens_per_s = result.step_us > 0 ? total_tokens / result.step_us * 1e6 : 0.0;
  result.batch = imbalance(batch);
  result.kv = imbalance(kv);
}

// ---- Surrogate (docs/model.md §8.4) ---------------------------------------------------------

SurrogateKeys DecodeModel::keys(int rank, std::int64_t tokens, std::int64_t kv_tokens,
                                double total_tokens) const {
  const auto i = static_cast<std::size_t>(rank);
  const double copies = model_.topk * total_tokens * expert_copy_share_[i];
  const auto b = static_cast<double>(tokens);
  const double num_moe = model_.num_moe_layers();
  // The dense layers' work is charged to the compute key, spread over the MoE layers.
  const double dense =
      model_.num_dense_layers * (attention_us(tokens, kv_tokens) + dense_ffn_us(b)) / num_moe;
  SurrogateKeys k;
  if (!params_.two_batch_overlap) {
    k.attention_us = attention_us(tokens, kv_tokens);
    k.k1 = k.attention_us + dispatch_send_us_per_token_[i] * b + dense;
    k.k2 = expert_us(rank, copies) + shared_expert_us(b);
    k.k3 = combine_recv_us_per_token_[i] * b;
  } else {
    const RankLoad h1 = first_half({0, tokens, kv_tokens});
    const RankLoad h2 = second_half({0, tokens, kv_tokens});
    k.attention_us = attention_us(h1.tokens, h1.kv_tokens) + attention_us(h2.tokens, h2.kv_tokens);
    k.k1 = k.attention_us + 2.0 * expert_us(rank, copies / 2.0) +
           shared_expert_us(static_cast<double>(h1.tokens)) +
           shared_expert_us(static_cast<double>(h2.tokens)) + dense;
    k.k2 = dispatch_send_us_per_token_[i] * b;
    k.k3 = combine_recv_us_per_token_[i] * b;
  }
  return k;
}

double DecodeModel::surrogate_from_max(double max_k1, double max_k2, double max_k3,
                                       double total_tokens, double mean_attention_us) const {
  const double num_moe = model_.num_moe_layers();
  const double d_recv = dispatch_recv_us_per_total_token_ * total_tokens;
  const double c_send = combine_send_us_per_total_token_ * total_tokens;
  double layer_us;
  if (!params_.two_batch_overlap) {
    const double dispatch_end = std::max(max_k1, mean_attention_us + d_recv) + dispatch_fixed_us_;
    layer_us = dispatch_end + max_k2 + std::max(max_k3, c_send) + combine_fixed_us_;
  } else {
    const double half_comm = dispatch_fixed_us_ + std::max(max_k2, d_recv) / 2.0 +
                             combine_fixed_us_ + std::max(max_k3, c_send) / 2.0;
    layer_us = std::max(max_k1, 2.0 * half_comm);
  }
  return num_moe * layer_us + params_.step_fixed_us;
}

double DecodeModel::surrogate_step_us(const std::vector<RankLoad>& loads) const {
  double total_tokens = 0;
  for (const RankLoad& l : loads)
    total_tokens += static_cast<double>(l.tokens);
  double m1 = 0, m2 = 0, m3 = 0, sum_attention = 0;
  for (std::size_t r = 0; r < loads.size(); ++r) {
    const SurrogateKeys k =
        keys(static_cast<int>(r), loads[r].tokens, loads[r].kv_tokens, total_tokens);
    m1 = std::max(m1, k.k1);
    m2 = std::max(m2, k.k2);
    m3 = std::max(m3, k.k3);
    sum_attention += k.attention_us;
  }
  return surrogate_from_max(m1, m2, m3, total_tokens,
                            sum_attention / static_cast<double>(loads.size()));
}

}  // namespace epscope
