#include "bench/harness/check.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "gpu/layout.h"

namespace epscope::bench {

void CheckResult::fail(const std::string& what) {
  if (wrong == 0) first_error = what;
  ++wrong;
}

void CheckResult::merge(const CheckResult& other) {
  if (wrong == 0 && other.wrong > 0) first_error = other.first_error;
  checked += other.checked;
  wrong += other.wrong;
}

float fp8_e4m3_to_float(std::uint8_t bits) {
  const int sign = bits >> 7;
  const int exponent = (bits >> 3) & 0xf;
  const int mantissa = bits & 0x7;
  if (exponent == 0xf && mantissa == 0x7) return std::nanf("");
  const float magnitude =
      exponent == 0 ? std::ldexp(static_cast<float>(mantissa) / 8.0f, -6)
                    : std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, exponent - 7);
  return sign ? -magnitude : magnitude;
}

std::uint8_t float_to_fp8_e4m3(float value) {
  // Nearest of the 127 finite non-negative codes; fine for tests and setup, not for hot paths.
  const float magnitude = std::min(std::fabs(value), gpu::kFp8Max);
  std::uint8_t best = 0;
  float best_err = magnitude;
  for (int code = 1; code < 0x7f; ++code) {
    const float err = std::fabs(fp8_e4m3_to_float(static_cast<std::uint8_t>(code)) - magnitude);
    if (err < best_err || (err == best_err && (code & 1) == 0)) {
      best = static_cast<std::uint8_t>(code);
      best_err = err;
    }
  }
  return static_cast<std::uint8_t>(value < 0 ? (best | 0x80) : best);
}

float bf16_to_float(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

std::uint16_t float_to_bf16(float value) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(rounded >> 16);
}

namespace {

/// Compares a received payload (FP8 + scales or BF16) with input_value(src, token, ·).
bool payload_matches(const std::uint8_t* data, const std::uint8_t* scales, int src, int token,
                     int hidden, bool fp8, std::string* why) {
  for (int block = 0; block < hidden / gpu::kScaleBlock; ++block) {
    float amax = 0;
    for (int c = block * gpu::kScaleBlock; c < (block + 1) * gpu::kScaleBlock; ++c)
      amax = std::max(amax, std::fabs(gpu::input_value(src, token, c)));
    float scale = 1;
    if (fp8) std::memcpy(&scale, scales + 4 * block, 4);
    for (int c = block * gpu::kScaleBlock; c < (block + 1) * gpu::kScaleBlock; ++c) {
      const float want = gpu::input_value(src, token, c);
      float got;
      float tol;
      if (fp8) {
        got = fp8_e4m3_to_float(data[c]) * scale;
        // e4m3 keeps 3 mantissa bits: relative error <= 2^-4, plus the subnormal step.
        tol = 0.0625f * std::fabs(want) + std::max(amax, 1e-4f) / gpu::kFp8Max * 0.002f + 1e-6f;
      } else {
        std::uint16_t bits;
        std::memcpy(&bits, data + 2 * c, 2);
        got = bf16_to_float(bits);
        tol = 0;
      }
      if (!(std::fabs(got - want) <= tol)) {
        *why = fmt::format("column {}: got {} want {}", c, got, want);
        return false;
      }
    }
  }
  return true;
}

int experts_per_rank(const Scenario& s) {
  return s.moe.num_experts / s.num_ranks();
}

}  // namespace

