// SPDX-License-Identifier: BSD-3-Clause
#include "airport/cache/serialization.hpp"

#include <array>
#include <limits>
#include <utility>

namespace airport::cache {
namespace {

using nlohmann::json;

// Python's json.loads reads three constants that JSON lacks. Outside strings they are rewritten
// into string markers that nlohmann parses, and the markers turned into doubles afterwards. A
// marker starts with a NUL character, which no text value of the services is expected to hold.
struct PythonConstant {
  std::string_view token;
  std::string_view marker_literal;  // as written into the JSON text
  std::string_view marker;          // as the parsed string holds it
  double value;
};

const std::array<PythonConstant, 3>& python_constants() {
  static const std::array<PythonConstant, 3> constants{{
      {"-Infinity", R"("\u0000airport-cache:-Infinity")",
       std::string_view{"\0airport-cache:-Infinity", 24}, -std::numeric_limits<double>::infinity()},
      {"Infinity", R"("\u0000airport-cache:Infinity")",
       std::string_view{"\0airport-cache:Infinity", 23}, std::numeric_limits<double>::infinity()},
      {"NaN", R"("\u0000airport-cache:NaN")", std::string_view{"\0airport-cache:NaN", 18},
       std::numeric_limits<double>::quiet_NaN()},
  }};
  return constants;
}

// The text with every NaN, Infinity and -Infinity outside a string replaced by its marker;
// nullopt when there is none (then the text is simply not JSON).
std::optional<std::string> with_markers(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 32);
  bool in_string = false;
  bool replaced = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    bool matched = false;
    for (const PythonConstant& constant : python_constants()) {
      if (text.substr(i).starts_with(constant.token)) {
        out += constant.marker_literal;
        i += constant.token.size() - 1;
        matched = replaced = true;
        break;
      }
    }
    if (!matched)
      out += c;
  }
  if (!replaced)
    return std::nullopt;
  return out;
}

void restore_constants(json& value) {
  if (value.is_structured()) {
    for (json& element : value)
      restore_constants(element);
  } else if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    for (const PythonConstant& constant : python_constants()) {
      if (text == constant.marker) {
        value = constant.value;
        return;
      }
    }
  }
}

}  // namespace

namespace detail {

std::optional<nlohmann::json> parse_like_python(std::string_view bytes) noexcept {
  try {
    json value = json::parse(bytes, nullptr, false);
    if (!value.is_discarded())
      return value;
    const std::optional<std::string> rewritten = with_markers(bytes);
    if (!rewritten)
      return std::nullopt;
    value = json::parse(*rewritten, nullptr, false);
    if (value.is_discarded())
      return std::nullopt;
    restore_constants(value);
    return value;
  } catch (const std::exception&) {
    return std::nullopt;  // out of memory
  }
}

}  // namespace detail

std::string codec<nlohmann::json>::encode(const nlohmann::json& value) {
  if (value.is_number_float())
    return codec<double>::encode(value.get<double>());
  return value.dump();
}

std::optional<nlohmann::json> codec<nlohmann::json>::decode(std::string_view bytes) {
  if (std::optional<nlohmann::json> parsed = detail::parse_like_python(bytes))
    return parsed;
  return nlohmann::json(std::string{bytes});
}

}  // namespace airport::cache
