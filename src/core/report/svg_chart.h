// Inline SVG charts for the HTML report: grouped or stacked bars, and x-y plots (lines, points,
// an optional y = x diagonal). Every chart is an <svg class="chart"> whose marks carry the classes
// "bar", "line" or "point", so a test can check that a chart is present and not empty.
#pragma once

#include <string>
#include <vector>

namespace epscope::svg {

struct BarSeries {
  std::string name;
  std::vector<double> values;  // one per category
};

struct BarChart {
  std::string id;  // data-chart attribute
  std::string title;
  std::string y_label;
  std::vector<std::string> categories;
  std::vector<BarSeries> series;
  bool stacked = false;
};

struct XySeries {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
  std::vector<std::string> labels;  // optional, one per point, shown as a tooltip
  bool line = true;                 // join the points (sorted by x)
};

struct XyChart {
  std::string id;
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<XySeries> series;
  bool log_x = false;
  bool diagonal = false;  // draw y = x (predicted vs measured)
};

std::string render(const BarChart& chart);
std::string render(const XyChart& chart);

/// Escapes &, <, >, " for HTML and SVG text.
std::string escape(const std::string& text);

}  // namespace epscope::svg
