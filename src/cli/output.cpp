#include "output.h"

#include <fstream>
#include <iostream>

#include "epscope/base/error.h"

namespace epscope::cli {

void write_json(const std::string& path, const nlohmann::json& j) {
  // Strings from the user (file paths) need not be UTF-8; JSON must be: bad bytes become U+FFFD
  // instead of a type_error 316 ("internal error") at the very end of a run.
  write_text(path, j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", "json");
}

void write_text(const std::string& path, const std::string& text, const std::string& flag) {
  if (path == "-") {
    std::cout << text;
    return;
  }
  std::ofstream out(path);
  if (!out) throw InputError(flag, path, "the output file cannot be created");
  out << text;
  if (!out) throw InputError(flag, path, "writing the output file failed");
}

}  // namespace epscope::cli
