// Event-driven max-min fair sharing by progressive filling. docs/model.md §7§3.
#include "flow_engine.h"

#include <algorithm>
#include <numeric>
#include <queue>

#include "epscope/base/error.h"
#include "epscope/base/units.h"

namespace epscope::flowsim {
namespace {

enum FlowState : std::uint8_t { kPending, kWaiting, kActive, kDone };

/// A flow counts as drained when what is left would take less than this at its rate, or is a
/// rounding remainder of its size. Flows ending within this of each other finish in one event.
constexpr double kTimeTolUs = 1e-7;
constexpr double kRelBytesTol = 1e-10;

struct Release {
  double time_us;
  int gate_idx;
  int chunks;
  bool operator>(const Release& other) const {
    if (time_us != other.time_us) return time_us > other.time_us;
    if (gate_idx != other.gate_idx) return gate_idx > other.gate_idx;
    return chunks > other.chunks;
  }
};

struct Share {
  double share;
  ResourceId resource;
  bool operator>(const Share& other) const {
    if (share != other.share) return share > other.share;
    return resource > other.resource;
  }
};

}  // namespace

ResourceId FlowEngine::add_resource(double capacity_gbps) {
  EPSCOPE_ASSERT(capacity_gbps > 0);
  capacity_.push_back(capacity_gbps * kBytesPerUsPerGbps);
  return static_cast<ResourceId>(capacity_.size() - 1);
}

int FlowEngine::add_gate(int num_chunks, double delay_us) {
  EPSCOPE_ASSERT(num_chunks >= 1 && delay_us >= 0);
  Gate gate;
  gate.num_chunks = num_chunks;
  gate.delay_us = delay_us;
  gates_.push_back(std::move(gate));
  return static_cast<int>(gates_.size() - 1);
}

int FlowEngine::add_choice(const SpineChoice& choice) {
  EPSCOPE_ASSERT(choice.num_spines >= 1);
  choices_.push_back(choice);
  return static_cast<int>(choices_.size() - 1);
}

int FlowEngine::add_flow(const FlowSpec& spec, std::span<const ResourceId> path) {
  EPSCOPE_ASSERT(spec.bytes > 0);
  EPSCOPE_ASSERT(!path.empty() && path.size() <= kMaxPathLength);
  EPSCOPE_ASSERT(spec.gate_in < static_cast<int>(gates_.size()));
  EPSCOPE_ASSERT(spec.gate_out < static_cast<int>(gates_.size()));
  EPSCOPE_ASSERT(spec.choice_idx < static_cast<int>(choices_.size()));
  const int flow = num_flows();
  bytes_.push_back(spec.bytes);
  start_us_.push_back(spec.start_us);
  gate_in_.push_back(spec.gate_in);
  gate_out_.push_back(spec.gate_out);
  choice_idx_.push_back(spec.choice_idx);
  for (int i = 0; i < kMaxPathLength; ++i) {
    const bool used = i < static_cast<int>(path.size());
    const ResourceId r = used ? path[static_cast<std::size_t>(i)] : -1;
    if (used) {
      const bool slot = r == kUplinkSlot || r == kDownlinkSlot;
      EPSCOPE_ASSERT(slot ? spec.choice_idx >= 0 : (r >= 0 && r < num_resources()));
    }
    path_.push_back(r);
  }
  path_len_.push_back(static_cast<std::uint8_t>(path.size()));
  if (spec.gate_in >= 0) gates_[static_cast<std::size_t>(spec.gate_in)].inbound_bytes += spec.bytes;
  if (spec.gate_out >= 0) gates_[static_cast<std::size_t>(spec.gate_out)].outbound.push_back(flow);
  if (spec.choice_idx >= 0) any_choice_ = true;
  return flow;
}

std::span<const ResourceId> FlowEngine::path(int flow) const {
  return {path_.data() + static_cast<std::size_t>(flow) * kMaxPathLength,
          path_len_[static_cast<std::size_t>(flow)]};
}

double FlowEngine::capacity_gbps(ResourceId resource) const {
  return capacity_[static_cast<std::size_t>(resource)] / kBytesPerUsPerGbps;
}
double FlowEngine::resource_bytes(ResourceId resource) const {
  return bytes_through_[static_cast<std::size_t>(resource)];
}
double FlowEngine::resource_busy_us(ResourceId resource) const {
  return busy_us_[static_cast<std::size_t>(resource)];
}

// The least-loaded spine: fewest unsent bytes on the busier of its two links, then on both, then
// the lowest index (deterministic). docs/model.md §7§2.3.
void FlowEngine::resolve_choice(int flow) {
  const auto& choice =
      choices_[static_cast<std::size_t>(choice_idx_[static_cast<std::size_t>(flow)])];
  int best = 0;
  double best_max = kInfinity, best_sum = kInfinity;
  for (int k = 0; k < choice.num_spines; ++k) {
    const double up = assigned_bytes_[static_cast<std::size_t>(choice.first_up + k)];
    const double down = assigned_bytes_[static_cast<std::size_t>(choice.first_down + k)];
    const double load_max = std::max(up, down), load_sum = up + down;
    if (load_max < best_max || (load_max == best_max && load_sum < best_sum)) {
      best = k;
      best_max = load_max;
      best_sum = load_sum;
    }
  }
  ResourceId* p = path_.data() + static_cast<std::size_t>(flow) * kMaxPathLength;
  for (int i = 0; i < path_len_[static_cast<std::size_t>(flow)]; ++i) {
    if (p[i] == kUplinkSlot) p[i] = choice.first_up + best;
    if (p[i] == kDownlinkSlot) p[i] = choice.first_down + best;
  }
}

void FlowEngine::activate(int flow) {
  const auto f = static_cast<std::size_t>(flow);
  if (choice_idx_[f] >= 0) resolve_choice(flow);
  for (ResourceId r : path(flow)) {
    flows_of_[static_cast<std::size_t>(r)].push_back(flow);
    bytes_through_[static_cast<std::size_t>(r)] += bytes_[f];
    if (any_choice_) assigned_bytes_[static_cast<std::size_t>(r)] += bytes_[f];
    ++live_entries_;
  }
  state_[f] = available_[f] > sent_[f] ? kActive : kWaiting;
}

void FlowEngine::rebuild_lists() {
  for (auto& list : flows_of_)
    list.clear();
  live_entries_ = 0;
  for (int flow = 0; flow < num_flows(); ++flow) {
    const auto s = state_[static_cast<std::size_t>(flow)];
    if (s != kActive && s != kWaiting) continue;
    for (ResourceId r : path(flow)) {
      flows_of_[static_cast<std::size_t>(r)].push_back(flow);
      ++live_entries_;
    }
  }
  dead_entries_ = 0;
}

// Progressive filling: raise every unfrozen flow's rate together; the resource whose fair share
// remaining / unfrozen is smallest saturates first and freezes its flows at that share.
// Freezing flows at the current level never lowers another resource's share, so a heap key is a
// lower bound of its resource's share: a popped key that is out of date is re-pushed with the
// current share (lazy update) instead of pushing every touched resource at every step.
void FlowEngine::fill_rates() {
  std::copy(capacity_.begin(), capacity_.end(), remaining_.begin());
  std::fill(num_unfrozen_.begin(), num_unfrozen_.end(), 0);
  for (int flow : active_) {
    rate_[static_cast<std::size_t>(flow)] = -1;  // unfrozen
    for (ResourceId r : path(flow))
      ++num_unfrozen_[static_cast<std::size_t>(r)];
  }
  std::vector<Share> entries;
  for (ResourceId r = 0; r < num_resources(); ++r) {
    const auto i = static_cast<std::size_t>(r);
    if (num_unfrozen_[i] > 0) entries.push_back({remaining_[i] / num_unfrozen_[i], r});
  }
  std::priority_queue<Share, std::vector<Share>, std::greater<>> heap(std::greater<>{},
                                                                      std::move(entries));
  const double cap = flow_cap_gbps_ > 0 ? flow_cap_gbps_ * kBytesPerUsPerGbps : kInfinity;
  while (!heap.empty()) {
    const Share top = heap.top();
    heap.pop();
    const auto bi = static_cast<std::size_t>(top.resource);
    if (num_unfrozen_[bi] == 0) continue;
    const double share = std::max(0.0, remaining_[bi]) / num_unfrozen_[bi];
    if (share > top.share * (1 + 1e-12)) {
      heap.push({share, top.resource});
      continue;
    }
    if (share >= cap) break;
    for (int flow : flows_of_[bi]) {
      const auto f = static_cast<std::size_t>(flow);
      if (state_[f] != kActive || rate_[f] >= 0) continue;
      rate_[f] = share;
      bottleneck_[f] = top.resource;
      for (ResourceId r : path(flow)) {
        const auto i = static_cast<std::size_t>(r);
        remaining_[i] -= share;
        --num_unfrozen_[i];
      }
    }
  }
  for (int flow : active_) {  // what is left is held back only by the per-flow cap
    const auto f = static_cast<std::size_t>(flow);
    if (rate_[f] >= 0) continue;
    rate_[f] = cap;
    bottleneck_[f] = -1;
    for (ResourceId r : path(flow))
      remaining_[static_cast<std::size_t>(r)] -= cap;
  }
}

void FlowEngine::run() {
  const auto num_res = static_cast<std::size_t>(num_resources());
  const auto n = static_cast<std::size_t>(num_flows());
  remaining_.assign(num_res, 0);
  num_unfrozen_.assign(num_res, 0);
  bytes_through_.assign(num_res, 0);
  busy_us_.assign(num_res, 0);
  assigned_bytes_.assign(num_res, 0);
  flows_of_.assign(num_res, {});
  sent_.assign(n, 0);
  rate_.assign(n, 0);
  finish_us_.assign(n, kInfinity);
  bottleneck_.assign(n, -1);
  state_.assign(n, kPending);
  available_.resize(n);
  for (std::size_t f = 0; f < n; ++f) {
    const int g = gate_out_[f];
    const bool gated = g >= 0 && gates_[static_cast<std::size_t>(g)].inbound_bytes > 0;
    available_[f] = gated ? 0 : bytes_[f];
  }
  if (n == 0) return;

  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return start_us_[static_cast<std::size_t>(a)] < start_us_[static_cast<std::size_t>(b)];
  });
  std::priority_queue<Release, std::vector<Release>, std::greater<>> releases;
  std::vector<double> inflow(gates_.size(), 0);
  std::vector<double> used_gbps(sink_ ? num_res : 0);

  // Flows that would drain within retire_us of an event retire with it: one rate recomputation
  // instead of many. docs/model.md §7§3.2.
  double retire_us = kTimeTolUs;
  if (resolution_ > 0) {
    std::vector<double> load(num_res, 0);
    for (std::size_t f = 0; f < n; ++f) {
      for (ResourceId r : path(static_cast<int>(f))) {
        if (r >= 0) load[static_cast<std::size_t>(r)] += bytes_[f];
      }
    }
    double bound_us = 0;
    for (std::size_t r = 0; r < num_res; ++r)
      bound_us = std::max(bound_us, load[r] / capacity_[r]);
    retire_us = std::max(retire_us, resolution_ * bound_us);
  }

  double t = start_us_[static_cast<std::size_t>(order[0])];
  std::size_t next_start = 0;
  bool changed = true;
  while (true) {
    while (next_start < n && start_us_[static_cast<std::size_t>(order[next_start])] <= t) {
      const int flow = order[next_start++];
      activate(flow);
      if (state_[static_cast<std::size_t>(flow)] == kActive) active_.push_back(flow);
      changed = true;
    }
    while (!releases.empty() && releases.top().time_us <= t) {
      const Release rel = releases.top();
      releases.pop();
      const Gate& gate = gates_[static_cast<std::size_t>(rel.gate_idx)];
      const double fraction = static_cast<double>(rel.chunks) / gate.num_chunks;
      for (int flow : gate.outbound) {
        const auto f = static_cast<std::size_t>(flow);
        available_[f] = rel.chunks == gate.num_chunks ? bytes_[f] : bytes_[f] * fraction;
        if (state_[f] == kWaiting && available_[f] > sent_[f]) {
          state_[f] = kActive;
          active_.push_back(flow);
        }
      }
      changed = true;
    }
    if (changed) {
      fill_rates();
      changed = false;
    }

    // The next event: a start, a release, a flow draining, or a gate crossing a chunk boundary.
    double dt = kInfinity;
    if (next_start < n) dt = start_us_[static_cast<std::size_t>(order[next_start])] - t;
    if (!releases.empty()) dt = std::min(dt, releases.top().time_us - t);
    std::fill(inflow.begin(), inflow.end(), 0);
    for (int flow : active_) {
      const auto f = static_cast<std::size_t>(flow);
      if (rate_[f] > 0) dt = std::min(dt, (available_[f] - sent_[f]) / rate_[f]);
      if (gate_in_[f] >= 0) inflow[static_cast<std::size_t>(gate_in_[f])] += rate_[f];
    }
    for (std::size_t g = 0; g < gates_.size(); ++g) {
      const Gate& gate = gates_[g];
      if (inflow[g] <= 0 || gate.released_chunks >= gate.num_chunks) continue;
      const double boundary = gate.inbound_bytes * (gate.released_chunks + 1) / gate.num_chunks;
      dt = std::min(dt, std::max(0.0, boundary - gate.arrived_bytes) / inflow[g]);
    }
    if (dt == kInfinity) {
      EPSCOPE_ASSERT(active_.empty());  // a flow stuck at rate 0 would be a bug
      break;
    }
    dt = std::max(0.0, dt);
    const double t1 = t + dt;
    ++num_events_;

    for (std::size_t r = 0; r < num_res; ++r) {
      const double used = std::max(0.0, capacity_[r] - remaining_[r]);
      busy_us_[r] += used / capacity_[r] * dt;
      if (sink_) used_gbps[r] = used / kBytesPerUsPerGbps;
    }
    if (sink_ && dt > 0) sink_(t, t1, used_gbps);

    // Advance, then retire what drained.
    bool any_retired = false;
    for (int flow : active_) {
      const auto f = static_cast<std::size_t>(flow);
      const double moved = rate_[f] * dt;
      sent_[f] += moved;
      if (gate_in_[f] >= 0) gates_[static_cast<std::size_t>(gate_in_[f])].arrived_bytes += moved;
      if (any_choice_) {
        for (ResourceId r : path(flow))
          assigned_bytes_[static_cast<std::size_t>(r)] -= moved;
      }
      const double left = available_[f] - sent_[f];
      if (left <= kRelBytesTol * bytes_[f] || left <= rate_[f] * retire_us) {
        if (gate_in_[f] >= 0) gates_[static_cast<std::size_t>(gate_in_[f])].arrived_bytes += left;
        sent_[f] = available_[f];
        any_retired = true;
        if (available_[f] >= bytes_[f]) {
          state_[f] = kDone;
          finish_us_[f] = t1;
          dead_entries_ += path_len_[f];
        } else {
          state_[f] = kWaiting;
        }
      }
    }
    if (any_retired) {
      std::erase_if(active_,
                    [&](int flow) { return state_[static_cast<std::size_t>(flow)] != kActive; });
      changed = true;
    }
    for (std::size_t g = 0; g < gates_.size(); ++g) {
      Gate& gate = gates_[g];
      const double tol = kRelBytesTol * gate.inbound_bytes + inflow[g] * kTimeTolUs;
      int crossed = gate.released_chunks;
      while (crossed < gate.num_chunks &&
             gate.arrived_bytes + tol >= gate.inbound_bytes * (crossed + 1) / gate.num_chunks) {
        ++crossed;
      }
      if (crossed > gate.released_chunks) {
        gate.released_chunks = crossed;
        releases.push({t1 + gate.delay_us, static_cast<int>(g), crossed});
      }
    }
    if (dead_entries_ > live_entries_ / 2 + 1024) rebuild_lists();
    t = t1;
  }
}

}  // namespace epscope::flowsim
