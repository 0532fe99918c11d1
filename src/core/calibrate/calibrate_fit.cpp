// The fit: robust (Huber) least squares on relative errors, minimized with a bounded, restarted
// Nelder-Mead over the ModelParams fields the data can identify. docs/model.md §6.
//
// Why Nelder-Mead and not Gauss-Newton: the model is a max over resource bounds, so it is
// piecewise linear in (1 / rate, fixed time) and its gradient is zero along any parameter whose
// resource does not bind. A simplex search moves across those kinks; it is deterministic, needs
// no derivatives, and the dimension is small (at most 9).
#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "epscope/base/error.h"
#include "epscope/base/lists.h"
#include "epscope/calibrate/calibrate_fit.h"
#include "epscope/calibrate/calibration_file.h"
#include "epscope/estimate/estimate.h"
#include "epscope/traffic/traffic.h"

namespace epscope {
namespace {

// ---- Predictions with the traffic computed once per case ----------------------------------

class Predictor {
 public:
  Predictor(const std::vector<MeasuredCase>& cases, const std::vector<bool>& include) {
    for (std::size_t i = 0; i < cases.size(); ++i) {
      if (!include.empty() && !include[i]) continue;
      Entry e{&cases[i], static_cast<int>(i), compute_traffic(cases[i].scenario),
              cases[i].scenario};
      e.b2b.back_to_back = true;
      for (const MeasurementRecord& r : cases[i].ranks) {
        e.need_sync |= r.measured_us[0].has_value() || r.measured_us[1].has_value();
        e.need_b2b |= r.measured_us[2].has_value();
      }
      entries_.push_back(std::move(e));
    }
  }

  std::vector<Observation> run(const ModelParams& params) const {
    std::vector<Observation> out;
    for (const Entry& e : entries_) {
      EstimateResult sync, b2b;
      if (e.need_sync) sync = estimate(e.c->scenario, e.traffic, params);
      if (e.need_b2b) b2b = estimate(e.b2b, e.traffic, params);
      for (const MeasurementRecord& r : e.c->ranks) {
        const auto rank = static_cast<std::size_t>(r.rank);
        for (int m = 0; m < kNumMetrics; ++m) {
          const auto& measured = r.measured_us[static_cast<std::size_t>(m)];
          if (!measured) continue;
          Observation o;
          o.case_idx = e.idx;
          o.rank = r.rank;
          o.metric = static_cast<Metric>(m);
          o.measured_us = *measured;
          o.predicted_us = m == 0   ? sync.ranks[rank].dispatch_us
                           : m == 1 ? sync.ranks[rank].combine_us
                                    : b2b.ranks[rank].total_us;
          out.push_back(o);
        }
      }
    }
    return out;
  }

  /// Facts about the fitted data that decide which parameters are identifiable.
  struct DataShape {
    std::array<bool, kNumLinkClasses> link_used{};
    bool directions_differ = false;  // some rank sends and receives different amounts
    bool message_sizes_differ = false;
    std::array<bool, kNumMetrics> metric_used{};
  };
  DataShape shape() const {
    DataShape s;
    std::set<std::int64_t> dispatch_sizes, combine_sizes;
    for (const Entry& e : entries_) {
      for (const PhaseTraffic* p : {&e.traffic.dispatch, &e.traffic.combine}) {
        for (std::size_t r = 0; r < p->send.size(); ++r) {
          for (std::size_t c = 0; c < kNumLinkClasses; ++c) {
            const auto snd = static_cast<double>(p->send[r].bytes[c]);
            const auto rcv = static_cast<double>(p->recv[r].bytes[c]);
            s.link_used[c] = s.link_used[c] || snd > 0;
            // Only an imbalanced case can tell send from receive rates (balanced ones differ
            // by sampling noise alone).
            if (!e.c->balanced() && std::abs(snd - rcv) > 0.1 * std::max(snd, rcv)) {
              s.directions_differ = true;
            }
          }
        }
      }
      dispatch_sizes.insert(e.traffic.dispatch.message_bytes);
      combine_sizes.insert(e.traffic.combine.message_bytes);
      for (const MeasurementRecord& r : e.c->ranks) {
        for (std::size_t m = 0; m < kNumMetrics; ++m)
          s.metric_used[m] = s.metric_used[m] || r.measured_us[m].has_value();
      }
    }
    s.message_sizes_differ = dispatch_sizes.size() > 1 || combine_sizes.size() > 1;
    return s;
  }

