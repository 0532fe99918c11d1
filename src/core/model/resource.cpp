#include "epscope/model/resource.h"

namespace epscope {

const char* to_string(Resource resource) {
  switch (resource) {
    case Resource::kNone:
      return "none";
    case Resource::kLocalCopy:
      return "local_copy";
    case Resource::kNvlinkTx:
      return "nvlink_tx";
    case Resource::kNvlinkRx:
      return "nvlink_rx";
    case Resource::kNicTx:
      return "nic_tx";
    case Resource::kNicRx:
      return "nic_rx";
    case Resource::kLeafUplink:
      return "leaf_uplink";
    case Resource::kSpineDownlink:
      return "spine_downlink";
    case Resource::kExpertQueue:
      return "expert_queue";
    case Resource::kMessageRate:
      return "message_rate";
    case Resource::kLateStart:
      return "late_start";
    case Resource::kFixedLatency:
      return "fixed_latency";
  }
  return "?";
}

}  // namespace epscope
