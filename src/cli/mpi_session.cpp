#include "mpi_session.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "epscope/base/error.h"

#ifdef EPSCOPE_HAVE_MPI
#include <mpi.h>
#endif

namespace epscope::cli {
namespace {

bool launched_by_mpirun() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"}) {
    if (std::getenv(var) != nullptr) return true;
  }
  return false;
}

}  // namespace

MpiSession::MpiSession() {
#ifdef EPSCOPE_HAVE_MPI
  if (!launched_by_mpirun()) return;
  MPI_Init(nullptr, nullptr);
  initialized_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
#else
  (void)launched_by_mpirun;
#endif
}

MpiSession::~MpiSession() {
#ifdef EPSCOPE_HAVE_MPI
  if (initialized_) MPI_Finalize();
#endif
}

std::vector<std::size_t> MpiSession::my_points(std::size_t num_points) const {
  std::vector<std::size_t> points;
  for (std::size_t p = static_cast<std::size_t>(rank_); p < num_points;
       p += static_cast<std::size_t>(size_))
    points.push_back(p);
  return points;
}

std::vector<nlohmann::json> MpiSession::gather(const std::vector<nlohmann::json>& rows) const {
  if (size_ == 1) return rows;
#ifdef EPSCOPE_HAVE_MPI
  // Each rank sends its rows as one JSON text; rank 0 concatenates and re-sorts by point.
  const std::string mine = nlohmann::json(rows).dump();
  const int my_len = static_cast<int>(mine.size());
  EPSCOPE_ASSERT(mine.size() < static_cast<std::size_t>(INT32_MAX));
  std::vector<int> lengths(static_cast<std::size_t>(size_));
  MPI_Gather(&my_len, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::vector<int> offsets(static_cast<std::size_t>(size_), 0);
  std::string all;
  if (is_root()) {
    long long sum = 0;
    for (std::size_t r = 0; r < lengths.size(); ++r) {
      offsets[r] = static_cast<int>(sum);
      sum += lengths[r];
    }
    EPSCOPE_ASSERT(sum < INT32_MAX);
    all.resize(static_cast<std::size_t>(sum));
  }
  MPI_Gatherv(mine.data(), my_len, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR,
              0, MPI_COMM_WORLD);
  std::vector<nlohmann::json> merged;
  if (!is_root()) return merged;
  for (std::size_t r = 0; r < lengths.size(); ++r) {
    const auto part = nlohmann::json::parse(
        all.substr(static_cast<std::size_t>(offsets[r]), static_cast<std::size_t>(lengths[r])));
    for (const auto& row : part)
      merged.push_back(row);
  }
  std::sort(merged.begin(), merged.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return a["point"].get<std::size_t>() < b["point"].get<std::size_t>();
  });
  return merged;
#else
  return rows;
#endif
}

}  // namespace epscope::cli
