// Trace replay: decode steps one after another, arrivals placed online. docs/model.md §8.7.
#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <deque>

#include "base/rng.h"
#include "epscope/base/error.h"
#include "epscope/plan/plan_replay.h"
#include "plan_internal.h"

namespace epscope {

namespace {

struct Running {
  int rank = 0;
  std::int64_t context_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t generated = 0;
  std::int64_t reserve = 0;
  double acceptance = 0;
  double admitted_us = 0;
};

/// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  const auto rank =
      static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

void validate(const ReplayOptions& options) {
  if (options.num_drafts < 0 || options.num_drafts > 16) {
    throw InputError("drafts", std::to_string(options.num_drafts), "allowed: 0..16");
  }
  if (!(options.acceptance >= 0 && options.acceptance <= 1)) {
    throw InputError("acceptance", fmt::format("{}", options.acceptance), "allowed: 0..1");
  }
  if (!(options.acceptance_spread >= 0 && options.acceptance_spread <= 1)) {
    throw InputError("acceptance-spread", fmt::format("{}", options.acceptance_spread),
                     "allowed: 0..1");
  }
  if (options.max_requests_per_rank < 1) {
    throw InputError("max-batch", std::to_string(options.max_requests_per_rank), "must be >= 1");
  }
  if (options.max_steps < 1) {
    throw InputError("steps", std::to_string(options.max_steps), "must be >= 1");
  }
}

}  // namespace

ReplayResult replay(const std::vector<TraceRequest>& trace, Policy policy, const DecodeModel& model,
                    const Capacity& capacity, const ReplayOptions& options) {
  validate(options);
  const int num_ranks = model.num_ranks();
  const auto n = static_cast<std::size_t>(num_ranks);
  detail::Rng rng(options.seed, 0x7e91a7);
  // Tokens an arrival is expected to bring per step: 1 + sum_{i=1..k} p^i (drafts in order).
  double expected_tokens = 1;
  for (int i = 1; i <= options.num_drafts; ++i)
    expected_tokens += std::pow(options.acceptance, i);
  const std::int64_t arrival_tokens = std::max<std::int64_t>(1, std::llround(expected_tokens));

  ReplayResult result;
  result.policy = to_string(policy);
  detail::RankState state(num_ranks);
  state.max_requests = options.max_requests_per_rank;
  std::vector<Running> running;
  std::deque<std::size_t> waiting;
  std::vector<double> tpot_us;
  std::vector<std::int64_t> step_tokens;
  std::vector<RankLoad> loads(n);
  std::size_t next_arrival = 0;
  double now_us = trace.empty() ? 0.0 : trace.front().arrival_us;
  const double first_arrival_us = now_us;
  std::int64_t generated_total = 0;
  double sum_batch_imbalance = 0, sum_kv_imbalance = 0;

  while (result.num_steps < options.max_steps) {
    if (running.empty() && waiting.empty()) {
      if (next_arrival >= trace.size()) break;
      now_us = std::max(now_us, trace[next_arrival].arrival_us);
    }
    while (next_arrival < trace.size() && trace[next_arrival].arrival_us <= now_us) {
      waiting.push_back(next_arrival++);
    }
    // Admit in arrival order; the first request that fits nowhere blocks the queue (FIFO).
    while (!waiting.empty()) {
      const TraceRequest& t = trace[waiting.front()];
      const detail::Arrival arrival{arrival_tokens, t.prompt_tokens,
                                    t.prompt_tokens + t.output_tokens};
      double total_after = static_cast<double>(arrival_tokens);
      for (const RankLoad& l : state.loads)
        total_after += static_cast<double>(l.tokens);
      const int r = detail::choose_rank(policy, model, capacity, state, arrival, total_after, 0.5);
      if (r < 0) break;
      state.add(r, arrival_tokens, t.prompt_tokens, arrival.reserve);
      Running q;
      q.rank = r;
      q.context_tokens = t.prompt_tokens;
      q.output_tokens = t.output_tokens;
      q.reserve = arrival.reserve;
      q.acceptance = std::clamp(
          options.acceptance + options.acceptance_spread * (2 * rng.uniform() - 1), 0.0, 1.0);
      q.admitted_us = now_us;
      running.push_back(q);
      waiting.pop_front();
    }
    if (running.empty()) {
      if (!waiting.empty()) {
        const TraceRequest& t = trace[waiting.front()];
        throw InputError("kv-capacity",
                         fmt::format("a request of {} prompt + {} output tokens", t.prompt_tokens,
                                     t.output_tokens),
                         "fits on no empty rank; raise --kv-capacity");
      }
      continue;
    }

    // This step: every running request decodes 1 + accepted drafts tokens.
    std::fill(loads.begin(), loads.end(), RankLoad{});
    step_tokens.resize(running.size());
    for (std::size_t i = 0; i < running.size(); ++i) {
      const Running& q = running[i];
      std::int64_t accepted = 0;
      while (accepted < options.num_drafts && rng.uniform() < q.acceptance)
        ++accepted;
      step_tokens[i] = 1 + accepted;
      RankLoad& l = loads[static_cast<std::size_t>(q.rank)];
      ++l.num_requests;
      l.tokens += step_tokens[i];
      l.kv_tokens += q.context_tokens;
    }
    ReplayStep step;
    step.time_us = now_us;
    step.num_running = static_cast<int>(running.size());
    if (options.surrogate) {
      step.step_us = model.surrogate_step_us(loads);
    } else {
      step.step_us = model.step(loads).step_us;
    }
    std::vector<double> batch(n), kv(n);
    for (std::size_t r = 0; r < n; ++r) {
      batch[r] = static_cast<double>(loads[r].tokens);
      kv[r] = static_cast<double>(loads[r].kv_tokens);
    }
    const Imbalance b = imbalance(batch), k = imbalance(kv);
    step.batch_imbalance = b.max_over_mean;
    step.kv_imbalance = k.max_over_mean;
    step.batch_balance_ratio = b.balance_ratio;
    step.kv_balance_ratio = k.balance_ratio;
    sum_batch_imbalance += step.batch_imbalance;
    sum_kv_imbalance += step.kv_imbalance;
    result.steps.push_back(step);
    ++result.num_steps;
    now_us += step.step_us;

    // Advance every request; finished ones leave and free their reservation.
    for (std::size_t i = running.size(); i-- > 0;) {
      Running& q = running[i];
      const std::int64_t produced = std::min(step_tokens[i], q.output_tokens - q.generated);
      q.generated += produced;
      q.context_tokens += produced;
      generated_total += produced;
      // The rank's state tracks the KV now held and this step's tokens for the next placement.
      state.loads[static_cast<std::size_t>(q.rank)].kv_tokens += produced;
      if (q.generated >= q.output_tokens) {
        tpot_us.push_back((now_us - q.admitted_us) / static_cast<double>(q.generated));
        state.remove(q.rank, arrival_tokens, q.context_tokens, q.reserve);
        ++result.num_finished;
        running[i] = running.back();
        running.pop_back();
      }
    }
  }
  result.makespan_us = now_us - first_arrival_us;
  result.throughput_tokens_per_s =
      result.makespan_us > 0 ? static_cast<double>(generated_total) / result.makespan_us * 1e6
                             : 0.0;
  std::sort(tpot_us.begin(), tpot_us.end());
  result.tpot_p50_us = percentile(tpot_us, 50);
  result.tpot_p99_us = percentile(tpot_us, 99);
  if (result.num_steps > 0) {
    result.mean_batch_imbalance = sum_batch_imbalance / static_cast<double>(result.num_steps);
    result.mean_kv_imbalance = sum_kv_imbalance / static_cast<double>(result.num_steps);
  }
  return result;
}

}  // namespace epscope
