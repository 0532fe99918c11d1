// Turns samples into what users read: DeepEP-style per-rank lines with the model's prediction
// beside them, percentiles over all ranks and iterations, an nccl-tests-style table over cases,
// and the JSON Lines measurement records of docs/measurements.md (one per rank per case).
// Host-only; the model comes from epscope_core.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/harness/samples.h"
#include "epscope/estimate/estimate.h"
#include "epscope/scenario/scenario.h"

namespace epscope::bench {

/// One rank's record (docs/measurements.md): the schema fields plus extras (case, offsets,
/// percentiles, wait/transfer split, the model's predictions and errors, SMs, backend).
nlohmann::json measurement_record(const Scenario& scenario, const RunInfo& info,
                                  const CaseSamples& samples, const RankSamples& rank,
                                  const EstimateResult& sync_estimate,
                                  const EstimateResult& b2b_estimate);

/// What the report found.
struct ReportSummary {
  std::int64_t checked = 0;
  std::int64_t wrong = 0;
  std::vector<nlohmann::json> records;
};

/// Prints every case (DeepEP lines, model lines, percentiles), the sweep table and the link
/// probes to `out`; returns the records and the check totals.
ReportSummary report(const Scenario& base, const ModelParams& params, const RunInfo& info,
                     const std::vector<CaseSamples>& cases, const std::vector<LinkProbe>& probes,
                     std::ostream& out);

/// Writes records as JSON Lines. Throws Error on I/O failure.
void write_records(const std::string& path, const std::vector<nlohmann::json>& records);

}  // namespace epscope::bench