 private:
  struct Entry {
    const MeasuredCase* c;
    int idx;
    Traffic traffic;
    Scenario b2b;
    bool need_sync = false;
    bool need_b2b = false;
  };
  std::vector<Entry> entries_;
};

// ---- Free parameters --------------------------------------------------------------------------

/// The optimizer's coordinate theta enters the model linearly in the bound it drives:
/// us per MB (1000 / GB/s) for a rate, us for a time, 1 / factor for the combine factor.
enum class Scale { kRate, kTime, kInverse };

struct FreeParam {
  std::vector<const char*> names;  // ModelParams fields tied to one value
  Scale scale = Scale::kTime;
  double unit = 1;  // theta / unit is what the simplex moves (about 1 at the start)
  double lo = 0, hi = 0;
};

double to_theta(Scale s, double v) {
  return s == Scale::kRate ? 1000.0 / v : s == Scale::kInverse ? 1.0 / v : v;
}
double from_theta(Scale s, double t) {
  return s == Scale::kRate ? 1000.0 / t : s == Scale::kInverse ? 1.0 / t : t;
}

double ModelParams::*member_of(const char* name) {
  for (const ParamField& f : calibration_fields()) {
    if (std::string(f.name) == name) return f.member;
  }
  EPSCOPE_ASSERT(false);
  return nullptr;
}

FreeParam rate(std::vector<const char*> names) {
  // 1 .. 20000 GB/s
  return {std::move(names), Scale::kRate, 1.0, 1000.0 / 20000.0, 1000.0};
}
FreeParam time_us(const char* name, double unit) {
  return {{name}, Scale::kTime, unit, 0.0, 1e4};
}

std::vector<FreeParam> choose_free(const Predictor::DataShape& d) {
  std::vector<FreeParam> free;
  const bool split = d.directions_differ;
  auto link = [&](const char* tx, const char* rx) {
    if (split) {
      free.push_back(rate({tx}));
      free.push_back(rate({rx}));
    } else {
      free.push_back(rate({tx, rx}));
    }
  };
  if (d.link_used[static_cast<int>(LinkClass::kNvlink)]) link("nvlink_tx_gbps", "nvlink_rx_gbps");
  if (d.link_used[static_cast<int>(LinkClass::kRdma)]) link("nic_tx_gbps", "nic_rx_gbps");
  if (d.link_used[static_cast<int>(LinkClass::kLocal)]) free.push_back(rate({"local_gbps"}));
  const bool dispatch = d.metric_used[0], combine = d.metric_used[1], b2b = d.metric_used[2];
  if (dispatch || b2b) free.push_back(time_us("dispatch_fixed_us", 10));
  if (combine || b2b) free.push_back(time_us("combine_fixed_us", 10));
  // b2b next to sync-timed phases tells how much of combine's fixed cost hides behind dispatch.
  if (b2b && (dispatch || combine)) free.push_back(time_us("b2b_overlap_us", 4));
  if (d.message_sizes_differ) free.push_back(time_us("per_msg_us", 0.02));
  if (dispatch && (combine || b2b) && !free.empty()) {
    free.push_back({{"combine_rate_factor"}, Scale::kInverse, 1.0, 0.2, 5.0});
  }
  return free;
}

ModelParams apply(const ModelParams& base, const std::vector<FreeParam>& free,
                  const std::vector<double>& u) {
  ModelParams p = base;
  for (std::size_t i = 0; i < free.size(); ++i) {
    const FreeParam& f = free[i];
    const double theta = std::clamp(u[i] * f.unit, f.lo, f.hi);
    for (const char* name : f.names)
      p.*member_of(name) = from_theta(f.scale, theta);
  }
  return p;
}

double huber(double r, double delta) {
  const double a = std::abs(r);
  return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta);
}

// ---- Nelder-Mead ------------------------------------------------------------------------------

struct SimplexResult {
  std::vector<double> u;
  double f = 0;
};

/// Standard Nelder-Mead (reflect 1, expand 2, contract 1/2, shrink 1/2) from a simplex of
/// `step` around u0. Stops when the simplex's values agree to 1e-12 or `budget` runs out.
SimplexResult nelder_mead(const std::function<double(const std::vector<double>&)>& f,
                          const std::vector<double>& u0, double step, int& budget) {
  const std::size_t n = u0.size();
  std::vector<std::vector<double>> pts(n + 1, u0);
  std::vector<double> vals(n + 1);
  for (std::size_t i = 0; i < n; ++i)
    pts[i + 1][i] += step;
  for (std::size_t i = 0; i <= n; ++i) {
    vals[i] = f(pts[i]);
    --budget;
  }
  std::vector<std::size_t> order(n + 1);
  auto point = [&](const std::vector<double>& centroid, const std::vector<double>& worst,
                   double t) {
    std::vector<double> p(n);
    for (std::size_t j = 0; j < n; ++j)
      p[j] = centroid[j] + t * (worst[j] - centroid[j]);
    return p;
  };
  while (budget > 0) {
    for (std::size_t i = 0; i <= n; ++i)
      order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return vals[a] < vals[b]; });
    const std::size_t best = order.front(), worst = order.back(), second = order[n - 1];
    if (vals[worst] - vals[best] <= 1e-12 * (std::abs(vals[best]) + 1e-300)) break;
    std::vector<double> centroid(n, 0.0);
    for (std::size_t i = 0; i <= n; ++i) {
      if (i == worst) continue;
      for (std::size_t j = 0; j < n; ++j)
        centroid[j] += pts[i][j] / static_cast<double>(n);
    }
    const auto reflected = point(centroid, pts[worst], -1.0);
    const double fr = f(reflected);
    --budget;
    if (fr < vals[best]) {
      const auto expanded = point(centroid, pts[worst], -2.0);
      const double fe = f(expanded);
      --budget;
      if (fe < fr) {
        pts[worst] = expanded;
        vals[worst] = fe;
      } else {
        pts[worst] = reflected;
        vals[worst] = fr;
      }
    } else if (fr < vals[second]) {
      pts[worst] = reflected;
      vals[worst] = fr;
    } else {
      const bool outside = fr < vals[worst];
      const auto contracted = point(centroid, pts[worst], outside ? -0.5 : 0.5);
      const double fc = f(contracted);
      --budget;
      if (fc < std::min(fr, vals[worst])) {
        pts[worst] = contracted;
        vals[worst] = fc;
      } else {
        for (std::size_t i = 0; i <= n; ++i) {
          if (i == best) continue;
          for (std::size_t j = 0; j < n; ++j)
            pts[i][j] = pts[best][j] + 0.5 * (pts[i][j] - pts[best][j]);
          vals[i] = f(pts[i]);
          --budget;
        }
      }
    }
  }
  const auto best =
      static_cast<std::size_t>(std::min_element(vals.begin(), vals.end()) - vals.begin());
  return {pts[best], vals[best]};
}

