// Scaled, shared unit rows. docs/architecture.md "Traffic representation".
#include "epscope/traffic/scaled_rows.h"

#include <algorithm>

#include "epscope/base/error.h"

namespace epscope {

ScaledRows::ScaledRows(int num_rows, int num_cols)
    : num_rows_(num_rows),
      num_cols_(num_cols),
      unit_(static_cast<std::size_t>(num_rows), -1),
      scale_(static_cast<std::size_t>(num_rows), 0.0) {
  EPSCOPE_ASSERT(num_rows >= 0 && num_cols >= 0);
}

int ScaledRows::add_unit(std::span<const std::int32_t> cols, std::span<const double> values) {
  EPSCOPE_ASSERT(cols.size() == values.size());
  if (units_.use_count() > 1) units_ = std::make_shared<Units>(*units_);  // copy on write
  Units& u = *units_;
  u.cols.insert(u.cols.end(), cols.begin(), cols.end());
  u.values.insert(u.values.end(), values.begin(), values.end());
  u.begin.push_back(u.cols.size());
  return num_units() - 1;
}

void ScaledRows::reserve(std::size_t num_units, std::size_t num_cells) {
  if (units_.use_count() > 1) units_ = std::make_shared<Units>(*units_);  // copy on write
  units_->begin.reserve(units_->begin.size() + num_units);
  units_->cols.reserve(units_->cols.size() + num_cells);
  units_->values.reserve(units_->values.size() + num_cells);
}

void ScaledRows::set_row(int row, int unit, double scale) {
  EPSCOPE_ASSERT(row >= 0 && row < num_rows_ && unit >= -1 && unit < num_units());
  unit_[static_cast<std::size_t>(row)] = unit;
  scale_[static_cast<std::size_t>(row)] = scale;
}

double ScaledRows::at(int r, int col) const {
  const Row cells = row(r);
  const auto it = std::lower_bound(cells.cols.begin(), cells.cols.end(), col);
  if (it == cells.cols.end() || *it != col) return 0.0;
  return cells.scale * cells.values[static_cast<std::size_t>(it - cells.cols.begin())];
}

void ScaledRows::set(int r, int col, double value) {
  EPSCOPE_ASSERT(r >= 0 && r < num_rows_ && col >= 0 && col < num_cols_);
  const Row old = row(r);
  std::vector<std::int32_t> cols;
  std::vector<double> values;
  bool placed = false;
  for (std::size_t i = 0; i < old.cols.size(); ++i) {
    if (!placed && old.cols[i] >= col) {
      cols.push_back(col);
      values.push_back(value);
      placed = true;
      if (old.cols[i] == col) continue;
    }
    cols.push_back(old.cols[i]);
    values.push_back(old.scale * old.values[i]);
  }
  if (!placed) {
    cols.push_back(col);
    values.push_back(value);
  }
  set_row(r, add_unit(cols, values), 1.0);
}

std::size_t ScaledRows::num_cells() const {
  std::size_t n = 0;
  for (int r = 0; r < num_rows_; ++r)
    n += row(r).cols.size();
  return n;
}

std::vector<double> ScaledRows::dense() const {
  std::vector<double> out(static_cast<std::size_t>(num_rows_) *
                          static_cast<std::size_t>(num_cols_));
  for (int r = 0; r < num_rows_; ++r) {
    const Row cells = row(r);
    for (std::size_t i = 0; i < cells.cols.size(); ++i) {
      out[static_cast<std::size_t>(r) * static_cast<std::size_t>(num_cols_) +
          static_cast<std::size_t>(cells.cols[i])] = cells.scale * cells.values[i];
    }
  }
  return out;
}

}  // namespace epscope
