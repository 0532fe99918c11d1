// A small, portable, seeded RNG so that results are byte-identical on every platform and thread
// count (std:: distributions are implementation-defined). Internal to epscope_core.
#pragma once

#include <cmath>
#include <cstdint>

namespace epscope::detail {

/// SplitMix64's output function of one state: a deterministic 64-bit mix (also the ECMP hash of
/// simulate).
inline std::uint64_t splitmix64(std::uint64_t x) {
  std::uint64_t z = x + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// SplitMix64: one 64-bit state, full period, good enough for routing samples.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  /// A stream for (seed, stream) that does not overlap the streams of other indices in practice.
  Rng(std::uint64_t seed, std::uint64_t stream) : state_(seed ^ (stream * 0xD1B54A32D192ED03ull)) {
    next();
  }
  std::uint64_t next() {
    const std::uint64_t out = splitmix64(state_);
    state_ += 0x9E3779B97F4A7C15ull;
    return out;
  }
  /// Uniform in [0, n), n >= 1 (Lemire's multiply-shift; the bias is below 2^-32 for n < 2^32).
  std::uint32_t below(std::uint32_t n) {
    return static_cast<std::uint32_t>(((next() >> 32) * static_cast<std::uint64_t>(n)) >> 32);
  }
  /// Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Standard normal (Box-Muller, one value per call).
  double normal() {
    const double u1 = 1.0 - uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  std::uint64_t state_;
};

}  // namespace epscope::detail
