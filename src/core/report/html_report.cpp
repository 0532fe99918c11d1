#include "epscope/report/html_report.h"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "epscope/base/error.h"
#include "epscope/base/json_file.h"
#include "epscope/calibrate/calibration_file.h"
#include "epscope/estimate/estimate.h"
#include "epscope/scenario/scenario_fields.h"
#include "svg_chart.h"

namespace epscope {
namespace {

double num(const nlohmann::json& j, const char* key, double fallback = 0) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

std::string text(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

std::string section(const std::string& title, const std::string& name, const std::string& body) {
  return fmt::format("<section>\n<h2>{}</h2>\n<p class=\"source\">from {}</p>\n{}</section>\n",
                     svg::escape(title), svg::escape(name), body);
}

std::string describe(const nlohmann::json& s) {
  if (!s.is_object()) return "";
  return fmt::format("{}, {} x {} GPUs, {}, {}, tokens {}, routing {}", text(s, "preset"),
                     text(s, "nodes"), text(s, "gpus_per_node"), text(s, "mode"),
                     s.value("nvlink", true) ? "NVLink" : "pure RDMA", text(s, "tokens"),
                     text(s, "routing"));
}

// ---- estimate ---------------------------------------------------------------------------------

std::string estimate_section(const ReportInput& in) {
  const nlohmann::json& r = in.content;
  const nlohmann::json& ranks = r["ranks"];
  svg::BarChart time{"rank-time", "Per-rank time: transfer and waiting", "us", {}, {}, true};
  time.series = {{"dispatch transfer", {}},
                 {"dispatch waiting", {}},
                 {"combine transfer", {}},
                 {"combine waiting", {}}};
  svg::BarChart bytes{"rank-bytes",
                      "Per-rank bytes: send and receive (dispatch + combine)",
                      "MB",
                      {},
                      {{"send", {}}, {"receive", {}}},
                      false};
  for (const auto& rank : ranks) {
    const std::string cat = text(rank, "rank");
    time.categories.push_back(cat);
    bytes.categories.push_back(cat);
    time.series[0].values.push_back(num(rank["dispatch"], "transfer_us"));
    time.series[1].values.push_back(num(rank["dispatch"], "wait_us"));
    time.series[2].values.push_back(num(rank["combine"], "transfer_us"));
    time.series[3].values.push_back(num(rank["combine"], "wait_us"));
    bytes.series[0].values.push_back(num(rank, "send_bytes") / 1e6);
    bytes.series[1].values.push_back(num(rank, "recv_bytes") / 1e6);
  }
  std::string body = fmt::format(
      "<p>{}</p>\n<p><b>dispatch {:.1f} us, combine {:.1f} us, total {:.1f} us.</b> {}</p>\n",
      svg::escape(describe(r.value("scenario", nlohmann::json()))), num(r, "dispatch_us"),
      num(r, "combine_us"), num(r, "total_us"), svg::escape(text(r, "summary")));
  body += svg::render(time) + svg::render(bytes);
  if (r.contains("balanced") && r["balanced"].is_object()) {
    const nlohmann::json& b = r["balanced"];
    svg::BarChart cmp{"balanced-vs-unbalanced",
                      "Balanced vs unbalanced (slowest rank)",
                      "us",
                      {"dispatch", "combine", "total"},
                      {},
                      false};
    cmp.series = {{"unbalanced", {num(r, "dispatch_us"), num(r, "combine_us"), num(r, "total_us")}},
                  {"balanced", {num(b, "dispatch_us"), num(b, "combine_us"), num(b, "total_us")}}};
    svg::BarChart per_rank{"balanced-per-rank",
                           "Per-rank end-to-end time, balanced vs unbalanced",
                           "us",
                           time.categories,
                           {{"unbalanced", {}}, {"balanced", {}}},
                           false};
    for (const auto& rank : ranks)
      per_rank.series[0].values.push_back(num(rank, "total_us"));
    for (const auto& rank : b["ranks"])
      per_rank.series[1].values.push_back(num(rank, "total_us"));
    body += fmt::format("<p><b>Unbalanced / balanced = {:.2f}x.</b></p>\n<pre>{}</pre>\n",
                        num(r, "ratio", 1), svg::escape(text(r, "why")));
    body += svg::render(cmp) + svg::render(per_rank);
  }
  return section("Estimate: per-rank dispatch and combine", in.name, body);
}

// ---- sweep ------------------------------------------------------------------------------------

bool is_number(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

/// "nvlink=off" reads as "RDMA only", "nvlink=on" as "NVLink"; other fields as field=value.
std::string series_name(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [field, value] : fields) {
    std::string part = field + "=" + value;
    if (field == "nvlink") {
      const bool on = value == "on" || value == "true" || value == "1" || value == "yes";
      part = on ? "NVLink" : "RDMA only";
    }
    out += (out.empty() ? "" : ", ") + part;
  }
  return out.empty() ? "total" : out;
}

/// The sweep's x axis: the tokens axis (as mean tokens per rank), else the first all-numeric axis,
/// else none ("" = grid point).
std::string sweep_x_field(const nlohmann::json& axes) {
  std::string x_field;
  for (const auto& a : axes)
    if (a.value("field", "") == "tokens") x_field = "tokens";
  for (const auto& a : axes) {
    if (!x_field.empty()) break;
    const auto values = a.value("values", std::vector<std::string>{});
    if (std::all_of(values.begin(), values.end(), is_number)) x_field = a.value("field", "");
  }
  return x_field;
}

/// A sweep's rows read once: one latency series (and ratio series) per combination of the other
/// fields, and the table of the first 200 points.
struct SweepRows {
  std::map<std::string, svg::XySeries> series;
  std::map<std::string, svg::XySeries> ratios;
  std::size_t num_errors = 0;
  std::size_t shown = 0;
  std::string table;
};

SweepRows read_sweep_rows(const nlohmann::json& axes, const nlohmann::json& rows,
                          const std::string& x_field) {
  SweepRows out;
  std::string& table = out.table;
  table = "<table>\n<tr><th>point</th>";
  for (const auto& a : axes)
    table += "<th>" + svg::escape(a.value("field", "")) + "</th>";
  table += "<th>dispatch us</th><th>combine us</th><th>total us</th><th>bottleneck</th></tr>\n";
  for (const auto& row : rows) {
    if (row.contains("error")) {
      ++out.num_errors;
      continue;
    }
    std::vector<std::pair<std::string, std::string>> others;
    double x = static_cast<double>(row.value("point", 0));
    for (const auto& [field, value] : row["fields"].items()) {
      const std::string v = value.get<std::string>();
      if (field != x_field)
        others.emplace_back(field, v);
      else
        x = field == "tokens" ? num(row, "mean_tokens") : std::strtod(v.c_str(), nullptr);
    }
    const std::string name = series_name(others);
    auto& s = out.series[name];
    s.name = name;
    s.x.push_back(x);
    s.y.push_back(num(row, "total_us"));
    s.labels.push_back(fmt::format("point {}", row.value("point", 0)));
    if (row.contains("ratio")) {
      auto& rs = out.ratios[name];
      rs.name = name;
      rs.x.push_back(x);
      rs.y.push_back(num(row, "ratio"));
    }
    if (out.shown++ < 200) {
      table += fmt::format("<tr><td>{}</td>", row.value("point", 0));
      for (const auto& a : axes)
        table += "<td>" + svg::escape(row["fields"].value(a.value("field", ""), "")) + "</td>";
      table += fmt::format("<td>{:.1f}</td><td>{:.1f}</td><td>{:.1f}</td><td>{} / {}</td></tr>\n",
                           num(row, "dispatch_us"), num(row, "combine_us"), num(row, "total_us"),
                           text(row, "dispatch_bottleneck"), text(row, "combine_bottleneck"));
    }
  }
  table += "</table>\n";
  return out;
}

std::string sweep_section(const ReportInput& in) {
  const nlohmann::json& axes = in.content["sweep"].value("axes", nlohmann::json::array());
  const nlohmann::json& rows = in.content["results"];
  const std::string x_field = sweep_x_field(axes);
  SweepRows read = read_sweep_rows(axes, rows, x_field);
  const std::string x_label = x_field == "tokens" ? "tokens per rank (mean)"
                              : x_field.empty()   ? "grid point"
                                                  : x_field;
  svg::XyChart chart{"sweep-latency",
                     "Latency (dispatch + combine) against " + x_label,
                     x_label,
                     "us (slowest rank)",
                     {},
                     false,
                     false};
  double x_min = INFINITY, x_max = 0;
  for (auto& [name, s] : read.series) {
    for (double x : s.x)
      x_min = std::min(x_min, x), x_max = std::max(x_max, x);
    chart.series.push_back(s);
  }
  chart.log_x = x_min > 0 && x_max / x_min >= 8;
  std::string body = svg::render(chart);
  if (!read.ratios.empty()) {
    svg::XyChart rc{"sweep-ratio",
                    "Unbalanced / balanced against " + x_label,
                    x_label,
                    "ratio",
                    {},
                    chart.log_x,
                    false};
    for (auto& [name, s] : read.ratios)
      rc.series.push_back(s);
    body += svg::render(rc);
  }
  if (read.num_errors > 0)
    body +=
        fmt::format("<p>{} points were invalid scenarios and are left out.</p>\n", read.num_errors);
  if (read.shown > 200)
    body += fmt::format("<p>The table shows the first 200 of {} rows.</p>\n", read.shown);
  return section("Sweep: latency against the varied fields", in.name, body + read.table);
}

// ---- records: predicted against measured -----------------------------------------------------

/// The preset a record's "gpu" names (H200 -> h200-cx7, GB200 -> gb200-nvl72), h800-cx7 otherwise.
std::string preset_for_gpu(std::string gpu) {
  std::transform(gpu.begin(), gpu.end(), gpu.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  for (const auto& name : preset_names())
    if (name.rfind(gpu + "-", 0) == 0) return name;
  return "h800-cx7";
}

/// One measured case: the records sharing system, case name and scenario fields; measured = mean
/// over the case's ranks (DeepEP's avg_t convention), per phase (dispatch, combine, b2b).
struct RecordCase {
  std::string label, gpu;
  std::vector<FieldValue> fields;
  double sum[3] = {0, 0, 0};
  int count[3] = {0, 0, 0};
};

/// The records grouped into cases, in the order of their first record.
std::vector<RecordCase> group_record_cases(const nlohmann::json& records) {
  static const char* const kFields[] = {
      "nodes",          "gpus_per_node", "mode",           "nvlink",        "hidden",
      "topk",           "experts",       "dispatch_dtype", "combine_dtype", "max_tokens_per_rank",
      "tokens_per_rank"};
  static const char* const kPhases[] = {"dispatch_us", "combine_us", "b2b_us"};
  std::map<std::string, RecordCase> cases;
  std::vector<std::string> order;
  for (const auto& rec : records) {
    std::vector<FieldValue> fields;
    std::string key = text(rec, "system") + "|" + text(rec, "gpu") + "|" + text(rec, "case");
    for (const char* f : kFields) {
      if (!rec.contains(f)) continue;
      const auto& v = rec[f];
      std::string value = v.is_string() ? v.get<std::string>() : v.dump();
      if (v.is_array()) value = value.substr(1, value.size() - 2);  // [219,37] -> 219,37
      fields.emplace_back(f, value);
      key += "|" + value;
    }
    auto [it, inserted] = cases.try_emplace(key);
    RecordCase& c = it->second;
    if (inserted) {
      order.push_back(key);
      c.fields = fields;
      c.gpu = text(rec, "gpu");
      c.label = text(rec, "system") + " " +
                (rec.contains("case") ? text(rec, "case") : text(rec, "tokens_per_rank"));
    }
    for (int p = 0; p < 3; ++p) {
      if (rec.contains(kPhases[p]) && rec[kPhases[p]].is_number()) {
        c.sum[p] += rec[kPhases[p]].get<double>();
        c.count[p] += 1;
      }
    }
  }
  std::vector<RecordCase> in_order;
  for (const auto& key : order)
    in_order.push_back(cases[key]);
  return in_order;
}

std::string records_section(const ReportInput& in, const ReportOptions& options) {
  const std::vector<RecordCase> cases = group_record_cases(in.content);
  const char* const kNames[] = {"dispatch", "combine", "back to back"};
  svg::XyChart chart{"predicted-vs-measured",
                     "Predicted against measured (mean over ranks)",
                     "measured us",
                     "predicted us",
                     {},
                     false,
                     true};
  for (const char* n : kNames)
    chart.series.push_back({n, {}, {}, {}, false});
  std::string table =
      "<table>\n<tr><th>case</th><th>phase</th><th>measured us</th><th>predicted us</th>"
      "<th>error</th></tr>\n";
  for (const RecordCase& c : cases) {
    Scenario base;
    base.cluster = cluster_preset(preset_for_gpu(c.gpu));
    std::vector<FieldValue> fields = c.fields;
    Scenario s;
    try {
      s = with_fields(base, fields);
    } catch (const InputError& e) {
      table += fmt::format("<tr><td>{}</td><td colspan=\"4\">not modelled: {}</td></tr>\n",
                           svg::escape(c.label), svg::escape(e.what()));
      continue;
    }
    ModelParams params = ModelParams::from_cluster(s.cluster);
    if (!options.calibration.empty()) apply_calibration_file(options.calibration, params);
    const EstimateResult synced = estimate(s, params);
    Scenario b2b = s;
    b2b.back_to_back = true;
    const double predicted[3] = {synced.dispatch_us, synced.combine_us,
                                 estimate(b2b, params).total_us};
    for (int p = 0; p < 3; ++p) {
      if (c.count[p] == 0) continue;
      const double measured = c.sum[p] / c.count[p];
      auto& series = chart.series[static_cast<std::size_t>(p)];
      series.x.push_back(measured);
      series.y.push_back(predicted[p]);
      series.labels.push_back(c.label);
      table += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{:.1f}</td><td>{:.1f}</td><td>{:+.0f}%</td></tr>\n",
          svg::escape(c.label), kNames[p], measured, predicted[p],
          100.0 * (predicted[p] - measured) / measured);
    }
  }
  table += "</table>\n";
  std::string note = options.calibration.empty()
                         ? "Predictions use the preset named by each record's GPU, uncalibrated."
                         : "Predictions use the calibration " + options.calibration + ".";
  return section("Predicted against measured", in.name,
                 "<p>" + svg::escape(note) + "</p>\n" + svg::render(chart) + table);
}

// ---- plan: Pareto front -----------------------------------------------------------------------

std::string pareto_section(const ReportInput& in) {
  const nlohmann::json& points = in.content["pareto"];
  // Balance (higher is better) or imbalance (lower is better), whichever the plan wrote.
  const bool imbalance = !points.empty() && points[0].contains("batch_imbalance");
  const char* batch_key = imbalance ? "batch_imbalance" : "batch_balance";
  const char* kv_key = imbalance ? "kv_imbalance" : "kv_balance";
  auto better_or_equal = [&](double a, double b) { return imbalance ? a <= b : a >= b; };
  svg::XySeries all{"all points", {}, {}, {}, false};
  svg::XySeries front{"Pareto front", {}, {}, {}, true};
  svg::XySeries step{"step time", {}, {}, {}, true};
  for (const auto& p : points) {
    const double b = num(p, batch_key), k = num(p, kv_key);
    bool on_front = p.value("on_front", false);
    if (!p.contains("on_front")) {
      on_front = true;
      for (const auto& q : points) {
        const double qb = num(q, batch_key), qk = num(q, kv_key);
        if (better_or_equal(qb, b) && better_or_equal(qk, k) && (qb != b || qk != k))
          on_front = false;
      }
    }
    const std::string label =
        fmt::format("lambda {:g}, step {:.1f} us", num(p, "lambda"), num(p, "step_us"));
    all.x.push_back(b), all.y.push_back(k), all.labels.push_back(label);
    if (on_front) front.x.push_back(b), front.y.push_back(k), front.labels.push_back(label);
    step.x.push_back(num(p, "lambda")), step.y.push_back(num(p, "step_us"));
    step.labels.push_back(label);
  }
  svg::XyChart trade{
      "pareto-front", "Batch balance against KV balance", batch_key, kv_key, {all, front}, false,
      false};
  svg::XyChart steps{
      "pareto-step", "Decode step time against lambda", "lambda", "step us", {step}, false, false};
  return section("Plan: batch balance against KV balance", in.name,
                 svg::render(trade) + svg::render(steps));
}

const char* const kStyle = R"css(
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.source { color: #666; font-size: 0.9em; }
svg.chart { width: 100%; height: auto; margin: 0.5em 0 1.5em; background: #fff; }
svg .title { font-size: 15px; font-weight: 600; }
svg .tick, svg .legend { font-size: 11px; fill: #444; } svg .axis-label { font-size: 12px; }
svg .grid { stroke: #e5e5e5; } svg .axis { stroke: #444; }
svg .line { fill: none; stroke-width: 2; } svg .diagonal { stroke: #999; stroke-dasharray: 4 4; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: right; }
pre { background: #f6f6f6; padding: 0.8em; white-space: pre-wrap; }
)css";

}  // namespace

const char* to_string(ReportInputKind kind) {
  switch (kind) {
    case ReportInputKind::kEstimate:
      return "estimate";
    case ReportInputKind::kSweep:
      return "sweep";
    case ReportInputKind::kRecords:
      return "records";
    case ReportInputKind::kPareto:
      return "pareto";
  }
  return "?";
}

ReportInput classify_report_input(std::string name, nlohmann::json content) {
  ReportInput in{std::move(name), ReportInputKind::kEstimate, std::move(content)};
  const auto& c = in.content;
  if (c.is_object() && c.contains("sweep") && c.contains("results") && c["results"].is_array()) {
    in.kind = ReportInputKind::kSweep;
  } else if (c.is_object() && c.contains("pareto") && c["pareto"].is_array()) {
    in.kind = ReportInputKind::kPareto;
  } else if (c.is_object() && c.contains("ranks") && c["ranks"].is_array()) {
    in.kind = ReportInputKind::kEstimate;
  } else if (c.is_array() && !c.empty() && c[0].is_object() && c[0].contains("tokens_per_rank") &&
             (c[0].contains("dispatch_us") || c[0].contains("b2b_us"))) {
    in.kind = ReportInputKind::kRecords;
  } else {
    throw InputError("report input", in.name,
                     "not an estimate, sweep, records or plan result (docs/report.md lists the "
                     "accepted files)");
  }
  return in;
}

ReportInput read_report_input(const std::string& path) {
  const std::string name = path.substr(path.find_last_of('/') + 1);
  const bool jsonl = path.size() > 6 && path.substr(path.size() - 6) == ".jsonl";
  if (!jsonl) return classify_report_input(name, read_json_file(path, "report input"));
  std::ifstream file(path);
  if (!file) throw InputError("report input", path, "the file cannot be opened");
  nlohmann::json records = nlohmann::json::array();
  std::string line;
  for (int line_no = 1; std::getline(file, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      records.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception& e) {  // parse_error; out_of_range (1e400)
      throw InputError("report input", fmt::format("{} line {}", path, line_no),
                       fmt::format("malformed JSON: {}", e.what()));
    }
  }
  return classify_report_input(name, std::move(records));
}

std::string render_report(const std::vector<ReportInput>& inputs, const ReportOptions& options) {
  std::string body;
  for (const auto& in : inputs) {
    switch (in.kind) {
      case ReportInputKind::kEstimate:
        body += estimate_section(in);
        break;
      case ReportInputKind::kSweep:
        body += sweep_section(in);
        break;
      case ReportInputKind::kRecords:
        body += records_section(in, options);
        break;
      case ReportInputKind::kPareto:
        body += pareto_section(in);
        break;
    }
  }
  std::string list;
  for (const auto& in : inputs)
    list += fmt::format("<li>{} ({})</li>", svg::escape(in.name), to_string(in.kind));
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>{0}</title>\n<style>{1}</style>\n</head>\n<body>\n<h1>{0}</h1>\n"
      "<p>Inputs:</p><ul>{2}</ul>\n{3}<footer><p class=\"source\">Generated by epscope "
      "(docs/report.md). Times are per step on the step's clock; waiting is time a rank spends "
      "on others inside the implicit all-to-all barrier.</p></footer>\n</body>\n</html>\n",
      svg::escape(options.title), kStyle, list, body);
}

}  // namespace epscope
