// The lambda sweep between batch balance and KV balance, its Pareto front, and the SVG plot.
// docs/model.md §8.6.
#include <fmt/format.h>
#include <algorithm>
#include <cmath>

#include "epscope/base/error.h"
#include "epscope/plan/plan_pareto.h"

namespace epscope {

ParetoResult lambda_sweep(const Snapshot& snapshot, const DecodeModel& model,
                          const Capacity& capacity, const std::vector<double>& lambdas) {
  if (lambdas.empty()) throw InputError("lambda", "(empty)", "give at least one value in 0..1");
  ParetoResult result;
  for (double lambda : lambdas) {
    PlacementOptions options;
    options.lambda = lambda;
    PolicyReport report;
    try {
      report = evaluate(snapshot, Policy::kLambda, model, capacity, options);
    } catch (const InputError& e) {
      if (e.field() != "kv-capacity") throw;
      continue;  // this lambda cannot fit the snapshot into the capacity: no point
    }
    ParetoPoint p;
    p.lambda = lambda;
    p.batch_imbalance = report.step.batch.max_over_mean;
    p.kv_imbalance = report.step.kv.max_over_mean;
    p.step_us = report.step.step_us;
    result.points.push_back(p);
  }
  if (result.points.empty()) {
    throw InputError("kv-capacity", "every lambda",
                     "no lambda fits the snapshot into the capacity");
  }
  mark_front(result);
  return result;
}

void mark_front(ParetoResult& result) {
  auto& pts = result.points;
  for (std::size_t i = 0; i < pts.size(); ++i) {
    pts[i].on_front = true;
    for (std::size_t j = 0; j < pts.size() && pts[i].on_front; ++j) {
      const bool no_worse = pts[j].batch_imbalance <= pts[i].batch_imbalance &&
                            pts[j].kv_imbalance <= pts[i].kv_imbalance;
      const bool better = pts[j].batch_imbalance < pts[i].batch_imbalance ||
                          pts[j].kv_imbalance < pts[i].kv_imbalance;
      if (j != i && no_worse && better) pts[i].on_front = false;
    }
    if (pts[i].step_us < pts[static_cast<std::size_t>(result.best_idx)].step_us) {
      result.best_idx = static_cast<int>(i);
    }
  }
}

namespace {

/// One plot panel: maps data coordinates to pixels and draws axes with a few ticks.
struct Panel {
  double left, top, width, height;
  double x_lo, x_hi, y_lo, y_hi;

  double px(double x) const { return left + (x - x_lo) / (x_hi - x_lo) * width; }
  double py(double y) const { return top + height - (y - y_lo) / (y_hi - y_lo) * height; }

  std::string axes(const std::string& x_label, const std::string& y_label) const {
    std::string svg = fmt::format(
        R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="none" stroke="#444"/>)"
        "\n",
        left, top, width, height);
    for (int i = 0; i <= 4; ++i) {
      const double x = x_lo + (x_hi - x_lo) * i / 4.0;
      const double y = y_lo + (y_hi - y_lo) * i / 4.0;
      svg += fmt::format(
          R"(<text x="{:.1f}" y="{:.1f}" font-size="11" text-anchor="middle">{:.3g}</text>)"
          "\n",
          px(x), top + height + 15, x);
      svg += fmt::format(
          R"(<text x="{:.1f}" y="{:.1f}" font-size="11" text-anchor="end">{:.3g}</text>)"
          "\n",
          left - 5, py(y) + 4, y);
      svg += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#ddd"/>)"
                         "\n",
                         left, py(y), left + width, py(y));
    }
    svg +=
        fmt::format(R"(<text x="{:.1f}" y="{:.1f}" font-size="12" text-anchor="middle">{}</text>)"
                    "\n",
                    left + width / 2, top + height + 32, x_label);
    svg += fmt::format(
        R"svg(<text x="{:.1f}" y="{:.1f}" font-size="12" text-anchor="middle" transform="rotate(-90 {:.1f} {:.1f})">{}</text>)svg"
        "\n",
        left - 45, top + height / 2, left - 45, top + height / 2, y_label);
    return svg;
  }
};

/// Padded range of values (never empty).
std::pair<double, double> range_of(const std::vector<double>& values, bool from_zero) {
  double lo = *std::min_element(values.begin(), values.end());
  double hi = *std::max_element(values.begin(), values.end());
  if (from_zero) lo = std::min(lo, 0.0);
  const double pad = std::max(1e-9, (hi - lo) * 0.08);
  return {from_zero ? lo : lo - pad, hi + pad};
}

/// Green (fastest) to red (slowest).
std::string color_for(double t) {
  const int r = static_cast<int>(std::lround(40 + 200 * t));
  const int g = static_cast<int>(std::lround(170 - 130 * t));
  return fmt::format("rgb({},{},60)", r, g);
}

}  // namespace