nlohmann::json errors_json(const CalibrationResult& r, const std::vector<bool>& mask) {
  nlohmann::json j;
  const ErrorSummary all = summarize_errors(r.observations, mask);
  j["observations"] = all.count;
  j["median_abs_pct"] = all.median_abs_pct;
  j["p95_abs_pct"] = all.p95_abs_pct;
  for (int m = 0; m < kNumMetrics; ++m) {
    const ErrorSummary s = summarize_errors(r.observations, mask, m);
    if (s.count == 0) continue;
    j[to_string(static_cast<Metric>(m))] = {{"observations", s.count},
                                            {"median_abs_pct", s.median_abs_pct},
                                            {"p95_abs_pct", s.p95_abs_pct},
                                            {"max_abs_pct", s.max_abs_pct}};
  }
  return j;
}

}  // namespace

std::vector<Observation> predict(const std::vector<MeasuredCase>& cases,
                                 const ModelParams& params) {
  return Predictor(cases, {}).run(params);
}

CalibrationResult calibrate(std::vector<MeasuredCase> cases, const CalibrateOptions& options) {
  if (cases.empty()) throw InputError("records", "(none)", "no record to fit (check --where)");
  std::set<std::string> systems, gpus;
  for (const MeasuredCase& c : cases) {
    systems.insert(c.system);
    gpus.insert(c.gpu);
  }
  if (systems.size() > 1 || gpus.size() > 1) {
    const bool by_system = systems.size() > 1;
    const auto& names = by_system ? systems : gpus;
    throw InputError(
        "records",
        fmt::format("{} {}s: {}", names.size(), by_system ? "system" : "gpu",
                    fmt::join(names, ", ")),
        fmt::format("one calibration is one system on one GPU type; pick one with --where {}=NAME",
                    by_system ? "system" : "gpu"));
  }
  CalibrationResult result;
  result.system = *systems.begin();
  result.gpu = *gpus.begin();
  result.preset = cases.front().scenario.cluster.preset;
  result.held_out = holdout_split(cases, options.holdout);
  std::vector<bool> fitted_mask(cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i)
    fitted_mask[i] = !result.held_out[i];

  ModelParams initial = ModelParams::from_cluster(cases.front().scenario.cluster);
  initial.fair_share = options.fair_share ? 1.0 : 0.0;
  initial.combine_pull = options.combine_pull ? 1.0 : 0.0;
  const Predictor fitted_cases(cases, fitted_mask);
  std::vector<FreeParam> free = choose_free(fitted_cases.shape());
  for (FreeParam& f : free) {
    // Scale each coordinate so that the simplex starts at 1 (or at 0 with steps of `unit`).
    const double theta0 = to_theta(f.scale, initial.*member_of(f.names.front()));
    if (theta0 > 0) f.unit = theta0;
  }

  auto loss = [&](const std::vector<double>& u) {
    double sum = 0;
    for (const Observation& o : fitted_cases.run(apply(initial, free, u)))
      sum += huber(o.rel_error(), options.huber_delta);
    return sum;
  };
  std::vector<double> u(free.size());
  for (std::size_t i = 0; i < free.size(); ++i) {
    const char* name = free[i].names.front();
    u[i] = to_theta(free[i].scale, initial.*member_of(name)) / free[i].unit;
  }
  int budget = options.max_evaluations;
  SimplexResult best{u, loss(u)};
  --budget;
  // Restarts from the best point with a fresh simplex: Nelder-Mead can stall on a kink.
  for (double step : {0.25, 0.1, 0.03, 0.01}) {
    if (free.empty() || budget <= 0) break;
    SimplexResult r = nelder_mead(loss, best.u, step, budget);
    // Back onto the bounds: outside them the loss is flat (clamped), and a restart from there
    // would search where nothing changes.
    for (std::size_t i = 0; i < free.size(); ++i)
      r.u[i] = std::clamp(r.u[i], free[i].lo / free[i].unit, free[i].hi / free[i].unit);
    if (r.f <= best.f) best = r;
  }
  result.evaluations = options.max_evaluations - budget;
  result.loss = best.f;
  result.params = apply(initial, free, best.u);
  for (const FreeParam& f : free) {
    for (const char* name : f.names)
      result.fitted.push_back({name, initial.*member_of(name), result.params.*member_of(name)});
  }
  result.observations = Predictor(cases, {}).run(result.params);
  result.cases = std::move(cases);
  return result;
}

