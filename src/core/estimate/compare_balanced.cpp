// An imbalanced scenario against the same total spread evenly, and why they differ.
#include <fmt/format.h>
#include <algorithm>

#include "epscope/base/lists.h"
#include "epscope/estimate/estimate.h"
#include "message_unit.h"

namespace epscope {
namespace {

/// Messages of the given classes arriving at the busiest receiver in dispatch.
double max_recv_msgs(const Traffic& t, bool nvlink_too) {
  double best = 0;
  for (const auto& r : t.dispatch.recv)
    best = std::max(best, (nvlink_too ? r.msgs[1] : 0.0) + r.msgs[2]);
  return best;
}

std::string phase_line(const char* name, const PhaseResult& u, const PhaseResult& b) {
  return fmt::format("  {}: {:.1f} us vs {:.1f} us balanced (x{:.2f}); bound by {}; balanced: {}\n",
                     name, u.duration_us, b.duration_us,
                     b.duration_us > 0 ? u.duration_us / b.duration_us : 1.0, u.bottleneck.reason,
                     b.bottleneck.reason);
}

}  // namespace

Comparison compare_balanced(const Scenario& scenario, const ModelParams& params) {
  Comparison c;
  const Traffic tu = compute_traffic(scenario);
  const Scenario bal = balanced(scenario);
  const Traffic tb = compute_traffic(bal);
  c.unbalanced = estimate(scenario, tu, params);
  c.balanced = estimate(bal, tb, params);
  c.ratio = c.balanced.total_us > 0 ? c.unbalanced.total_us / c.balanced.total_us : 1.0;
  const double recv_u = max_recv_msgs(tu, true);
  const double recv_b = max_recv_msgs(tb, true);
  const char* unit = unit_name(scenario.mode);
  c.why = fmt::format("unbalanced / balanced = {:.2f} ({:.1f} us vs {:.1f} us; tokens {} vs {})\n",
                      c.ratio, c.unbalanced.total_us, c.balanced.total_us,
                      format_token_list(scenario.tokens_per_rank),
                      format_token_list(bal.tokens_per_rank));
  c.why += phase_line("dispatch", c.unbalanced.dispatch, c.balanced.dispatch);
  c.why += phase_line("combine", c.unbalanced.combine, c.balanced.combine);
  c.why += fmt::format(
      "  a receive-only count sees the busiest receiver get {:.0f} remote {} vs {:.0f} balanced "
      "({:+.1f}%): it misses that every rank waits for the slowest sender",
      recv_u, unit, recv_b, recv_b > 0 ? (recv_u / recv_b - 1) * 100 : 0.0);
  const double rdma_u = max_recv_msgs(tu, false);
  const double rdma_b = max_recv_msgs(tb, false);
  if (scenario.cluster.nvlink_enabled && rdma_u > 0 && rdma_b > 0) {
    // The maintainers' first-order rule: count what each GPU receives over RDMA.
    c.why += fmt::format(
        "\n  counting only RDMA receive (NVLink is cheaper): {:.0f} vs {:.0f} {} at the busiest "
        "receiver (x{:.2f})",
        rdma_u, rdma_b, unit, rdma_u / rdma_b);
  }
  return c;
}

}  // namespace epscope
