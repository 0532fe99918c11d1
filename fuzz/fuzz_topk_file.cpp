// Fuzz target: top-k trace files (routing spec file:PATH; src/core/traffic/topk_file.cpp) in all
// three formats. Byte 0 picks the format (bits 0-1: json, csv, npy, npy) and whether a token list
// is given (bit 2); byte 1 the rank count (1..4) and top-k (1..4). The rest is the file.
// Properties: an accepted file has one entry per rank, topk indices per token, each -1 or a valid
// expert, and counting it routes exactly its non-empty choices.
#include <cstdint>

#include "epscope/base/error.h"
#include "epscope/scenario/scenario.h"
#include "epscope/traffic/routing.h"
#include "fuzz_util.h"

using namespace epscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2 || size > (1u << 16)) return 0;
  static const char* const kSuffix[] = {".json", ".csv", ".npy", ".npy"};
  const int num_ranks = 1 + data[1] % 4;
  const int topk = 1 + (data[1] / 4) % 4;
  const int num_experts = 8;
  std::vector<std::int64_t> hint;
  if (data[0] & 4) hint.assign(static_cast<std::size_t>(num_ranks), 1 + (data[1] / 16) % 4);
  const std::string path = fuzz::write_temp(data + 2, size - 2, kSuffix[data[0] & 3]);
  std::vector<RankTopk> topk_idx;
  try {
    topk_idx = read_topk_file(path, num_ranks, topk, num_experts, hint);
  } catch (const InputError&) {
    return 0;
  }
  fuzz::require(static_cast<int>(topk_idx.size()) == num_ranks);
  double chosen = 0;
  Scenario s;
  s.cluster.num_nodes = 1;
  s.cluster.set_gpus_per_node(num_ranks);
  s.moe.hidden = 128;
  s.moe.num_experts = num_experts;
  s.moe.topk = topk;
  for (std::size_t r = 0; r < topk_idx.size(); ++r) {
    const RankTopk& rt = topk_idx[r];
    fuzz::require(rt.num_tokens >= 0);
    fuzz::require(rt.expert_idx.size() == static_cast<std::size_t>(rt.num_tokens) * topk);
    if (!hint.empty()) fuzz::require(rt.num_tokens == hint[r]);
    for (std::int32_t e : rt.expert_idx) {
      fuzz::require(e >= -1 && e < num_experts);
      chosen += e >= 0 ? 1 : 0;
    }
    s.tokens_per_rank.push_back(rt.num_tokens);
  }
  if (num_experts % num_ranks != 0 && num_ranks % num_experts != 0) return 0;
  const RoutingCounts c = count_routing(s, topk_idx);
  double copies = 0;
  for (double x : c.copies.dense())
    copies += x;
  fuzz::require(copies == chosen);
  return 0;
}
