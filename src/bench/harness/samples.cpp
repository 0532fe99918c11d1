#include "bench/harness/samples.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "epscope/base/error.h"

namespace epscope::bench {

void BenchOptions::validate() const {
  if (backend != "nvlink" && backend != "nccl" && backend != "deepep")
    throw InputError("--backend", backend, "allowed: nvlink, nccl, deepep");
  if (backend == "deepep" && launch == "mpi")
    throw InputError("--launch", launch, "the deepep backend starts one process per GPU itself");
  if (backend == "deepep" && fault.kind != FaultKind::kNone)
    throw InputError("--fault", to_string(fault), "fault injection needs --backend nvlink or nccl");
  if (launch != "one-process" && launch != "per-gpu" && launch != "mpi")
    throw InputError("--launch", launch, "allowed: one-process, per-gpu, mpi");
  if (backend == "nvlink" && launch == "mpi")
    throw InputError("--launch", launch,
                     "the nvlink backend runs one-process or per-gpu (CUDA IPC); mpi is for nccl");
  if (backend == "nccl" && launch == "per-gpu")
    throw InputError("--launch", launch, "the nccl backend runs one-process or mpi");
  if (warmup < 0) throw InputError("--warmup", std::to_string(warmup), "must be >= 0");
  if (iters < 1) throw InputError("--iters", std::to_string(iters), "must be >= 1");
  if (!(timeout_ms > 0) || timeout_ms > 3.6e6)
    throw InputError("--timeout-ms", std::to_string(timeout_ms), "must be in (0, 3600000]");
  if (num_sms < 0) throw InputError("--num-sms", std::to_string(num_sms), "must be >= 0");
  if (!(sleep_us >= 0) || sleep_us > 1e6)
    throw InputError("--sleep-us", std::to_string(sleep_us), "must be in [0, 1000000]");
  if (fault.kind == FaultKind::kExit && launch == "one-process")
    throw InputError("--fault", to_string(fault),
                     "exit kills the rank's process, so it needs one process per GPU: --launch "
                     "per-gpu (nvlink) or mpi (nccl)");
}

namespace {

constexpr double kMaxFaultDelayUs = 60e6;  // a late sender is late by at most a minute

/// A whole decimal number: the full text, no sign, no spaces.
bool parse_whole(const std::string& text, long long& value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return !text.empty() && ec == std::errc() && ptr == end;
}

}  // namespace

FaultSpec parse_fault(const std::string& text) {
  const std::string allowed = "RANK:never-send, RANK:late:US (0 < US <= 6e7) or RANK:exit";
  const auto colon = text.find(':');
  if (colon == std::string::npos) throw InputError("--fault", text, allowed);
  const std::string rank_text = text.substr(0, colon);
  const std::string rest = text.substr(colon + 1);
  long long rank = -1;
  if (!parse_whole(rank_text, rank) || rank < 0 || rank > 1'000'000)
    throw InputError("--fault", text, "RANK must be a rank index >= 0; " + allowed);
  FaultSpec fault;
  fault.rank = static_cast<int>(rank);
  if (rest == "never-send") {
    fault.kind = FaultKind::kNeverSend;
  } else if (rest == "exit") {
    fault.kind = FaultKind::kExit;
  } else if (rest.rfind("late:", 0) == 0) {
    const std::string delay = rest.substr(5);
    char* end = nullptr;
    const double us = delay.empty() ? NAN : std::strtod(delay.c_str(), &end);
    if (delay.empty() || end != delay.c_str() + delay.size() || !std::isfinite(us) || us <= 0 ||
        us > kMaxFaultDelayUs)
      throw InputError("--fault", text, "the delay of late:US must be in (0, 6e7] us");
    fault.kind = FaultKind::kLate;
    fault.delay_us = us;
  } else {
    throw InputError("--fault", text, allowed);
  }
  return fault;
}

std::string to_string(const FaultSpec& fault) {
  switch (fault.kind) {
    case FaultKind::kNone:
      return "none";
    case FaultKind::kNeverSend:
      return fmt::format("{}:never-send", fault.rank);
    case FaultKind::kLate:
      return fmt::format("{}:late:{}", fault.rank, fault.delay_us);
    case FaultKind::kExit:
      return fmt::format("{}:exit", fault.rank);
  }
  return "?";
}

namespace {

nlohmann::json rank_to_json(const RankSamples& r) {
  return {{"rank", r.rank},
          {"dispatch_us", r.dispatch_us},
          {"combine_us", r.combine_us},
          {"b2b_us", r.b2b_us},
          {"dispatch_wait_us", r.dispatch_wait_us},
          {"dispatch_transfer_us", r.dispatch_transfer_us},
          {"combine_wait_us", r.combine_wait_us},
          {"combine_transfer_us", r.combine_transfer_us},
          {"checked", r.checked},
          {"wrong", r.wrong},
          {"first_error", r.first_error}};
}

RankSamples rank_from_json(const nlohmann::json& j) {
  RankSamples r;
  r.rank = j.at("rank").get<int>();
  j.at("dispatch_us").get_to(r.dispatch_us);
  j.at("combine_us").get_to(r.combine_us);
  j.at("b2b_us").get_to(r.b2b_us);
  j.at("dispatch_wait_us").get_to(r.dispatch_wait_us);
  j.at("dispatch_transfer_us").get_to(r.dispatch_transfer_us);
  j.at("combine_wait_us").get_to(r.combine_wait_us);
  j.at("combine_transfer_us").get_to(r.combine_transfer_us);
  r.checked = j.at("checked").get<std::int64_t>();
  r.wrong = j.at("wrong").get<std::int64_t>();
  r.first_error = j.at("first_error").get<std::string>();
  return r;
}

}  // namespace

nlohmann::json to_json(const CaseSamples& samples) {
  nlohmann::json ranks = nlohmann::json::array();
  for (const auto& r : samples.ranks)
    ranks.push_back(rank_to_json(r));
  return {{"name", samples.bench_case.name},
          {"tokens_per_rank", samples.bench_case.tokens_per_rank},
          {"start_offset_us", samples.bench_case.start_offset_us},
          {"ranks", ranks}};
}

CaseSamples case_samples_from_json(const nlohmann::json& j) {
  CaseSamples s;
  s.bench_case.name = j.at("name").get<std::string>();
  j.at("tokens_per_rank").get_to(s.bench_case.tokens_per_rank);
  j.at("start_offset_us").get_to(s.bench_case.start_offset_us);
  for (const auto& r : j.at("ranks"))
    s.ranks.push_back(rank_from_json(r));
  return s;
}

nlohmann::json to_json(const LinkProbe& probe) {
  return {{"num_blocks", probe.num_blocks},
          {"pull", probe.pull},
          {"bytes_per_peer", probe.bytes_per_peer},
          {"egress_gbps", probe.egress_gbps}};
}

LinkProbe link_probe_from_json(const nlohmann::json& j) {
  LinkProbe p;
  p.num_blocks = j.at("num_blocks").get<int>();
  p.pull = j.at("pull").get<bool>();
  p.bytes_per_peer = j.at("bytes_per_peer").get<std::int64_t>();
  j.at("egress_gbps").get_to(p.egress_gbps);
  return p;
}

std::vector<CaseSamples> merge_ranks(const std::vector<std::vector<CaseSamples>>& parts) {
  std::vector<CaseSamples> merged;
  for (const auto& part : parts) {
    if (merged.empty()) {
      merged = part;
      continue;
    }
    EPSCOPE_ASSERT(part.size() == merged.size());
    for (std::size_t c = 0; c < part.size(); ++c) {
      EPSCOPE_ASSERT(part[c].bench_case.name == merged[c].bench_case.name);
      merged[c].ranks.insert(merged[c].ranks.end(), part[c].ranks.begin(), part[c].ranks.end());
    }
  }
  for (auto& c : merged)
    std::sort(c.ranks.begin(), c.ranks.end(),
              [](const RankSamples& a, const RankSamples& b) { return a.rank < b.rank; });
  return merged;
}

}  // namespace epscope::bench
