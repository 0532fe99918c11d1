#include "text_report.h"

#include <fmt/format.h>

#include "epscope/base/lists.h"

namespace epscope::cli {
namespace {

std::string rank_range(int first, int last) {
  return first == last ? fmt::format("{}", first) : fmt::format("{}-{}", first, last);
}

std::string mb(std::uint64_t bytes) {
  return fmt::format("{:.2f}", static_cast<double>(bytes) / 1e6);
}

std::string row(const RankResult& r) {
  const auto nvl = static_cast<std::size_t>(LinkClass::kNvlink);
  const auto rdma = static_cast<std::size_t>(LinkClass::kRdma);
  const ClassTotals& ds = r.dispatch_send;
  const ClassTotals& dr = r.dispatch_recv;
  return fmt::format(
      "{:>7} {:>11.1f} {:>10.1f} {:>9.1f} {:>8.1f} {:>9.0f} {:>9.0f} {:>9.0f} {:>9.0f} {:>8} {:>8}",
      r.tokens, r.dispatch_us, r.combine_us, r.total_us, r.wait_us, ds.msgs[nvl], ds.msgs[rdma],
      dr.msgs[nvl], dr.msgs[rdma], mb(r.send_bytes), mb(r.recv_bytes));
}

}  // namespace

std::string describe(const Scenario& s) {
  const Cluster& c = s.cluster;
  std::string transport = c.nvlink_enabled ? "NVLink inside a domain" : "pure RDMA (NVLink off)";
  if (c.nvlink_domain_size > c.gpus_per_node)
    transport += fmt::format(", NVLink domain {} GPUs", c.nvlink_domain_size);
  return fmt::format(
      "{}, {} nodes x {} GPUs, mode {}, {}; hidden {}, top-{} of {} experts, {} dispatch / {} "
      "combine; routing {}{}; {}\ntokens per rank: {}",
      c.preset.empty() ? "custom cluster" : c.preset, c.num_nodes, c.gpus_per_node,
      to_string(s.mode), transport, s.moe.hidden, s.moe.topk, s.moe.num_experts,
      to_string(s.moe.dispatch_dtype), to_string(s.moe.combine_dtype), s.routing.to_string(),
      s.routing.sampled() && s.routing.file.empty() ? fmt::format(" (seed {})", s.routing.seed)
                                                    : "",
      s.back_to_back ? "back to back" : "sync between dispatch and combine",
      format_token_list(s.tokens_per_rank));
}

std::string rank_table(const EstimateResult& result) {
  std::string out = fmt::format(
      "{:>9} {:>7} {:>11} {:>10} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}  {}\n", "ranks",
      "tokens", "dispatch_us", "combine_us", "total_us", "wait_us", "snd_nvl", "snd_rdma",
      "rcv_nvl", "rcv_rdma", "send_MB", "recv_MB", "bottleneck (slower phase)");
  // Consecutive ranks with identical numbers share one row; the reason shown is the first's.
  std::size_t i = 0;
  while (i < result.ranks.size()) {
    const std::string numbers = row(result.ranks[i]);
    std::size_t j = i + 1;
    while (j < result.ranks.size() && row(result.ranks[j]) == numbers)
      ++j;
    out += fmt::format("{:>9} {}  {}\n", rank_range(static_cast<int>(i), static_cast<int>(j - 1)),
                       numbers, result.ranks[i].bottleneck);
    i = j;
  }
  out += "(snd/rcv: dispatch messages by link class; MB: dispatch + combine bytes)\n";
  return out;
}

}  // namespace epscope::cli
