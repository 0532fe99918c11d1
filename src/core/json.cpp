#include "epscope/json.h"

#include <fmt/format.h>
#include <fstream>

#include "epscope/error.h"
#include "epscope/lists.h"

namespace epscope {
namespace {

nlohmann::json class_json(const ClassTotals& t) {
  nlohmann::json j;
  for (int c = 0; c < kNumLinkClasses; ++c) {
    j[to_string(static_cast<LinkClass>(c))] = {{"bytes", t.bytes[static_cast<std::size_t>(c)]},
                                               {"msgs", t.msgs[static_cast<std::size_t>(c)]}};
  }
  return j;
}

nlohmann::json phase_json(const PhaseResult& p) {
  return {
      {"end_us", p.end_us}, {"duration_us", p.duration_us}, {"bottleneck", to_json(p.bottleneck)}};
}

}  // namespace

nlohmann::json to_json(const Scenario& s) {
  const Cluster& c = s.cluster;
  nlohmann::json j = {
      {"preset", c.preset},
      {"nodes", c.num_nodes},
      {"gpus_per_node", c.gpus_per_node},
      {"nvlink_domain", c.nvlink_domain_size},
      {"nvlink", c.nvlink_enabled},
      {"nvlink_gbps", c.nvlink_gbps},
      {"nic_gbps", c.nic_gbps},
      {"nics_per_gpu", c.nics_per_gpu},
      {"oversubscription", c.oversubscription},
      {"mode", to_string(s.mode)},
      {"num_groups", s.moe.num_groups},
      {"topk_groups", s.moe.topk_groups},
      {"tokens_per_rank", s.tokens_per_rank},
      {"tokens", format_token_list(s.tokens_per_rank)},
      {"routing", s.routing.to_string()},
      {"seed", s.routing.seed},
      {"back_to_back", s.back_to_back},
  };
  j.update(moe_shape_json(s.moe));
  if (s.mode == KernelMode::kAllToAll) j["a2a_rows"] = to_string(s.a2a_rows);
  if (!s.start_offset_us.empty()) j["start_offset_us"] = s.start_offset_us;
  return j;
}

nlohmann::json moe_shape_json(const MoeShape& moe) {
  return {
      {"hidden", moe.hidden},
      {"topk", moe.topk},
      {"experts", moe.num_experts},
      {"dispatch_dtype", to_string(moe.dispatch_dtype)},
      {"combine_dtype", to_string(moe.combine_dtype)},
      {"max_tokens_per_rank", moe.max_tokens_per_rank},
  };
}

nlohmann::json to_json(const Bottleneck& b) {
  return {{"resource", to_string(b.resource)},
          {"owner", b.owner},
          {"busy_us", b.busy_us},
          {"msgs", b.msgs},
          {"bytes", b.bytes},
          {"gbps", b.gbps},
          {"reason", b.reason}};
}

nlohmann::json to_json(const EstimateResult& r) {
  nlohmann::json ranks = nlohmann::json::array();
  for (std::size_t i = 0; i < r.ranks.size(); ++i) {
    const RankResult& rr = r.ranks[i];
    const RankPhase& d = r.dispatch.ranks[i];
    const RankPhase& c = r.combine.ranks[i];
    ranks.push_back({
        {"rank", rr.rank},
        {"tokens", rr.tokens},
        {"dispatch_us", rr.dispatch_us},
        {"combine_us", rr.combine_us},
        {"total_us", rr.total_us},
        {"wait_us", rr.wait_us},
        {"transfer_us", rr.transfer_us},
        {"send_bytes", rr.send_bytes},
        {"recv_bytes", rr.recv_bytes},
        {"bottleneck", rr.bottleneck},
        {"dispatch",
         {{"start_us", d.start_us},
          {"finish_us", d.finish_us},
          {"wait_us", d.wait_us},
          {"transfer_us", d.transfer_us},
          {"bottleneck", to_json(d.bottleneck)},
          {"send", class_json(rr.dispatch_send)},
          {"recv", class_json(rr.dispatch_recv)}}},
        {"combine",
         {{"start_us", c.start_us},
          {"finish_us", c.finish_us},
          {"wait_us", c.wait_us},
          {"transfer_us", c.transfer_us},
          {"bottleneck", to_json(c.bottleneck)},
          {"send", class_json(rr.combine_send)},
          {"recv", class_json(rr.combine_recv)}}},
    });
  }
  return {{"dispatch_us", r.dispatch_us},
          {"combine_us", r.combine_us},
          {"total_us", r.total_us},
          {"summary", r.summary},
          {"dispatch", phase_json(r.dispatch)},
          {"combine", phase_json(r.combine)},
          {"ranks", std::move(ranks)}};
}

nlohmann::json to_json(const Comparison& c) {
  nlohmann::json j = to_json(c.unbalanced);
  j["balanced"] = to_json(c.balanced);
  j["ratio"] = c.ratio;
  j["why"] = c.why;
  return j;
}

nlohmann::json read_json_file(const std::string& path, const std::string& field) {
  std::ifstream in(path);
  if (!in) throw InputError(field, path, "the file cannot be opened");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for numbers past double (1e400) thrown while parsing.
    throw InputError(field, path, fmt::format("malformed JSON: {}", e.what()));
  }
}

}  // namespace epscope
