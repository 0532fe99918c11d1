// The inputs of `plan`: snapshots of running decode requests and traces of arriving ones, read
// from files or synthesized. docs/model.md §8.7.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace epscope {

/// One running decode request in a snapshot.
struct Request {
  std::int64_t id = 0;
  std::int64_t context_tokens = 0;  // tokens in its KV cache
  std::int64_t tokens = 1;          // tokens this step: 1 + accepted drafts
  int rank = -1;                    // where it runs now; -1 = not placed (a new arrival)
};

struct Snapshot {
  std::vector<Request> requests;
  bool has_placement() const;  // every request has a rank
};

/// CSV with header `id,context_tokens,tokens[,rank]` or JSON {"requests": [{"id", "context_tokens",
/// "tokens", "rank"}]} (tokens defaults to 1, rank to -1). Throws InputError naming the field.
Snapshot load_snapshot(const std::string& path);
void save_snapshot(const Snapshot& snapshot, const std::string& path);  // CSV

/// Synthetic snapshot: log-normal context lengths with mean `mean_context_tokens` and log-sigma
/// `sigma`; with `num_drafts` > 0, tokens = 1 + accepted drafts (each draft accepted in order with
/// probability `acceptance`). docs/model.md §8.7.
struct SyntheticSnapshotSpec {
  int num_requests = 1024;
  double mean_context_tokens = 5000;
  double sigma = 1.0;
  int num_drafts = 0;
  double acceptance = 0.7;
  std::uint64_t seed = 1;
};
Snapshot synthetic_snapshot(const SyntheticSnapshotSpec& spec);

struct TraceRequest {
  double arrival_us = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t output_tokens = 1;
};
/// CSV with header `arrival_s,prompt_tokens,output_tokens` (or `arrival_us`).
std::vector<TraceRequest> load_trace(const std::string& path);

/// Poisson arrivals and log-normal lengths. docs/model.md §8.7.
struct SyntheticTraceSpec {
  int num_requests = 4096;
  double rate_per_s = 100;
  double mean_prompt_tokens = 5000;
  double prompt_sigma = 1.0;
  double mean_output_tokens = 500;
  double output_sigma = 0.5;
  std::uint64_t seed = 1;
};
std::vector<TraceRequest> synthetic_trace(const SyntheticTraceSpec& spec);

}  // namespace epscope
