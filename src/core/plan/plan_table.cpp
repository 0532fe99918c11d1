#include "plan_table.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <cmath>
#include <fstream>

#include "epscope/base/error.h"

namespace epscope::detail {

namespace {

std::string trim(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  const auto end = text.find_last_not_of(" \t\r");
  return text.substr(begin, end - begin + 1);
}

std::vector<std::string> split_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::size_t begin = 0;
  while (true) {
    const auto comma = line.find(',', begin);
    cells.push_back(trim(line.substr(begin, comma == std::string::npos ? comma : comma - begin)));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return cells;
}

}  // namespace

bool has_suffix(const std::string& path, const std::string& suffix) {
  return path.size() >= suffix.size() &&
         path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
}

CsvTable read_csv(const std::string& path, const std::string& field) {
  std::ifstream in(path);
  if (!in) throw InputError(field, path, "the file cannot be opened");
  CsvTable table;
  table.path = path;
  table.field = field;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string text = trim(line);
    if (text.empty() || text[0] == '#') continue;
    std::vector<std::string> cells = split_cells(text);
    if (table.header.empty()) {
      table.header = std::move(cells);
      continue;
    }
    if (cells.size() != table.header.size()) {
      throw InputError(field, fmt::format("{}:{}: {} cells", path, line_no, cells.size()),
                       fmt::format("every row needs {} cells ({})", table.header.size(),
                                   fmt::join(table.header, ",")));
    }
    table.rows.push_back(std::move(cells));
  }
  if (table.header.empty()) throw InputError(field, path, "the file has no header row");
  return table;
}

int CsvTable::find_column(const std::string& name) const {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return static_cast<int>(i);
  }
  return -1;
}

int CsvTable::column(const std::string& name) const {
  const int col = find_column(name);
  if (col < 0) {
    throw InputError(field, fmt::format("{}: header '{}'", path, fmt::join(header, ",")),
                     fmt::format("needs a column '{}'", name));
  }
  return col;
}

double CsvTable::number(std::size_t row, int col) const {
  const std::string& cell = rows[row][static_cast<std::size_t>(col)];
  const std::string where =
      fmt::format("{}: row {} {} '{}'", path, row + 1, header[static_cast<std::size_t>(col)], cell);
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(cell, &used);
  } catch (const std::exception&) {
    throw InputError(field, where, "must be a number");
  }
  if (used != cell.size() || !std::isfinite(value))
    throw InputError(field, where, "must be a number");
  return value;
}

std::int64_t CsvTable::integer(std::size_t row, int col, std::int64_t lo, std::int64_t hi) const {
  const double value = number(row, col);
  if (value != std::floor(value) || value < static_cast<double>(lo) ||
      value > static_cast<double>(hi)) {
    throw InputError(
        field,
        fmt::format("{}: row {} {} '{}'", path, row + 1, header[static_cast<std::size_t>(col)],
                    rows[row][static_cast<std::size_t>(col)]),
        fmt::format("must be an integer in {}..{}", lo, hi));
  }
  return static_cast<std::int64_t>(value);
}

}  // namespace epscope::detail
