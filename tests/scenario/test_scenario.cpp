#include <gtest/gtest.h>

#include <limits>

#include "epscope/base/error.h"
#include "epscope/scenario/scenario.h"
#include "test_helpers.h"

namespace epscope {
namespace {

std::string field_of(const Scenario& s) {
  try {
    s.validate();
  } catch (const InputError& e) {
    return e.field();
  }
  return "";
}

TEST(Presets, AllKnownPresetsValidate) {
  for (const auto& name : preset_names()) {
    Cluster c = cluster_preset(name);
    EXPECT_EQ(c.preset, name);
    EXPECT_NO_THROW(c.validate()) << name;
  }
  EXPECT_EQ(cluster_preset("gb200-nvl72").nvlink_domain_size, 72);
  EXPECT_THROW(cluster_preset("h900"), InputError);
}

TEST(Scenario, DefaultIsDomainSection4) {
  const Scenario s = default_scenario();
  EXPECT_NO_THROW(s.validate());
  EXPECT_EQ(s.cluster.preset, "h800-cx7");
  EXPECT_EQ(s.num_ranks(), 16);
  EXPECT_FALSE(s.cluster.nvlink_enabled);
  EXPECT_EQ(s.total_tokens(), 384 * 8 + 64 * 8);
}

TEST(Scenario, ValidationNamesTheField) {
  Scenario s = default_scenario();
  s.tokens_per_rank.pop_back();
  EXPECT_EQ(field_of(s), "tokens");
  s = default_scenario();
  s.tokens_per_rank[3] = 1025;  // above max_tokens_per_rank in LL
  EXPECT_EQ(field_of(s), "tokens");
  s.mode = KernelMode::kHighThroughput;  // HT has no LL receive buffer...
  s.cluster.nvlink_enabled = true;
  EXPECT_EQ(field_of(s), "");
  s = default_scenario();
  s.moe.hidden = 0;
  EXPECT_EQ(field_of(s), "hidden");
  s = default_scenario();
  s.moe.hidden = 100;  // fp8 needs per-128 scales
  EXPECT_EQ(field_of(s), "hidden");
  s = default_scenario();
  s.cluster.num_nodes = 1000000;
  EXPECT_EQ(field_of(s), "nodes");
  s = default_scenario();
  s.cluster.nic_gbps = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(field_of(s), "nic-gbps");
  s = default_scenario();
  s.cluster.nic_gbps = -1;
  EXPECT_EQ(field_of(s), "nic-gbps");
  s = default_scenario();
  s.moe.num_experts = 24;  // neither a multiple nor a divisor of 16 ranks
  s.moe.topk = 8;
  EXPECT_EQ(field_of(s), "experts");
  s = default_scenario();
  s.mode = KernelMode::kHighThroughput;  // HT needs NVLink (default scenario is pure RDMA)
  EXPECT_EQ(field_of(s), "nvlink");
  s = default_scenario();
  s.start_offset_us = {1.0};
  EXPECT_EQ(field_of(s), "start-offset-us");
  s = default_scenario();
  s.moe.num_groups = 8;
  s.moe.topk_groups = 1;  // 1 group x 32 experts >= 8: fine
  EXPECT_EQ(field_of(s), "");
  s.moe.num_groups = 128;
  s.moe.topk_groups = 2;  // 2 groups x 2 experts < topk 8
  EXPECT_EQ(field_of(s), "topk-groups");
}

// Issue 8: NaN, infinity, negative and absurd values in every field are rejected, and the
// message starts with the field's name (the CLI prints it as the one error line).
TEST(Scenario, RejectsNonFiniteNegativeAndAbsurdValuesInEveryField) {
  static constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  static constexpr double inf = std::numeric_limits<double>::infinity();
  struct Case {
    const char* field;
    void (*mutate)(Scenario&);
  };
  const Case cases[] = {
      {"nodes", [](Scenario& s) { s.cluster.num_nodes = -1; }},
      {"nodes", [](Scenario& s) { s.cluster.num_nodes = 0; }},
      {"gpus-per-node", [](Scenario& s) { s.cluster.gpus_per_node = 0; }},
      {"gpus-per-node", [](Scenario& s) { s.cluster.gpus_per_node = 1000000; }},
      {"nodes", [](Scenario& s) { s.cluster.num_nodes = 1025; }},  // 1025 x 8 > 8192 ranks
      {"nvlink-domain", [](Scenario& s) { s.cluster.nvlink_domain_size = 0; }},
      {"nvlink-gbps", [](Scenario& s) { s.cluster.nvlink_gbps = inf; }},
      {"nvlink-gbps", [](Scenario& s) { s.cluster.nvlink_gbps = 0; }},
      {"nic-gbps", [](Scenario& s) { s.cluster.nic_gbps = -inf; }},
      {"nic-gbps", [](Scenario& s) { s.cluster.nic_gbps = 1e-300; }},  // times overflow to inf
      {"nics-per-gpu", [](Scenario& s) { s.cluster.nics_per_gpu = 0; }},
      {"local-copy-gbps", [](Scenario& s) { s.cluster.local_copy_gbps = nan; }},
      {"local-copy-gbps", [](Scenario& s) { s.cluster.local_copy_gbps = 1e300; }},
      {"nvlink-latency-us", [](Scenario& s) { s.cluster.nvlink_latency_us = -1; }},
      {"rdma-latency-us", [](Scenario& s) { s.cluster.rdma_latency_us = nan; }},
      {"launch-us", [](Scenario& s) { s.cluster.launch_us = inf; }},
      {"launch-us", [](Scenario& s) { s.cluster.launch_us = 1e308; }},  // sums overflow to inf
      {"oversubscription", [](Scenario& s) { s.cluster.oversubscription = 0.5; }},
      {"oversubscription", [](Scenario& s) { s.cluster.oversubscription = inf; }},
      {"hidden", [](Scenario& s) { s.moe.hidden = -128; }},
      {"hidden", [](Scenario& s) { s.moe.hidden = 1 << 30; }},
      {"experts", [](Scenario& s) { s.moe.num_experts = 0; }},
      {"experts", [](Scenario& s) { s.moe.num_experts = 1 << 30; }},
      {"topk", [](Scenario& s) { s.moe.topk = 0; }},
      {"topk", [](Scenario& s) { s.moe.topk = 257; }},  // more than the 256 experts
      {"num-groups", [](Scenario& s) { s.moe.num_groups = 0; }},
      {"num-groups", [](Scenario& s) { s.moe.num_groups = 3; }},  // does not divide 256
      {"topk-groups", [](Scenario& s) { s.moe.topk_groups = 0; }},
      {"max-tokens-per-rank", [](Scenario& s) { s.moe.max_tokens_per_rank = 0; }},
      {"max-tokens-per-rank", [](Scenario& s) { s.moe.max_tokens_per_rank = -1; }},
      {"tokens", [](Scenario& s) { s.tokens_per_rank[0] = -1; }},
      {"tokens",
       [](Scenario& s) {
         s.mode = KernelMode::kAllToAll;  // no LL buffer cap: the absolute limit applies
         s.tokens_per_rank[0] = std::int64_t{1} << 40;
       }},
      {"start-offset-us", [](Scenario& s) { s.start_offset_us.assign(16, nan); }},
      {"start-offset-us", [](Scenario& s) { s.start_offset_us.assign(16, -1); }},
      {"start-offset-us", [](Scenario& s) { s.start_offset_us.assign(16, inf); }},
      {"start-offset-us", [](Scenario& s) { s.start_offset_us.assign(16, 1e308); }},
      {"routing",
       [](Scenario& s) {
         s.routing = parse_routing("uniform");
         s.routing.skew = nan;
       }},
      {"routing", [](Scenario& s) { s.routing = parse_routing("lognormal:1000"); }},
      {"expert-map", [](Scenario& s) { s.moe.replicas.assign(256, {16}); }},  // rank 16 of 0..15
  };
  for (const Case& c : cases) {
    Scenario s = default_scenario();
    c.mutate(s);
    try {
      s.validate();
      ADD_FAILURE() << c.field << ": accepted";
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), c.field) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind(c.field, 0), 0u) << e.what();
    }
  }
}

