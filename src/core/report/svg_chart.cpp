#include "svg_chart.h"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace epscope::svg {
namespace {

// Chart geometry in SVG user units; the page scales the SVG to its column width.
constexpr double kWidth = 720;
constexpr double kHeight = 320;
constexpr double kLeft = 70;    // room for y tick labels and the y label
constexpr double kRight = 150;  // room for the legend
constexpr double kTop = 34;     // room for the title
constexpr double kBottom = 56;  // room for x tick labels and the x label
constexpr double kPlotW = kWidth - kLeft - kRight;
constexpr double kPlotH = kHeight - kTop - kBottom;

const char* const kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                "#9467bd", "#8c564b", "#e377c2", "#17becf"};

const char* color(std::size_t i) {
  return kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))];
}

/// Ticks at 1, 2 or 5 times a power of ten, covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target = 5) {
  if (!(hi > lo)) hi = lo + 1;
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (raw <= step) break;
  }
  // From the step at or below lo to the step at or above hi, so the data stays inside the axis.
  const double top = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> ticks;
  for (double t = std::floor(lo / step) * step; t <= top + step * 1e-9; t += step)
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

std::string number(double v) {
  const double a = std::abs(v);
  if (a >= 1e6) return fmt::format("{:.3g}M", v / 1e6);
  if (a >= 1e4) return fmt::format("{:.3g}k", v / 1e3);
  if (a >= 100 || v == std::floor(v)) return fmt::format("{:.0f}", v);
  return fmt::format("{:.3g}", v);
}

std::string open_svg(const std::string& id, const std::string& title) {
  return fmt::format(
      "<svg class=\"chart\" data-chart=\"{}\" viewBox=\"0 0 {} {}\" "
      "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{}\">\n"
      "<text class=\"title\" x=\"{}\" y=\"20\">{}</text>\n",
      escape(id), kWidth, kHeight, escape(title), kLeft, escape(title));
}

std::string legend(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const double y = kTop + 8 + 18.0 * static_cast<double>(i);
    out += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>"
        "<text class=\"legend\" x=\"{}\" y=\"{}\">{}</text>\n",
        kLeft + kPlotW + 12, y, color(i), kLeft + kPlotW + 30, y + 10, escape(names[i]));
  }
  return out;
}

/// The y axis with grid lines; returns the mapping's range used.
std::string y_axis(double lo, double hi, const std::string& label,
                   const std::vector<double>& ticks) {
  std::string out;
  for (double t : ticks) {
    const double y = kTop + kPlotH - (t - lo) / (hi - lo) * kPlotH;
    out += fmt::format(
        "<line class=\"grid\" x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\"/>"
        "<text class=\"tick\" x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n",
        kLeft, kLeft + kPlotW, y, y, kLeft - 6, y + 4, number(t));
  }
  out += fmt::format(
      "<text class=\"axis-label\" transform=\"translate(16,{}) rotate(-90)\" "
      "text-anchor=\"middle\">{}</text>\n",
      kTop + kPlotH / 2, escape(label));
  out += fmt::format("<line class=\"axis\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"/>\n", kLeft,
                     kTop, kTop + kPlotH);
  out += fmt::format("<line class=\"axis\" x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\"/>\n", kLeft,
                     kLeft + kPlotW, kTop + kPlotH);
  return out;
}

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render(const BarChart& chart) {
  const std::size_t num_cats = chart.categories.size();
  double hi = 0;
  for (std::size_t c = 0; c < num_cats; ++c) {
    double stack = 0;
    for (const auto& s : chart.series) {
      const double v = c < s.values.size() ? std::max(0.0, s.values[c]) : 0.0;
      stack += v;
      hi = std::max(hi, chart.stacked ? stack : v);
    }
  }
  const std::vector<double> ticks = nice_ticks(0, hi > 0 ? hi : 1);
  hi = ticks.back();
  std::string out = open_svg(chart.id, chart.title) + y_axis(0, hi, chart.y_label, ticks);
  const double slot = kPlotW / static_cast<double>(std::max<std::size_t>(num_cats, 1));
  const std::size_t groups = chart.stacked ? 1 : std::max<std::size_t>(chart.series.size(), 1);
  const double bar_w = slot * 0.8 / static_cast<double>(groups);
  // Label at most ~24 categories so 256 ranks stay legible.
  const std::size_t label_every = std::max<std::size_t>(1, (num_cats + 23) / 24);
  for (std::size_t c = 0; c < num_cats; ++c) {
    double base = 0;
    for (std::size_t s = 0; s < chart.series.size(); ++s) {
      const auto& values = chart.series[s].values;
      const double v = c < values.size() ? std::max(0.0, values[c]) : 0.0;
      const double x = kLeft + slot * static_cast<double>(c) + slot * 0.1 +
                       (chart.stacked ? 0.0 : bar_w * static_cast<double>(s));
      const double h = v / hi * kPlotH;
      const double y = kTop + kPlotH - base / hi * kPlotH - h;
      out += fmt::format(
          "<rect class=\"bar\" x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" "
          "fill=\"{}\"><title>{} {}: {}</title></rect>\n",
          x, y, std::max(bar_w, 0.5), h, color(s), escape(chart.series[s].name),
          escape(chart.categories[c]), number(v));
      if (chart.stacked) base += v;
    }
    if (c % label_every == 0) {
      out += fmt::format(
          "<text class=\"tick\" x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
          kLeft + slot * (static_cast<double>(c) + 0.5), kTop + kPlotH + 16,
          escape(chart.categories[c]));
    }
  }
  std::vector<std::string> names;
  for (const auto& s : chart.series)
    names.push_back(s.name);
  return out + legend(names) + "</svg>\n";
}

