// A one-line progress bar on stderr with rate and ETA, drawn only when stderr is a terminal.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace epscope::cli {

class ProgressBar {
 public:
  /// `enabled` false (or stderr not a terminal) makes every call a no-op.
  ProgressBar(std::string label, bool enabled);
  ~ProgressBar();
  void update(std::size_t done, std::size_t total);
  /// Ends the line (once); further updates are ignored.
  void finish();

 private:
  std::string label_;
  bool active_ = false;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
};

/// "1m05s", "42s", "0.8s".
std::string format_duration(double seconds);

}  // namespace epscope::cli
