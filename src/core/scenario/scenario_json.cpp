#include "epscope/scenario/scenario_json.h"

#include "epscope/base/lists.h"

namespace epscope {

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

}  // namespace epscope
