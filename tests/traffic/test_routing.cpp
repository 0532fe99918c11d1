#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numeric>

#include "epscope/base/error.h"
#include "epscope/traffic/routing.h"
#include "test_helpers.h"

namespace epscope {
namespace {

using test::data_path;

Scenario wide_scenario(std::int64_t tokens) {
  Scenario s;
  s.cluster = cluster_preset("h200-cx7");
  s.cluster.num_nodes = 2;
  s.cluster.gpus_per_node = 4;
  s.cluster.nvlink_domain_size = 4;
  s.moe.max_tokens_per_rank = static_cast<int>(tokens);
  s.tokens_per_rank.assign(8, tokens);
  return s;
}

double sum(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0);
}

TEST(TopkFile, JsonCsvAndNpyAgree) {
  const std::vector<std::int64_t> tokens = {1, 2, 0, 1};
  const auto json = read_topk_file(data_path("golden_ll_topk.json"), 4, 2, 4, {});
  const auto csv = read_topk_file(data_path("golden_ll_topk.csv"), 4, 2, 4, {});
  const auto npy = read_topk_file(data_path("golden_ll_topk.npy"), 4, 2, 4, tokens);
  ASSERT_EQ(json.size(), 4u);
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(json[r].num_tokens, tokens[r]);
    EXPECT_EQ(json[r].expert_idx, csv[r].expert_idx) << r;
    EXPECT_EQ(json[r].expert_idx, npy[r].expert_idx) << r;
  }
  EXPECT_EQ(json[1].expert_idx, (std::vector<std::int32_t>{0, 3, 2, 3}));
}

TEST(TopkFile, RejectsBadContentWithClearErrors) {
  EXPECT_THROW(read_topk_file(data_path("golden_ll_topk.json"), 4, 2, 3, {}),
               InputError);  // expert 3 >= 3
  EXPECT_THROW(read_topk_file(data_path("golden_ll_topk.json"), 4, 3, 4, {}),
               InputError);  // topk mismatch
  EXPECT_THROW(read_topk_file(data_path("golden_ll_topk.json"), 5, 2, 4, {}),
               InputError);  // rank count
  EXPECT_THROW(read_topk_file(data_path("golden_ll_topk.json"), 4, 2, 4, {1, 1, 0, 1}), InputError);
  EXPECT_THROW(read_topk_file(data_path("missing.json"), 4, 2, 4, {}), InputError);
  EXPECT_THROW(read_topk_file(data_path("golden_ll.toml"), 4, 2, 4, {}), InputError);  // extension
}

/// A .npy file with this header dict (padded as numpy pads it) and `body` after it.
std::string write_npy(const std::string& name, const std::string& dict, const std::string& body) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0)
    header += ' ';
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  const std::string path = testing::TempDir() + name;
  std::ofstream(path, std::ios::binary) << bytes << header << body;
  return path;
}

// Issue 8 fuzzing (fuzz_topk_file, first crash after 48 runs): .npy shapes that are not whole
// numbers threw std::invalid_argument from std::stoll (an "internal error", exit 1) instead of an
// InputError; a shape whose product overflows int64 passed the body-size check. Both are
// InputErrors now (fixed on main by 283ed9d, which parses the header without std::regex).
TEST(TopkFile, FuzzFoundNpyShapesAreInputErrors) {
  const std::string body(64, '\0');  // 16 int32 zeros
  for (const char* shape : {"(4, 2,\xbc"
                            "2)",
                            "(4, x, 2)", "(-1, 2)", "(99999999999999999999, 2)",
                            "(4611686018427387904, 4, 2)", "(4, 4611686018427387904, 2)"}) {
    const std::string path = write_npy(
        "fuzz_shape.npy",
        std::string("{'descr': '<i4', 'fortran_order': False, 'shape': ") + shape + ", }", body);
    try {
      read_topk_file(path, 4, 2, 4, {});
      ADD_FAILURE() << "accepted shape " << shape;
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("routing file", 0), 0u) << e.what();
    }
  }
  // The same header with a valid shape reads: the failures above are the shape's.
  const std::string ok =
      write_npy("ok.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (4, 2, 2), }", body);
  EXPECT_EQ(read_topk_file(ok, 4, 2, 4, {}).at(3).num_tokens, 2);
}

// Issue 8 fuzzing (fuzz_records, after 1726 runs): a number past double ("1e400") makes
// nlohmann::json throw out_of_range, not parse_error, while parsing; the JSON file reader let it
// through as an "internal error". Every JSON file (top-k, expert map, calibration) is an
// InputError now.
TEST(TopkFile, FuzzFoundNumberOverflowIsAnInputError) {
  const std::string path = testing::TempDir() + "overflow.json";
  std::ofstream(path) << R"({"topk_idx": [[[1e400, 0]]]})";
  try {
    read_topk_file(path, 1, 2, 4, {});
    ADD_FAILURE() << "accepted 1e400";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("routing file", 0), 0u) << e.what();
  }
}

TEST(Sampling, TokensPickDistinctExpertsDeterministically) {
  Scenario s = wide_scenario(500);
  s.routing = parse_routing("zipf:1.0");
  s.routing.seed = 7;
  const auto a = sample_topk(s);
  const auto b = sample_topk(s);
  for (std::size_t r = 0; r < a.size(); ++r) {
    ASSERT_EQ(a[r].expert_idx, b[r].expert_idx);
    for (std::int64_t t = 0; t < a[r].num_tokens; ++t) {
      std::vector<int> picks(a[r].expert_idx.begin() + t * 8,
                             a[r].expert_idx.begin() + (t + 1) * 8);
      std::sort(picks.begin(), picks.end());
      EXPECT_EQ(std::adjacent_find(picks.begin(), picks.end()), picks.end()) << "duplicate expert";
      EXPECT_GE(picks.front(), 0);
      EXPECT_LT(picks.back(), 256);
    }
  }
  s.routing.seed = 8;
  EXPECT_NE(sample_topk(s)[0].expert_idx, a[0].expert_idx);
}

