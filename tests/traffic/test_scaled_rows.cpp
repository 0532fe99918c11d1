// The sparse forms of routing counts and traffic (ScaledRows, TrafficMatrix) against dense
// references: the dense R x R algorithms they replaced, kept here as the specification.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <random>
#include <vector>

#include "epscope/base/error.h"
#include "epscope/traffic/scaled_rows.h"
#include "epscope/traffic/traffic.h"

namespace epscope {
namespace {

/// Rows `scales.size()` x `num_cols`, every row scale x one unit row (scale 0: left empty).
ScaledRows one_unit(int num_cols, std::vector<std::int32_t> cols, std::vector<double> values,
                    const std::vector<double>& scales) {
  ScaledRows m(static_cast<int>(scales.size()), num_cols);
  const int unit = m.add_unit(cols, values);
  for (std::size_t r = 0; r < scales.size(); ++r) {
    if (scales[r] != 0) m.set_row(static_cast<int>(r), unit, scales[r]);
  }
  return m;
}

TEST(ScaledRows, CellsAreScaleTimesSharedUnitRows) {
  ScaledRows m = one_unit(5, {1, 4}, {0.5, 2.0}, {3.0, 0, 10.0});  // row 1 empty
  EXPECT_EQ(m.at(0, 1), 1.5);
  EXPECT_EQ(m.at(0, 4), 6.0);
  EXPECT_EQ(m.at(2, 4), 20.0);
  EXPECT_EQ(m.at(0, 2), 0.0);
  EXPECT_EQ(m.at(1, 1), 0.0);
  EXPECT_EQ(m.num_units(), 1);
  EXPECT_EQ(m.num_cells(), 4u);
  EXPECT_EQ(m.dense(), (std::vector<double>{0, 1.5, 0, 0, 6, 0, 0, 0, 0, 0, 0, 5, 0, 0, 20}));
  m.scale_row(2, 0.5);
  EXPECT_EQ(m.at(2, 1), 2.5);
}

TEST(ScaledRows, SetGivesTheRowItsOwnUnitAndCopiesDoNotShareChanges) {
  ScaledRows m = one_unit(4, {0, 2}, {1.0, 2.0}, {2.0, 2.0});
  const ScaledRows before = m;
  m.set(1, 3, 7.0);  // appended after the last column
  m.set(1, 0, 5.0);  // replaces a cell
  m.set(1, 1, 9.0);  // inserted between two
  EXPECT_EQ(m.dense(), (std::vector<double>{2, 0, 4, 0, 5, 9, 4, 7}));
  EXPECT_EQ(before.dense(), (std::vector<double>{2, 0, 4, 0, 2, 0, 4, 0}));
  const ScaledRows::Row row = m.row(1);
  EXPECT_EQ(std::vector<std::int32_t>(row.cols.begin(), row.cols.end()),
            (std::vector<std::int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(row.scale, 1.0);
}

TEST(TrafficMatrix, TransposedViewRowsColumnsAndCells) {
  ScaledRows msgs(3, 3);
  const std::vector<std::int32_t> cols{0, 2};
  const std::vector<double> values{1.0, 3.0};
  msgs.set_row(1, msgs.add_unit(cols, values), 1.0);  // 1 -> 0: 1 message, 1 -> 2: 3 messages
  const TrafficMatrix as_is(msgs, 100, false);
  const TrafficMatrix back(msgs, 10, true);  // combine: 0 -> 1 and 2 -> 1
  EXPECT_EQ(as_is.at(1, 2).bytes, 300u);
  EXPECT_EQ(back.at(2, 1).num_msgs, 3.0);
  EXPECT_EQ(back.at(2, 1).bytes, 30u);
  EXPECT_EQ(back.at(1, 2).bytes, 0u);
  EXPECT_TRUE(back.transposed());
  std::vector<std::pair<int, int>> rows, columns, cells;
  back.for_each_row([&](int src, std::span<const TrafficMatrix::Cell> row) {
    for (const auto& c : row)
      rows.emplace_back(src, c.peer);
  });
  back.for_each_column([&](int dst, std::span<const TrafficMatrix::Cell> column) {
    for (const auto& c : column)
      columns.emplace_back(c.peer, dst);
  });
  back.for_each_cell([&](int src, int dst, const Transfer&) { cells.emplace_back(src, dst); });
  const std::vector<std::pair<int, int>> pairs{{0, 1}, {2, 1}};
  EXPECT_EQ(rows, pairs);
  EXPECT_EQ(columns, pairs);
  EXPECT_EQ(cells, pairs);
}

TEST(TrafficMatrix, BytesRoundHalfUpIn64Bits) {
  EXPECT_EQ(transfer_bytes(0.5, 3), 2u);  // 1.5 rounds up
  EXPECT_EQ(transfer_bytes(0.0, 3), 0u);
  EXPECT_EQ(transfer_bytes(-1.0, 3), 0u);
  EXPECT_EQ(transfer_bytes(3e9, 7472), 22'416'000'000'000u);
}

// ---- Dense references: the R x R algorithms of the first version (docs/model.md §2-§4) ----

struct DenseStage {
  std::vector<double> msgs;  // [src * R + dst]
};

struct DensePhase {
  std::vector<DenseStage> stages;
  std::vector<ClassTotals> send, recv;
  std::vector<double> algorithm_bytes;
};

void dense_totals(const Cluster& cl, DensePhase& phase, std::int64_t message_bytes) {
  const int n = cl.num_ranks();
  phase.send.assign(static_cast<std::size_t>(n), ClassTotals{});
  phase.recv.assign(static_cast<std::size_t>(n), ClassTotals{});
  for (const auto& stage : phase.stages) {
    for (int s = 0; s < n; ++s) {
      for (int d = 0; d < n; ++d) {
        const double msgs = stage.msgs[static_cast<std::size_t>(s) * n + d];
        if (msgs <= 0) continue;
        const auto bytes =
            static_cast<std::uint64_t>(msgs * static_cast<double>(message_bytes) + 0.5);
        const auto c = static_cast<std::size_t>(link_class(cl, s, d));
        phase.send[static_cast<std::size_t>(s)].msgs[c] += msgs;
        phase.send[static_cast<std::size_t>(s)].bytes[c] += bytes;
        phase.recv[static_cast<std::size_t>(d)].msgs[c] += msgs;
        phase.recv[static_cast<std::size_t>(d)].bytes[c] += bytes;
      }
    }
  }
}

std::vector<double> transpose(const std::vector<double>& m, int n) {
  std::vector<double> t(m.size());
  for (int s = 0; s < n; ++s) {
    for (int d = 0; d < n; ++d)
      t[static_cast<std::size_t>(d) * n + s] = m[static_cast<std::size_t>(s) * n + d];
  }
  return t;
}

/// Dense dispatch and combine of a scenario from its routing counts.
std::pair<DensePhase, DensePhase> dense_traffic(const Scenario& sc, const RoutingCounts& rc) {
  const Cluster& cl = sc.cluster;
  const int n = cl.num_ranks();
  const auto nn = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  const std::vector<double> copies = rc.copies.dense(), token_ranks = rc.token_ranks.dense();
  const std::vector<double> token_domains = rc.token_domains.dense();
  const bool per_rank = sc.mode == KernelMode::kHighThroughput ||
                        (sc.mode == KernelMode::kAllToAll && sc.a2a_rows == A2aRows::kPerRank);
  const std::vector<double>& rows = per_rank ? token_ranks : copies;
  DensePhase dispatch, combine;
  if (sc.mode == KernelMode::kHighThroughput) {
    std::vector<double> rdma(nn, 0.0), fwd(nn, 0.0);
    for (int s = 0; s < n; ++s) {
      const int own = cl.domain_of(s);
      for (int dom = 0; dom < cl.num_domains(); ++dom) {
        const int first = dom * cl.nvlink_domain_size;
        const int last = std::min(n, first + cl.nvlink_domain_size);
        if (dom == own) {
          for (int d = first; d < last; ++d)
            rdma[static_cast<std::size_t>(s) * n + d] +=
                token_ranks[static_cast<std::size_t>(s) * n + d];
          continue;
        }
        const int f = ht_forwarder(cl, s, dom);
        rdma[static_cast<std::size_t>(s) * n + f] +=
            token_domains[static_cast<std::size_t>(s) * cl.num_domains() + dom];
        for (int d = first; d < last; ++d)
          fwd[static_cast<std::size_t>(f) * n + d] +=
              token_ranks[static_cast<std::size_t>(s) * n + d];
      }
    }
    dispatch.stages = {{rdma}, {fwd}};
    combine.stages = {{transpose(fwd, n)}, {transpose(rdma, n)}};
  } else {
    dispatch.stages = {{rows}};
    combine.stages = {{transpose(rows, n)}};
  }
  const std::int64_t dispatch_bytes = dispatch_message_bytes(sc.moe, sc.mode);
  const std::int64_t combine_bytes = combine_message_bytes(sc.moe, sc.mode);
  dense_totals(cl, dispatch, dispatch_bytes);
  dense_totals(cl, combine, combine_bytes);
  for (int s = 0; s < n; ++s) {
    double sum = 0;
    for (int d = 0; d < n; ++d)
      sum += rows[static_cast<std::size_t>(s) * n + d];
    dispatch.algorithm_bytes.push_back(sum * static_cast<double>(dispatch_bytes));
    combine.algorithm_bytes.push_back(sum * static_cast<double>(combine_bytes));
  }
  return {dispatch, combine};
}

/// Bit for bit (a last-digit difference in a message sum would change printed output).
bool same_bits(double a, double b) {
  return std::bit_cast<std::uint64_t>(a + 0.0) == std::bit_cast<std::uint64_t>(b + 0.0);
}

void expect_same_phase(const PhaseTraffic& sparse, const DensePhase& dense, int n,
                       const std::string& what) {
  ASSERT_EQ(sparse.stages.size(), dense.stages.size()) << what;
  for (std::size_t st = 0; st < dense.stages.size(); ++st) {
    const TrafficMatrix& m = sparse.stages[st].matrix;
    for (int s = 0; s < n; ++s) {
      for (int d = 0; d < n; ++d) {
        const double want = dense.stages[st].msgs[static_cast<std::size_t>(s) * n + d];
        const Transfer got = m.at(s, d);
        ASSERT_TRUE(same_bits(got.num_msgs, want)) << what << " stage " << st << " (" << s << ", "
                                                   << d << "): " << got.num_msgs << " vs " << want;
      }
    }
  }
  for (int r = 0; r < n; ++r) {
    const auto i = static_cast<std::size_t>(r);
    for (int c = 0; c < kNumLinkClasses; ++c) {
      const auto ci = static_cast<std::size_t>(c);
      EXPECT_TRUE(same_bits(sparse.send[i].msgs[ci], dense.send[i].msgs[ci]))
          << what << " send msgs rank " << r << " class " << c;
      EXPECT_TRUE(same_bits(sparse.recv[i].msgs[ci], dense.recv[i].msgs[ci]))
          << what << " recv msgs rank " << r << " class " << c;
      EXPECT_EQ(sparse.send[i].bytes[ci], dense.send[i].bytes[ci]) << what << " rank " << r;
      EXPECT_EQ(sparse.recv[i].bytes[ci], dense.recv[i].bytes[ci]) << what << " rank " << r;
    }
    EXPECT_TRUE(same_bits(sparse.algorithm_bytes[i], dense.algorithm_bytes[i]))
        << what << " algorithm bytes rank " << r;
  }
}

/// A random small scenario: 1-4 nodes of 1-4 GPUs, NVLink on or off (or one domain over all),
/// every mode, sampled and expected routing of every popularity, some with a redundant map.
Scenario random_scenario_once(std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Scenario s;
  s.cluster = cluster_preset("h100-cx7");
  s.cluster.num_nodes = pick(1, 4);
  s.cluster.gpus_per_node = std::vector<int>{1, 2, 4}[static_cast<std::size_t>(pick(0, 2))];
  const int n = s.cluster.num_ranks();
  s.cluster.nvlink_domain_size = pick(0, 3) == 0 ? n : s.cluster.gpus_per_node;
  s.mode = std::vector<KernelMode>{KernelMode::kLowLatency, KernelMode::kHighThroughput,
                                   KernelMode::kAllToAll}[static_cast<std::size_t>(pick(0, 2))];
  s.cluster.nvlink_enabled = s.mode == KernelMode::kHighThroughput || pick(0, 1) == 1;
  s.a2a_rows = pick(0, 1) ? A2aRows::kPerRank : A2aRows::kPerExpert;
  s.moe.hidden = 256;
  s.moe.num_experts = pick(0, 1) ? n * pick(1, 4) : std::max(1, n / (1 << pick(0, 2)));
  if (n % s.moe.num_experts != 0 && s.moe.num_experts % n != 0) s.moe.num_experts = n;
  s.moe.topk = pick(1, std::min(6, s.moe.num_experts));
  if (pick(0, 3) == 0) {  // an explicit map: every expert on 1-3 random ranks
    s.moe.replicas.resize(static_cast<std::size_t>(s.moe.num_experts));
    for (auto& reps : s.moe.replicas) {
      for (int c = pick(1, 3); c > 0; --c)
        reps.push_back(pick(0, n - 1));
    }
  }
  for (int r = 0; r < n; ++r)
    s.tokens_per_rank.push_back(pick(0, 3) == 0 ? 0 : pick(1, 12));
  const char* specs[] = {"expected",      "uniform",           "zipf:1.2",
                         "lognormal:0.7", "expected:zipf:1.1", "expected:lognormal:0.5"};
  s.routing = parse_routing(specs[pick(0, 5)]);
  s.routing.seed = static_cast<std::uint64_t>(pick(1, 1000));
  return s;
}

Scenario random_scenario(std::mt19937& rng) {
  while (true) {
    Scenario s = random_scenario_once(rng);
    try {
      s.validate();
      return s;
    } catch (const InputError&) {  // e.g. more top-k than a map's experts allow: draw again
    }
  }
}

TEST(SparseTraffic, AgreesBitForBitWithTheDenseReferenceOnRandomScenarios) {
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    const Scenario s = random_scenario(rng);
    s.validate();
    const Traffic t = compute_traffic(s);
    const auto [dispatch, combine] = dense_traffic(s, t.routing);
    const std::string what = "scenario " + std::to_string(i) + " (" + s.routing.to_string() + ")";
    expect_same_phase(t.dispatch, dispatch, s.num_ranks(), what + " dispatch");
    expect_same_phase(t.combine, combine, s.num_ranks(), what + " combine");
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(RoutingCounts, SparseCountsMatchANaiveCountOfTheTopk) {
  std::mt19937 rng(11);
  for (int i = 0; i < 200; ++i) {
    Scenario s = random_scenario(rng);
    // Also shapes where a source reaches few of many ranks (the sorted, not scanned, columns).
    if (i % 4 == 0) {
      s.cluster.num_nodes = 32;
      s.cluster.gpus_per_node = 8;
      s.cluster.nvlink_domain_size = 8;
      s.moe.num_experts = 256;
      s.moe.topk = 4;
      s.moe.replicas.clear();
      s.tokens_per_rank.assign(256, 1);
      s.routing = parse_routing("uniform");
    }
    s.validate();
    const int n = s.num_ranks();
    std::vector<RankTopk> topk = sample_topk(s);
    for (auto& rt : topk) {  // some picks of no expert, as a file may hold
      for (auto& e : rt.expert_idx) {
        if (std::uniform_int_distribution<int>(0, 9)(rng) == 0) e = -1;
      }
    }
    const RoutingCounts c = count_routing(s, topk);
    const ExpertPlacement placement(s.moe, n);
    const auto nd = static_cast<std::size_t>(s.cluster.num_domains());
    std::vector<double> copies(static_cast<std::size_t>(n) * n), ranks(copies.size());
    std::vector<double> domains(static_cast<std::size_t>(n) * nd);
    std::vector<double> load(static_cast<std::size_t>(s.moe.num_experts));
    for (int src = 0; src < n; ++src) {
      const RankTopk& rt = topk[static_cast<std::size_t>(src)];
      for (std::int64_t t = 0; t < rt.num_tokens; ++t) {
        std::vector<bool> hit_rank(static_cast<std::size_t>(n)), hit_domain(nd);
        for (int j = 0; j < s.moe.topk; ++j) {
          const int e = rt.expert_idx[static_cast<std::size_t>(t * s.moe.topk + j)];
          if (e < 0) continue;
          const int d = placement.rank_for(e, src);
          const auto dom = static_cast<std::size_t>(s.cluster.domain_of(d));
          copies[static_cast<std::size_t>(src) * n + d] += 1;
          load[static_cast<std::size_t>(e)] += 1;
          hit_rank[static_cast<std::size_t>(d)] = true;
          hit_domain[dom] = true;
        }
        for (int d = 0; d < n; ++d)
          ranks[static_cast<std::size_t>(src) * n + d] += hit_rank[static_cast<std::size_t>(d)];
        for (std::size_t dom = 0; dom < nd; ++dom)
          domains[static_cast<std::size_t>(src) * nd + dom] += hit_domain[dom];
      }
    }
    ASSERT_EQ(c.copies.dense(), copies) << "scenario " << i;
    ASSERT_EQ(c.token_ranks.dense(), ranks) << "scenario " << i;
    ASSERT_EQ(c.token_domains.dense(), domains) << "scenario " << i;
    ASSERT_EQ(c.expert_load, load) << "scenario " << i;
  }
}

TEST(RoutingCounts, ExpectedRowsScaleExactlyWithTokens) {
  // The planner scales a one-token probe (docs/model.md §8.4): bit for bit the direct result.
  std::mt19937 rng(3);
  for (int i = 0; i < 50; ++i) {
    Scenario s = random_scenario(rng);
    s.routing = parse_routing("expected:zipf:1.1");
    Scenario probe = s;
    probe.tokens_per_rank.assign(probe.tokens_per_rank.size(), 1);
    RoutingCounts scaled = compute_routing(probe);
    for (int src = 0; src < s.num_ranks(); ++src) {
      const auto tokens = static_cast<double>(s.tokens_per_rank[static_cast<std::size_t>(src)]);
      scaled.copies.scale_row(src, tokens);
      scaled.token_ranks.scale_row(src, tokens);
      scaled.token_domains.scale_row(src, tokens);
    }
    const RoutingCounts direct = compute_routing(s);
    EXPECT_EQ(scaled.copies.dense(), direct.copies.dense()) << i;
    EXPECT_EQ(scaled.token_ranks.dense(), direct.token_ranks.dense()) << i;
    EXPECT_EQ(scaled.token_domains.dense(), direct.token_domains.dense()) << i;
  }
}

}  // namespace
}  // namespace epscope
