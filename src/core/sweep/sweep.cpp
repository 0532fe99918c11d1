#include "epscope/sweep/sweep.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>
#include "base/toml_read.h"

#include "epscope/base/error.h"
#include "epscope/model/result_json.h"
#include "epscope/scenario/scenario_json.h"

namespace epscope {
namespace {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = text.find(sep, begin);
    out.push_back(text.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return out;
}

void check_axis(const SweepAxis& axis, const std::string& origin) {
  if (axis.field.empty()) throw InputError("vary", origin, "expected field=v1,v2,...");
  if (axis.values.empty()) throw InputError("vary", origin, "give at least one value");
  for (const auto& v : axis.values)
    if (v.empty()) throw InputError("vary", origin, "empty value in the list");
  // Unknown field names fail here, before any thread starts.
  const auto names = scenario_field_names();
  std::string field = axis.field;
  std::replace(field.begin(), field.end(), '-', '_');
  if (std::find(names.begin(), names.end(), field) == names.end() && field != "tokens_per_rank") {
    throw InputError("vary", axis.field, fmt::format("known fields: {}", fmt::join(names, ", ")));
  }
}

/// Scalar columns of one evaluated point (docs/sweep.md, "rows").
void put_result(nlohmann::json& row, const Scenario& s, const EstimateResult& r, bool per_rank) {
  const auto& t = s.tokens_per_rank;
  const std::int64_t max_tokens = t.empty() ? 0 : *std::max_element(t.begin(), t.end());
  const double mean_tokens =
      t.empty() ? 0 : static_cast<double>(s.total_tokens()) / static_cast<double>(t.size());
  double max_wait_us = 0;
  for (const RankResult& rr : r.ranks)
    max_wait_us = std::max(max_wait_us, rr.wait_us);
  row["num_ranks"] = s.num_ranks();
  row["total_tokens"] = s.total_tokens();
  row["max_tokens"] = max_tokens;
  row["mean_tokens"] = mean_tokens;
  row["balance_ratio"] = max_tokens > 0 ? mean_tokens / static_cast<double>(max_tokens) : 1.0;
  row["dispatch_us"] = r.dispatch_us;
  row["combine_us"] = r.combine_us;
  row["total_us"] = r.total_us;
  row["max_wait_us"] = max_wait_us;
  row["dispatch_bottleneck"] = to_string(r.dispatch.bottleneck.resource);
  row["combine_bottleneck"] = to_string(r.combine.bottleneck.resource);
  row["summary"] = r.summary;
  if (per_rank) row["ranks"] = to_json(r)["ranks"];
}

std::string csv_cell(const nlohmann::json& v) {
  if (v.is_null()) return "";
  std::string text = v.is_string() ? v.get<std::string>() : v.dump();
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

}  // namespace

std::size_t SweepGrid::num_points() const {
  std::size_t n = 1;
  for (const auto& a : axes)
    n *= a.values.size();
  return n;
}

std::vector<FieldValue> SweepGrid::point(std::size_t point_idx) const {
  std::vector<FieldValue> out(axes.size());
  // Row-major: the last axis varies fastest.
  for (std::size_t i = axes.size(); i-- > 0;) {
    const auto& values = axes[i].values;
    out[i] = {axes[i].field, values[point_idx % values.size()]};
    point_idx /= values.size();
  }
  return out;
}

SweepGrid parse_vary_flags(const std::vector<std::string>& flags) {
  SweepGrid grid;
  for (const auto& flag : flags) {
    const std::size_t eq = flag.find('=');
    if (eq == std::string::npos) throw InputError("vary", flag, "expected field=v1,v2,...");
    SweepAxis axis;
    axis.field = flag.substr(0, eq);
    const std::string values = flag.substr(eq + 1);
    axis.values = split(values, values.find(';') != std::string::npos ? ';' : ',');
    check_axis(axis, flag);
    merge_grids(grid, SweepGrid{{axis}});
  }
  return grid;
}

SweepGrid read_sweep_table(const std::string& path) {
  const toml::table root = detail::parse_toml_file(path, "sweep file");
  SweepGrid grid;
  const toml::node* table = root.get("sweep");
  if (table == nullptr) return grid;
  if (!table->is_table()) throw InputError("sweep file", path, "[sweep] must be a table");
  auto text_of = [&](const std::string& key, const toml::node& n) {
    if (const auto s = n.value_exact<std::string>()) return *s;
    if (const auto b = n.value_exact<bool>()) return std::string(*b ? "true" : "false");
    if (const auto i = n.value_exact<std::int64_t>()) return std::to_string(*i);
    if (const auto d = n.value_exact<double>()) return fmt::format("{}", *d);
    throw InputError("sweep." + key, path, "values must be strings, numbers or booleans");
  };
  for (const auto& [k, node] : *table->as_table()) {
    SweepAxis axis;
    axis.field = std::string(k.str());
    if (const toml::array* a = node.as_array()) {
      for (const auto& item : *a)
        axis.values.push_back(text_of(axis.field, item));
    } else {
      axis.values.push_back(text_of(axis.field, node));
    }
    check_axis(axis, fmt::format("{}: sweep.{}", path, axis.field));
    merge_grids(grid, SweepGrid{{axis}});
  }
  return grid;
}

void merge_grids(SweepGrid& grid, const SweepGrid& more) {
  for (const auto& axis : more.axes) {
    for (const auto& existing : grid.axes) {
      if (existing.field == axis.field)
        throw InputError("vary", axis.field, "each field may be varied only once");
    }
    grid.axes.push_back(axis);
  }
}

namespace {

/// One point of the grid: its fields, scenario and result (or the error that made it invalid).
nlohmann::json sweep_row(const Scenario& base, const SweepGrid& grid, std::size_t point_idx,
                         const SweepOptions& options, const Evaluator& evaluate) {
  nlohmann::json row;
  const auto assignments = grid.point(point_idx);
  row["point"] = point_idx;
  row["fields"] = nlohmann::json::object();
  for (const auto& [field, value] : assignments)
    row["fields"][field] = value;
  try {
    const Scenario s = with_fields(base, assignments);
    row["scenario"] = to_json(s);
    const EstimateResult r = evaluate(s);
    put_result(row, s, r, options.per_rank);
    if (options.compare_balanced) {
      const EstimateResult b = evaluate(balanced(s));
      row["balanced_total_us"] = b.total_us;
      row["ratio"] = b.total_us > 0 ? r.total_us / b.total_us : 1.0;
    }
  } catch (const InputError& e) {
    row["error"] = e.what();
  }
  return row;
}

/// Worker threads: options.num_threads (0 = all cores), at most one per point.
int worker_count(const SweepOptions& options, std::size_t num_points) {
  const int num_threads = options.num_threads > 0
                              ? options.num_threads
                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(num_threads),
                                                std::max<std::size_t>(num_points, 1)));
}

}  // namespace

