// Snapshots and traces: files and synthetic generators. docs/model.md §8.7.
#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "base/rng.h"
#include "epscope/base/error.h"
#include "epscope/base/limits.h"
#include "epscope/plan/plan_io.h"
#include "plan_table.h"

namespace epscope {

namespace {

constexpr std::int64_t kMaxContextTokens = std::int64_t{1} << 32;
constexpr std::int64_t kMaxStepTokens = 1 << 16;
constexpr int kMaxRequests = 1 << 24;

void check_request(const Request& q, const std::string& where) {
  if (q.context_tokens < 0 || q.context_tokens > kMaxContextTokens) {
    throw InputError("snapshot context_tokens", fmt::format("{}: {}", where, q.context_tokens),
                     fmt::format("allowed: 0..{}", kMaxContextTokens));
  }
  if (q.tokens < 1 || q.tokens > kMaxStepTokens) {
    throw InputError("snapshot tokens", fmt::format("{}: {}", where, q.tokens),
                     fmt::format("allowed: 1..{} (1 + accepted drafts)", kMaxStepTokens));
  }
  if (q.rank < -1) {
    throw InputError("snapshot rank", fmt::format("{}: {}", where, q.rank),
                     "allowed: -1 (unplaced) or a rank index");
  }
}

std::int64_t json_integer(const nlohmann::json& j, const char* key, std::int64_t fallback,
                          const std::string& where) {
  if (!j.contains(key)) return fallback;
  const auto& v = j[key];
  if (!v.is_number_integer()) {
    throw InputError(std::string("snapshot ") + key, fmt::format("{}: {}", where, v.dump()),
                     "must be an integer");
  }
  return v.get<std::int64_t>();
}

/// Log-normal with the given mean (not median): mu = ln(mean) - sigma^2 / 2.
double lognormal(detail::Rng& rng, double mean, double sigma) {
  return std::exp(std::log(mean) - 0.5 * sigma * sigma + sigma * rng.normal());
}

std::int64_t at_least_one(double value) {
  return std::max<std::int64_t>(1, std::llround(std::min(value, 1e12)));
}

/// Accepted drafts: each of `num_drafts` accepted in order with probability `p`, stop at a miss.
std::int64_t accepted_drafts(detail::Rng& rng, int num_drafts, double p) {
  std::int64_t accepted = 0;
  while (accepted < num_drafts && rng.uniform() < p)
    ++accepted;
  return accepted;
}

void require_probability(const char* field, double p) {
  if (!(p >= 0 && p <= 1)) throw InputError(field, fmt::format("{}", p), "allowed: 0..1");
}

}  // namespace

bool Snapshot::has_placement() const {
  return !requests.empty() && std::all_of(requests.begin(), requests.end(),
                                          [](const Request& q) { return q.rank >= 0; });
}

Snapshot load_snapshot(const std::string& path) {
  Snapshot snapshot;
  if (detail::has_suffix(path, ".json")) {
    std::ifstream in(path);
    if (!in) throw InputError("snapshot", path, "the file cannot be opened");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {  // parse_error; out_of_range (1e400)
      throw InputError("snapshot", path, fmt::format("malformed JSON: {}", e.what()));
    }
    if (!j.is_object() || !j.contains("requests") || !j["requests"].is_array()) {
      throw InputError("snapshot", path, "expected an object with a 'requests' array");
    }
    const auto& rows = j["requests"];
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const std::string where = fmt::format("{}: request {}", path, i);
      if (!rows[i].is_object() || !rows[i].contains("context_tokens")) {
        throw InputError("snapshot", where, "each request needs 'context_tokens'");
      }
      Request q;
      q.id = json_integer(rows[i], "id", static_cast<std::int64_t>(i), where);
      q.context_tokens = json_integer(rows[i], "context_tokens", 0, where);
      q.tokens = json_integer(rows[i], "tokens", 1, where);
      q.rank = static_cast<int>(std::clamp<std::int64_t>(json_integer(rows[i], "rank", -1, where),
                                                         -2, std::numeric_limits<int>::max()));
      check_request(q, where);
      snapshot.requests.push_back(q);
    }
  } else {
    const detail::CsvTable table = detail::read_csv(path, "snapshot");
    const int id = table.find_column("id");
    const int context = table.column("context_tokens");
    const int tokens = table.find_column("tokens");
    const int rank = table.find_column("rank");
    for (std::size_t row = 0; row < table.rows.size(); ++row) {
      Request q;
      q.id = id >= 0 ? table.integer(row, id, std::numeric_limits<std::int64_t>::min() / 2,
                                     std::numeric_limits<std::int64_t>::max() / 2)
                     : static_cast<std::int64_t>(row);
      q.context_tokens = table.integer(row, context, 0, kMaxContextTokens);
      q.tokens = tokens >= 0 ? table.integer(row, tokens, 1, kMaxStepTokens) : 1;
      q.rank = rank >= 0 ? static_cast<int>(table.integer(row, rank, -1, kMaxRanks - 1)) : -1;
      snapshot.requests.push_back(q);
    }
  }
  if (snapshot.requests.empty()) throw InputError("snapshot", path, "has no requests");
  if (snapshot.requests.size() > static_cast<std::size_t>(kMaxRequests)) {
    throw InputError("snapshot", fmt::format("{}: {} requests", path, snapshot.requests.size()),
                     fmt::format("at most {}", kMaxRequests));
  }
  return snapshot;
}

