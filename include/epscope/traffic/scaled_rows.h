// A sparse matrix stored as scaled, shared unit rows: the form routing counts and traffic take.
// docs/architecture.md "Traffic representation".
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace epscope {

/// A num_rows x num_cols matrix whose row r is scale(r) x one unit row, a sparse list of
/// (column, value) with columns strictly ascending. Rows may share a unit row: under `expected`
/// routing a unit row is the per-token profile of one replica choice and the scale is the
/// source's tokens, so sources s and s + period share one profile (docs/model.md §3.3). Sampled
/// routing and the HT stages give each row its own unit row with scale 1.
///
/// A cell is scale x value, computed in that order, which is bit for bit the product the dense
/// form held. Unit rows are immutable once added and shared between copies, so copying a
/// ScaledRows costs O(rows).
class ScaledRows {
 public:
  /// One row as stored: cell (r, cols[i]) = scale * values[i]; columns not listed are 0.
  struct Row {
    std::span<const std::int32_t> cols;
    std::span<const double> values;
    double scale = 0;
  };

  ScaledRows() = default;
  /// All rows empty.
  ScaledRows(int num_rows, int num_cols);

  int num_rows() const { return num_rows_; }
  int num_cols() const { return num_cols_; }
  int num_units() const { return static_cast<int>(units_->begin.size()) - 1; }

  /// Appends a unit row and returns its index. `cols` strictly ascending, in [0, num_cols).
  int add_unit(std::span<const std::int32_t> cols, std::span<const double> values);
  /// Room for this many more unit rows and cells, so that adding them does not reallocate.
  void reserve(std::size_t num_units, std::size_t num_cells);
  /// Row `row` becomes scale x unit row `unit` (unit -1: an empty row).
  void set_row(int row, int unit, double scale);
  /// Multiplies one row by `factor` (decode's per-token probe scaled to a batch, docs/model.md
  /// §8.4).
  void scale_row(int row, double factor) { scale_[static_cast<std::size_t>(row)] *= factor; }
  /// Sets one cell. The row gets a unit row of its own (scale 1); O(row length). For hand-built
  /// matrices in tests and tools, not for hot loops.
  void set(int row, int col, double value);

  Row row(int r) const {
    const int unit = unit_[static_cast<std::size_t>(r)];
    if (unit < 0) return {};
    const Units& u = *units_;
    const std::size_t first = u.begin[static_cast<std::size_t>(unit)];
    const std::size_t count = u.begin[static_cast<std::size_t>(unit) + 1] - first;
    return {{u.cols.data() + first, count},
            {u.values.data() + first, count},
            scale_[static_cast<std::size_t>(r)]};
  }
  /// The cell (row, col): scale x value, or 0 where the row lists no such column. O(log row
  /// length).
  double at(int row, int col) const;
  /// Number of stored cells over all rows (unit rows counted once per row that uses them).
  std::size_t num_cells() const;
  /// Row-major num_rows x num_cols copy. For tests and small matrices.
  std::vector<double> dense() const;

 private:
  struct Units {
    std::vector<std::size_t> begin{0};  // [unit + 1]: unit u is cols/values[begin[u], begin[u+1])
    std::vector<std::int32_t> cols;
    std::vector<double> values;
  };
  int num_rows_ = 0;
  int num_cols_ = 0;
  std::vector<std::int32_t> unit_;  // [row]: its unit row, -1 = empty
  std::vector<double> scale_;       // [row]
  std::shared_ptr<Units> units_ = std::make_shared<Units>();
};

}  // namespace epscope
