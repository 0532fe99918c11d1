// Records grouped into cases, the holdout split and error summaries. docs/model.md §6.
#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <map>

#include "epscope/base/error.h"
#include "epscope/base/lists.h"
#include "epscope/calibrate/calibrate_cases.h"
#include "epscope/scenario/scenario_json.h"

namespace epscope {
namespace {

/// FNV-1a: a stable 64-bit hash of a case name, so that the holdout split depends only on the
/// names, never on file order or platform.
std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string case_label(const MeasurementRecord& r) {
  const Scenario& s = r.scenario;
  std::string name = r.case_name.empty() ? format_token_list(s.tokens_per_rank) : r.case_name;
  name += fmt::format(" [{}x{} {} {}/{}]", s.num_ranks(), r.gpu, to_string(s.mode),
                      to_string(s.moe.dispatch_dtype), to_string(s.moe.combine_dtype));
  return name;
}

/// Nearest-rank percentile of sorted values, q in (0, 1].
double percentile_sorted(const std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const auto idx = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size(), std::max<std::size_t>(idx, 1)) - 1];
}

}  // namespace

bool MeasuredCase::balanced() const {
  const auto& t = scenario.tokens_per_rank;
  return scenario.start_offset_us.empty() &&
         std::all_of(t.begin(), t.end(), [&](std::int64_t v) { return v == t.front(); });
}

std::vector<MeasuredCase> group_cases(const std::vector<MeasurementRecord>& records) {
  // Key: everything that changes the prediction, plus the case name. std::map keeps the order
  // deterministic (sorted by key), independent of the order of the lines.
  std::map<std::string, MeasuredCase> by_key;
  for (const MeasurementRecord& r : records) {
    const std::string key =
        fmt::format("{}\n{}\n{}\n{}", r.system, r.gpu, r.case_name, to_json(r.scenario).dump());
    auto [it, inserted] = by_key.try_emplace(key);
    MeasuredCase& c = it->second;
    if (inserted) {
      c.name = case_label(r);
      c.system = r.system;
      c.gpu = r.gpu;
      c.scenario = r.scenario;
    }
    c.ranks.push_back(r);
  }
  std::vector<MeasuredCase> cases;
  std::map<std::string, int> seen;
  for (auto& [key, c] : by_key) {
    // Two different scenarios under one label (same case name, other max_tokens or routing):
    // number them so that every printed name is unique.
    if (const int n = seen[c.name]++; n > 0) c.name += fmt::format(" #{}", n + 1);
    std::stable_sort(c.ranks.begin(), c.ranks.end(),
                     [](const auto& a, const auto& b) { return a.rank < b.rank; });
    cases.push_back(std::move(c));
  }
  return cases;
}

HoldoutSpec HoldoutSpec::parse(const std::string& text) {
  HoldoutSpec spec;
  if (text == "balanced") {
    spec.kind = Kind::kBalanced;
    return spec;
  }
  std::size_t used = 0;
  double f = -1;
  try {
    f = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(f) || f < 0 || f >= 1) {
    throw InputError("holdout", text,
                     "allowed: a fraction of cases in [0, 1) (e.g. 0.25), or 'balanced' (fit "
                     "balanced cases, hold out every imbalanced one)");
  }
  spec.kind = f > 0 ? Kind::kFraction : Kind::kNone;
  spec.fraction = f;
  return spec;
}

std::vector<bool> holdout_split(const std::vector<MeasuredCase>& cases, const HoldoutSpec& spec) {
  std::vector<bool> held(cases.size(), false);
  if (spec.kind == HoldoutSpec::Kind::kBalanced) {
    for (std::size_t i = 0; i < cases.size(); ++i)
      held[i] = !cases[i].balanced();
    if (std::all_of(held.begin(), held.end(), [](bool h) { return h; })) {
      throw InputError("holdout", "balanced",
                       "there is no balanced case to fit (all cases are imbalanced)");
    }
    return held;
  }
  if (spec.kind == HoldoutSpec::Kind::kNone || cases.size() < 2) return held;
  // Order cases by the hash of their name and hold out the first round(f * n), keeping one fitted.
  std::vector<std::size_t> order(cases.size());
  for (std::size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto ha = fnv1a(cases[a].name), hb = fnv1a(cases[b].name);
    return ha != hb ? ha < hb : cases[a].name < cases[b].name;
  });
  const auto n = static_cast<double>(cases.size());
  const auto num_held = std::clamp<std::size_t>(
      static_cast<std::size_t>(std::lround(spec.fraction * n)), 1, cases.size() - 1);
  for (std::size_t i = 0; i < num_held; ++i)
    held[order[i]] = true;
  return held;
}

ErrorSummary summarize_errors(const std::vector<Observation>& obs,
                              const std::vector<bool>& case_mask, int metric) {
  std::vector<double> abs_pct;
  for (const Observation& o : obs) {
    if (!case_mask.empty() && !case_mask[static_cast<std::size_t>(o.case_idx)]) continue;
    if (metric >= 0 && static_cast<int>(o.metric) != metric) continue;
    abs_pct.push_back(std::abs(o.rel_error()) * 100.0);
  }
  ErrorSummary s;
  s.count = static_cast<int>(abs_pct.size());
  if (abs_pct.empty()) return s;
  std::sort(abs_pct.begin(), abs_pct.end());
  const std::size_t n = abs_pct.size();
  s.median_abs_pct = n % 2 ? abs_pct[n / 2] : (abs_pct[n / 2 - 1] + abs_pct[n / 2]) / 2;
  s.p95_abs_pct = percentile_sorted(abs_pct, 0.95);
  s.max_abs_pct = abs_pct.back();
  return s;
}

}  // namespace epscope
