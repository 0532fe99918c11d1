// Reading a JSON file, for every input reader (scenario files, top-k files, calibrations, model
// configs). nlohmann::json is a CPU-only header.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace epscope {

/// Reads and parses a JSON file; a missing file or malformed JSON is an InputError on `field`.
nlohmann::json read_json_file(const std::string& path, const std::string& field);

}  // namespace epscope
