// Who sends how many bytes to whom, on which link class, for dispatch and for combine.
// Byte formulas: docs/model.md §2; per-mode traffic rules: docs/model.md §4.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "epscope/scenario/scenario.h"
#include "epscope/traffic/routing.h"

namespace epscope {

enum class LinkClass { kLocal = 0, kNvlink = 1, kRdma = 2 };
inline constexpr int kNumLinkClasses = 3;
const char* to_string(LinkClass link_class);

/// The link class between two ranks: self is a local copy; same NVLink domain with NVLink
/// enabled is NVLink; everything else goes through the NIC.
LinkClass link_class(const Cluster& cluster, int src, int dst);

/// HT: the GPU of domain `dom` that forwards the tokens of `src` (docs/model.md §4.2).
int ht_forwarder(const Cluster& cluster, int src, int dom);

/// Bytes of one message (docs/model.md §2).
std::int64_t dispatch_message_bytes(const MoeShape& moe, KernelMode mode);
std::int64_t combine_message_bytes(const MoeShape& moe, KernelMode mode);

/// Messages and bytes on one (src, dst) hop. Messages are real-valued under expected routing;
/// bytes are round(messages * message bytes), 64-bit.
struct Transfer {
  double num_msgs = 0;
  std::uint64_t bytes = 0;
};

/// Bytes of `num_msgs` messages of `message_bytes` each: round(num_msgs x message_bytes), 64-bit
/// (docs/model.md §2); 0 when there are no messages. Converted through int64, one instruction on
/// x86-64 where uint64 branches: the same value below 2^63 B.
inline std::uint64_t transfer_bytes(double num_msgs, double message_bytes) {
  if (num_msgs <= 0) return 0;
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(num_msgs * message_bytes + 0.5));
}

/// Messages and bytes of every (src, dst) pair of one stage, sparse: the messages are a
/// ScaledRows (scaled_rows.h), read as is or transposed (combine runs dispatch's pairs backwards
/// and shares its rows), and the bytes of a cell are round(messages x message bytes), as
/// PhaseTraffic::message_bytes. docs/architecture.md "Traffic representation".
class TrafficMatrix {
 public:
  /// A pair with messages, seen from one rank: `peer` is its dst in a row, its src in a column.
  struct Cell {
    int peer = 0;
    Transfer transfer;
  };

  TrafficMatrix() = default;
  /// All zero.
  TrafficMatrix(int num_ranks, std::int64_t message_bytes);
  /// Messages (src, dst) = msgs.at(src, dst), or msgs.at(dst, src) when `transposed`.
  TrafficMatrix(ScaledRows msgs, std::int64_t message_bytes, bool transposed);

  int num_ranks() const { return msgs_.num_rows(); }
  bool empty() const { return num_ranks() == 0; }
  std::int64_t message_bytes() const { return message_bytes_; }
  /// The transfer of one pair; zero where there is none. O(log row length).
  Transfer at(int src, int dst) const {
    return transfer(transposed_ ? msgs_.at(dst, src) : msgs_.at(src, dst));
  }
  /// Sets the messages of one pair. For hand-built traffic (tests); O(row length).
  void set(int src, int dst, double num_msgs) {
    transposed_ ? msgs_.set(dst, src, num_msgs) : msgs_.set(src, dst, num_msgs);
  }

  /// Calls visit(src, dst, transfer) for every pair with messages (> 0), in the order of the
  /// stored rows, columns ascending: row-major as is, column-major when transposed. Either way a
  /// sum over the pairs of one src (or of one dst) sees its terms in ascending dst (src) order,
  /// as a row-major pass over the dense matrix does; sums that mix rows and columns may not.
  template <typename Visit>
  void for_each_cell(Visit&& visit) const {
    for (int r = 0; r < msgs_.num_rows(); ++r) {
      const ScaledRows::Row row = msgs_.row(r);
      for (std::size_t i = 0; i < row.cols.size(); ++i) {
        const double num_msgs = row.scale * row.values[i];
        if (num_msgs <= 0) continue;
        if (transposed_) {
          visit(row.cols[i], r, transfer(num_msgs));
        } else {
          visit(r, row.cols[i], transfer(num_msgs));
        }
      }
    }
  }

  /// True when the matrix is stored by dst (combine's view of dispatch's rows): for_each_column()
  /// is then the cheap pass, else for_each_row().
  bool transposed() const { return transposed_; }

  /// Calls visit(src, cells) for every src in order, with `cells` (a span of Cell) its pairs with
  /// messages, dst ascending. A transposed matrix is transposed on the way: O(cells) more.
  template <typename Visit>
  void for_each_row(Visit&& visit) const {
    for_each_line(!transposed_, visit);
  }
  /// Calls visit(dst, cells) for every dst in order, with `cells` its pairs with messages, src
  /// ascending. A matrix stored by src is transposed on the way: O(cells) more.
  template <typename Visit>
  void for_each_column(Visit&& visit) const {
    for_each_line(transposed_, visit);
  }

 private:
  Transfer transfer(double num_msgs) const {
    return {num_msgs, transfer_bytes(num_msgs, bytes_per_msg_)};
  }
  /// The stored rows one by one (`stored`), or the other orientation, gathered first.
  template <typename Visit>
  void for_each_line(bool stored, Visit& visit) const {
    if (!stored) {
      const std::vector<std::vector<Cell>> lines = crosswise();
      for (int r = 0; r < num_ranks(); ++r)
        visit(r, std::span<const Cell>(lines[static_cast<std::size_t>(r)]));
      return;
    }
    std::vector<Cell> cells;
    for (int r = 0; r < num_ranks(); ++r) {
      const ScaledRows::Row row = msgs_.row(r);
      cells.clear();
      for (std::size_t i = 0; i < row.cols.size(); ++i) {
        const double num_msgs = row.scale * row.values[i];
        if (num_msgs > 0) cells.push_back({row.cols[i], transfer(num_msgs)});
      }
      visit(r, std::span<const Cell>(cells));
    }
  }
  /// The stored matrix read by column: [col] = its cells, stored rows ascending.
  std::vector<std::vector<Cell>> crosswise() const;

  ScaledRows msgs_;
  std::int64_t message_bytes_ = 0;
  double bytes_per_msg_ = 0;
  bool transposed_ = false;
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
