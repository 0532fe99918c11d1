// The CPU reference must accept what the kernels are specified to produce and reject any
// deviation: a wrong header, a corrupted payload, a missing or duplicated copy.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "bench/harness/check.h"
#include "epscope/traffic/traffic.h"
#include "gpu/layout.h"

namespace epscope::bench {
namespace {

TEST(Fp8, DecodesGoldenCodes) {
  EXPECT_EQ(fp8_e4m3_to_float(0x00), 0.0f);
  EXPECT_EQ(fp8_e4m3_to_float(0x38), 1.0f);    // exponent 7 (bias 7), mantissa 0
  EXPECT_EQ(fp8_e4m3_to_float(0x7e), 448.0f);  // largest finite: 1.75 * 2^8
  EXPECT_EQ(fp8_e4m3_to_float(0xb8), -1.0f);
  EXPECT_EQ(fp8_e4m3_to_float(0x01), 1.0f / 512.0f);  // smallest subnormal: 2^-9
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_float(0x7f)));
}

TEST(Fp8, EncodeRoundsToNearest) {
  EXPECT_EQ(float_to_fp8_e4m3(1.0f), 0x38);
  EXPECT_EQ(float_to_fp8_e4m3(1000.0f), 0x7e);  // saturates
  // 1.0625 lies halfway between 1.0 (0x38) and 1.125 (0x39): ties go to the even code.
  EXPECT_EQ(float_to_fp8_e4m3(1.0625f), 0x38);
  EXPECT_EQ(float_to_fp8_e4m3(-3.0f), 0xc4);  // -1.5 * 2^1: sign 1, exponent 8, mantissa 4
}

TEST(Bf16, RoundTripsExactValues) {
  EXPECT_EQ(bf16_to_float(float_to_bf16(-7.8125f)), -7.8125f);
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
}

/// 2 ranks, 4 experts (2 per rank), top-2, hidden 256: small enough to enumerate by hand.
Scenario tiny_scenario() {
  Scenario s;
  s.cluster.num_nodes = 1;
  s.cluster.gpus_per_node = 2;
  s.cluster.nvlink_domain_size = 2;
  s.moe.hidden = 256;
  s.moe.topk = 2;
  s.moe.num_experts = 4;
  s.moe.max_tokens_per_rank = 8;
  s.tokens_per_rank = {2, 1};
  return s;
}

/// Rank 0: token 0 -> experts {2, 3} (both on rank 1), token 1 -> {0, 2}.
/// Rank 1: token 0 -> {3, 1}.
std::vector<RankTopk> tiny_topk() {
  return {{2, {2, 3, 0, 2}}, {1, {3, 1}}};
}

struct Received {
  std::vector<std::vector<std::uint8_t>> messages;
  std::vector<ReceivedRow> rows(const std::vector<int>& src, const std::vector<int>& expert) {
    std::vector<ReceivedRow> out;
    for (std::size_t i = 0; i < messages.size(); ++i)
      out.push_back({messages[i].data(), src[i], expert[i]});
    return out;
  }
};

TEST(CheckLlRows, AcceptsExactlyTheExpectedCopies) {
  const Scenario s = tiny_scenario();
  for (bool fp8 : {true, false}) {
    // Rank 1 holds experts 2 and 3; it must receive (0,0,k0)->2, (0,0,k1)->3, (0,1,k1)->2,
    // (1,0,k0)->3: four copies.
    Received r;
    r.messages = {make_ll_message(0, 0, 0, 2, 256, fp8), make_ll_message(0, 0, 1, 3, 256, fp8),
                  make_ll_message(0, 1, 1, 2, 256, fp8), make_ll_message(1, 0, 0, 3, 256, fp8)};
    const CheckResult ok =
        check_ll_rows(s, tiny_topk(), 1, fp8, false, r.rows({0, 0, 0, 1}, {2, 3, 2, 3}));
    EXPECT_EQ(ok.checked, 4);
    EXPECT_EQ(ok.wrong, 0) << ok.first_error;
  }
}

TEST(CheckLlRows, RejectsCorruptionMissingAndDuplicates) {
  const Scenario s = tiny_scenario();
  Received r;
  r.messages = {make_ll_message(0, 0, 0, 2, 256, true), make_ll_message(0, 0, 1, 3, 256, true),
                make_ll_message(0, 1, 1, 2, 256, true), make_ll_message(1, 0, 0, 3, 256, true)};
  // A flipped payload byte (column 5 of the first copy).
  r.messages[0][static_cast<std::size_t>(gpu::LlMessage{256, true}.data_offset() + 5)] ^= 0x40;
  CheckResult bad =
      check_ll_rows(s, tiny_topk(), 1, true, false, r.rows({0, 0, 0, 1}, {2, 3, 2, 3}));
  EXPECT_EQ(bad.wrong, 1);
  EXPECT_NE(bad.first_error.find("payload"), std::string::npos) << bad.first_error;

  // The last copy missing, and the second one delivered twice.
  Received dup;
  dup.messages = {make_ll_message(0, 0, 0, 2, 256, true), make_ll_message(0, 0, 1, 3, 256, true),
                  make_ll_message(0, 0, 1, 3, 256, true), make_ll_message(0, 1, 1, 2, 256, true)};
  bad = check_ll_rows(s, tiny_topk(), 1, true, false, dup.rows({0, 0, 0, 0}, {2, 3, 3, 2}));
  EXPECT_EQ(bad.wrong, 2);  // one duplicate + one never arrived

  // A row sitting in the wrong expert's queue.
  Received wrong_queue;
  wrong_queue.messages = {make_ll_message(1, 0, 0, 3, 256, true)};
  bad = check_ll_rows(s, tiny_topk(), 1, true, false, wrong_queue.rows({1}, {2}));
  EXPECT_GE(bad.wrong, 1);
}

