#include "bench/backends/device_info.h"

#include <cuda_runtime_api.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "bench/backends/cuda_check.h"
#include "bench/harness/cases.h"

namespace epscope::bench {

DeviceFacts device_facts(int device) {
  cudaDeviceProp prop{};
  EPSCOPE_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  DeviceFacts facts;
  facts.name = prop.name;
  facts.short_name = short_gpu_name(facts.name);
  facts.num_sms = prop.multiProcessorCount;
  return facts;
}

int cuda_device_count() {
  // Counted in a child process: a process that has initialized CUDA cannot fork GPU workers
  // (--launch per-gpu), and validation runs before the launch.
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) n = 0;
    _exit(std::min(n, 100));
  }
  if (pid < 0) return 0;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 0;
  return WEXITSTATUS(status);
}

}  // namespace epscope::bench
