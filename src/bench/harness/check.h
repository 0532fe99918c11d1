// CPU reference for --check: every received row (source rank, token index, top-k slot, expert,
// payload) and every combined row, for our kernels' layouts and the NCCL backend's rows. The
// payloads are the closed forms of src/gpu/layout.h, so nothing needs to be copied from the
// sender. Host-only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "epscope/scenario/scenario.h"
#include "epscope/traffic/routing.h"

namespace epscope::bench {

/// Counts of one check. `first_error` describes the first mismatch.
struct CheckResult {
  std::int64_t checked = 0;
  std::int64_t wrong = 0;
  std::string first_error;
  void fail(const std::string& what);
  void merge(const CheckResult& other);
};

/// One received LL message (src/gpu/layout.h LlMessage) as the receiver sees it.
struct ReceivedRow {
  const std::uint8_t* bytes = nullptr;
  int src = 0;      // the rank the receiver believes sent it (from the buffer region)
  int expert = -1;  // the expert whose queue it sits in; -1 = trust the header
};

/// Checks the LL messages `rank` received. `per_rank_rows`: one row per (token, destination
/// rank) (the NCCL backend's per-rank rows) instead of one per (token, expert). Verifies each
/// header against the routing, each payload against input_value (FP8 within e4m3 rounding), and
/// that every expected copy arrived exactly once.
CheckResult check_ll_rows(const Scenario& scenario, const std::vector<RankTopk>& topk, int rank,
                          bool fp8, bool per_rank_rows, const std::vector<ReceivedRow>& rows);

/// Checks the HT records `rank` received from `src` (slot i at records + i x
/// HtRecord::slot_bytes(), count of them).
CheckResult check_ht_records(const Scenario& scenario, const std::vector<RankTopk>& topk, int rank,
                             int src, bool fp8, const std::uint8_t* records, std::int64_t count);

/// Checks `rank`'s combined BF16 output [tokens, hidden]. `weighted` (LL, per-expert rows):
/// sum_k w(t, k) * expert_output_value(rank, t, expert_k, col); else (HT, per-rank rows):
/// sum over ranks d holding t of expert_output_value(rank, t, d, col).
CheckResult check_combined(const Scenario& scenario, const std::vector<RankTopk>& topk, int rank,
                           bool weighted, const std::uint16_t* out);

/// FP8 e4m3 (bias 7, no infinities) to float, and back by nearest value (ties to even code).
float fp8_e4m3_to_float(std::uint8_t bits);
std::uint8_t float_to_fp8_e4m3(float value);
/// BF16 bits to float and back (round to nearest even).
float bf16_to_float(std::uint16_t bits);
std::uint16_t float_to_bf16(float value);

/// The top-k weights the backends upload for `topk` (gpu::topk_weight of every (token, k)).
std::vector<float> test_topk_weights(const RankTopk& topk, int k_max);

/// Builds the LL message of copy (token, k) of `rank` on the host, as the kernels would.
std::vector<std::uint8_t> make_ll_message(int rank, int token, int k, int expert, int hidden,
                                          bool fp8);

}  // namespace epscope::bench
