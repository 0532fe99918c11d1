// Reading a TOML value as an integer, safely. Internal to epscope_core.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <optional>

namespace epscope::detail {

/// The node as an int64: an integer, or a float holding a whole number (`256.0`). toml++'s own
/// value<int64_t>() casts a float such as 2e56 to int64 unchecked (undefined behaviour, found by
/// fuzz_scenario_file), so floats outside +-2^62 are refused here before it runs.
inline std::optional<std::int64_t> toml_integer(const toml::node& node) {
  if (const auto* f = node.as_floating_point()) {
    const double v = f->get();
    if (!(v >= -4.6e18 && v <= 4.6e18)) return std::nullopt;
  }
  return node.value<std::int64_t>();
}

}  // namespace epscope::detail
