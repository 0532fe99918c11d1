// Golden tests of the max-min flow engine: tiny inputs, event times computed by hand.
// Units: 1 GB/s = 1000 bytes/us.
#include <gtest/gtest.h>

#include <array>

#include "simulate/flow_engine.h"

namespace epscope::flowsim {
namespace {

constexpr double kTol = 1e-9;

TEST(FlowEngine, TwoFlowsShareOneLink) {
  FlowEngine engine;
  const ResourceId link = engine.add_resource(10);  // 10'000 B/us
  const std::array<ResourceId, 1> path{link};
  const int a = engine.add_flow({.bytes = 10'000}, path);
  const int b = engine.add_flow({.bytes = 30'000}, path);
  engine.run();
  // Both at 5'000 B/us: a done at 10'000 / 5'000 = 2 us. b has 20'000 left, alone at
  // 10'000 B/us: 2 us more, done at 4 us.
  EXPECT_NEAR(engine.finish_us(a), 2.0, kTol);
  EXPECT_NEAR(engine.finish_us(b), 4.0, kTol);
  EXPECT_NEAR(engine.resource_busy_us(link), 4.0, kTol);
  EXPECT_NEAR(engine.resource_bytes(link), 40'000, kTol);
  EXPECT_EQ(engine.num_events(), 2);
}

TEST(FlowEngine, MaxMinGivesTheRestToTheUnconstrainedFlow) {
  FlowEngine engine;
  const ResourceId wide = engine.add_resource(10);
  const ResourceId narrow = engine.add_resource(4);
  const std::array<ResourceId, 1> path_a{wide};
  const std::array<ResourceId, 2> path_b{wide, narrow};
  const int a = engine.add_flow({.bytes = 12'000}, path_a);
  const int b = engine.add_flow({.bytes = 16'000}, path_b);
  engine.run();
  // Fair share on `narrow` is 4'000 B/us < 5'000 on `wide`: b frozen at 4'000, a gets the
  // remaining 6'000. a: 12'000 / 6'000 = 2 us. b: 16'000 / 4'000 = 4 us (still capped after a).
  EXPECT_NEAR(engine.finish_us(a), 2.0, kTol);
  EXPECT_NEAR(engine.finish_us(b), 4.0, kTol);
  EXPECT_EQ(engine.last_bottleneck(b), narrow);
  EXPECT_EQ(engine.last_bottleneck(a), wide);
  // wide: 10'000 B/us for 2 us, then 4'000 for 2 us = 28'000 B = 2.8 us at full rate.
  EXPECT_NEAR(engine.resource_busy_us(wide), 2.8, kTol);
}

TEST(FlowEngine, LateStartSharesFromItsStart) {
  FlowEngine engine;
  const ResourceId link = engine.add_resource(10);
  const std::array<ResourceId, 1> path{link};
  const int a = engine.add_flow({.bytes = 20'000}, path);
  const int b = engine.add_flow({.bytes = 5'000, .start_us = 1.0}, path);
  engine.run();
  // a alone for 1 us: 10'000 sent. Then 5'000 B/us each: b done at 1 + 1 = 2 us, a has
  // 10'000 - 5'000 = 5'000 left, alone: 0.5 us, done at 2.5 us.
  EXPECT_NEAR(engine.finish_us(b), 2.0, kTol);
  EXPECT_NEAR(engine.finish_us(a), 2.5, kTol);
}

TEST(FlowEngine, PerFlowCap) {
  FlowEngine engine;
  const ResourceId link = engine.add_resource(10);
  engine.set_flow_cap_gbps(3);
  const std::array<ResourceId, 1> path{link};
  const int a = engine.add_flow({.bytes = 6'000}, path);
  const int b = engine.add_flow({.bytes = 9'000}, path);
  engine.run();
  // Fair share 5'000 > cap 3'000: both at 3'000 B/us. a: 2 us, b: 3 us.
  EXPECT_NEAR(engine.finish_us(a), 2.0, kTol);
  EXPECT_NEAR(engine.finish_us(b), 3.0, kTol);
  EXPECT_EQ(engine.last_bottleneck(b), -1);
}

TEST(FlowEngine, StoreAndForwardInChunks) {
  FlowEngine engine;
  const ResourceId rdma = engine.add_resource(8);     // 8'000 B/us
  const ResourceId nvlink = engine.add_resource(16);  // 16'000 B/us
  const int gate = engine.add_gate(4, 0.5);
  const std::array<ResourceId, 1> in_path{rdma};
  const std::array<ResourceId, 1> out_path{nvlink};
  const int in = engine.add_flow({.bytes = 8'000, .gate_in = gate}, in_path);
  const int out = engine.add_flow({.bytes = 8'000, .gate_out = gate}, out_path);
  engine.run();
  // Inbound: 8'000 B at 8'000 B/us, chunk k (2'000 B) has arrived at 0.25 k us and is released
  // 0.5 us later. Each chunk forwards in 2'000 / 16'000 = 0.125 us, before the next arrives; the
  // last is released at 1.0 + 0.5 = 1.5 us and done at 1.625 us.
  EXPECT_NEAR(engine.finish_us(in), 1.0, kTol);
  EXPECT_NEAR(engine.finish_us(out), 1.625, kTol);
  EXPECT_NEAR(engine.resource_busy_us(nvlink), 0.5, kTol);
}

TEST(FlowEngine, ForwardSlowerThanArrivalQueuesChunks) {
  FlowEngine engine;
  const ResourceId rdma = engine.add_resource(8);
  const ResourceId nvlink = engine.add_resource(2);  // 2'000 B/us: slower than arrival
  const int gate = engine.add_gate(2, 0.0);
  const std::array<ResourceId, 1> in_path{rdma};
  const std::array<ResourceId, 1> out_path{nvlink};
  engine.add_flow({.bytes = 8'000, .gate_in = gate}, in_path);
  const int out = engine.add_flow({.bytes = 4'000, .gate_out = gate}, out_path);
  engine.run();
  // Half the inbound (4'000 B) at 0.5 us releases 2'000 B of outbound: sent by 1.5 us. The rest
  // is released at 1.0 us, while it is still busy, so it runs on: 4'000 B from 0.5 us at
  // 2'000 B/us = done at 2.5 us.
  EXPECT_NEAR(engine.finish_us(out), 2.5, kTol);
}

TEST(FlowEngine, AdaptivePicksTheLeastLoadedSpine) {
  FlowEngine engine;
  const ResourceId up0 = engine.add_resource(10);
  engine.add_resource(10);  // up1
  const ResourceId down0 = engine.add_resource(10);
  engine.add_resource(10);  // down1
  const int choice = engine.add_choice({.first_up = up0, .first_down = down0, .num_spines = 2});
  const std::array<ResourceId, 2> path{kUplinkSlot, kDownlinkSlot};
  const int a = engine.add_flow({.bytes = 10'000, .choice_idx = choice}, path);
  const int b = engine.add_flow({.bytes = 10'000, .choice_idx = choice}, path);
  engine.run();
  // a takes spine 0 (all idle, lowest index); b sees 10'000 unsent on spine 0 and takes spine 1.
  // Each runs alone at 10'000 B/us: both done at 1 us (on one spine it would be 2 us).
  EXPECT_EQ(engine.path(a)[0], up0);
  EXPECT_EQ(engine.path(b)[0], up0 + 1);
  EXPECT_NEAR(engine.finish_us(a), 1.0, kTol);
  EXPECT_NEAR(engine.finish_us(b), 1.0, kTol);
}

}  // namespace
}  // namespace epscope::flowsim
