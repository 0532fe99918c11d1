// Small output helpers shared by the subcommands.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace epscope::cli {

/// Thrown by a subcommand's callback to hand its exit code back to main().
struct CommandDone {
  int exit_code;
};

/// Writes JSON (2-space indent) to `path`, or to stdout for "-". Throws on I/O failure.
void write_json(const std::string& path, const nlohmann::json& j);
/// Writes `text` to `path`, or to stdout for "-". `flag` names the option in error messages.
void write_text(const std::string& path, const std::string& text, const std::string& flag);

}  // namespace epscope::cli