CheckResult check_ll_rows(const Scenario& scenario, const std::vector<RankTopk>& topk, int rank,
                          bool fp8, bool per_rank_rows, const std::vector<ReceivedRow>& rows) {
  CheckResult result;
  const int k_max = scenario.moe.topk;
  const int epr = experts_per_rank(scenario);
  const gpu::LlMessage msg{scenario.moe.hidden, fp8};
  // Expected (src, token, k) copies for this rank.
  std::set<std::tuple<int, int, int>> expected;
  for (int src = 0; src < scenario.num_ranks(); ++src) {
    const auto& tk = topk[static_cast<std::size_t>(src)];
    for (int t = 0; t < static_cast<int>(tk.num_tokens); ++t) {
      bool seen_rank = false;
      for (int k = 0; k < k_max; ++k) {
        const int e = tk.expert_idx[static_cast<std::size_t>(t * k_max + k)];
        if (e < 0 || e / epr != rank) continue;
        if (per_rank_rows && seen_rank) continue;
        seen_rank = true;
        expected.emplace(src, t, k);
      }
    }
  }
  std::set<std::tuple<int, int, int>> received;
  for (const auto& row : rows) {
    ++result.checked;
    std::int32_t header[4];
    std::memcpy(header, row.bytes + msg.header_offset(), sizeof header);
    const int token = header[0], k = header[1], src = header[2], expert = header[3];
    const auto where = fmt::format("rank {} row from src {} (token {}, k {}, expert {})", rank,
                                   row.src, token, k, expert);
    if (src != row.src || (row.expert >= 0 && expert != row.expert)) {
      result.fail(where + ": header does not match the buffer region");
      continue;
    }
    if (src < 0 || src >= scenario.num_ranks() || token < 0 ||
        token >= topk[static_cast<std::size_t>(src)].num_tokens || k < 0 || k >= k_max) {
      result.fail(where + ": header out of range");
      continue;
    }
    const int routed =
        topk[static_cast<std::size_t>(src)].expert_idx[static_cast<std::size_t>(token * k_max + k)];
    if (routed != expert || expert / epr != rank) {
      result.fail(where + fmt::format(": routing says expert {}", routed));
      continue;
    }
    if (!received.emplace(src, token, k).second) {
      result.fail(where + ": received twice");
      continue;
    }
    std::string why;
    if (!payload_matches(row.bytes + msg.data_offset(), row.bytes + msg.scale_offset(), src, token,
                         scenario.moe.hidden, fp8, &why))
      result.fail(where + ": payload " + why);
  }
  for (const auto& copy : expected) {
    if (received.count(copy)) continue;
    result.fail(fmt::format("rank {}: copy (src {}, token {}, k {}) never arrived", rank,
                            std::get<0>(copy), std::get<1>(copy), std::get<2>(copy)));
  }
  return result;
}

CheckResult check_ht_records(const Scenario& scenario, const std::vector<RankTopk>& topk, int rank,
                             int src, bool fp8, const std::uint8_t* records, std::int64_t count) {
  CheckResult result;
  const int k_max = scenario.moe.topk;
  const int epr = experts_per_rank(scenario);
  const gpu::HtRecord rec{scenario.moe.hidden, k_max, fp8};
  const auto& tk = topk[static_cast<std::size_t>(src)];
  // Tokens of src with an expert on this rank, in token order: slot i holds the i-th of them.
  std::vector<int> tokens;
  for (int t = 0; t < static_cast<int>(tk.num_tokens); ++t)
    for (int k = 0; k < k_max; ++k) {
      const int e = tk.expert_idx[static_cast<std::size_t>(t * k_max + k)];
      if (e >= 0 && e / epr == rank) {
        tokens.push_back(t);
        break;
      }
    }
  if (count != static_cast<std::int64_t>(tokens.size()))
    result.fail(fmt::format("rank {}: {} records from src {}, expected {}", rank, count, src,
                            tokens.size()));
  for (std::int64_t slot = 0; slot < std::min<std::int64_t>(count, std::ssize(tokens)); ++slot) {
    ++result.checked;
    const std::uint8_t* r = records + slot * rec.slot_bytes();
    std::int32_t meta[2];
    std::memcpy(meta, r + rec.meta_offset(), sizeof meta);
    const int want_token = tokens[static_cast<std::size_t>(slot)];
    const auto where = fmt::format("rank {} record {} from src {}", rank, slot, src);
    if (meta[0] != want_token || meta[1] != src) {
      result.fail(where + fmt::format(": meta (token {}, src {}), expected token {}", meta[0],
                                      meta[1], want_token));
      continue;
    }
    bool fields_ok = true;
    for (int k = 0; k < k_max; ++k) {
      const int e = tk.expert_idx[static_cast<std::size_t>(want_token * k_max + k)];
      const int want_idx = e >= 0 && e / epr == rank ? e % epr : -1;
      std::int32_t idx;
      float w;
      std::memcpy(&idx, r + rec.idx_offset() + 4 * k, 4);
      std::memcpy(&w, r + rec.weight_offset() + 4 * k, 4);
      const float want_w = want_idx >= 0 ? gpu::topk_weight(want_token, k) : 0.0f;
      if (idx != want_idx || w != want_w) fields_ok = false;
    }
    if (!fields_ok) {
      result.fail(where + ": top-k indices or weights differ");
      continue;
    }
    std::string why;
    if (!payload_matches(r, r + rec.scale_offset(), src, want_token, scenario.moe.hidden, fp8,
                         &why))
      result.fail(where + ": payload " + why);
  }
  return result;
}

