#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "base/toml_read.h"
#include "epscope/base/error.h"
#include "epscope/estimate/estimate.h"
#include "epscope/scenario/scenario_file.h"
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

// toml++ 3.3 reaches __builtin_unreachable when it asks whether most non-ASCII characters are
// whitespace (found by fuzz_scenario_file, four times). Each file below once reached it; under the
// sanitizer build this test fails without detail::parse_toml_file()'s guard
// (src/core/base/toml_read.cpp).
TEST(TomlFile, NonAsciiWhereTomlForbidsItIsAnInputErrorNotUndefinedBehaviour) {
  const std::string e_acute = "\xc3\xa9";  // U+00E9
  const struct {
    const char* name;
    std::string text;
    std::string where;
  } cases[] = {
      {"key", "preset = \"h200-cx7\"\n\xd1\xb7 = 1\n", "line 2"},
      {"bare_value", "topk\"file:x" + e_acute + "\n", "line 1"},
      {"after_number", "x = 1=\"" + e_acute + "\"\n", "line 1"},
      {"dotted_number", "x = 1.\"" + e_acute + "\"\n", "line 1"},
      {"hash_in_multiline", "x = \"\"\"#\\" + e_acute + "\"\"\"\n", "line 1"},
      {"quote_in_multiline", "x = \"\"\"\n\"\\" + e_acute + "\"\"\"\n", "line 2 column 3"},
      {"line_ending_backslash", "x = \"\"\"\\\n" + e_acute + "\"\"\"\n", "line 1"},
      {"backslash_in_multiline", "x = \"\"\"" + e_acute + "\\n\"\"\"\n", "line 1"},
      {"not_utf8", "# ok\nx = \"\x80\"\n", "line 2"},
  };
  for (const auto& c : cases) {
    try {
      detail::parse_toml_file(write_temp(std::string("nonascii_") + c.name + ".toml", c.text),
                              "scenario file");
      ADD_FAILURE() << c.name << " was accepted";
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), "scenario file") << c.name;
      EXPECT_NE(std::string(e.what()).find(c.where), std::string::npos)
          << c.name << ": " << e.what();
    }
  }
}

// Comments, strings (but multi-line basic ones with a backslash) and keys keep their non-ASCII
// text, byte for byte.
TEST(TomlFile, NonAsciiInCommentsAndStringsIsRead) {
  const std::string text =
      "# caf\xc3\xa9\n"
      "a = \"\xd1\xb7 \\u00e9\" # \xd1\xb7\n"
      "d = \"\"\"\n\xc3\xa9 x\"\"\"\n"
      "[\"\xc3\xa9\"]\n"
      "b = '''\n\xe3\x80\x80x\\'''\n"
      "c = [\"\xef\xbf\xbd\", '\xf0\x9f\x99\x82']\n";
  const toml::table t = detail::parse_toml_file(write_temp("nonascii_ok.toml", text), "f");
  EXPECT_EQ(t["a"].value_or(std::string()), "\xd1\xb7 \xc3\xa9");
  EXPECT_EQ(t["d"].value_or(std::string()), "\xc3\xa9 x");
  EXPECT_EQ(t["\xc3\xa9"]["b"].value_or(std::string()), "\xe3\x80\x80x\\");
  EXPECT_EQ(t["\xc3\xa9"]["c"][0].value_or(std::string()), "\xef\xbf\xbd");
  EXPECT_EQ(t["\xc3\xa9"]["c"][1].value_or(std::string()), "\xf0\x9f\x99\x82");
  Scenario s = default_scenario();
  EXPECT_NO_THROW(apply_scenario_file(
      write_temp("nonascii_mode.toml", "# caf\xc3\xa9\nmode = \"ll\" # \xd1\xb7\n"), s));
}

// A malformed file's error names the line and column, the same with or without non-ASCII text.
TEST(TomlFile, MalformedTomlNamesLineAndColumn) {
  for (const std::string comment : {"# plain", "# caf\xc3\xa9"}) {
    try {
      detail::parse_toml_file(write_temp("malformed.toml", comment + "\nx = [1,\n"), "sweep file");
      ADD_FAILURE() << "accepted";
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), "sweep file");
      EXPECT_NE(std::string(e.what()).find("malformed TOML"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("line 2 column"), std::string::npos) << e.what();
    }
  }
}

// toml++ 3.3's printer casts log10(0.1) = -1 to size_t (undefined behaviour, found by
// fuzz_scenario_file with `mode.set_us = [0.1]`); error messages print values with toml_text().
TEST(TomlFile, ErrorMessagesPrintValuesWithoutTomlppsPrinter) {
  const toml::table t = toml::parse(
      "a = [0.1, -0.25, 1e-300, \"x\", true, [2], {k = 0.5}, 7, 8, 9]\nb = {c = 0.01}\n");
  EXPECT_EQ(detail::toml_text(*t.get("a")),
            "[0.1, -0.25, 1e-300, \"x\", true, [2], {k = 0.5}, 7, ...]");
  EXPECT_EQ(detail::toml_text(*t.get("b")), "{c = 0.01}");
  Scenario s = default_scenario();
  try {
    apply_scenario_file(write_temp("small_floats.toml", "[cluster]\nnodes = [0.1, 0.25]\n"), s);
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("[0.1, 0.25]"), std::string::npos) << e.what();
  }
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