std::vector<nlohmann::json> run_sweep(const Scenario& base, const SweepGrid& grid,
                                      const SweepOptions& options,
                                      std::vector<std::size_t> point_indices) {
  if (point_indices.empty()) {
    point_indices.resize(grid.num_points());
    for (std::size_t i = 0; i < point_indices.size(); ++i)
      point_indices[i] = i;
  }
  const Evaluator evaluate =
      options.evaluate ? options.evaluate : [](const Scenario& s) { return estimate(s); };
  const std::size_t total = point_indices.size();
  std::vector<nlohmann::json> rows(total);
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done{0};
  std::mutex mutex;
  std::condition_variable finished;

  // Each worker takes the next unclaimed point; rows land at their slot, so the output order is
  // the order of point_indices whatever the thread count.
  auto work = [&]() {
    for (std::size_t i = next++; i < total; i = next++) {
      rows[i] = sweep_row(base, grid, point_indices[i], options, evaluate);
      if (++done == total) {
        std::lock_guard<std::mutex> lock(mutex);
        finished.notify_all();
      }
    }
  };
  const int num_threads = worker_count(options, total);
  std::vector<std::thread> workers;
  std::exception_ptr failure;
  for (int t = 0; t < num_threads; ++t) {
    workers.emplace_back([&]() {
      try {
        work();
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
        next = total;  // stop handing out points
        done = total;
        finished.notify_all();
      }
    });
  }
  {
    std::unique_lock<std::mutex> lock(mutex);
    while (done < total) {
      finished.wait_for(lock, std::chrono::milliseconds(100));
      if (options.progress && done < total) {
        lock.unlock();
        options.progress(done, total);
        lock.lock();
      }
    }
  }
  for (auto& w : workers)
    w.join();
  if (failure) std::rethrow_exception(failure);
  if (options.progress) options.progress(total, total);
  return rows;
}

nlohmann::json sweep_json(const Scenario& base, const SweepGrid& grid,
                          std::vector<nlohmann::json> rows) {
  nlohmann::json axes = nlohmann::json::array();
  for (const auto& a : grid.axes)
    axes.push_back({{"field", a.field}, {"values", a.values}});
  return {{"sweep", {{"axes", axes}, {"base", to_json(base)}, {"num_points", grid.num_points()}}},
          {"results", std::move(rows)}};
}

std::vector<std::string> sweep_csv_columns() {
  return {"num_ranks",          "total_tokens",  "max_tokens",
          "mean_tokens",        "balance_ratio", "dispatch_us",
          "combine_us",         "total_us",      "max_wait_us",
          "balanced_total_us",  "ratio",         "dispatch_bottleneck",
          "combine_bottleneck", "error"};
}

std::string sweep_csv(const SweepGrid& grid, const std::vector<nlohmann::json>& rows) {
  std::ostringstream out;
  out << "point";
  for (const auto& a : grid.axes)
    out << ',' << a.field;
  for (const auto& c : sweep_csv_columns())
    out << ',' << c;
  out << '\n';
  for (const auto& row : rows) {
    out << row.value("point", std::size_t{0});
    for (const auto& a : grid.axes)
      out << ',' << csv_cell(row["fields"].value(a.field, std::string()));
    for (const auto& c : sweep_csv_columns())
      out << ',' << (row.contains(c) ? csv_cell(row[c]) : std::string());
    out << '\n';
  }
  return out.str();
}

}  // namespace epscope