std::string render(const XyChart& chart) {
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo;
  double y_lo = 0, y_hi = 0;
  for (const auto& s : chart.series) {
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (chart.log_x && s.x[i] <= 0) continue;
      x_lo = std::min(x_lo, s.x[i]);
      x_hi = std::max(x_hi, s.x[i]);
      y_hi = std::max(y_hi, s.y[i]);
    }
  }
  if (!std::isfinite(x_lo)) x_lo = 0, x_hi = 1;
  if (chart.diagonal) x_lo = 0, x_hi = y_hi = std::max(x_hi, y_hi);
  const std::vector<double> y_ticks = nice_ticks(y_lo, y_hi > 0 ? y_hi : 1);
  y_hi = y_ticks.back();
  if (chart.diagonal) x_hi = y_hi;  // same scale on both axes, so y = x is the 45-degree line
  auto tx = [&](double v) { return chart.log_x ? std::log2(v) : v; };
  double tx_lo = tx(x_lo), tx_hi = tx(x_hi);
  if (!(tx_hi > tx_lo)) tx_lo -= 0.5, tx_hi += 0.5;
  if (!chart.diagonal) {  // 4% margin so edge points are not cut in half
    const double pad = 0.04 * (tx_hi - tx_lo);
    tx_lo -= pad, tx_hi += pad;
  }
  auto px = [&](double v) { return kLeft + (tx(v) - tx_lo) / (tx_hi - tx_lo) * kPlotW; };
  auto py = [&](double v) { return kTop + kPlotH - (v - y_lo) / (y_hi - y_lo) * kPlotH; };

  std::string out = open_svg(chart.id, chart.title) + y_axis(y_lo, y_hi, chart.y_label, y_ticks);
  // x ticks: powers of two on a log axis, nice numbers otherwise.
  std::vector<double> x_ticks;
  if (chart.log_x) {
    for (double t = std::floor(tx_lo); t <= std::ceil(tx_hi); t += 1)
      if (t >= tx_lo - 1e-9 && t <= tx_hi + 1e-9) x_ticks.push_back(std::pow(2.0, t));
  } else {
    for (double t : nice_ticks(tx_lo, tx_hi))
      if (t >= tx_lo - 1e-9 && t <= tx_hi + 1e-9) x_ticks.push_back(t);
  }
  for (double t : x_ticks) {
    out +=
        fmt::format("<text class=\"tick\" x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                    px(t), kTop + kPlotH + 16, number(t));
  }
  out +=
      fmt::format("<text class=\"axis-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                  kLeft + kPlotW / 2, kHeight - 14, escape(chart.x_label));
  if (chart.diagonal) {
    out += fmt::format(
        "<line class=\"diagonal\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>\n",
        px(x_lo), py(x_lo), px(x_hi), py(x_hi));
  }
  for (std::size_t si = 0; si < chart.series.size(); ++si) {
    const XySeries& s = chart.series[si];
    std::vector<std::size_t> order(std::min(s.x.size(), s.y.size()));
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return s.x[a] < s.x[b]; });
    std::string path;
    for (std::size_t i : order) {
      if (chart.log_x && s.x[i] <= 0) continue;
      path += fmt::format("{}{:.1f},{:.1f}", path.empty() ? "M" : " L", px(s.x[i]), py(s.y[i]));
    }
    if (s.line && order.size() > 1) {
      out += fmt::format("<path class=\"line\" d=\"{}\" stroke=\"{}\"/>\n", path, color(si));
    }
    for (std::size_t i : order) {
      if (chart.log_x && s.x[i] <= 0) continue;
      const std::string label = i < s.labels.size() ? s.labels[i] + ": " : "";
      out += fmt::format(
          "<circle class=\"point\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\">"
          "<title>{}{} ({}, {})</title></circle>\n",
          px(s.x[i]), py(s.y[i]), color(si), escape(label), escape(s.name), number(s.x[i]),
          number(s.y[i]));
    }
  }
  std::vector<std::string> names;
  for (const auto& s : chart.series)
    names.push_back(s.name);
  return out + legend(names) + "</svg>\n";
}

}  // namespace epscope::svg
