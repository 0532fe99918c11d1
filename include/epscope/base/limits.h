// Hard limits on inputs that keep every computation inside 64-bit integers and a 24 GiB machine.
// The list syntax (lists.h) and the scenario (scenario.h) both check against them.
#pragma once

#include <cstdint>

namespace epscope {

inline constexpr int kMaxRanks = 8192;  // rank x rank traffic (sparse, but up to 8192^2 pairs)
inline constexpr std::int64_t kMaxTokensPerRank = 1 << 22;
inline constexpr int kMaxHidden = 1 << 18;
inline constexpr int kMaxExperts = 1 << 20;

}  // namespace epscope
