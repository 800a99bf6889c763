// codec<T>: the one customization point that turns a cached value into bytes and back. Strings
// are stored verbatim, integers as decimal (so INCR still works), and any type with nlohmann
// to_json/from_json found by ADL as JSON, with no registration.
#pragma once

#include <charconv>
#include <concepts>
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

template <JsonCodable T>
requires(!std::same_as<T, std::string> &&
         !(std::integral<T> && !std::same_as<T, bool>)) struct codec<T> {
  static std::string encode(const T& value) { return nlohmann::json(value).dump(); }
  static std::optional<T> decode(std::string_view bytes) noexcept {
    try {
      // allow_exceptions=false turns a parse error into a discarded value instead of throwing.
      const nlohmann::json json = nlohmann::json::parse(bytes, nullptr, false);
      if (json.is_discarded())
        return std::nullopt;
      return json.get<T>();
    } catch (const std::exception&) {
      return std::nullopt;  // valid JSON of the wrong shape, e.g. a string where T wants an object
    }
  }
};

/// Stored verbatim: the cache holds exactly these bytes.
template <>
struct codec<std::string> {
  static std::string encode(const std::string& value) { return value; }
  static std::optional<std::string> decode(std::string_view bytes) { return std::string{bytes}; }
};

/// Integers as decimal text, the form INCR, DECR and other programs read and write.
template <class T>
requires(std::integral<T> && !std::same_as<T, bool>) struct codec<T> {
  static std::string encode(T value) { return std::to_string(value); }
  static std::optional<T> decode(std::string_view bytes) noexcept {
    T value{};
    const auto [end, error] = std::from_chars(bytes.data(), bytes.data() + bytes.size(), value);
    if (error != std::errc{} || end != bytes.data() + bytes.size())
      return std::nullopt;
    return value;
  }
};

/// Whether codec<T> has a usable specialization (the default one for JsonCodable types counts).
template <class T>
concept Cacheable = !std::is_array_v<T> && requires(const T& value, std::string_view bytes) {
  { codec<T>::encode(value) } -> std::convertible_to<std::string>;
  { codec<T>::decode(bytes) } -> std::same_as<std::optional<T>>;
};

}  // namespace airport::cache