TEST(Sampling, GroupLimitedStaysInsideChosenGroups) {
  Scenario s = wide_scenario(300);
  s.routing = parse_routing("uniform");
  s.moe.num_groups = 8;
  s.moe.topk_groups = 4;
  const auto topk = sample_topk(s);
  for (const auto& rt : topk) {
    for (std::int64_t t = 0; t < rt.num_tokens; ++t) {
      std::set<int> groups;
      for (int j = 0; j < 8; ++j)
        groups.insert(rt.expert_idx[t * 8 + j] / 32);
      EXPECT_LE(groups.size(), 4u);
    }
  }
}

// Expected routing is the mean of sampled routing: check it with many tokens (fixed seed, so the
// sampled value is deterministic; 4% is > 4 standard deviations at these counts).
void expect_expected_matches_sampled(Scenario s) {
  s.routing.expected = true;
  const RoutingCounts e = compute_routing(s);
  s.routing.expected = false;
  const RoutingCounts m = compute_routing(s);
  const std::vector<double> e_copies = e.copies.dense(), m_copies = m.copies.dense();
  const std::vector<double> e_ranks = e.token_ranks.dense(), m_ranks = m.token_ranks.dense();
  const std::vector<double> e_domains = e.token_domains.dense();
  const std::vector<double> m_domains = m.token_domains.dense();
  for (std::size_t i = 0; i < e_copies.size(); ++i) {
    EXPECT_NEAR(m_copies[i], e_copies[i], 0.04 * e_copies[i] + 1) << i;
    EXPECT_NEAR(m_ranks[i], e_ranks[i], 0.04 * e_ranks[i] + 1) << i;
  }
  for (std::size_t i = 0; i < e_domains.size(); ++i) {
    EXPECT_NEAR(m_domains[i], e_domains[i], 0.04 * e_domains[i] + 1) << i;
  }
}

TEST(ExpectedRouting, MatchesSamplingUniform) {
  expect_expected_matches_sampled(wide_scenario(20000));
}

TEST(ExpectedRouting, MatchesSamplingGroupLimited) {
  Scenario s = wide_scenario(20000);
  s.moe.num_groups = 8;
  s.moe.topk_groups = 4;
  expect_expected_matches_sampled(s);
}

TEST(ExpectedRouting, MatchesSamplingForMildSkewCopies) {
  Scenario s = wide_scenario(20000);
  s.routing = parse_routing("lognormal:0.3");
  s.routing.expected = true;
  const RoutingCounts e = compute_routing(s);
  s.routing.expected = false;
  const RoutingCounts m = compute_routing(s);
  const std::vector<double> e_copies = e.copies.dense(), m_copies = m.copies.dense();
  for (std::size_t i = 0; i < e_copies.size(); ++i)
    EXPECT_NEAR(m_copies[i], e_copies[i], 0.05 * e_copies[i]);
}

TEST(ExpectedRouting, HypergeometricHitProbability) {
  // 4 ranks x 2 experts, top-2 of 8: P(a token hits a given rank) = 1 - C(6,2)/C(8,2) = 13/28.
  Scenario s = test::tiny_scenario();
  s.routing = RoutingSpec{};
  s.moe.num_experts = 8;
  s.tokens_per_rank = {28, 28, 28, 28};
  const RoutingCounts c = compute_routing(s);
  EXPECT_NEAR(c.token_ranks_at(0, 3), 13.0, 1e-9);
  EXPECT_NEAR(c.copies_at(0, 3), 28.0 * 2 * 2 / 8, 1e-9);
  // Domain of 2 ranks = 4 experts: 1 - C(4,2)/C(8,2) = 1 - 6/28.
  EXPECT_NEAR(c.token_domains_at(0, 1), 22.0, 1e-9);
  EXPECT_NEAR(sum(c.expert_load), 4 * 28 * 2, 1e-9);
}

TEST(ExpectedRouting, SkewedLoadStillSumsToTopkAndCapsAtOne) {
  Scenario s = wide_scenario(1000);
  s.routing = parse_routing("expected:zipf:3.0");  // expert 0 would get k * p_0 > 1 uncapped
  const RoutingCounts c = compute_routing(s);
  EXPECT_NEAR(sum(c.copies.dense()), 8000.0 * 8, 1e-6);
  EXPECT_LE(c.expert_load[0], 8000.0 + 1e-9);  // at most once per token
  EXPECT_GT(c.expert_load[0], c.expert_load[100]);
}

TEST(Placement, RedundantExpertsSplitBySourceRank) {
  Scenario s = test::tiny_scenario();
  s.moe.replicas = {{0, 1}, {1}, {2}, {3}};  // expert 0 on ranks 0 and 1
  const ExpertPlacement p(s.moe, 4);
  EXPECT_TRUE(p.has_redundancy());
  EXPECT_EQ(p.rank_for(0, 0), 0);
  EXPECT_EQ(p.rank_for(0, 1), 1);
  EXPECT_EQ(p.rank_for(0, 2), 0);
  EXPECT_EQ(p.rank_for(0, 3), 1);
  // golden_ll: rank 3's token picks expert 0 -> replica 3 % 2 = 1 -> rank 1.
  const RoutingCounts c = compute_routing(s);
  EXPECT_EQ(c.copies_at(3, 1), 1.0);
  EXPECT_EQ(c.copies_at(3, 0), 0.0);
}

}  // namespace
}  // namespace epscope
