#include "bench/harness/harness.h"

#include "epscope/traffic/routing.h"

namespace epscope::bench {

Scenario case_scenario(const Scenario& base, const BenchCase& bench_case) {
  Scenario s = base;
  s.tokens_per_rank = bench_case.tokens_per_rank;
  s.start_offset_us = bench_case.start_offset_us;
  s.routing.expected = false;
  s.back_to_back = false;
  return s;
}

namespace {

void append(std::vector<double>& totals, std::vector<double>& waits, std::vector<double>& transfers,
            const OpTiming& t) {
  totals.push_back(t.total_us);
  if (t.wait_us >= 0) waits.push_back(t.wait_us);
  if (t.transfer_us >= 0) transfers.push_back(t.transfer_us);
}

}  // namespace

std::vector<CaseSamples> run_cases(Backend& backend, const Scenario& base,
                                   const std::vector<BenchCase>& cases,
                                   const BenchOptions& options) {
  const std::vector<int> ranks = backend.local_ranks();
  std::vector<CaseSamples> all;
  for (const BenchCase& bench_case : cases) {
    const Scenario scenario = case_scenario(base, bench_case);
    const std::vector<RankTopk> topk = sample_topk(scenario);
    backend.load_case(scenario, topk);
    const std::vector<double>& offsets = bench_case.start_offset_us;

    CaseSamples samples;
    samples.bench_case = bench_case;
    for (int r : ranks) {
      samples.ranks.emplace_back();
      samples.ranks.back().rank = r;
    }

    // First pass: dispatch, the test expert, combine; then check what they produced.
    backend.align(offsets);
    backend.time(Op::kDispatch);
    backend.run_expert();
    backend.align(offsets);
    backend.time(Op::kCombine);
    if (options.check) {
      const std::vector<CheckResult> checks = backend.check();
      for (std::size_t i = 0; i < ranks.size(); ++i) {
        samples.ranks[i].checked = checks[i].checked;
        samples.ranks[i].wrong = checks[i].wrong;
        samples.ranks[i].first_error = checks[i].first_error;
      }
    }

    for (int iter = 0; iter < options.warmup + options.iters; ++iter) {
      const bool keep = iter >= options.warmup;
      backend.align(offsets);
      const auto dispatch = backend.time(Op::kDispatch);
      backend.align(offsets);
      const auto combine = backend.time(Op::kCombine);
      backend.align(offsets);
      const auto b2b = backend.time(Op::kBackToBack);
      if (!keep) continue;
      for (std::size_t i = 0; i < ranks.size(); ++i) {
        RankSamples& r = samples.ranks[i];
        append(r.dispatch_us, r.dispatch_wait_us, r.dispatch_transfer_us, dispatch[i]);
        append(r.combine_us, r.combine_wait_us, r.combine_transfer_us, combine[i]);
        r.b2b_us.push_back(b2b[i].total_us);
      }
    }
    all.push_back(std::move(samples));
  }
  return all;
}

}  // namespace epscope::bench
