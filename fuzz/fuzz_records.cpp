// Fuzz target: measurement records (JSON Lines; src/core/calibrate/records.cpp,
// docs/measurements.md). Byte 0 bit 0 picks --skip-bad. Properties: without skip_bad a bad line is
// an InputError; with it, nothing throws and every non-blank line is a record, a skipped line or
// filtered out.
#include <cstdint>
#include <sstream>

#include "epscope/base/error.h"
#include "epscope/calibrate/calibrate_cases.h"
#include "epscope/calibrate/calibrate_fit.h"
#include "epscope/calibrate/calibration_file.h"
#include "epscope/calibrate/records.h"
#include "fuzz_util.h"

using namespace epscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > (1u << 16)) return 0;
  const bool skip_bad = data[0] & 1;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  RecordSet out;
  try {
    read_records(in, "fuzz.jsonl", {}, skip_bad, out);
  } catch (const InputError&) {
    fuzz::require(!skip_bad);
    return 0;
  }
  for (const MeasurementRecord& rec : out.records) {
    fuzz::require(rec.rank >= 0 && rec.rank < rec.scenario.num_ranks());
  }
  const std::vector<MeasuredCase> cases = group_cases(out.records);
  std::size_t ranks = 0;
  for (const MeasuredCase& c : cases)
    ranks += c.ranks.size();
  fuzz::require(ranks == out.records.size());
  return 0;
}
