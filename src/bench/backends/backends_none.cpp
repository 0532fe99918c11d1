// Backend factories of a build without CUDA: every GPU request is a clear input error.
#include "bench/backends/backends.h"
#include "bench/backends/device_info.h"
#include "epscope/base/error.h"

namespace epscope::bench {
namespace {
[[noreturn]] void no_cuda(const std::string& backend) {
  throw InputError("--backend", backend,
                   "this epscope was built without CUDA; rebuild with -DEPSCOPE_CUDA=ON");
}
}  // namespace

std::unique_ptr<Backend> make_nvlink_backend(const Scenario&, const BenchOptions&,
                                             const std::vector<LocalRank>&, PeerExchange*) {
  no_cuda("nvlink");
}
std::unique_ptr<Backend> make_nccl_backend(const Scenario&, const BenchOptions&,
                                           const std::vector<LocalRank>&,
                                           const std::vector<char>&) {
  no_cuda("nccl");
}
std::vector<char> make_nccl_unique_id() {
  no_cuda("nccl");
}
int cuda_device_count() {
  return 0;
}

}  // namespace epscope::bench
