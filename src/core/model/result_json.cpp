#include "epscope/model/result_json.h"

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

}  // namespace epscope
