// The cases a bench run measures: the scenario's own token list, an nccl-tests-style sweep
// (-b/-e/-f over balanced tokens per rank), or a case file. Plus the checks that must pass
// before any kernel runs. Host-only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/samples.h"
#include "epscope/scenario.h"

namespace epscope::bench {

/// Balanced cases begin, begin*factor, ... up to end (inclusive), every rank the same count.
/// begin >= 1 (0 allowed alone), factor >= 2.
std::vector<BenchCase> sweep_cases(int num_ranks, std::int64_t begin, std::int64_t end,
                                   std::int64_t factor);

/// Parses a case file: one case a line, `NAME TOKENS [OFFSETS_US]` in the list syntax of
/// --tokens (lists.h: "384x2,64x2"; a single value repeats on every rank); '#' starts a comment.
std::vector<BenchCase> parse_case_file(const std::string& text, int num_ranks,
                                       const std::string& path);

/// The scenario's own case.
BenchCase scenario_case(const Scenario& scenario);

/// Throws InputError before any GPU work when the scenario or a case cannot run: more than one
/// node, more ranks than devices (or than 8), experts not divisible by ranks, explicit replicas,
/// hidden not a multiple of 128, top-k above 32, a case with a wrong rank count or with more
/// tokens than max_tokens_per_rank, or a negative start offset.
void validate_bench_scenario(const Scenario& base, const std::vector<BenchCase>& cases,
                             int num_devices);

/// "H100" / "H200" / ... from a CUDA device name; the name itself when no known model is in it.
std::string short_gpu_name(const std::string& device_name);

}  // namespace epscope::bench
