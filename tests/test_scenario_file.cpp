#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "epscope/error.h"
#include "epscope/estimate.h"
#include "epscope/scenario_file.h"
#include "test_helpers.h"

namespace epscope {
namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("epscope_test_" + name);
  std::ofstream(path) << text;
  return path.string();
}

TEST(ScenarioFile, GoldenFileMatchesTheHandBuiltScenario) {
  Scenario s;
  s.tokens_per_rank.assign(16, 128);
  apply_scenario_file(test::data_path("golden_ll.toml"), s);
  s.tokens_per_rank = {1, 2, 0, 1};
  EXPECT_EQ(s.num_ranks(), 4);
  EXPECT_EQ(s.moe.hidden, 128);
  EXPECT_EQ(s.routing.file, test::data_path("golden_ll_topk.json"));  // relative to the file
  EXPECT_NEAR(estimate(s).total_us, estimate(test::tiny_scenario()).total_us, 1e-9);
}

TEST(ScenarioFile, UnknownKeysAndBadTypesNameTheKey) {
  Scenario s = default_scenario();
  try {
    apply_scenario_file(write_temp("unknown.toml", "[cluster]\nnodez = 3\n"), s);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cluster.nodez"), std::string::npos) << e.what();
  }
  try {
    apply_scenario_file(write_temp("type.toml", "[moe]\nhidden = \"big\"\n"), s);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "moe.hidden");
  }
  EXPECT_THROW(apply_scenario_file(write_temp("bad.toml", "mode = \n"), s), InputError);
  EXPECT_THROW(apply_scenario_file(write_temp("mode.toml", "mode = \"fast\"\n"), s), InputError);
  EXPECT_THROW(apply_scenario_file("/nonexistent/x.toml", s), InputError);
}

// toml++ 3.3 reaches __builtin_unreachable on non-ASCII characters where whitespace may stand
// (found by fuzz_scenario_file): they are refused before it parses; strings and comments keep them.
TEST(ScenarioFile, NonAsciiOutsideStringsIsAnInputErrorNotUndefinedBehaviour) {
  Scenario s = default_scenario();
  try {
    apply_scenario_file(write_temp("nonascii.toml", "preset = \"h200-cx7\"\n\xd1\xb7 = 1\n"), s);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(apply_scenario_file(
      write_temp("nonascii_ok.toml", "# caf\xc3\xa9\nmode = \"ll\" # \xd1\xb7\n"), s));
}

TEST(ScenarioFile, ListsAcceptStringsAndArrays) {
  Scenario s = default_scenario();
  apply_scenario_file(
      write_temp("lists.toml",
                 "tokens = \"10x8,20x8\"\nstart_offset_us = [0,0,0,0,0,0,0,0,5,5,5,5,5,5,5,5]\n"),
      s);
  EXPECT_EQ(s.tokens_per_rank[9], 20);
  EXPECT_EQ(s.start_offset_us[9], 5.0);
  EXPECT_THROW(apply_scenario_file(write_temp("short.toml", "tokens = [1, 2]\n"), s), InputError);
}

TEST(ExpertMap, EplbPhysicalToLogical) {
  // 4 ranks x 3 slots: logical expert 0 is replicated on ranks 0 and 3.
  const auto path =
      write_temp("map.json", R"({"physical_to_logical": [0,1,2, 3,4,5, 6,7,8, 9,10,0]})");
  const auto replicas = read_expert_map(path, 11, 4);
  EXPECT_EQ(replicas[0], (std::vector<int>{0, 3}));
  EXPECT_EQ(replicas[10], (std::vector<int>{3}));
  EXPECT_THROW(read_expert_map(path, 12, 4), InputError);  // expert 11 has no slot
  EXPECT_THROW(read_expert_map(path, 11, 5), InputError);  // 12 slots on 5 ranks
  EXPECT_THROW(read_expert_map(write_temp("bad.json", "{"), 11, 4), InputError);
}

// Issue 8: a shape that is not validated yet reached the map reader: 0 ranks divided by zero
// (SIGFPE) and -5 experts threw std::length_error ("internal error"); nodes x gpus_per_node past
// INT_MAX overflowed before the token list was expanded. All are InputErrors naming the field.
TEST(ExpertMap, UnvalidatedShapeIsAnInputErrorNotACrash) {
  const auto map = write_temp("map4.json", R"({"physical_to_logical": [0, 1, 2, 3]})");
  auto field_of = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const InputError& e) {
      return e.field();
    }
    return "(accepted)";
  };
  EXPECT_EQ(field_of([&] { read_expert_map(map, -5, 4); }), "experts");
  EXPECT_EQ(field_of([&] { read_expert_map(map, 4, 0); }), "nodes");
  Scenario s = default_scenario();
  EXPECT_EQ(
      field_of([&] {
        apply_scenario_file(
            write_temp("zero_ranks.toml",
                       "[cluster]\nnodes = 0\n[moe]\nexpert_map = \"epscope_test_map4.json\"\n"),
            s);
      }),
      "nodes");
  s = default_scenario();
  EXPECT_EQ(field_of([&] {
              apply_scenario_file(write_temp("huge_ranks.toml",
                                             "tokens = 1\n[cluster]\nnodes = 2147483647\n"
                                             "gpus_per_node = 2\n"),
                                  s);
            }),
            "nodes");
  // fuzz_scenario_file, after 34177 runs: a float past int64 where an integer belongs made
  // toml++ cast it unchecked (UBSan: "2e+56 is outside the range of representable values").
  s = default_scenario();
  EXPECT_EQ(field_of([&] {
              apply_scenario_file(write_temp("float_experts.toml", "[moe]\nexperts = 2e56\n"), s);
            }),
            "moe.experts");
  EXPECT_EQ(
      field_of([&] { apply_scenario_file(write_temp("float_seed.toml", "seed = 1e30\n"), s); }),
      "seed");
  s = default_scenario();
  apply_scenario_file(write_temp("whole_float.toml", "[moe]\nexperts = 128.0\n"), s);
  EXPECT_EQ(s.moe.num_experts, 128);  // a whole float still reads as an integer
  s = default_scenario();
  EXPECT_EQ(field_of([&] {
              apply_scenario_file(
                  write_temp("neg_experts.toml",
                             "[moe]\nexperts = -5\nexpert_map = \"epscope_test_map4.json\"\n"),
                  s);
            }),
            "experts");
}

}  // namespace
}  // namespace epscope
