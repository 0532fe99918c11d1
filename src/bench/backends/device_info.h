// Facts about a CUDA device that the records carry.
#pragma once

#include <string>

namespace epscope::bench {

struct DeviceFacts {
  std::string name;        // "NVIDIA H100 80GB HBM3"
  std::string short_name;  // "H100", "H200", or the name when neither
  int num_sms = 0;
};

DeviceFacts device_facts(int device);

}  // namespace epscope::bench
