// parse_toml_file(): toml++ 3.3 behind a guard against its undefined behaviour on non-ASCII text.
//
// toml++ 3.3's is_non_ascii_horizontal_whitespace() reaches __builtin_unreachable for most code
// points in U+00A1..U+FEFF (U+00E9 'é' included). The parser asks that question of a character
// wherever whitespace may stand: between tokens, inside a malformed token (`x = 1="é"`), and
// after a backslash in a multi-line basic string (`"""\é"""`, or after a line-ending backslash).
// fuzz_scenario_file found all of these; a lexer of our own in front of toml++ guessed wrong
// about where strings begin and end, so the guard below needs no lexer:
//   1. Every non-ASCII code point is replaced by U+FFFD, which toml++ classifies safely (it lies
//      above U+FEFF) as neither whitespace nor part of a key or value, as TOML classifies every
//      non-ASCII character: the copy parses as TOML reads the original, with the same line and
//      column on errors. (toml++ alone would also take U+00A0 and a few others as whitespace.)
//   2. If the copy is valid TOML, every non-ASCII character sits in a comment or a string. The
//      one valid place toml++ still classifies them is a multi-line basic string with a
//      backslash; such a string is refused, found from the copy's string nodes.
//   3. Only then is the original parsed, for its real string values.
#include "base/toml_read.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "epscope/base/error.h"

namespace epscope::detail {
namespace {

/// Byte length of the UTF-8 sequence at text[i], or 0 when it is not well formed there.
std::size_t utf8_length(const std::string& text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  const std::size_t len = lead < 0x80                    ? 1
                          : lead >= 0xC2 && lead <= 0xDF ? 2
                          : lead >= 0xE0 && lead <= 0xEF ? 3
                          : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                         : 0;
  if (len == 0 || i + len > text.size()) return 0;
  for (std::size_t k = 1; k < len; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return len;
}

/// Byte offset of a toml++ source position (1-based line, column in code points) in `text`.
std::size_t offset_of(const std::string& text, const toml::source_position& pos) {
  std::size_t i = 0;
  for (toml::source_index line = 1; line < pos.line && i < text.size(); ++i)
    if (text[i] == '\n') ++line;
  for (toml::source_index col = 1; col < pos.column && i < text.size(); ++col)
    i += std::max<std::size_t>(1, utf8_length(text, i));
  return i;
}

InputError toml_error(const std::string& field, const std::string& path,
                      const toml::source_position& where, const std::string& what) {
  return InputError(field, fmt::format("{} line {} column {}", path, where.line, where.column),
                    what);
}

/// Refuses a multi-line basic string of `node` that holds a non-ASCII character and a backslash
/// (step 2): toml++ classifies the character after a backslash, and every character after a
/// line-ending backslash up to the next non-whitespace.
void check_multiline_strings(const toml::node& node, const std::string& text,
                             const std::string& field, const std::string& path) {
  if (const auto* table = node.as_table()) {
    for (const auto& [key, child] : *table)
      check_multiline_strings(child, text, field, path);
  } else if (const auto* array = node.as_array()) {
    for (const auto& child : *array)
      check_multiline_strings(child, text, field, path);
  } else if (node.is_string()) {
    const std::size_t begin = offset_of(text, node.source().begin);
    if (text.compare(begin, 3, R"(""")") != 0) return;
    const std::size_t end = std::min(offset_of(text, node.source().end), text.size());
    bool backslash = false, non_ascii = false;
    for (std::size_t i = begin; i < end; ++i) {
      backslash = backslash || text[i] == '\\';
      non_ascii = non_ascii || static_cast<unsigned char>(text[i]) >= 0x80;
    }
    if (backslash && non_ascii)
      throw toml_error(field, path, node.source().begin,
                       "non-ASCII characters in a multi-line \"\"\" string with a backslash are "
                       "not supported (toml++ 3.3 misreads them); use a single-line string or a "
                       "multi-line literal '''...''' string");
  }
}

}  // namespace

std::string toml_text(const toml::node& node) {
  constexpr std::size_t kMaxItems = 8;
  if (const auto* s = node.as_string()) return fmt::format("\"{}\"", s->get());
  if (const auto* i = node.as_integer()) return fmt::format("{}", i->get());
  if (const auto* f = node.as_floating_point()) return fmt::format("{}", f->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  std::string text;
  std::size_t count = 0;
  const auto add = [&](const std::string& item) {
    if (count > 0) text += ", ";
    text += count < kMaxItems ? item : "...";
    ++count;
  };
  if (const auto* array = node.as_array()) {
    for (const auto& item : *array) {
      if (count > kMaxItems) break;
      add(toml_text(item));
    }
    return "[" + text + "]";
  }
  if (const auto* table = node.as_table()) {
    for (const auto& [key, item] : *table) {
      if (count > kMaxItems) break;
      add(fmt::format("{} = {}", key.str(), toml_text(item)));
    }
    return "{" + text + "}";
  }
  std::ostringstream type;
  type << "(a " << node.type() << ")";
  return type.str();
}

toml::table parse_toml_file(const std::string& path, const std::string& field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(field, path, "the file cannot be opened");
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  static const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  // Step 1: the copy with U+FFFD for every non-ASCII code point.
  std::string copy;
  copy.reserve(text.size());
  int line = 1;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t len = utf8_length(text, i);
    if (len == 0)
      throw InputError(field, fmt::format("{} line {}", path, line),
                       fmt::format("byte 0x{:02X} is not UTF-8 (TOML files must be UTF-8)",
                                   static_cast<unsigned char>(text[i])));
    if (text[i] == '\n') ++line;
    if (len == 1)
      copy += text[i];
    else
      copy += kReplacement;
    i += len;
  }
  try {
    if (copy == text) return toml::parse(text, path);
    const toml::table shape = toml::parse(copy, path);
    check_multiline_strings(shape, text, field, path);  // step 2
    return toml::parse(text, path);                     // step 3
  } catch (const toml::parse_error& e) {
    // An error in the copy may quote its U+FFFD: quote the original character there instead.
    std::string what(e.description());
    const std::size_t at = offset_of(text, e.source().begin);
    const std::size_t len = at < text.size() ? utf8_length(text, at) : 0;
    for (std::size_t k = what.find(kReplacement); len > 1 && k != std::string::npos;
         k = what.find(kReplacement, k + len))
      what.replace(k, kReplacement.size(), text.substr(at, len));
    throw toml_error(field, path, e.source().begin, "malformed TOML: " + what);
  }
}

}  // namespace epscope::detail
