#include "progress.h"

#include <fmt/format.h>
#include <unistd.h>
#include <cmath>
#include <cstdio>

namespace epscope::cli {

ProgressBar::ProgressBar(std::string label, bool enabled)
    : label_(std::move(label)),
      active_(enabled && isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  finish();
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds < 10) return fmt::format("{:.1f}s", seconds);
  const auto s = static_cast<long long>(std::llround(seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

void ProgressBar::update(std::size_t done, std::size_t total) {
  if (!active_ || total == 0) return;
  constexpr int kWidth = 30;
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double fraction = static_cast<double>(done) / static_cast<double>(total);
  const int filled = static_cast<int>(fraction * kWidth);
  const double rate = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0;
  const double eta_s = rate > 0 ? static_cast<double>(total - done) / rate : -1;
  // \r returns to the line start; \x1b[K clears what a longer previous line left behind.
  fmt::print(stderr, "\r{} [{}{}] {}/{} {:.1f}/s ETA {}\x1b[K", label_,
             std::string(static_cast<std::size_t>(filled), '#'),
             std::string(static_cast<std::size_t>(kWidth - filled), '.'), done, total, rate,
             done == total ? "0s" : format_duration(eta_s));
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (active_ && drawn_) fmt::print(stderr, "\n");
  active_ = false;
}

}  // namespace epscope::cli
