// The one vocabulary of limiting resources. docs/model.md §5.2, §7.
#pragma once

namespace epscope {

/// What a rate or a start time can be limited by: the links and ports both fidelity levels model
/// (the first kNumLinkResources, in this order; simulate's fabric report groups by them), and the
/// limits only the closed form names. One vocabulary for estimate's bottlenecks and simulate's
/// resources.
enum class Resource {
  kLocalCopy,
  kNvlinkTx,
  kNvlinkRx,
  kNicTx,
  kNicRx,
  kLeafUplink,     // leaf to spine
  kSpineDownlink,  // spine to leaf (a bottleneck names it kLeafUplink, docs/model.md §7)
  kExpertQueue,
  kMessageRate,
  kLateStart,
  kFixedLatency,
  kNone,
};
/// Resources that are links or ports: Resource values 0 .. kNumLinkResources - 1.
inline constexpr int kNumLinkResources = 7;
const char* to_string(Resource resource);

}  // namespace epscope
