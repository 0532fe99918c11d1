// The measurement-record reader: JSON Lines, one record per rank per case. The schema is
// docs/measurements.md; fields not listed there are kept in the file and ignored here.
#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <istream>

#include "epscope/base/error.h"
#include "epscope/calibrate/records.h"

namespace epscope {
namespace {

using nlohmann::json;

const json& required(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) throw InputError(key, "(missing)", "the field is required");
  return *it;
}

std::string get_string(const json& j, const char* key) {
  const json& v = required(j, key);
  if (!v.is_string()) throw InputError(key, v.dump(), "must be a string");
  return v.get<std::string>();
}

int get_int(const json& j, const char* key, long long lo, long long hi) {
  const json& v = required(j, key);
  if (!v.is_number_integer() || v.get<long long>() < lo || v.get<long long>() > hi) {
    throw InputError(key, v.dump(), fmt::format("must be an integer in {}..{}", lo, hi));
  }
  return static_cast<int>(v.get<long long>());
}

bool get_bool(const json& j, const char* key) {
  const json& v = required(j, key);
  if (!v.is_boolean()) throw InputError(key, v.dump(), "must be true or false");
  return v.get<bool>();
}

/// A timing: absent or null means "not measured"; otherwise a finite number > 0.
std::optional<double> get_timing(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() <= 0) {
    throw InputError(key, it->dump(), "must be a finite number of microseconds > 0, or null");
  }
  return it->get<double>();
}

std::vector<std::int64_t> get_tokens(const json& j) {
  const json& v = required(j, "tokens_per_rank");
  if (!v.is_array() || v.empty()) {
    throw InputError("tokens_per_rank", v.dump(), "must be a non-empty array of token counts");
  }
  std::vector<std::int64_t> tokens;
  for (const json& t : v) {
    if (!t.is_number_integer() || t.get<long long>() < 0 ||
        t.get<long long>() > kMaxTokensPerRank) {
      throw InputError("tokens_per_rank", t.dump(),
                       fmt::format("each entry must be an integer in 0..{}", kMaxTokensPerRank));
    }
    tokens.push_back(t.get<std::int64_t>());
  }
  return tokens;
}

/// start_offset_us: absent, null, [] (no offsets), one number for every rank, or one per rank.
std::vector<double> get_offsets(const json& j, std::size_t num_ranks) {
  const auto it = j.find("start_offset_us");
  if (it == j.end() || it->is_null()) return {};
  auto check = [&](const json& v) {
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0) {
      throw InputError("start_offset_us", v.dump(), "offsets must be finite numbers >= 0");
    }
    return v.get<double>();
  };
  if (it->is_number()) return std::vector<double>(num_ranks, check(*it));
  if (!it->is_array()) {
    throw InputError("start_offset_us", it->dump(), "must be a number or an array, one per rank");
  }
  if (it->empty()) return {};
  std::vector<double> offsets;
  for (const json& v : *it)
    offsets.push_back(check(v));
  if (std::all_of(offsets.begin(), offsets.end(), [](double o) { return o == 0; })) return {};
  return offsets;
}

/// A field's value as `--where` compares it: strings as written, anything else as JSON text.
std::string filter_text(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

bool matches(const json& j, const std::vector<RecordFilter>& where) {
  for (const RecordFilter& f : where) {
    const auto it = j.find(f.key);
    if (it == j.end() || filter_text(*it) != f.value) return false;
  }
  return true;
}

}  // namespace

