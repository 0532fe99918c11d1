// The per-rank list syntax shared by --tokens and --start-offset-us: comma-separated values,
// `VxN` repeats V N times ("384x8,64x8" = 8 ranks of 384, then 8 of 64).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace epscope {

/// Parses a token list. `field` names the flag in error messages. Values must be >= 0.
std::vector<std::int64_t> parse_token_list(const std::string& text, const std::string& field);
/// Parses a list of finite real numbers (start offsets in us), same syntax.
std::vector<double> parse_real_list(const std::string& text, const std::string& field);
/// A list of `num_ranks` values: a single plain value is repeated on every rank; anything else
/// must expand to exactly num_ranks entries.
std::vector<std::int64_t> expand_token_list(const std::string& text, int num_ranks,
                                            const std::string& field);
std::vector<double> expand_real_list(const std::string& text, int num_ranks,
                                     const std::string& field);
/// Writes a list back in the compact syntax ("384x8,64x8").
std::string format_token_list(const std::vector<std::int64_t>& values);

}  // namespace epscope
