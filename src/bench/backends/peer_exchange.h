// How the ranks of a per-GPU launch find each other's memory: each publishes one opaque handle
// (a cudaIpcMemHandle_t) and reads everyone's. Implemented by the fork launcher (launch.cpp).
#pragma once

#include <array>
#include <vector>

namespace epscope::bench {

using IpcHandle = std::array<char, 64>;

class PeerExchange {
 public:
  virtual ~PeerExchange() = default;
  /// Publishes this rank's handle, waits for every rank, returns all handles by rank.
  virtual std::vector<IpcHandle> all_gather(int rank, const IpcHandle& mine) = 0;
  /// Waits until every rank has called it.
  virtual void barrier() = 0;
};

}  // namespace epscope::bench