RecordFilter RecordFilter::parse(const std::string& text) {
  const std::size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw InputError("where", text, "expected KEY=VALUE, e.g. system=deepep-ll");
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

const char* to_string(Metric metric) {
  switch (metric) {
    case Metric::kDispatch:
      return "dispatch";
    case Metric::kCombine:
      return "combine";
    case Metric::kBackToBack:
      return "b2b";
  }
  return "?";
}

std::string preset_for_gpu(const std::string& gpu) {
  std::string upper = gpu;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (upper.find("H100") != std::string::npos) return "h100-cx7";
  if (upper.find("H200") != std::string::npos) return "h200-cx7";
  return "h800-cx7";
}

MeasurementRecord parse_record(const json& j) {
  if (!j.is_object()) throw InputError("record", j.dump(), "each line must be a JSON object");
  MeasurementRecord rec;
  rec.system = get_string(j, "system");
  rec.gpu = get_string(j, "gpu");
  if (const auto it = j.find("case"); it != j.end() && !it->is_null()) {
    rec.case_name = filter_text(*it);
  }
  Scenario& s = rec.scenario;
  s.cluster = cluster_preset(preset_for_gpu(rec.gpu));
  s.cluster.num_nodes = get_int(j, "nodes", 1, kMaxRanks);
  s.cluster.gpus_per_node = get_int(j, "gpus_per_node", 1, 1024);
  s.cluster.nvlink_domain_size = s.cluster.gpus_per_node;
  s.cluster.nvlink_enabled = get_bool(j, "nvlink");
  s.mode = parse_kernel_mode(get_string(j, "mode"));
  s.moe.hidden = get_int(j, "hidden", 1, kMaxHidden);
  s.moe.topk = get_int(j, "topk", 1, kMaxExperts);
  s.moe.num_experts = get_int(j, "experts", 1, kMaxExperts);
  s.moe.dispatch_dtype = parse_dispatch_dtype(get_string(j, "dispatch_dtype"));
  s.moe.combine_dtype = parse_combine_dtype(get_string(j, "combine_dtype"));
  s.tokens_per_rank = get_tokens(j);
  const std::int64_t most = *std::max_element(s.tokens_per_rank.begin(), s.tokens_per_rank.end());
  s.moe.max_tokens_per_rank =
      j.contains("max_tokens_per_rank") && !j["max_tokens_per_rank"].is_null()
          ? get_int(j, "max_tokens_per_rank", 1, kMaxTokensPerRank)
          : static_cast<int>(std::max<std::int64_t>(most, 1));
  s.start_offset_us = get_offsets(j, s.tokens_per_rank.size());
  s.offsets_each_phase = true;  // every timed op starts aligned + offset (docs/measurements.md)
  // The routing the measurement used, when it says so (bench writes its sampled spec and seed,
  // which sample_topk() reproduces exactly); otherwise exact expectations.
  if (const auto it = j.find("routing"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) throw InputError("routing", it->dump(), "must be a routing spec string");
    s.routing = parse_routing(it->get<std::string>());
    if (const auto seed = j.find("seed"); seed != j.end() && !seed->is_null()) {
      if (!seed->is_number_unsigned()) throw InputError("seed", seed->dump(), "must be >= 0");
      s.routing.seed = seed->get<std::uint64_t>();
    }
  }
  s.validate();
  rec.rank = get_int(j, "rank", 0, s.num_ranks() - 1);
  rec.measured_us[static_cast<int>(Metric::kDispatch)] = get_timing(j, "dispatch_us");
  rec.measured_us[static_cast<int>(Metric::kCombine)] = get_timing(j, "combine_us");
  rec.measured_us[static_cast<int>(Metric::kBackToBack)] = get_timing(j, "b2b_us");
  if (std::none_of(rec.measured_us.begin(), rec.measured_us.end(),
                   [](const auto& v) { return v.has_value(); })) {
    throw InputError("dispatch_us", "(missing)",
                     "a record needs at least one of dispatch_us, combine_us, b2b_us");
  }
  return rec;
}

void read_records(std::istream& in, const std::string& name, const std::vector<RecordFilter>& where,
                  bool skip_bad, RecordSet& out) {
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (std::all_of(line.begin(), line.end(), [](unsigned char c) { return std::isspace(c); })) {
      continue;
    }
    const std::string at = fmt::format("{}:{}", name, line_no);
    try {
      json j;
      try {
        j = json::parse(line);
      } catch (const json::exception& e) {  // parse_error; out_of_range (1e400)
        throw InputError(fmt::format("malformed JSON ({})", e.what()));
      }
      if (j.is_object() && !matches(j, where)) {
        ++out.filtered_out;
        continue;
      }
      MeasurementRecord rec = parse_record(j);
      rec.where = at;
      out.records.push_back(std::move(rec));
    } catch (const InputError& e) {
      if (!skip_bad) {
        throw InputError(fmt::format("{}: {} (use --skip-bad to skip bad lines)", at, e.what()));
      }
      out.skipped.push_back(fmt::format("{}: {}", at, e.what()));
    }
  }
}

void read_records(const std::string& path, const std::vector<RecordFilter>& where, bool skip_bad,
                  RecordSet& out) {
  std::ifstream in(path);
  if (!in) throw InputError("records", path, "the file cannot be opened");
  read_records(in, path, where, skip_bad, out);
}

}  // namespace epscope
