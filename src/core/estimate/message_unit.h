// What one message is called in each kernel mode, for the reasons estimate writes.
#pragma once

#include "epscope/scenario/scenario.h"

namespace epscope {

inline const char* unit_name(KernelMode mode) {
  switch (mode) {
    case KernelMode::kLowLatency:
      return "copies";
    case KernelMode::kHighThroughput:
      return "records";
    case KernelMode::kAllToAll:
      return "rows";
  }
  return "messages";
}

}  // namespace epscope
