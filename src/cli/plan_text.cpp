#include "plan_text.h"

#include <fmt/format.h>
#include <fstream>

#include "epscope/base/error.h"

namespace epscope::cli {

namespace {

double ms(double us) {
  return us / 1e3;
}

nlohmann::json to_json(const Imbalance& x) {
  return {{"mean", x.mean},
          {"max", x.max},
          {"min", x.min},
          {"balance_ratio", x.balance_ratio},
          {"max_over_mean", x.max_over_mean}};
}

nlohmann::json to_json(const StepParts& p) {
  return {{"attention_us", p.attention_us}, {"dispatch_us", p.dispatch_us},
          {"expert_us", p.expert_us},       {"combine_us", p.combine_us},
          {"dense_us", p.dense_us},         {"other_us", p.other_us},
          {"waiting_us", p.waiting_us}};
}

}  // namespace

std::string policy_table(const std::vector<PolicyReport>& reports) {
  std::string out = fmt::format(
      "{:<16} {:>8} | {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} | {:>8} | {:>6} {:>6} | {:>6} "
      "{:>6} | {:>5}\n",
      "policy", "step ms", "attn", "disp", "expert", "comb", "dense", "other", "wait", "tok/s",
      "b avg/", "b imb", "kv avg/", "kv imb", "moves");
  out += fmt::format("{:<16} {:>8} | {:^48} | {:>8} | {:>6} {:>6} | {:>6} {:>6} |\n", "", "",
                     "mean over ranks, ms per step", "", "max", "", "max", "");
  for (const PolicyReport& r : reports) {
    const StepParts& p = r.step.mean_parts;
    out += fmt::format(
        "{:<16} {:>8.2f} | {:>6.2f} {:>6.2f} {:>6.2f} {:>6.2f} {:>6.2f} {:>6.2f} {:>6.2f} | "
        "{:>8.0f} | {:>6.3f} {:>6.3f} | {:>6.3f} {:>6.3f} | {:>5}\n",
        r.policy, ms(r.step.step_us), ms(p.attention_us), ms(p.dispatch_us), ms(p.expert_us),
        ms(p.combine_us), ms(p.dense_us), ms(p.other_us), ms(p.waiting_us), r.step.tokens_per_s,
        r.step.batch.balance_ratio, r.step.batch.max_over_mean, r.step.kv.balance_ratio,
        r.step.kv.max_over_mean, r.placement.num_moves);
  }
  out +=
      "b = batch (tokens this step per rank), kv = KV tokens per rank; avg/max = balance ratio, "
      "imb = (max - mean) / mean.\n";
  return out;
}

std::string pareto_table(const ParetoResult& sweep) {
  std::string out =
      fmt::format("{:>7} {:>9} {:>9} {:>9}  {}\n", "lambda", "batch imb", "kv imb", "step ms", "");
  for (std::size_t i = 0; i < sweep.points.size(); ++i) {
    const ParetoPoint& p = sweep.points[i];
    std::string mark = p.on_front ? "front" : "";
    if (static_cast<int>(i) == sweep.best_idx) mark += mark.empty() ? "sweet spot" : ", sweet spot";
    out += fmt::format("{:>7.3g} {:>9.4f} {:>9.4f} {:>9.3f}  {}\n", p.lambda, p.batch_imbalance,
                       p.kv_imbalance, ms(p.step_us), mark);
  }
  return out;
}

std::string replay_table(const std::vector<ReplayResult>& results) {
  std::string out =
      fmt::format("{:<16} {:>7} {:>8} {:>9} {:>9} {:>10} {:>8} {:>8}\n", "policy", "steps",
                  "finished", "TPOT p50", "TPOT p99", "tok/s", "b imb", "kv imb");
  for (const ReplayResult& r : results) {
    out += fmt::format("{:<16} {:>7} {:>8} {:>7.2f}ms {:>7.2f}ms {:>10.0f} {:>8.3f} {:>8.3f}\n",
                       r.policy, r.num_steps, r.num_finished, ms(r.tpot_p50_us), ms(r.tpot_p99_us),
                       r.throughput_tokens_per_s, r.mean_batch_imbalance, r.mean_kv_imbalance);
  }
  out += "b imb, kv imb: (max - mean) / mean per step, averaged over steps.\n";
  return out;
}

nlohmann::json to_json(const PolicyReport& r) {
  nlohmann::json j = {{"policy", r.policy},
                      {"step_us", r.step.step_us},
                      {"moe_layer_us", r.step.moe_layer_us},
                      {"tokens_per_s", r.step.tokens_per_s},
                      {"parts", to_json(r.step.mean_parts)},
                      {"critical_rank", r.step.critical_rank},
                      {"batch", to_json(r.step.batch)},
                      {"kv", to_json(r.step.kv)},
                      {"moves", r.placement.num_moves}};
  if (r.lambda >= 0) j["lambda"] = r.lambda;
  nlohmann::json ranks = nlohmann::json::array();
  for (std::size_t i = 0; i < r.step.loads.size(); ++i) {
    const RankLoad& l = r.step.loads[i];
    nlohmann::json rank = to_json(r.step.rank_parts[i]);
    rank["rank"] = i;
    rank["requests"] = l.num_requests;
    rank["tokens"] = l.tokens;
    rank["kv_tokens"] = l.kv_tokens;
    ranks.push_back(rank);
  }
  j["ranks"] = ranks;
  return j;
}

nlohmann::json to_json(const ParetoResult& sweep) {
  nlohmann::json points = nlohmann::json::array();
  for (const ParetoPoint& p : sweep.points) {
    points.push_back({{"lambda", p.lambda},
                      {"batch_imbalance", p.batch_imbalance},
                      {"kv_imbalance", p.kv_imbalance},
                      {"step_us", p.step_us},
                      {"on_front", p.on_front}});
  }
  const ParetoPoint& best = sweep.points[static_cast<std::size_t>(sweep.best_idx)];
  return {{"points", points}, {"best_lambda", best.lambda}, {"best_step_us", best.step_us}};
}

nlohmann::json to_json(const ReplayResult& r, int stride) {
  nlohmann::json steps = nlohmann::json::array();
  for (std::size_t i = 0; i < r.steps.size(); i += static_cast<std::size_t>(std::max(1, stride))) {
    const ReplayStep& s = r.steps[i];
    steps.push_back({{"step", i},
                     {"time_us", s.time_us},
                     {"step_us", s.step_us},
                     {"running", s.num_running},
                     {"batch_imbalance", s.batch_imbalance},
                     {"kv_imbalance", s.kv_imbalance},
                     {"batch_balance_ratio", s.batch_balance_ratio},
                     {"kv_balance_ratio", s.kv_balance_ratio}});
  }
  return {{"policy", r.policy},
          {"steps", r.num_steps},
          {"finished", r.num_finished},
          {"makespan_us", r.makespan_us},
          {"throughput_tokens_per_s", r.throughput_tokens_per_s},
          {"tpot_p50_us", r.tpot_p50_us},
          {"tpot_p99_us", r.tpot_p99_us},
          {"mean_batch_imbalance", r.mean_batch_imbalance},
          {"mean_kv_imbalance", r.mean_kv_imbalance},
          {"timeline", steps}};
}

nlohmann::json to_json(const ModelConfig& m, const DecodeParams& p) {
  return {{"name", m.name},
          {"num_layers", m.num_layers},
          {"num_dense_layers", m.num_dense_layers},
          {"hidden", m.hidden},
          {"num_experts", m.num_experts},
          {"topk", m.topk},
          {"moe_ffn", m.moe_ffn},
          {"kv_bytes_per_token", m.kv_bytes_per_token},
          {"two_batch_overlap", p.two_batch_overlap},
          {"attn_fixed_us", p.attn_fixed_us},
          {"attn_us_per_token", p.attn_us_per_token},
          {"attn_us_per_kv_token", p.attn_us_per_kv_token},
          {"hbm_gbps", p.hbm_gbps},
          {"tflops", p.tflops},
          {"gemm_fixed_us", p.gemm_fixed_us},
          {"step_fixed_us", p.step_fixed_us}};
}

void write_timeline_csv(const std::string& path, const std::vector<ReplayResult>& results) {
  std::ofstream out(path);
  if (!out) throw InputError("timeline", path, "the output file cannot be created");
  out << "policy,step,time_us,step_us,running,batch_imbalance,kv_imbalance,batch_balance_ratio,"
         "kv_balance_ratio\n";
  for (const ReplayResult& r : results) {
    for (std::size_t i = 0; i < r.steps.size(); ++i) {
      const ReplayStep& s = r.steps[i];
      out << fmt::format("{},{},{:.3f},{:.3f},{},{:.5f},{:.5f},{:.5f},{:.5f}\n", r.policy, i,
                         s.time_us, s.step_us, s.num_running, s.batch_imbalance, s.kv_imbalance,
                         s.batch_balance_ratio, s.kv_balance_ratio);
    }
  }
  if (!out) throw InputError("timeline", path, "writing the output file failed");
}

}  // namespace epscope::cli
