// Helpers shared by the fuzz targets: a per-process temp file for readers that take a path, and
// the one rule every target checks: bad input is an InputError, never a crash or another throw.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace epscope::fuzz {

/// Writes `size` bytes to /tmp/epscope-fuzz-<pid><suffix> and returns the path. The file is
/// rewritten on every input; its name stays the same so no temp files pile up.
inline std::string write_temp(const std::uint8_t* data, std::size_t size,
                              const std::string& suffix) {
  const std::string path =
      "/tmp/epscope-fuzz-" + std::to_string(static_cast<long>(getpid())) + suffix;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) __builtin_trap();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) __builtin_trap();
  std::fclose(f);
  return path;
}

/// A property every accepted input must have; a violation is a bug, reported as a crash.
inline void require(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace epscope::fuzz
