// Reading a TOML value as an integer, safely. Internal to epscope_core.
#pragma once

#include <toml++/toml.h>

#include <fmt/format.h>
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "epscope/error.h"

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

/// Parses a TOML file. Non-ASCII bytes are accepted only in comments and single-line strings
/// (TOML allows none in keys or between tokens): toml++ 3.3's whitespace test reaches
/// __builtin_unreachable on many of them (U+00A1..U+FEFF; found by fuzz_scenario_file), so they
/// are refused before it runs. toml::parse_error still reaches the caller for malformed TOML.
inline toml::table parse_toml_file(const std::string& path, const char* field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(field, path, "the file cannot be opened");
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const std::size_t n = text.size();
  std::size_t i = 0;
  int line = 1;
  char prev = '\n';  // the last character that is not a space or a tab on this line
  while (i < n) {
    const char c = text[i];
    // A quote opens a string only where TOML lets a string begin: a key at the start of a line or
    // after '.', a value after '=', '[', ',' or '{'. Elsewhere it is part of a bad token.
    const bool string_may_start =
        prev == '\n' || prev == '=' || prev == '[' || prev == ',' || prev == '{' || prev == '.';
    if (c == '\n') {
      ++line;
      ++i;
      prev = '\n';
    } else if (c == '#') {
      while (i < n && text[i] != '\n')
        ++i;
    } else if ((c == '"' || c == '\'') && string_may_start &&
               text.compare(i, 3, std::string(3, c)) != 0) {
      // A single-line string: up to the closing quote or the end of the line.
      for (++i; i < n && text[i] != c && text[i] != '\n'; ++i) {
        if (c == '"' && text[i] == '\\' && i + 1 < n && text[i + 1] != '\n') ++i;
      }
      if (i < n && text[i] == c) ++i;
      prev = c;
    } else if (static_cast<unsigned char>(c) >= 0x80) {
      throw InputError(field, fmt::format("{} line {}", path, line),
                       "non-ASCII characters are allowed only in comments and single-line strings");
    } else {
      if (c != ' ' && c != '\t') prev = c;
      ++i;
    }
  }
  return toml::parse(text, path);
}

}  // namespace epscope::detail
