#include "epscope/base/lists.h"

#include <fmt/format.h>
#include <charconv>
#include <cmath>

#include "epscope/base/error.h"
#include "epscope/base/limits.h"

namespace epscope {
namespace {

constexpr std::int64_t kMaxRepeat = kMaxRanks;
const char* const kListSyntax =
    "a comma-separated list of values, VxN repeats V N times (384x8,64x8)";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

template <typename T>
bool parse_number(std::string_view text, T& out) {
  if (text.empty()) return false;
  if constexpr (std::is_floating_point_v<T>) {
    // from_chars for double is available in GCC 11+; strtod would accept hex and "inf".
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && ptr == text.data() + text.size() && std::isfinite(out);
  } else {
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && ptr == text.data() + text.size();
  }
}

/// Splits "V" or "VxN" items and calls emit(value, count) for each.
template <typename T, typename Emit>
void for_each_item(const std::string& text, const std::string& field, const char* value_kind,
                   Emit&& emit) {
  std::string_view rest(text);
  if (trim(rest).empty()) throw InputError(field, text, std::string("expected ") + kListSyntax);
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    const std::size_t x = item.find('x');
    T value{};
    std::int64_t count = 1;
    const std::string_view value_text = x == std::string_view::npos ? item : item.substr(0, x);
    if (!parse_number(trim(value_text), value)) {
      throw InputError(field, std::string(item),
                       fmt::format("each item must be {} or {}x<count>; {}", value_kind, value_kind,
                                   kListSyntax));
    }
    if (x != std::string_view::npos) {
      if (!parse_number(trim(item.substr(x + 1)), count) || count < 1 || count > kMaxRepeat) {
        throw InputError(field, std::string(item),
                         fmt::format("the repeat count after 'x' must be 1..{}", kMaxRepeat));
      }
    }
    emit(value, count, item);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
}

}  // namespace

std::vector<std::int64_t> parse_token_list(const std::string& text, const std::string& field) {
  std::vector<std::int64_t> out;
  for_each_item<std::int64_t>(
      text, field, "a whole number of tokens",
      [&](std::int64_t value, std::int64_t count, std::string_view item) {
        if (value < 0 || value > kMaxTokensPerRank) {
          throw InputError(field, std::string(item),
                           fmt::format("tokens per rank must be 0..{}", kMaxTokensPerRank));
        }
        if (static_cast<std::int64_t>(out.size()) + count > kMaxRanks) {
          throw InputError(field, text, fmt::format("at most {} ranks", kMaxRanks));
        }
        out.insert(out.end(), static_cast<std::size_t>(count), value);
      });
  return out;
}

std::vector<double> parse_real_list(const std::string& text, const std::string& field) {
  std::vector<double> out;
  for_each_item<double>(
      text, field, "a finite number", [&](double value, std::int64_t count, std::string_view) {
        if (static_cast<std::int64_t>(out.size()) + count > kMaxRanks) {
          throw InputError(field, text, fmt::format("at most {} ranks", kMaxRanks));
        }
        out.insert(out.end(), static_cast<std::size_t>(count), value);
      });
  return out;
}

namespace {
template <typename T>
std::vector<T> expand(std::vector<T> values, const std::string& text, int num_ranks,
                      const std::string& field) {
  const bool single_plain = values.size() == 1 && text.find('x') == std::string::npos;
  if (single_plain) return std::vector<T>(static_cast<std::size_t>(num_ranks), values.front());
  if (static_cast<int>(values.size()) != num_ranks) {
    throw InputError(
        field, text,
        fmt::format("it lists {} ranks but the cluster has {} (nodes x gpus-per-node); "
                    "give {} entries or one value for all",
                    values.size(), num_ranks, num_ranks));
  }
  return values;
}
}  // namespace

std::vector<std::int64_t> expand_token_list(const std::string& text, int num_ranks,
                                            const std::string& field) {
  return expand(parse_token_list(text, field), text, num_ranks, field);
}

std::vector<double> expand_real_list(const std::string& text, int num_ranks,
                                     const std::string& field) {
  return expand(parse_real_list(text, field), text, num_ranks, field);
}

std::string format_token_list(const std::vector<std::int64_t>& values) {
  std::string out;
  for (std::size_t i = 0; i < values.size();) {
    std::size_t j = i;
    while (j < values.size() && values[j] == values[i])
      ++j;
    if (!out.empty()) out += ',';
    out += j - i > 1 ? fmt::format("{}x{}", values[i], j - i) : fmt::format("{}", values[i]);
    i = j;
  }
  return out;
}

}  // namespace epscope
