#include "bench/device_info.h"

#include <cuda_runtime_api.h>

#include "bench/cases.h"
#include "bench/cuda_check.h"

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
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

}  // namespace epscope::bench
