// Errors. Library code throws; only main() turns exceptions into messages and exit codes.
#pragma once

#include <stdexcept>
#include <string>

namespace epscope {

/// Bad user input: one line naming the field, the value and what is allowed. Exit code 2.
class InputError : public std::runtime_error {
 public:
  InputError(const std::string& field, const std::string& value, const std::string& allowed)
      : std::runtime_error(field + ": '" + value + "' is not allowed; " + allowed), field_(field) {}
  /// A free-form input error that still starts with the field it is about.
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

/// A broken internal invariant or a failed system call: a bug or an environment problem.
class Error : public std::runtime_error {
 public:
  Error(const std::string& message, const char* file, int line)
      : std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + message) {}
};

/// A run that could not finish for a reason outside epscope's code: a peer GPU or process timed
/// out, died, or NCCL reported an error. The message names the rank and the peer; the CLI prints
/// it as "epscope: run failed: ..." and exits 1 (not an internal error, not a bad input).
class RunFailure : public std::runtime_error {
 public:
  explicit RunFailure(const std::string& message) : std::runtime_error(message) {}
};

#define EPSCOPE_ASSERT(cond)                                                             \
  do {                                                                                   \
    if (!(cond)) throw ::epscope::Error("assertion failed: " #cond, __FILE__, __LINE__); \
  } while (0)

}  // namespace epscope
