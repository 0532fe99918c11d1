#include "epscope/base/json_file.h"

#include <fmt/format.h>
#include <fstream>

#include "epscope/base/error.h"

namespace epscope {

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
