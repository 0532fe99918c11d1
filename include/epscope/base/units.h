// Unit conversions used by every model stage, defined once. Bandwidths are GB/s (1e9 bytes/s),
// times microseconds.
#pragma once

namespace epscope {

/// 1 GB/s = 1e9 B/s = 1e3 B/us: bytes / (gbps x kBytesPerUsPerGbps) is a time in us.
inline constexpr double kBytesPerUsPerGbps = 1e3;

/// Time in us to move `bytes` at `gbps`; 0 when the rate is 0 (the resource is not used).
inline double busy_us(double bytes, double gbps) {
  return gbps > 0 ? bytes / (gbps * kBytesPerUsPerGbps) : 0.0;
}

}  // namespace epscope