TEST(Scenario, BalancedKeepsTotalAndSpreadsRemainder) {
  Scenario s = default_scenario();
  s.tokens_per_rank = std::vector<std::int64_t>(16, 0);
  s.tokens_per_rank[0] = 35;
  const Scenario b = balanced(s);
  EXPECT_EQ(b.total_tokens(), 35);
  EXPECT_EQ(b.tokens_per_rank[0], 3);  // 35 = 16 * 2 + 3: ranks 0..2 get 3
  EXPECT_EQ(b.tokens_per_rank[2], 3);
  EXPECT_EQ(b.tokens_per_rank[3], 2);
}

TEST(Routing, SpecParsesAndPrintsBack) {
  for (const char* text : {"expected", "uniform", "lognormal:0.5", "zipf:1.2", "expected:zipf:1.2",
                           "expected:lognormal:1", "file:/tmp/x.json"}) {
    EXPECT_EQ(parse_routing(text).to_string(), text);
  }
  EXPECT_TRUE(parse_routing("uniform").sampled());
  EXPECT_FALSE(parse_routing("expected:zipf:1").sampled());
  for (const char* bad :
       {"", "normal", "zipf", "zipf:", "zipf:-1", "lognormal:nan", "file:", "expected:uniform"}) {
    EXPECT_THROW(parse_routing(bad), InputError) << bad;
  }
}

TEST(Enums, ParseRejectsUnknownWithTheField) {
  try {
    parse_kernel_mode("fast");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "mode");
    EXPECT_NE(std::string(e.what()).find("ll, ht, a2a"), std::string::npos);
  }
  EXPECT_THROW(parse_dispatch_dtype("fp4"), InputError);
  EXPECT_THROW(parse_combine_dtype("fp8"), InputError);
  EXPECT_EQ(parse_combine_dtype("logfmt"), CombineDtype::kLogfmt10);
}

}  // namespace
}  // namespace epscope
