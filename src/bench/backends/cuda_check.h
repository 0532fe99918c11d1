// CUDA and NCCL failures become epscope::Error with file and line (STYLE.md "Errors").
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "epscope/base/error.h"

#define EPSCOPE_CUDA_CHECK(call)                                                           \
  do {                                                                                     \
    const cudaError_t epscope_err_ = (call);                                               \
    if (epscope_err_ != cudaSuccess)                                                       \
      throw ::epscope::Error(std::string(#call) + ": " + cudaGetErrorString(epscope_err_), \
                             __FILE__, __LINE__);                                          \
  } while (0)