TEST(CheckLlRows, PerRankRowsTakeOneCopyPerDestination) {
  // Per-rank rows: rank 1 gets token 0 of rank 0 once (k = 0, its first expert there), token 1
  // of rank 0 (k = 1), token 0 of rank 1 (k = 0).
  const Scenario s = tiny_scenario();
  Received r;
  r.messages = {make_ll_message(0, 0, 0, 2, 256, false), make_ll_message(0, 1, 1, 2, 256, false),
                make_ll_message(1, 0, 0, 3, 256, false)};
  const CheckResult ok =
      check_ll_rows(s, tiny_topk(), 1, false, true, r.rows({0, 0, 1}, {-1, -1, -1}));
  EXPECT_EQ(ok.wrong, 0) << ok.first_error;
}

TEST(CheckCombined, WeightedAndPerRankSums) {
  const Scenario s = tiny_scenario();
  const auto topk = tiny_topk();
  // Rank 1, one token with experts 3 and 1: out = w(0,0) * f(1,0,3,c) + w(0,1) * f(1,0,1,c).
  std::vector<std::uint16_t> out(256);
  for (int c = 0; c < 256; ++c) {
    const float v =
        gpu::topk_weight(0, 0) *
            bf16_to_float(float_to_bf16(gpu::expert_output_value(1, 0, 3, c))) +
        gpu::topk_weight(0, 1) * bf16_to_float(float_to_bf16(gpu::expert_output_value(1, 0, 1, c)));
    out[static_cast<std::size_t>(c)] = float_to_bf16(v);
  }
  EXPECT_EQ(check_combined(s, topk, 1, true, out.data()).wrong, 0);
  // The same token per rank (HT): experts 3 and 1 live on ranks 1 and 0 -> f(.,.,1,c) + f(.,.,0,c).
  EXPECT_GT(check_combined(s, topk, 1, false, out.data()).wrong, 0);
  out[7] ^= 0x0100;
  EXPECT_EQ(check_combined(s, topk, 1, true, out.data()).wrong, 1);
}

TEST(CheckHtRecords, CountsAndMeta) {
  const Scenario s = tiny_scenario();
  const gpu::HtRecord rec{256, 2, false};
  // Rank 1 from rank 0: tokens 0 and 1 both have an expert on rank 1 -> 2 records.
  std::vector<std::uint8_t> records(static_cast<std::size_t>(2 * rec.slot_bytes()), 0);
  for (int slot = 0; slot < 2; ++slot) {
    std::uint8_t* r = records.data() + slot * rec.slot_bytes();
    for (int c = 0; c < 256; ++c) {
      const std::uint16_t b = float_to_bf16(gpu::input_value(0, slot, c));
      std::memcpy(r + 2 * c, &b, 2);
    }
    // token 0: experts {2, 3} -> local {0, 1}; token 1: experts {0, 2} -> {-1, 0}.
    const std::int32_t idx[2][2] = {{0, 1}, {-1, 0}};
    const float w[2][2] = {{gpu::topk_weight(0, 0), gpu::topk_weight(0, 1)},
                           {0.0f, gpu::topk_weight(1, 1)}};
    std::memcpy(r + rec.idx_offset(), idx[slot], 8);
    std::memcpy(r + rec.weight_offset(), w[slot], 8);
    const std::int32_t meta[2] = {slot, 0};
    std::memcpy(r + rec.meta_offset(), meta, 8);
  }
  const CheckResult ok = check_ht_records(s, tiny_topk(), 1, 0, false, records.data(), 2);
  EXPECT_EQ(ok.wrong, 0) << ok.first_error;
  EXPECT_GT(check_ht_records(s, tiny_topk(), 1, 0, false, records.data(), 1).wrong, 0);
}

TEST(Layout, MatchesDomainByteCounts) {
  // DOMAIN.md §2: LL FP8 message 7408 B, BF16 16 + 2 * 7168; HT records 7472 / 14416 B.
  EXPECT_EQ((gpu::LlMessage{7168, true}.bytes()), 7408);
  EXPECT_EQ((gpu::LlMessage{7168, false}.bytes()), 16 + 2 * 7168);
  EXPECT_EQ((gpu::HtRecord{7168, 8, true}.bytes()), 7472);
  EXPECT_EQ((gpu::HtRecord{7168, 8, false}.bytes()), 14416);
  // Receive slots: the next 128-byte multiple, so every slot's data starts on a line.
  EXPECT_EQ((gpu::LlMessage{7168, true}.slot_bytes()), 7424);
  EXPECT_EQ((gpu::HtRecord{7168, 8, true}.slot_bytes()), 7552);
  EXPECT_EQ((gpu::HtRecord{7168, 8, false}.slot_bytes()), 14464);
  EXPECT_EQ((gpu::LlMessage{7168, true}.data_offset()), 0);
  EXPECT_EQ((gpu::LlMessage{7168, true}.header_offset()), 7168 + 56 * 4);
  // ... and the core's formulas (docs/model.md §2) agree with the kernels' layouts.
  MoeShape moe;
  moe.dispatch_dtype = DispatchDtype::kFp8;
  EXPECT_EQ(dispatch_message_bytes(moe, KernelMode::kLowLatency), 7408);
  EXPECT_EQ(dispatch_message_bytes(moe, KernelMode::kHighThroughput), 7472);
  moe.dispatch_dtype = DispatchDtype::kBf16;
  EXPECT_EQ(dispatch_message_bytes(moe, KernelMode::kHighThroughput), 14416);
}

}  // namespace
}  // namespace epscope::bench
