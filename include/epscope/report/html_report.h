// `epscope report`: one self-contained HTML page (inline SVG, no script, no network) from result
// files: estimate JSON (per-rank bars, balanced vs unbalanced), sweep JSON (latency against
// tokens per rank, one line per NVLink/RDMA or other setting), measurement records JSONL
// (predicted against measured) and plan JSON (the Pareto front). docs/report.md.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace epscope {

enum class ReportInputKind { kEstimate, kSweep, kRecords, kPareto };
const char* to_string(ReportInputKind kind);

struct ReportInput {
  std::string name;  // shown in the page (the file name)
  ReportInputKind kind = ReportInputKind::kEstimate;
  nlohmann::json content;  // records: an array of record objects
};

/// Reads one file. `.jsonl`: measurement records, one JSON object per line (docs/measurements.md).
/// Otherwise JSON, classified by classify_report_input(). Unreadable or unrecognized files are
/// InputErrors naming the path.
ReportInput read_report_input(const std::string& path);

/// By keys: {"sweep", "results"} = sweep; {"pareto": [...]} = plan; {"ranks": [...]} = estimate
/// (with "balanced" when --compare-balanced); an array of objects with "dispatch_us" or "b2b_us"
/// and "tokens_per_rank" = records.
ReportInput classify_report_input(std::string name, nlohmann::json content);

struct ReportOptions {
  std::string title = "epscope report";
  std::string calibration;  // for predicted vs measured: a calibration JSON, "" = preset rates
};

/// The whole HTML document.
std::string render_report(const std::vector<ReportInput>& inputs, const ReportOptions& options);

}  // namespace epscope
