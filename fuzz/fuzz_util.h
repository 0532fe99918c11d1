// Helpers shared by the fuzz targets: a per-process temp file for readers that take a path, and
// the one rule every target checks: bad input is an InputError, never a crash or another throw.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace epscope::fuzz {

/// A folder of this process, /tmp/epscope-fuzz-<pid>/, removed at exit: relative paths inside a
/// fuzzed file (expert maps) resolve here, where a target may put fixed companion files.
inline const std::string& temp_dir() {
  // Held by a never-freed pointer: the exit handler runs after static destructors would have.
  static const std::string* const dir = [] {
    auto* d = new std::string("/tmp/epscope-fuzz-" + std::to_string(static_cast<long>(getpid())));
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(temp_dir(), ignored);
    });
    return d;
  }();
  return *dir;
}

/// Writes `size` bytes to temp_dir()/input<suffix> and returns the path. The file is rewritten on
/// every input; its name stays the same so no temp files pile up.
inline std::string write_temp(const std::uint8_t* data, std::size_t size,
                              const std::string& suffix) {
  const std::string path = temp_dir() + "/input" + suffix;
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
