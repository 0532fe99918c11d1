// MPI for grids too large for one machine: `mpirun -np N epscope sweep ...` splits the grid across
// ranks and gathers one result file on rank 0. Without MPI support (EPSCOPE_MPI=OFF, or MPI not
// found) or outside mpirun, the session is a single rank and every call is local.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <vector>

namespace epscope::cli {

class MpiSession {
 public:
  /// Initializes MPI only when built with it and launched by mpirun (OMPI_/PMI_/PMIX_ env).
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }

  /// The grid points this rank runs: round-robin (point % size == rank), so each rank gets a mix
  /// of cheap and expensive points when a grid axis grows the scenario.
  std::vector<std::size_t> my_points(std::size_t num_points) const;

  /// Gathers every rank's rows on rank 0, sorted by "point". Other ranks get an empty vector.
  std::vector<nlohmann::json> gather(const std::vector<nlohmann::json>& rows) const;

 private:
  int rank_ = 0;
  int size_ = 1;
  bool initialized_ = false;
};

}  // namespace epscope::cli
