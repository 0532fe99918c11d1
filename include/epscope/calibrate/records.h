// Measurement records (docs/measurements.md): one line per rank of one measured case, as
// `bench` writes them and `calibrate` reads them. An input reader: it depends on no model.
#pragma once

#include <array>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "epscope/scenario/scenario.h"

namespace epscope {

/// The three timings a record may carry. docs/measurements.md.
enum class Metric { kDispatch = 0, kCombine = 1, kBackToBack = 2 };
inline constexpr int kNumMetrics = 3;
const char* to_string(Metric metric);

/// One rank of one measured case: one line of a records file.
struct MeasurementRecord {
  std::string system;
  std::string gpu;
  std::string case_name;  // the record's "case", "" when absent
  Scenario scenario;      // cluster from the preset matching `gpu`, shape and batch from the record
  int rank = 0;
  std::array<std::optional<double>, kNumMetrics> measured_us;  // dispatch, combine, b2b
  std::string where;                                           // "FILE:LINE"
};

/// A `--where KEY=VALUE` filter: keeps records whose top-level field KEY equals VALUE (strings
/// compared as written, numbers and booleans as JSON text: nodes=2, nvlink=true).
struct RecordFilter {
  std::string key;
  std::string value;
  static RecordFilter parse(const std::string& text);  // "KEY=VALUE"
};

struct RecordSet {
  std::vector<MeasurementRecord> records;
  std::vector<std::string> skipped;  // "FILE:LINE: why", only with skip_bad
  int filtered_out = 0;              // well-formed lines that did not match the filters
};

/// The gpu name -> cluster preset rule of docs/measurements.md: H100 -> h100-cx7,
/// H200 -> h200-cx7, anything else -> h800-cx7 (case-insensitive substring match).
std::string preset_for_gpu(const std::string& gpu);

/// Parses one record (a JSON object). Throws InputError naming the field.
MeasurementRecord parse_record(const nlohmann::json& j);

/// Reads JSON Lines from `in` (`name` is used in messages) and appends to `out`. Blank lines are
/// skipped. A malformed line is an InputError "NAME:LINE: ..." unless `skip_bad`, in which case it
/// is listed in out.skipped. Lines that do not match every filter are counted, not validated.
void read_records(std::istream& in, const std::string& name, const std::vector<RecordFilter>& where,
                  bool skip_bad, RecordSet& out);
/// Same, from a file.
void read_records(const std::string& path, const std::vector<RecordFilter>& where, bool skip_bad,
                  RecordSet& out);

}  // namespace epscope