std::string pareto_svg(const ParetoResult& sweep, const std::vector<PolicyReport>& baselines,
                       const std::string& title) {
  EPSCOPE_ASSERT(!sweep.points.empty());
  std::vector<double> xs, ys, times, lambdas;
  for (const ParetoPoint& p : sweep.points) {
    xs.push_back(p.batch_imbalance);
    ys.push_back(p.kv_imbalance);
    times.push_back(p.step_us / 1e3);
    lambdas.push_back(p.lambda);
  }
  for (const PolicyReport& b : baselines) {
    xs.push_back(b.step.batch.max_over_mean);
    ys.push_back(b.step.kv.max_over_mean);
    times.push_back(b.step.step_us / 1e3);
  }
  const auto [x_lo, x_hi] = range_of(xs, true);
  const auto [y_lo, y_hi] = range_of(ys, true);
  const auto [t_lo, t_hi] = range_of(times, false);
  const auto [l_lo, l_hi] = range_of(lambdas, false);
  const Panel front{70, 50, 380, 300, x_lo, x_hi, y_lo, y_hi};
  const Panel curve{560, 50, 380, 300, std::min(0.0, l_lo), std::max(1.0, l_hi), t_lo, t_hi};
  const double t_min = *std::min_element(times.begin(), times.end());
  const double t_max = *std::max_element(times.begin(), times.end());
  auto shade = [&](double ms) {
    return color_for(t_max > t_min ? (ms - t_min) / (t_max - t_min) : 0);
  };

  std::string svg = fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="980" height="430" font-family="sans-serif">)"
      "\n"
      R"(<rect width="980" height="430" fill="white"/>)"
      "\n"
      R"(<text x="490" y="24" font-size="15" text-anchor="middle">{}</text>)"
      "\n",
      title);
  svg += front.axes("batch imbalance (max-mean)/mean", "KV imbalance (max-mean)/mean");
  svg += curve.axes("lambda (1 = balance batch, 0 = balance KV)", "predicted step time (ms)");

  // Left: the front, joined in order of batch imbalance; every lambda point colored by step time.
  std::vector<const ParetoPoint*> on_front;
  for (const ParetoPoint& p : sweep.points) {
    if (p.on_front) on_front.push_back(&p);
  }
  std::sort(on_front.begin(), on_front.end(), [](const ParetoPoint* a, const ParetoPoint* b) {
    return a->batch_imbalance < b->batch_imbalance;
  });
  std::string path;
  for (const ParetoPoint* p : on_front) {
    path += fmt::format("{:.1f},{:.1f} ", front.px(p->batch_imbalance), front.py(p->kv_imbalance));
  }
  svg += fmt::format(R"(<polyline points="{}" fill="none" stroke="#888" stroke-dasharray="4 3"/>)"
                     "\n",
                     path);
  const ParetoPoint& best = sweep.points[static_cast<std::size_t>(sweep.best_idx)];
  for (const ParetoPoint& p : sweep.points) {
    const double x = front.px(p.batch_imbalance), y = front.py(p.kv_imbalance);
    svg += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="5" fill="{}"/>)"
                       "\n",
                       x, y, shade(p.step_us / 1e3));
    svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" font-size="9">{:g}</text>)"
                       "\n",
                       x + 6, y - 4, p.lambda);
  }
  svg += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="9" fill="none" stroke="black"/>)"
                     "\n",
                     front.px(best.batch_imbalance), front.py(best.kv_imbalance));
  for (const PolicyReport& b : baselines) {
    const double x = front.px(b.step.batch.max_over_mean), y = front.py(b.step.kv.max_over_mean);
    svg +=
        fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="8" height="8" fill="{}" stroke="black"/>)"
                    "\n"
                    R"(<text x="{:.1f}" y="{:.1f}" font-size="10">{}</text>)"
                    "\n",
                    x - 4, y - 4, shade(b.step.step_us / 1e3), x + 7, y + 12, b.policy);
  }

  // Right: step time against lambda; baselines as dashed levels.
  std::string line;
  std::vector<const ParetoPoint*> by_lambda;
  for (const ParetoPoint& p : sweep.points)
    by_lambda.push_back(&p);
  std::sort(by_lambda.begin(), by_lambda.end(),
            [](const ParetoPoint* a, const ParetoPoint* b) { return a->lambda < b->lambda; });
  for (const ParetoPoint* p : by_lambda) {
    line += fmt::format("{:.1f},{:.1f} ", curve.px(p->lambda), curve.py(p->step_us / 1e3));
  }
  svg += fmt::format(R"(<polyline points="{}" fill="none" stroke="#2a6" stroke-width="2"/>)"
                     "\n",
                     line);
  for (const ParetoPoint* p : by_lambda) {
    svg += fmt::format(R"(<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="#2a6"/>)"
                       "\n",
                       curve.px(p->lambda), curve.py(p->step_us / 1e3));
  }
  svg += fmt::format(
      R"(<circle cx="{:.1f}" cy="{:.1f}" r="7" fill="none" stroke="black"/>)"
      "\n"
      R"(<text x="{:.1f}" y="{:.1f}" font-size="10">sweet spot lambda={:g}: {:.2f} ms</text>)"
      "\n",
      curve.px(best.lambda), curve.py(best.step_us / 1e3), curve.px(best.lambda) + 8,
      curve.py(best.step_us / 1e3) - 8, best.lambda, best.step_us / 1e3);
  for (const PolicyReport& b : baselines) {
    const double y = curve.py(b.step.step_us / 1e3);
    svg += fmt::format(
        R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="#999" stroke-dasharray="3 3"/>)"
        "\n"
        R"(<text x="{:.1f}" y="{:.1f}" font-size="9" text-anchor="end" fill="#555">{}</text>)"
        "\n",
        curve.left, y, curve.left + curve.width, y, curve.left + curve.width - 2, y - 2, b.policy);
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace epscope
