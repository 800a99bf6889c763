// SPDX-License-Identifier: BSD-3-Clause
// codec<T>: the one customization point that turns a cached value into bytes and back, readable
// by the workshop's Python services too (docs/interop.md). Strings are stored verbatim, integers
// as decimal (so INCR still works), bools and floating point as JSON, and any type with nlohmann
// to_json/from_json found by ADL as JSON, with no registration.
#pragma once

#include <charconv>
#include <cmath>
#include <concepts>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace airport::cache {

/// Types nlohmann::json can write and read, through ADL to_json/from_json or its built-ins.
template <class T>
concept JsonCodable = requires(nlohmann::json& out, const nlohmann::json& in, const T& value,
                               T& target) {
  nlohmann::adl_serializer<T>::to_json(out, value);
  nlohmann::adl_serializer<T>::from_json(in, target);
};

template <class T>
inline constexpr bool codec_unsupported = false;

namespace detail {

template <class T>
inline constexpr bool is_optional_v = false;
template <class T>
inline constexpr bool is_optional_v<std::optional<T>> = true;

/// Types with a codec of their own below, which the JSON default must leave alone.
template <class T>
concept HasBuiltinCodec = std::same_as<T, std::string> || std::same_as<T, nlohmann::json> ||
    std::integral<T> || std::floating_point<T> || is_optional_v<T>;

/// The original's reading rule (Python's json.loads) as far as nlohmann can follow it: strict
/// JSON, and, when that fails, the same text with Python's non-standard constants NaN, Infinity
/// and -Infinity (which json.dumps writes for non-finite floats) read as doubles. nullopt when
/// json.loads would fail too. Never throws.
[[nodiscard]] std::optional<nlohmann::json> parse_like_python(std::string_view bytes) noexcept;

/// Whether the bytes are how the original stored None (`str(None)`), or JSON null.
[[nodiscard]] constexpr bool is_none(std::string_view bytes) noexcept {
  return bytes == "None" || bytes == "null";
}

}  // namespace detail

/// The codec of T. The default covers JsonCodable types; specialize it for anything else:
///   template <> struct airport::cache::codec<Money> {
///     static std::string encode(const Money&);
///     static std::optional<Money> decode(std::string_view);   // nullopt: not a Money
///   };
/// decode() returns nullopt for bytes it cannot read, and must not throw.
template <class T>
struct codec {
  static_assert(codec_unsupported<T>,
                "airport::cache::codec<T>: T cannot be cached as it is. Either write "
                "`void to_json(nlohmann::json&, const T&)` and "
                "`void from_json(const nlohmann::json&, T&)` in T's namespace, or specialize "
                "airport::cache::codec<T> with static encode(const T&) -> std::string and "
                "decode(std::string_view) -> std::optional<T>.");
};

/// Whether codec<T> has a usable specialization (the default one for JsonCodable types counts).
/// Checked where it is used, so every specialization below (and the user's) takes part.
template <class T>
concept Cacheable = !std::is_array_v<T> && requires(const T& value, std::string_view bytes) {
  { codec<T>::encode(value) } -> std::convertible_to<std::string>;
  { codec<T>::decode(bytes) } -> std::same_as<std::optional<T>>;
};

/// JSON through the type's to_json/from_json. Reads what Python's json.dumps writes, NaN and
/// Infinity included (a double member receives them).
template <JsonCodable T>
requires(!detail::HasBuiltinCodec<T>) struct codec<T> {
  /// Compact JSON from the type's to_json.
  static std::string encode(const T& value) { return nlohmann::json(value).dump(); }
  /// The T from_json reads; nullopt for bytes that are not JSON, or JSON of another shape.
  static std::optional<T> decode(std::string_view bytes) noexcept {
    try {
      const std::optional<nlohmann::json> json = detail::parse_like_python(bytes);
      if (!json)
        return std::nullopt;
      return json->get<T>();
    } catch (const std::exception&) {
      return std::nullopt;  // valid JSON of the wrong shape, e.g. a string where T wants an object
    }
  }
};

/// Any JSON value, read by the original's own rule: the parsed JSON when the bytes parse as
/// Python's json.loads would, else the raw bytes as a JSON string. So get<nlohmann::json> returns
/// what the original's get() returned: `{"a": 1}` an object, `42` a number, `locked` the string
/// "locked", and also `True` and `None` (str() of Python's True and None) the strings "True" and
/// "None", as the original read them. It never fails. Written as compact JSON (UTF-8 as is; a
/// string with its quotes, so that "123" stays a string for both sides); a non-finite number
/// alone is written as NaN / Infinity / -Infinity (json.dumps's spelling), inside a structure as
/// null (nlohmann's).
template <>
struct codec<nlohmann::json> {
  static std::string encode(const nlohmann::json& value);
  static std::optional<nlohmann::json> decode(std::string_view bytes);
};

