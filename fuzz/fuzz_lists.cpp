// Fuzz target: the per-rank list syntax (--tokens, --start-offset-us) and routing specs
// (--routing). Byte 0 picks the rank count and seed; the rest is the text. Properties: accepted
// lists are in range and survive format -> parse; accepted routing specs survive
// to_string -> parse, and route a small cluster to finite counts that add up.
#include <cmath>
#include <cstdint>
#include <numeric>

#include "epscope/base/error.h"
#include "epscope/base/lists.h"
#include "epscope/scenario/scenario.h"
#include "epscope/traffic/routing.h"
#include "fuzz_util.h"

using namespace epscope;

namespace {

void check_lists(const std::string& text, int num_ranks) {
  try {
    const std::vector<std::int64_t> v = parse_token_list(text, "tokens");
    fuzz::require(!v.empty() && static_cast<int>(v.size()) <= kMaxRanks);
    for (std::int64_t t : v)
      fuzz::require(t >= 0 && t <= kMaxTokensPerRank);
    fuzz::require(parse_token_list(format_token_list(v), "tokens") == v);
  } catch (const InputError&) {
  }
  try {
    fuzz::require(static_cast<int>(expand_token_list(text, num_ranks, "tokens").size()) ==
                  num_ranks);
  } catch (const InputError&) {
  }
  try {
    for (double x : parse_real_list(text, "start-offset-us"))
      fuzz::require(std::isfinite(x));
  } catch (const InputError&) {
  }
  try {
    fuzz::require(static_cast<int>(expand_real_list(text, num_ranks, "start-offset-us").size()) ==
                  num_ranks);
  } catch (const InputError&) {
  }
}

void check_routing(const std::string& text, std::uint8_t knob) {
  RoutingSpec spec;
  try {
    spec = parse_routing(text);
  } catch (const InputError&) {
    return;
  }
  if (!spec.file.empty()) return;  // files: fuzz_topk_file
  const RoutingSpec again = parse_routing(spec.to_string());
  fuzz::require(again.popularity == spec.popularity && again.skew == spec.skew &&
                again.expected == spec.expected);
  // 2 nodes x 2 GPUs, 8 experts, top-2; group-limited (4 groups, pick 2) when knob's bit 0 is set.
  Scenario s;
  s.cluster.num_nodes = 2;
  s.cluster.set_gpus_per_node(2);
  s.moe.hidden = 128;
  s.moe.num_experts = 8;
  s.moe.topk = 2;
  if (knob & 1) {
    s.moe.num_groups = 4;
    s.moe.topk_groups = 2;
  }
  s.tokens_per_rank = {knob % 7, 3, 0, 5};
  s.routing = spec;
  s.routing.seed = knob;
  try {
    s.validate();
  } catch (const InputError&) {
    return;
  }
  const RoutingCounts c = compute_routing(s);
  double copies = 0;
  for (double x : c.copies.dense()) {
    fuzz::require(std::isfinite(x) && x >= 0);
    copies += x;
  }
  for (double x : c.token_ranks.dense())
    fuzz::require(std::isfinite(x) && x >= 0);
  const double want = static_cast<double>(s.total_tokens() * s.moe.topk);
  fuzz::require(std::fabs(copies - want) <= 1e-6 * (want + 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 4096) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  check_lists(text, 1 + data[0] % 32);
  check_routing(text, data[0]);
  return 0;
}
