// The event-driven max-min fair flow engine behind `simulate` (docs/model.md §7§3). It knows
// nothing of GPUs: resources with a capacity, flows with a path through them, a start time and a
// size, and gates that release a flow's bytes in chunks as another set of flows delivers
// (store-and-forward). Internal to epscope_core; simulate.cpp maps a Scenario onto it.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <vector>

namespace epscope::flowsim {

using ResourceId = std::int32_t;
inline constexpr int kMaxPathLength = 4;
/// Path placeholders an adaptive flow resolves when it starts (docs/model.md §7§2.3).
inline constexpr ResourceId kUplinkSlot = -2;
inline constexpr ResourceId kDownlinkSlot = -3;

/// A set of parallel leaf-to-spine paths: uplink first_up + k pairs with downlink first_down + k.
struct SpineChoice {
  ResourceId first_up = 0;
  ResourceId first_down = 0;
  int num_spines = 1;
};

struct FlowSpec {
  double bytes = 0;
  double start_us = 0;  // earliest time it may send
  int gate_in = -1;     // the gate its delivered bytes fill (a forwarder's inbound), -1 none
  int gate_out = -1;    // the gate that releases its bytes (a forwarder's outbound), -1 none
  int choice_idx = -1;  // SpineChoice that resolves kUplinkSlot/kDownlinkSlot when the flow
                        // starts: the spine whose two links carry the fewest unsent bytes
};

/// Per-segment view for timelines: [t0_us, t1_us) with used_gbps[resource] constant.
using SegmentSink =
    std::function<void(double t0_us, double t1_us, const std::vector<double>& used_gbps)>;

class FlowEngine {
 public:
  ResourceId add_resource(double capacity_gbps);
  /// A forwarder: its outbound flows may send `released / inbound` of their bytes once that share
  /// of its inbound bytes has arrived, in `num_chunks` steps, `delay_us` after the arrival.
  int add_gate(int num_chunks, double delay_us);
  int add_choice(const SpineChoice& choice);
  /// Returns the flow index. `path` lists 1..kMaxPathLength resources (or slots).
  int add_flow(const FlowSpec& spec, std::span<const ResourceId> path);

  /// 0 = no cap. Applies to every flow.
  void set_flow_cap_gbps(double cap_gbps) { flow_cap_gbps_ = cap_gbps; }
  /// Flows that would drain within `resolution` x (the busiest resource's bytes / capacity) of an
  /// event retire with it. 0 = exact (up to rounding).
  void set_resolution(double resolution) { resolution_ = resolution; }
  void set_segment_sink(SegmentSink sink) { sink_ = std::move(sink); }

  void run();

  int num_flows() const { return static_cast<int>(bytes_.size()); }
  int num_resources() const { return static_cast<int>(capacity_.size()); }
  /// Time the flow's last byte left its source (tx end), us.
  double finish_us(int flow) const { return finish_us_[static_cast<std::size_t>(flow)]; }
  /// The resource that limited the flow's rate in its last segment (-1: the flow cap).
  ResourceId last_bottleneck(int flow) const { return bottleneck_[static_cast<std::size_t>(flow)]; }
  /// The flow's resolved path.
  std::span<const ResourceId> path(int flow) const;
  double capacity_gbps(ResourceId resource) const;
  /// Bytes that crossed the resource, and the time it would need at full rate (bytes / capacity).
  double resource_bytes(ResourceId resource) const;
  /// Integral of used / capacity over time, us.
  double resource_busy_us(ResourceId resource) const;
  int num_events() const { return num_events_; }

 private:
  void activate(int flow);
  void resolve_choice(int flow);
  void fill_rates();
  void rebuild_lists();

  // Resources.
  std::vector<double> capacity_;  // bytes/us
  std::vector<double> remaining_;
  std::vector<int> num_unfrozen_;
  std::vector<double> bytes_through_;
  std::vector<double> busy_us_;
  std::vector<double> assigned_bytes_;      // adaptive routing load: unsent bytes of active flows
  std::vector<std::vector<int>> flows_of_;  // flows whose path uses the resource (some finished)

  // Flows, structure of arrays.
  std::vector<double> bytes_;
  std::vector<double> start_us_;
  std::vector<double> sent_;
  std::vector<double> available_;  // bytes it may have sent so far (gates); == bytes otherwise
  std::vector<double> rate_;       // bytes/us
  std::vector<double> finish_us_;
  std::vector<std::int32_t> gate_in_;
  std::vector<std::int32_t> gate_out_;
  std::vector<std::int32_t> choice_idx_;
  std::vector<ResourceId> path_;  // kMaxPathLength per flow
  std::vector<std::uint8_t> path_len_;
  std::vector<ResourceId> bottleneck_;
  std::vector<std::uint8_t> state_;  // FlowState

  struct Gate {
    int num_chunks = 1;
    double delay_us = 0;
    double inbound_bytes = 0;
    double arrived_bytes = 0;
    int released_chunks = 0;  // chunks whose release has been scheduled
    std::vector<int> outbound;
  };
  std::vector<Gate> gates_;
  std::vector<SpineChoice> choices_;

  double flow_cap_gbps_ = 0;
  double resolution_ = 0;
  bool any_choice_ = false;
  SegmentSink sink_;
  int num_events_ = 0;
  std::vector<int> active_;
  std::size_t dead_entries_ = 0;
  std::size_t live_entries_ = 0;
};

inline constexpr double kInfinity = std::numeric_limits<double>::infinity();

}  // namespace epscope::flowsim