/// Stored verbatim: the cache holds exactly these bytes, as the original's str() did.
template <>
struct codec<std::string> {
  /// The string's bytes, unchanged.
  static std::string encode(const std::string& value) { return value; }
  /// The bytes, unchanged; any bytes are a string.
  static std::optional<std::string> decode(std::string_view bytes) { return std::string{bytes}; }
};

/// JSON `true` / `false`: Python's json.loads reads them as True / False. Reads those and what
/// the original wrote for a Python bool, str(True) = `True` and `False`; nothing else.
template <>
struct codec<bool> {
  /// `true` or `false`.
  static std::string encode(bool value) { return value ? "true" : "false"; }
  /// true for `true` / `True`, false for `false` / `False`, nullopt for anything else.
  static std::optional<bool> decode(std::string_view bytes) noexcept {
    if (bytes == "true" || bytes == "True")
      return true;
    if (bytes == "false" || bytes == "False")
      return false;
    return std::nullopt;
  }
};

/// Integers as decimal text, the form INCR, DECR and other programs read and write, and what
/// Python's str() and json.dumps write for an int.
template <class T>
requires(std::integral<T> && !std::same_as<T, bool>) struct codec<T> {
  /// Decimal text, `-` for negatives, no leading zeros.
  static std::string encode(T value) { return std::to_string(value); }
  /// The whole bytes as a decimal T; nullopt for anything else, or a number out of T's range.
  static std::optional<T> decode(std::string_view bytes) noexcept {
    T value{};
    const auto [end, error] = std::from_chars(bytes.data(), bytes.data() + bytes.size(), value);
    if (error != std::errc{} || end != bytes.data() + bytes.size())
      return std::nullopt;
    return value;
  }
};

/// Floating point as the shortest decimal that reads back exactly (`299.99`, `42.0`, `1e-05`),
/// which is also what Python's str() and json.dumps write for a float. Non-finite values are
/// written as json.dumps spells them, `NaN`, `Infinity`, `-Infinity`, which Python's json.loads
/// reads back as floats. Reads any JSON number, those three, and str()'s `nan`, `inf`, `-inf`;
/// not `true` or a quoted number. A finite value too large for T is not a T.
template <std::floating_point T>
struct codec<T> {
  /// The shortest exact decimal, or `NaN` / `Infinity` / `-Infinity`.
  static std::string encode(T value) {
    if (std::isnan(value))
      return "NaN";
    if (std::isinf(value))
      return value > 0 ? "Infinity" : "-Infinity";
    return nlohmann::json(value).dump();
  }
  /// The number the bytes spell (see above); nullopt for anything else.
  static std::optional<T> decode(std::string_view bytes) noexcept {
    if (bytes == "NaN" || bytes == "nan")
      return std::numeric_limits<T>::quiet_NaN();
    if (bytes == "Infinity" || bytes == "inf")
      return std::numeric_limits<T>::infinity();
    if (bytes == "-Infinity" || bytes == "-inf")
      return -std::numeric_limits<T>::infinity();
    const nlohmann::json json = nlohmann::json::parse(bytes, nullptr, false);
    if (!json.is_number())
      return std::nullopt;  // not JSON (is_discarded), or JSON of another kind
    const auto value = json.get<T>();
    if (std::isinf(value))
      return std::nullopt;  // 1e300 as a float
    return value;
  }
};

/// A value that may be None. nullopt is written as `null` (Python reads None); a value as
/// codec<T> writes it. Reads `None` (the original's str(None)) and `null` as a present "no
/// value", so get<std::optional<T>> tells three cases apart: nullopt (a miss, or bytes that are
/// not a T), an empty optional (None), and a T. Caveat of sharing bytes with codec<T>: for
/// std::optional<std::string>, the string "None" or "null" reads back as no value.
template <Cacheable T>
struct codec<std::optional<T>> {
  /// `null` for nullopt, else what codec<T> writes.
  static std::string encode(const std::optional<T>& value) {
    return value ? std::string{codec<T>::encode(*value)} : std::string{"null"};
  }
  /// An empty optional for `None` / `null`, the T codec<T> reads, or nullopt when neither.
  static std::optional<std::optional<T>> decode(std::string_view bytes) noexcept {
    if (detail::is_none(bytes))
      return std::optional<T>{};
    std::optional<T> value = codec<T>::decode(bytes);
    if (!value)
      return std::nullopt;
    return value;
  }
};

}  // namespace airport::cache