void save_snapshot(const Snapshot& snapshot, const std::string& path) {
  std::ofstream out(path);
  if (!out) throw InputError("snapshot", path, "the file cannot be written");
  out << "id,context_tokens,tokens,rank\n";
  for (const Request& q : snapshot.requests) {
    out << fmt::format("{},{},{},{}\n", q.id, q.context_tokens, q.tokens, q.rank);
  }
}

Snapshot synthetic_snapshot(const SyntheticSnapshotSpec& spec) {
  if (spec.num_requests < 1 || spec.num_requests > kMaxRequests) {
    throw InputError("requests", std::to_string(spec.num_requests),
                     fmt::format("allowed: 1..{}", kMaxRequests));
  }
  if (!(spec.mean_context_tokens >= 1 && spec.mean_context_tokens <= 1e9)) {
    throw InputError("avg-kv", fmt::format("{}", spec.mean_context_tokens), "allowed: 1..1e9");
  }
  if (!(spec.sigma >= 0 && spec.sigma <= 4)) {
    throw InputError("kv-sigma", fmt::format("{}", spec.sigma), "allowed: 0..4");
  }
  if (spec.num_drafts < 0 || spec.num_drafts > 16) {
    throw InputError("drafts", std::to_string(spec.num_drafts), "allowed: 0..16");
  }
  require_probability("acceptance", spec.acceptance);
  detail::Rng rng(spec.seed, 0x51a95);
  Snapshot snapshot;
  snapshot.requests.reserve(static_cast<std::size_t>(spec.num_requests));
  for (int i = 0; i < spec.num_requests; ++i) {
    Request q;
    q.id = i;
    q.context_tokens = at_least_one(lognormal(rng, spec.mean_context_tokens, spec.sigma));
    q.tokens = 1 + accepted_drafts(rng, spec.num_drafts, spec.acceptance);
    snapshot.requests.push_back(q);
  }
  return snapshot;
}

std::vector<TraceRequest> load_trace(const std::string& path) {
  const detail::CsvTable table = detail::read_csv(path, "trace");
  const int seconds = table.find_column("arrival_s");
  const int arrival = seconds >= 0 ? seconds : table.column("arrival_us");
  const double scale = seconds >= 0 ? 1e6 : 1.0;
  const int prompt = table.column("prompt_tokens");
  const int output = table.column("output_tokens");
  std::vector<TraceRequest> trace;
  for (std::size_t row = 0; row < table.rows.size(); ++row) {
    TraceRequest t;
    t.arrival_us = table.number(row, arrival) * scale;
    if (t.arrival_us < 0) {
      throw InputError("trace", fmt::format("{}: row {} arrival {}", path, row + 1, t.arrival_us),
                       "arrival times must be >= 0");
    }
    t.prompt_tokens = table.integer(row, prompt, 0, kMaxContextTokens);
    t.output_tokens = table.integer(row, output, 1, kMaxContextTokens);
    trace.push_back(t);
  }
  if (trace.empty()) throw InputError("trace", path, "has no requests");
  std::stable_sort(trace.begin(), trace.end(), [](const TraceRequest& a, const TraceRequest& b) {
    return a.arrival_us < b.arrival_us;
  });
  return trace;
}

std::vector<TraceRequest> synthetic_trace(const SyntheticTraceSpec& spec) {
  if (spec.num_requests < 1 || spec.num_requests > kMaxRequests) {
    throw InputError("requests", std::to_string(spec.num_requests),
                     fmt::format("allowed: 1..{}", kMaxRequests));
  }
  if (!(spec.rate_per_s > 0 && spec.rate_per_s <= 1e9)) {
    throw InputError("rate", fmt::format("{}", spec.rate_per_s), "allowed: > 0 requests/s");
  }
  for (double mean : {spec.mean_prompt_tokens, spec.mean_output_tokens}) {
    if (!(mean >= 1 && mean <= 1e9)) {
      throw InputError("avg-prompt/avg-output", fmt::format("{}", mean), "allowed: 1..1e9");
    }
  }
  for (double sigma : {spec.prompt_sigma, spec.output_sigma}) {
    if (!(sigma >= 0 && sigma <= 4)) {
      throw InputError("prompt-sigma/output-sigma", fmt::format("{}", sigma), "allowed: 0..4");
    }
  }
  detail::Rng rng(spec.seed, 0x7ace);
  std::vector<TraceRequest> trace;
  trace.reserve(static_cast<std::size_t>(spec.num_requests));
  double now_us = 0;
  for (int i = 0; i < spec.num_requests; ++i) {
    // Poisson arrivals: exponential gaps with mean 1 / rate.
    now_us += -std::log(1.0 - rng.uniform()) / spec.rate_per_s * 1e6;
    TraceRequest t;
    t.arrival_us = now_us;
    t.prompt_tokens = at_least_one(lognormal(rng, spec.mean_prompt_tokens, spec.prompt_sigma));
    t.output_tokens = at_least_one(lognormal(rng, spec.mean_output_tokens, spec.output_sigma));
    trace.push_back(t);
  }
  return trace;
}

}  // namespace epscope