CheckResult check_combined(const Scenario& scenario, const std::vector<RankTopk>& topk, int rank,
                           bool weighted, const std::uint16_t* out) {
  CheckResult result;
  const int k_max = scenario.moe.topk;
  const int hidden = scenario.moe.hidden;
  const int epr = experts_per_rank(scenario);
  const auto& tk = topk[static_cast<std::size_t>(rank)];
  for (int t = 0; t < static_cast<int>(tk.num_tokens); ++t) {
    ++result.checked;
    std::vector<int> tags;
    std::vector<float> weights;
    for (int k = 0; k < k_max; ++k) {
      const int e = tk.expert_idx[static_cast<std::size_t>(t * k_max + k)];
      if (e < 0) continue;
      if (weighted) {
        tags.push_back(e);
        weights.push_back(gpu::topk_weight(t, k));
      } else if (std::find(tags.begin(), tags.end(), e / epr) == tags.end()) {
        tags.push_back(e / epr);
        weights.push_back(1.0f);
      }
    }
    for (int c = 0; c < hidden; ++c) {
      float want = 0;
      for (std::size_t i = 0; i < tags.size(); ++i)
        want += weights[i] *
                bf16_to_float(float_to_bf16(gpu::expert_output_value(rank, t, tags[i], c)));
      const float got = bf16_to_float(out[static_cast<std::size_t>(t) * hidden + c]);
      if (!(std::fabs(got - want) <= 0.008f * std::fabs(want) + 1e-3f)) {
        result.fail(fmt::format("rank {} combined token {} column {}: got {} want {}", rank, t, c,
                                got, want));
        break;
      }
    }
  }
  return result;
}

std::vector<float> test_topk_weights(const RankTopk& topk, int k_max) {
  std::vector<float> weights(topk.expert_idx.size());
  for (std::size_t i = 0; i < weights.size(); ++i)
    weights[i] = gpu::topk_weight(static_cast<int>(i) / k_max, static_cast<int>(i) % k_max);
  return weights;
}

std::vector<std::uint8_t> make_ll_message(int rank, int token, int k, int expert, int hidden,
                                          bool fp8) {
  const gpu::LlMessage msg{hidden, fp8};
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(msg.bytes()), 0);
  const std::int32_t header[4] = {token, k, rank, expert};
  std::memcpy(bytes.data() + msg.header_offset(), header, sizeof header);
  for (int block = 0; block < hidden / gpu::kScaleBlock; ++block) {
    float amax = 1e-4f;
    for (int c = block * gpu::kScaleBlock; c < (block + 1) * gpu::kScaleBlock; ++c)
      amax = std::max(amax, std::fabs(gpu::input_value(rank, token, c)));
    const float scale = amax / gpu::kFp8Max;
    if (fp8) std::memcpy(bytes.data() + msg.scale_offset() + 4 * block, &scale, 4);
    for (int c = block * gpu::kScaleBlock; c < (block + 1) * gpu::kScaleBlock; ++c) {
      const float v = gpu::input_value(rank, token, c);
      if (fp8) {
        bytes[static_cast<std::size_t>(msg.data_offset() + c)] = float_to_fp8_e4m3(v / scale);
      } else {
        const std::uint16_t b = float_to_bf16(v);
        std::memcpy(bytes.data() + msg.data_offset() + 2 * c, &b, 2);
      }
    }
  }
  return bytes;
}

}  // namespace epscope::bench
