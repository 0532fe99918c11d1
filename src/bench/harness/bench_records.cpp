#include "bench/harness/bench_records.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include <fstream>

#include "bench/harness/harness.h"
#include "bench/harness/stats.h"
#include "epscope/base/error.h"
#include "epscope/base/lists.h"
#include "epscope/scenario/scenario_json.h"
#include "epscope/traffic/traffic.h"

namespace epscope::bench {
namespace {

double median(const std::vector<double>& v) {
  return percentiles(v).p50;
}

/// Relative error of a prediction, in percent; NaN when nothing was measured.
double error_pct(double predicted, double measured) {
  return measured > 0 ? (predicted - measured) / measured * 100.0 : std::nan("");
}

std::vector<double> all_of(const CaseSamples& c, std::vector<double> RankSamples::*field) {
  std::vector<double> v;
  for (const auto& r : c.ranks)
    v.insert(v.end(), (r.*field).begin(), (r.*field).end());
  return v;
}

std::string fmt_opt(double v) {
  return std::isnan(v) ? "-" : fmt::format("{:.1f}", v);
}

}  // namespace

nlohmann::json measurement_record(const Scenario& scenario, const RunInfo& info,
                                  const CaseSamples& samples, const RankSamples& rank,
                                  const EstimateResult& sync_estimate,
                                  const EstimateResult& b2b_estimate) {
  const auto idx = static_cast<std::size_t>(rank.rank);
  const auto& predicted = sync_estimate.ranks[idx];
  const double pred_b2b = b2b_estimate.ranks[idx].total_us;
  const Percentiles d = percentiles(rank.dispatch_us);
  const Percentiles c = percentiles(rank.combine_us);
  const Percentiles b = percentiles(rank.b2b_us);
  nlohmann::json j = {
      {"system", info.system},
      {"gpu", info.gpu},
      {"nodes", scenario.cluster.num_nodes},
      {"gpus_per_node", scenario.cluster.gpus_per_node},
      {"mode", to_string(scenario.mode)},
      {"nvlink", scenario.cluster.nvlink_enabled},
      {"tokens_per_rank", scenario.tokens_per_rank},
      {"rank", rank.rank},
      {"dispatch_us", d.p50},
      {"combine_us", c.p50},
      {"b2b_us", b.p50},
      {"case", samples.bench_case.name},
      {"start_offset_us", samples.bench_case.start_offset_us},
      {"routing", scenario.routing.to_string()},
      {"seed", scenario.routing.seed},
      {"iters", d.count},
      {"statistic", "median over iterations"},
      {"dispatch_us_p90", d.p90},
      {"combine_us_p90", c.p90},
      {"b2b_us_p90", b.p90},
      {"b2b_us_min", b.min},
      {"b2b_us_max", b.max},
      {"backend", info.backend},
      {"launch", info.launch},
      {"device", info.device_name},
      {"dispatch_sms", info.dispatch_sms},
      {"combine_sms", info.combine_sms},
      {"predicted_dispatch_us", predicted.dispatch_us},
      {"predicted_combine_us", predicted.combine_us},
      {"predicted_b2b_us", pred_b2b},
  };
  j.update(moe_shape_json(scenario.moe));
  if (!rank.dispatch_wait_us.empty()) {
    j["dispatch_wait_us"] = median(rank.dispatch_wait_us);
    j["dispatch_transfer_us"] = median(rank.dispatch_transfer_us);
  }
  if (!rank.combine_wait_us.empty()) {
    j["combine_wait_us"] = median(rank.combine_wait_us);
    j["combine_transfer_us"] = median(rank.combine_transfer_us);
  }
  j["predicted_dispatch_wait_us"] = sync_estimate.dispatch.ranks[idx].wait_us;
  j["predicted_combine_wait_us"] = sync_estimate.combine.ranks[idx].wait_us;
  if (!info.nccl_version.empty()) j["nccl_version"] = info.nccl_version;
  if (rank.checked > 0) {
    j["checked"] = rank.checked;
    j["wrong"] = rank.wrong;
  }
  return j;
}

namespace {

/// The header: system, backend, shape, SMs and the link probes.
void write_report_header(const Scenario& base, const RunInfo& info,
                         const std::vector<LinkProbe>& probes, std::ostream& out) {
  out << fmt::format(
      "# epscope bench: {} ({} backend, {}), {} x {} ({}), mode {}, hidden {}, "
      "top-{}, {} experts, {} dispatch, {} combine{}\n",
      info.system, info.backend, info.launch, base.num_ranks(), info.gpu, info.device_name,
      to_string(base.mode), base.moe.hidden, base.moe.topk, base.moe.num_experts,
      to_string(base.moe.dispatch_dtype), to_string(base.moe.combine_dtype),
      info.nccl_version.empty() ? "" : ", NCCL " + info.nccl_version);
  if (info.dispatch_sms > 0)
    out << fmt::format("# SMs used: dispatch {}, combine {}\n", info.dispatch_sms,
                       info.combine_sms);
  for (const LinkProbe& p : probes) {
    std::string per_rank;
    for (double g : p.egress_gbps)
      per_rank += fmt::format(" {:.0f}", g);
    out << fmt::format(
        "# link limit ({} {} blocks, every GPU {} every other): per-GPU egress "
        "GB/s:{}\n",
        p.pull ? "loads," : "stores,", p.num_blocks, p.pull ? "loading from" : "storing to",
        per_rank);
  }
}

/// One case's line in the nccl-tests style table.
struct CaseRow {
  std::string label;
  double alg_bytes = 0, dispatch_us = 0, combine_us = 0, b2b_us = 0, model_b2b_us = 0;
  std::int64_t wrong = 0;
};

/// One rank's DeepEP-style lines: bandwidths, the model beside them, the split and the check.
void write_rank_lines(const RankSamples& r, double d_bytes, double c_bytes,
                      const EstimateResult& sync, const EstimateResult& b2b, std::ostream& out) {
  const auto i = static_cast<std::size_t>(r.rank);
  const Percentiles d = percentiles(r.dispatch_us), cb = percentiles(r.combine_us),
                    b = percentiles(r.b2b_us);
  out << fmt::format(
      "[rank {}] Dispatch + combine bandwidth: {:.2f} GB/s, avg_t={:.2f} us, min_t={:.2f} "
      "us, max_t={:.2f} us\n",
      r.rank, (d_bytes + c_bytes) / (b.mean * 1e3), b.mean, b.min, b.max);
  out << fmt::format(
      "[rank {}] Dispatch bandwidth: {:.2f} GB/s, avg_t={:.2f} us | Combine bandwidth: "
      "{:.2f} GB/s, avg_t={:.2f} us\n",
      r.rank, d_bytes / (d.mean * 1e3), d.mean, c_bytes / (cb.mean * 1e3), cb.mean);
  const auto& m = sync.ranks[i];
  out << fmt::format(
      "[rank {}] Model: dispatch {:.2f} us ({:+.1f}%), combine {:.2f} us ({:+.1f}%), "
      "back-to-back {:.2f} us ({:+.1f}%)\n",
      r.rank, m.dispatch_us, error_pct(m.dispatch_us, d.p50), m.combine_us,
      error_pct(m.combine_us, cb.p50), b2b.ranks[i].total_us,
      error_pct(b2b.ranks[i].total_us, b.p50));
  if (!r.dispatch_wait_us.empty() || !r.combine_wait_us.empty())
    out << fmt::format(
        "[rank {}] Split (median): dispatch transfer {} us + wait {} us | combine wait {} us "
        "+ transfer {} us\n",
        r.rank, fmt_opt(median(r.dispatch_transfer_us)), fmt_opt(median(r.dispatch_wait_us)),
        fmt_opt(median(r.combine_wait_us)), fmt_opt(median(r.combine_transfer_us)));
  if (r.checked > 0)
    out << fmt::format("[rank {}] Check: {} rows verified, {} wrong{}\n", r.rank, r.checked,
                       r.wrong, r.wrong > 0 ? " (first: " + r.first_error + ")" : "");
}

/// One case: its header, every rank's lines and records, the percentiles over all ranks.
CaseRow report_case(const Scenario& base, const ModelParams& params, const RunInfo& info,
                    const CaseSamples& c, ReportSummary& summary, std::ostream& out) {
  const Scenario s = case_scenario(base, c.bench_case);
  const Traffic traffic = compute_traffic(s);
  const EstimateResult sync = estimate(s, traffic, params);
  Scenario sb = s;
  sb.back_to_back = true;
  const EstimateResult b2b = estimate(sb, traffic, params);
  out << fmt::format(
      "\n## case {}: tokens {}{}\n", c.bench_case.name,
      format_token_list(c.bench_case.tokens_per_rank),
      c.bench_case.start_offset_us.empty()
          ? ""
          : fmt::format(", start offsets {} us", fmt::join(c.bench_case.start_offset_us, ",")));
  double alg_total = 0;
  std::int64_t case_wrong = 0;
  for (const RankSamples& r : c.ranks) {
    const auto i = static_cast<std::size_t>(r.rank);
    const double d_bytes = traffic.dispatch.algorithm_bytes[i];
    const double c_bytes = traffic.combine.algorithm_bytes[i];
    alg_total += d_bytes + c_bytes;
    write_rank_lines(r, d_bytes, c_bytes, sync, b2b, out);
    summary.checked += r.checked;
    summary.wrong += r.wrong;
    case_wrong += r.wrong;
    summary.records.push_back(measurement_record(s, info, c, r, sync, b2b));
  }
  out << "  all ranks x iterations     min      p50      p90      p99      max   model(max "
         "rank)\n";
  const auto line = [&](const char* name, const Percentiles& p, double model) {
    out << fmt::format("  {:<22} {:8.2f} {:8.2f} {:8.2f} {:8.2f} {:8.2f} {:9.2f}\n", name, p.min,
                       p.p50, p.p90, p.p99, p.max, model);
  };
  const Percentiles d = percentiles(all_of(c, &RankSamples::dispatch_us));
  const Percentiles cb = percentiles(all_of(c, &RankSamples::combine_us));
  const Percentiles b = percentiles(all_of(c, &RankSamples::b2b_us));
  line("dispatch us", d, sync.dispatch_us);
  line("combine us", cb, sync.combine_us);
  line("back-to-back us", b, b2b.total_us);
  const double n = static_cast<double>(c.ranks.size());
  return {c.bench_case.name, alg_total / std::max(1.0, n), d.p50, cb.p50, b.p50, b2b.total_us,
          case_wrong};
}

/// nccl-tests style: one row per case, times are p50 over all ranks and iterations.
void write_case_table(const std::vector<CaseRow>& rows, double num_ranks, std::ostream& out) {
  const double n = num_ranks;
  out << fmt::format("\n#{:>22} {:>14} {:>11} {:>11} {:>11} {:>9} {:>9} {:>11} {:>7} {:>7}\n",
                     "case", "alg bytes/rank", "dispatch", "combine", "b2b", "algbw", "busbw",
                     "model b2b", "err", "#wrong");
  out << fmt::format("#{:>22} {:>14} {:>11} {:>11} {:>11} {:>9} {:>9} {:>11} {:>7} {:>7}\n", "",
                     "(B)", "(us)", "(us)", "(us)", "(GB/s)", "(GB/s)", "(us)", "(%)", "");
  for (const CaseRow& r : rows) {
    const double algbw = r.b2b_us > 0 ? r.alg_bytes / (r.b2b_us * 1e3) : 0;
    out << fmt::format(
        " {:>22} {:>14.0f} {:>11.2f} {:>11.2f} {:>11.2f} {:>9.2f} {:>9.2f} "
        "{:>11.2f} {:>+7.1f} {:>7}\n",
        r.label, r.alg_bytes, r.dispatch_us, r.combine_us, r.b2b_us, algbw, algbw * (n - 1) / n,
        r.model_b2b_us, error_pct(r.model_b2b_us, r.b2b_us), r.wrong);
  }
}

}  // namespace

ReportSummary report(const Scenario& base, const ModelParams& params, const RunInfo& info,
                     const std::vector<CaseSamples>& cases, const std::vector<LinkProbe>& probes,
                     std::ostream& out) {
  ReportSummary summary;
  write_report_header(base, info, probes, out);
  std::vector<CaseRow> rows;
  for (const CaseSamples& c : cases)
    rows.push_back(report_case(base, params, info, c, summary, out));
  write_case_table(rows, base.num_ranks(), out);
  return summary;
}

void write_records(const std::string& path, const std::vector<nlohmann::json>& records) {
  std::ofstream file(path);
  if (!file) throw Error("cannot write " + path, __FILE__, __LINE__);
  for (const auto& r : records)
    file << r.dump() << '\n';
  if (!file) throw Error("write failed: " + path, __FILE__, __LINE__);
}

}  // namespace epscope::bench
