// A small CSV reader for the plan's inputs (snapshots, traces, attention samples): a header row
// of column names, then rows of numbers. Internal to epscope_core.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace epscope::detail {

struct CsvTable {
  std::string path;
  std::string field;  // names the input in error messages ("snapshot", "trace", ...)
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;

  /// Index of a column; throws InputError naming the missing column.
  int column(const std::string& name) const;
  /// Index of a column, or -1 when absent.
  int find_column(const std::string& name) const;
  /// The cell as a finite number; throws InputError with row and column.
  double number(std::size_t row, int col) const;
  /// The cell as an integer in [lo, hi].
  std::int64_t integer(std::size_t row, int col, std::int64_t lo, std::int64_t hi) const;
};

/// Reads a CSV file: '#' lines and blank lines are skipped, cells are trimmed. Every row must have
/// as many cells as the header.
CsvTable read_csv(const std::string& path, const std::string& field);

/// Whether `path` ends with `suffix`.
bool has_suffix(const std::string& path, const std::string& suffix);

}  // namespace epscope::detail
