#include "epscope/traffic/topk_file.h"

#include <fmt/format.h>
#include <cctype>
#include <charconv>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "epscope/base/error.h"
#include "epscope/base/json_file.h"

namespace epscope {
namespace {

const char* const kField = "routing file";

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(kField, path, "the file cannot be opened");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool ends_with(const std::string& s, const char* suffix) {
  const std::size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

void check_expert(const std::string& path, long long e, int num_experts, const std::string& where) {
  if (e < -1 || e >= num_experts) {
    throw InputError(kField, fmt::format("{}: expert {} at {}", path, e, where),
                     fmt::format("expert indices must be -1 (none) or 0..{}", num_experts - 1));
  }
}

std::vector<RankTopk> from_json(const std::string& path, int topk, int num_experts) {
  nlohmann::json j = read_json_file(path, kField);
  if (j.is_object()) {
    if (!j.contains("topk_idx"))
      throw InputError(kField, path, "a JSON object needs a 'topk_idx' array");
    j = j["topk_idx"];
  }
  if (!j.is_array()) throw InputError(kField, path, "expected [ranks][tokens][topk] integers");
  std::vector<RankTopk> out;
  for (std::size_t r = 0; r < j.size(); ++r) {
    const auto& rank = j[r];
    if (!rank.is_array())
      throw InputError(kField, fmt::format("{}: rank {}", path, r), "expected a list of tokens");
    RankTopk rt;
    rt.num_tokens = static_cast<std::int64_t>(rank.size());
    for (std::size_t t = 0; t < rank.size(); ++t) {
      const auto& tok = rank[t];
      if (!tok.is_array() || static_cast<int>(tok.size()) != topk) {
        throw InputError(kField, fmt::format("{}: rank {} token {}", path, r, t),
                         fmt::format("each token needs exactly topk = {} integers", topk));
      }
      for (const auto& e : tok) {
        if (!e.is_number_integer()) {
          throw InputError(kField, fmt::format("{}: rank {} token {}", path, r, t),
                           "expert indices must be integers");
        }
        const auto v = e.get<long long>();
        check_expert(path, v, num_experts, fmt::format("rank {} token {}", r, t));
        rt.expert_idx.push_back(static_cast<std::int32_t>(v));
      }
    }
    out.push_back(std::move(rt));
  }
  return out;
}

std::vector<RankTopk> from_csv(const std::string& path, int num_ranks, int topk, int num_experts) {
  std::istringstream in(read_all(path));
  std::vector<RankTopk> out(static_cast<std::size_t>(num_ranks));
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (line_no == 1 && std::isalpha(static_cast<unsigned char>(line[0]))) continue;  // header
    std::vector<long long> v;
    std::stringstream cells(line);
    std::string cell;
    while (std::getline(cells, cell, ',')) {
      try {
        std::size_t used = 0;
        v.push_back(std::stoll(cell, &used));
        if (cell.find_first_not_of(" \t", used) != std::string::npos)
          throw std::invalid_argument(cell);
      } catch (const std::exception&) {
        throw InputError(kField, fmt::format("{} line {}: '{}'", path, line_no, cell),
                         "cells must be integers");
      }
    }
    if (static_cast<int>(v.size()) != 2 + topk) {
      throw InputError(
          kField, fmt::format("{} line {}", path, line_no),
          fmt::format("each row is rank,token,e0..e{} ({} cells)", topk - 1, 2 + topk));
    }
    if (v[0] < 0 || v[0] >= num_ranks) {
      throw InputError(kField, fmt::format("{} line {}: rank {}", path, line_no, v[0]),
                       fmt::format("ranks must be 0..{}", num_ranks - 1));
    }
    RankTopk& rt = out[static_cast<std::size_t>(v[0])];
    if (v[1] != rt.num_tokens) {
      throw InputError(kField, fmt::format("{} line {}: token {}", path, line_no, v[1]),
                       fmt::format("tokens of rank {} must be listed in order 0,1,2..; expected {}",
                                   v[0], rt.num_tokens));
    }
    ++rt.num_tokens;
    for (int j = 0; j < topk; ++j) {
      check_expert(path, v[static_cast<std::size_t>(2 + j)], num_experts,
                   fmt::format("line {}", line_no));
      rt.expert_idx.push_back(static_cast<std::int32_t>(v[static_cast<std::size_t>(2 + j)]));
    }
  }
  return out;
}

std::vector<RankTopk> from_npy(const std::string& path, int num_ranks, int topk, int num_experts,
                               const std::vector<std::int64_t>& tokens_hint) {
  const std::string data = read_all(path);
  if (data.size() < 10 || data.compare(0, 6, "\x93NUMPY") != 0) {
    throw InputError(kField, path, "not a .npy file (bad magic)");
  }
  const int major = static_cast<unsigned char>(data[6]);
  std::size_t header_len, header_at;
  if (major == 1) {
    header_len = static_cast<unsigned char>(data[8]) |
                 (static_cast<std::size_t>(static_cast<unsigned char>(data[9])) << 8);
    header_at = 10;
  } else {
    if (data.size() < 12) throw InputError(kField, path, "truncated .npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i)
      header_len |= static_cast<std::size_t>(static_cast<unsigned char>(data[8 + i])) << (8 * i);
    header_at = 12;
  }
  if (header_at + header_len > data.size()) throw InputError(kField, path, "truncated .npy header");
  const std::string header = data.substr(header_at, header_len);
  // The header is a Python dict literal: {'descr': '<i4', 'fortran_order': False, 'shape': (a, b,
  // c), }
  auto value_after = [&](const char* key) -> std::string_view {
    const std::size_t at = header.find(key);
    if (at == std::string::npos) return {};
    std::string_view rest(header);
    rest.remove_prefix(at + std::strlen(key));
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == ':'))
      rest.remove_prefix(1);
    return rest;
  };
  const std::string_view descr = value_after("'descr'");
  std::size_t item = 0;
  for (const char* form : {"'<i4'", "'|i4'", "'=i4'", "'<i8'", "'|i8'", "'=i8'"}) {
    if (descr.substr(0, 5) == form) item = form[3] == '4' ? 4 : 8;
  }
  if (item == 0)
    throw InputError(kField, path, "the .npy dtype must be little-endian int32 or int64");
  if (value_after("'fortran_order'").substr(0, 4) == "True") {
    throw InputError(kField, path, "Fortran-ordered .npy arrays are not supported; save C order");
  }
  std::string_view dims = value_after("'shape'");
  if (dims.empty() || dims.front() != '(' || dims.find(')') == std::string_view::npos) {
    throw InputError(kField, path, "the .npy header has no shape");
  }
  dims = dims.substr(1, dims.find(')') - 1);
  std::vector<std::int64_t> shape;
  std::int64_t count = 1;
  while (!dims.empty()) {
    const std::size_t comma = std::min(dims.find(','), dims.size());
    std::string_view d = dims.substr(0, comma);
    while (!d.empty() && d.front() == ' ')
      d.remove_prefix(1);
    while (!d.empty() && d.back() == ' ')
      d.remove_suffix(1);
    if (!d.empty()) {
      std::int64_t v = -1;
      const auto [ptr, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
      if (ec != std::errc() || ptr != d.data() + d.size() || v < 0 || v > (std::int64_t{1} << 31)) {
        throw InputError(kField, fmt::format("{}: shape entry '{}'", path, d),
                         "must be an integer 0..2^31");
      }
      shape.push_back(v);
      if (v > 0 && count > (std::int64_t{1} << 40) / v)
        throw InputError(kField, path, "the .npy array is too large");
      count *= v;
    }
    dims.remove_prefix(std::min(comma + 1, dims.size()));
  }
  const std::size_t body = header_at + header_len;
  if (data.size() - body < static_cast<std::size_t>(count) * item) {
    throw InputError(kField, path, "the .npy body is shorter than its shape says");
  }
  auto at = [&](std::int64_t i) -> long long {
    if (item == 4) {
      std::int32_t v;
      std::memcpy(&v, data.data() + body + static_cast<std::size_t>(i) * 4, 4);
      return v;
    }
    std::int64_t v;
    std::memcpy(&v, data.data() + body + static_cast<std::size_t>(i) * 8, 8);
    return v;
  };
  std::vector<RankTopk> out(static_cast<std::size_t>(num_ranks));
  if (shape.size() == 3) {
    if (shape[0] != num_ranks || shape[2] != topk) {
      throw InputError(kField,
                       fmt::format("{}: shape ({}, {}, {})", path, shape[0], shape[1], shape[2]),
                       fmt::format("expected (ranks = {}, tokens, topk = {})", num_ranks, topk));
    }
    for (int r = 0; r < num_ranks; ++r) {
      const std::int64_t n =
          tokens_hint.empty() ? shape[1] : tokens_hint[static_cast<std::size_t>(r)];
      if (n > shape[1]) {
        throw InputError(kField, fmt::format("{}: rank {} has {} tokens", path, r, n),
                         fmt::format("the array holds at most {} per rank", shape[1]));
      }
      out[static_cast<std::size_t>(r)].num_tokens = n;
      for (std::int64_t i = 0; i < n * topk; ++i) {
        const long long e = at((r * shape[1]) * topk + i);
        check_expert(path, e, num_experts, fmt::format("rank {}", r));
        out[static_cast<std::size_t>(r)].expert_idx.push_back(static_cast<std::int32_t>(e));
      }
    }
    return out;
  }
  if (shape.size() == 2) {
    if (shape[1] != topk) {
      throw InputError(kField, fmt::format("{}: shape ({}, {})", path, shape[0], shape[1]),
                       fmt::format("expected (total tokens, topk = {})", topk));
    }
    if (tokens_hint.empty()) {
      throw InputError(kField, path,
                       "a 2-D [total_tokens, topk] array needs --tokens to split it over ranks");
    }
    std::int64_t pos = 0;
    for (int r = 0; r < num_ranks; ++r) {
      const std::int64_t n = tokens_hint[static_cast<std::size_t>(r)];
      if (pos + n > shape[0]) {
        throw InputError(kField, fmt::format("{}: {} rows", path, shape[0]),
                         "fewer rows than --tokens adds up to");
      }
      out[static_cast<std::size_t>(r)].num_tokens = n;
      for (std::int64_t i = 0; i < n * topk; ++i) {
        const long long e = at(pos * topk + i);
        check_expert(path, e, num_experts, fmt::format("row {}", pos + i / topk));
        out[static_cast<std::size_t>(r)].expert_idx.push_back(static_cast<std::int32_t>(e));
      }
      pos += n;
    }
    if (pos != shape[0]) {
      throw InputError(kField, fmt::format("{}: {} rows", path, shape[0]),
                       fmt::format("--tokens adds up to {}", pos));
    }
    return out;
  }
  throw InputError(kField, path, "a .npy routing array must be 2-D or 3-D");
}

}  // namespace

std::vector<RankTopk> read_topk_file(const std::string& path, int num_ranks, int topk,
                                     int num_experts,
                                     const std::vector<std::int64_t>& tokens_hint) {
  EPSCOPE_ASSERT(tokens_hint.empty() || static_cast<int>(tokens_hint.size()) == num_ranks);
  std::vector<RankTopk> out;
  if (ends_with(path, ".npy")) {
    out = from_npy(path, num_ranks, topk, num_experts, tokens_hint);
  } else if (ends_with(path, ".csv")) {
    out = from_csv(path, num_ranks, topk, num_experts);
  } else if (ends_with(path, ".json")) {
    out = from_json(path, topk, num_experts);
  } else {
    throw InputError(kField, path, "the file must end in .json, .csv or .npy");
  }
  if (static_cast<int>(out.size()) != num_ranks) {
    throw InputError(kField, fmt::format("{}: {} ranks", path, out.size()),
                     fmt::format("the cluster has {} ranks", num_ranks));
  }
  if (!tokens_hint.empty()) {
    for (int r = 0; r < num_ranks; ++r) {
      if (out[static_cast<std::size_t>(r)].num_tokens != tokens_hint[static_cast<std::size_t>(r)]) {
        throw InputError(kField,
                         fmt::format("{}: rank {} has {} tokens", path, r,
                                     out[static_cast<std::size_t>(r)].num_tokens),
                         fmt::format("--tokens says {}", tokens_hint[static_cast<std::size_t>(r)]));
      }
    }
  }
  return out;
}

}  // namespace epscope
