#include "output.h"

#include <fstream>
#include <iostream>

#include "epscope/error.h"

namespace epscope::cli {

void write_json(const std::string& path, const nlohmann::json& j) {
  write_text(path, j.dump(2) + "\n", "json");
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