nlohmann::json to_json(const CalibrationResult& r) {
  nlohmann::json j;
  j["system"] = r.system;
  j["gpu"] = r.gpu;
  j["preset"] = r.preset;
  nlohmann::json params = nlohmann::json::object();
  for (const ParamField& f : calibration_fields()) {
    // The leaf uplink is a property of the fabric a scenario names, not of this measurement.
    if (std::string(f.name) == "leaf_uplink_factor") continue;
    params[f.name] = r.params.*(f.member);
  }
  j["params"] = params;
  nlohmann::json fitted = nlohmann::json::array();
  for (const FittedParam& p : r.fitted)
    fitted.push_back({{"name", p.name}, {"initial", p.initial}, {"fitted", p.fitted}});
  j["fitted"] = fitted;
  std::vector<bool> fit_mask(r.cases.size()), held_mask(r.cases.size());
  int num_held = 0;
  for (std::size_t i = 0; i < r.cases.size(); ++i) {
    fit_mask[i] = !r.held_out[i];
    held_mask[i] = r.held_out[i];
    num_held += r.held_out[i] ? 1 : 0;
  }
  j["fit"] = errors_json(r, fit_mask);
  j["fit"]["cases"] = static_cast<int>(r.cases.size()) - num_held;
  j["fit"]["huber_loss"] = r.loss;
  j["fit"]["evaluations"] = r.evaluations;
  if (num_held > 0) {
    j["holdout"] = errors_json(r, held_mask);
    j["holdout"]["cases"] = num_held;
  }
  nlohmann::json cases = nlohmann::json::array();
  for (std::size_t i = 0; i < r.cases.size(); ++i) {
    const MeasuredCase& c = r.cases[i];
    std::vector<bool> only(r.cases.size(), false);
    only[i] = true;
    nlohmann::json cj = {{"name", c.name},
                         {"held_out", r.held_out[i]},
                         {"balanced", c.balanced()},
                         {"tokens_per_rank", format_token_list(c.scenario.tokens_per_rank)}};
    cj["error"] = errors_json(r, only);
    // Every measured number of the case and its prediction, for plots (scripts/).
    nlohmann::json obs = nlohmann::json::array();
    for (const Observation& o : r.observations) {
      if (o.case_idx != static_cast<int>(i)) continue;
      obs.push_back({{"rank", o.rank},
                     {"metric", to_string(o.metric)},
                     {"measured_us", o.measured_us},
                     {"predicted_us", o.predicted_us}});
    }
    cj["observations"] = obs;
    cases.push_back(cj);
  }
  j["cases"] = cases;
  return j;
}

}  // namespace epscope
