// Who sends how many bytes to whom, on which link class, for dispatch and for combine.
// Byte formulas: docs/model.md §2; per-mode traffic rules: docs/model.md §4.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "epscope/routing.h"
#include "epscope/scenario.h"

namespace epscope {

enum class LinkClass { kLocal = 0, kNvlink = 1, kRdma = 2 };
inline constexpr int kNumLinkClasses = 3;
const char* to_string(LinkClass link_class);

/// The link class between two ranks: self is a local copy; same NVLink domain with NVLink
/// enabled is NVLink; everything else goes through the NIC.
LinkClass link_class(const Cluster& cluster, int src, int dst);

/// Bytes of one message (docs/model.md §2).
std::int64_t dispatch_message_bytes(const MoeShape& moe, KernelMode mode);
std::int64_t combine_message_bytes(const MoeShape& moe, KernelMode mode);

/// Messages and bytes on one (src, dst) hop. Messages are real-valued under expected routing;
/// bytes are round(messages * message bytes), 64-bit.
struct Transfer {
  double num_msgs = 0;
  std::uint64_t bytes = 0;
};

/// Dense num_ranks x num_ranks matrix of transfers, row-major by source.
class TrafficMatrix {
 public:
  TrafficMatrix() = default;
  explicit TrafficMatrix(int num_ranks)
      : num_ranks_(num_ranks), cells_(static_cast<std::size_t>(num_ranks) * num_ranks) {}
  int num_ranks() const { return num_ranks_; }
  Transfer& at(int src, int dst) { return cells_[idx(src, dst)]; }
  const Transfer& at(int src, int dst) const { return cells_[idx(src, dst)]; }
  bool empty() const { return cells_.empty(); }

 private:
  std::size_t idx(int src, int dst) const {
    return static_cast<std::size_t>(src) * num_ranks_ + dst;
  }
  int num_ranks_ = 0;
  std::vector<Transfer> cells_;
};

/// One store-and-forward stage of a phase. LL and a2a have one stage. HT dispatch has two:
/// "rdma" (source to the forwarding GPU of each destination domain, plus direct NVLink inside the
/// source's domain) then "forward" (forwarder to final rank over NVLink); HT combine reverses them.
struct TrafficStage {
  std::string name;
  TrafficMatrix matrix;
};

/// Per-rank totals by link class; index with static_cast<int>(LinkClass).
struct ClassTotals {
  std::array<double, kNumLinkClasses> msgs{};
  std::array<std::uint64_t, kNumLinkClasses> bytes{};
  std::uint64_t total_bytes() const { return bytes[0] + bytes[1] + bytes[2]; }
  std::uint64_t remote_bytes() const { return bytes[1] + bytes[2]; }
};

struct PhaseTraffic {
  std::vector<TrafficStage> stages;
  std::vector<ClassTotals> send;  // [rank]: everything the rank puts on each link class
  std::vector<ClassTotals> recv;  // [rank]: everything arriving at the rank on each link class
  std::int64_t message_bytes = 0;
  /// DeepEP's "algorithm bytes" of each rank (every top-k copy, self and NVLink included, for LL;
  /// every (token, rank) record for HT): the numerator of DeepEP-style bandwidth.
  std::vector<double> algorithm_bytes;
};

struct Traffic {
  PhaseTraffic dispatch;
  PhaseTraffic combine;
  RoutingCounts routing;
};

/// Traffic of a scenario (computes routing first).
Traffic compute_traffic(const Scenario& scenario);
/// Traffic from precomputed routing counts.
Traffic compute_traffic(const Scenario& scenario, RoutingCounts routing);

}  // namespace epscope
