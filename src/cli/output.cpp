#include "output.h"

#include <fstream>
#include <iostream>

#include "epscope/error.h"

namespace epscope::cli {

void write_json(const std::string& path, const nlohmann::json& j) {
  const std::string text = j.dump(2) + "\n";
  if (path == "-") {
    std::cout << text;
    return;
  }
  std::ofstream out(path);
  if (!out) throw InputError("json", path, "the output file cannot be created");
  out << text;
  if (!out) throw InputError("json", path, "writing the output file failed");
}

}  // namespace epscope::cli
