// Reading TOML files and values safely. Internal to epscope_core.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <string>

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

/// The node as short TOML-like text for an error message: strings quoted, numbers, booleans,
/// arrays and inline tables (at most 8 items each, then "..."), "(a date)" and the like for the
/// rest. toml++ 3.3's own printer casts log10 of a float below 1 to size_t (undefined behaviour
/// for `[0.1]`, found by fuzz_scenario_file), so error messages never use it.
std::string toml_text(const toml::node& node);

/// Parses the TOML file at `path`. Every failure is an InputError naming `field`: a file that
/// cannot be opened, bytes that are not UTF-8, malformed TOML (with line and column), and
/// non-ASCII characters in a multi-line basic string ("""...""") with a backslash, which toml++ 3.3
/// cannot read safely (toml_read.cpp says why). Non-ASCII characters stay welcome in comments, in
/// single-line strings and in '''literal''' strings.
toml::table parse_toml_file(const std::string& path, const std::string& field);

}  // namespace epscope::detail
