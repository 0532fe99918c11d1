// Fuzz target: TOML scenario files (src/core/scenario/scenario_file.cpp). The bytes go to a temp
// file because the reader takes a path, as the CLI's does; the sequence is build_scenario()'s:
// preset first, then the file's keys, then validation. An accepted scenario is estimated too
// (when small enough to stay fast), and its result must be finite.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "epscope/base/error.h"
#include "epscope/estimate/estimate.h"
#include "epscope/model/result_json.h"
#include "epscope/report/report_json.h"
#include "epscope/scenario/scenario.h"
#include "epscope/scenario/scenario_file.h"
#include "epscope/scenario/scenario_json.h"
#include "fuzz_util.h"

using namespace epscope;

// An expert map next to the fuzzed file, so that `expert_map = "map.json"` (in the dictionary)
// reaches the map reader: 256 slots of experts 0..255, any rank count that divides 256.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string map = "{\"physical_to_logical\": [0";
  for (int e = 1; e < 256; ++e)
    map += "," + std::to_string(e);
  map += "]}";
  const std::string path = fuzz::temp_dir() + "/map.json";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(map.data(), 1, map.size(), f) != map.size()) __builtin_trap();
  std::fclose(f);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > (1u << 16)) return 0;
  const std::string path = fuzz::write_temp(data, size, ".toml");
  try {
    Scenario s;
    const std::string preset = scenario_file_preset(path);
    s.cluster = cluster_preset(preset.empty() ? "h800-cx7" : preset);
    s.tokens_per_rank.assign(static_cast<std::size_t>(s.num_ranks()), 128);
    apply_scenario_file(path, s);
    s.validate();
    // Routing files are read by other targets; files named by a fuzzed path could be anything.
    const bool small = s.routing.file.empty() && s.num_ranks() <= 64 &&
                       s.total_tokens() * s.moe.topk <= (1 << 16) && s.moe.num_experts <= 4096;
    if (small) {
      const EstimateResult r = estimate(s);
      fuzz::require(std::isfinite(r.total_us) && r.total_us >= 0);
      fuzz::require(static_cast<int>(r.ranks.size()) == s.num_ranks());
      fuzz::require(!to_json(r).dump().empty());
    }
  } catch (const InputError&) {
    // Bad input answered with a message: the expected outcome for most inputs.
  }
  return 0;
}
