// SPDX-License-Identifier: BSD-3-Clause
// codec<T>: strings verbatim, integers as decimal, JSON for types with to_json/from_json, and a
// user specialization for anything else; and reading what the workshop's Python layer wrote.
#include <gtest/gtest.h>
#include <airport/cache/serialization.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <vector>

namespace gate {
struct Gate {
  std::string terminal;
  int number = 0;
  friend bool operator==(const Gate&, const Gate&) = default;
};
void to_json(nlohmann::json& json, const Gate& gate) {
  json = {{"terminal", gate.terminal}, {"number", gate.number}};
}
void from_json(const nlohmann::json& json, Gate& gate) {
  json.at("terminal").get_to(gate.terminal);
  json.at("number").get_to(gate.number);
}

// A third-party type without JSON functions: cached through its own codec specialization.
struct Money {
  long long cents = 0;
  friend bool operator==(const Money&, const Money&) = default;
};
}  // namespace gate

template <>
struct airport::cache::codec<gate::Money> {
  static std::string encode(const gate::Money& money) { return std::to_string(money.cents) + "c"; }
  static std::optional<gate::Money> decode(std::string_view bytes) {
    if (bytes.empty() || bytes.back() != 'c')
      return std::nullopt;
    const auto cents = codec<long long>::decode(bytes.substr(0, bytes.size() - 1));
    if (!cents)
      return std::nullopt;
    return gate::Money{*cents};
  }
};

namespace airport::cache {
namespace {

struct NotCacheable {};
static_assert(Cacheable<gate::Gate>);
static_assert(Cacheable<std::vector<gate::Gate>>);
static_assert(Cacheable<std::map<std::string, int>>);
static_assert(Cacheable<std::string>);
static_assert(Cacheable<int>);
static_assert(Cacheable<double>);
static_assert(Cacheable<bool>);
static_assert(Cacheable<gate::Money>);
static_assert(Cacheable<nlohmann::json>);
static_assert(Cacheable<std::optional<int>>);
static_assert(Cacheable<std::optional<gate::Gate>>);
static_assert(Cacheable<float>);
static_assert(!JsonCodable<NotCacheable>);
static_assert(!Cacheable<const char[4]>);

TEST(Codec, StringsAreStoredVerbatim) {
  const std::string bytes{"\0{not json}\r\n", 14};
  EXPECT_EQ(codec<std::string>::encode(bytes), bytes);
  EXPECT_EQ(codec<std::string>::decode(bytes), bytes);
}

TEST(Codec, IntegersAreDecimalSoIncrCanReadThem) {
  EXPECT_EQ(codec<int>::encode(-42), "-42");
  EXPECT_EQ(codec<long long>::encode(9'000'000'000), "9000000000");
  EXPECT_EQ(codec<int>::decode("17"), 17);
  EXPECT_EQ(codec<int>::decode("17x"), std::nullopt);
  EXPECT_EQ(codec<int>::decode(""), std::nullopt);
  EXPECT_EQ(codec<std::uint8_t>::decode("300"), std::nullopt);  // out of range
}

TEST(Codec, JsonReadyTypesRoundTripWithNoExtraCode) {
  const std::vector<gate::Gate> gates{{"T4", 12}, {"B", 3}};
  const std::string bytes = codec<std::vector<gate::Gate>>::encode(gates);
  EXPECT_EQ(nlohmann::json::parse(bytes)[0]["terminal"], "T4");
  EXPECT_EQ(codec<std::vector<gate::Gate>>::decode(bytes), gates);
}

TEST(Codec, UndecodableBytesAreNulloptNotAnException) {
  EXPECT_EQ(codec<gate::Gate>::decode("{truncated"), std::nullopt);
  EXPECT_EQ(codec<gate::Gate>::decode(R"({"terminal": 4})"), std::nullopt);  // wrong shape
  EXPECT_EQ(codec<gate::Gate>::decode(""), std::nullopt);
  EXPECT_EQ(codec<double>::decode("\"text\""), std::nullopt);
}

TEST(Codec, UserSpecializationsWin) {
  EXPECT_EQ(codec<gate::Money>::encode({1250}), "1250c");
  EXPECT_EQ(codec<gate::Money>::decode("1250c"), gate::Money{1250});
  EXPECT_EQ(codec<gate::Money>::decode("1250"), std::nullopt);
}

TEST(Codec, AnyJsonReadsByTheOriginalsRuleJsonElseTheRawString) {
  using nlohmann::json;
  EXPECT_EQ(codec<json>::decode(R"({"a": 1, "b": [1, 2]})"), (json{{"a", 1}, {"b", {1, 2}}}));
  EXPECT_EQ(codec<json>::decode("42"), json(42));
  EXPECT_EQ(codec<json>::decode("299.99"), json(299.99));
  EXPECT_EQ(codec<json>::decode("true"), json(true));
  EXPECT_EQ(codec<json>::decode("null"), json(nullptr));
  EXPECT_EQ(codec<json>::decode("locked"), json("locked"));
  // str() of Python's True and None do not parse: the original read them back as strings too.
  EXPECT_EQ(codec<json>::decode("True"), json("True"));
  EXPECT_EQ(codec<json>::decode("None"), json("None"));
  EXPECT_EQ(codec<json>::decode(""), json(""));
  EXPECT_EQ(codec<json>::decode(R"({"city": "Zürich"})"), (json{{"city", "Zürich"}}));
}

TEST(Codec, AnyJsonReadsPythonsNanAndInfinityOutsideStringsOnly) {
  using nlohmann::json;
  const auto value = codec<json>::decode(
      R"({"price": NaN, "max": Infinity, "min": -Infinity, "note": "NaN, Infinity"})");
  ASSERT_TRUE(value && value->is_object()) << (value ? value->dump() : "nullopt");
  EXPECT_TRUE(std::isnan((*value)["price"].get<double>()));
  EXPECT_EQ((*value)["max"].get<double>(), std::numeric_limits<double>::infinity());
  EXPECT_EQ((*value)["min"].get<double>(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ((*value)["note"], "NaN, Infinity");
  EXPECT_EQ(codec<json>::decode("[NaN"), json("[NaN"));  // still not JSON: the raw string
}

TEST(Codec, AnyJsonIsWrittenSoBothSidesReadTheSameValue) {
  using nlohmann::json;
  EXPECT_EQ(codec<json>::encode(json{{"a", 1}}), R"({"a":1})");
  EXPECT_EQ(codec<json>::encode(json("123")), R"("123")");  // stays a string for json.loads
  EXPECT_EQ(codec<json>::encode(json(std::numeric_limits<double>::quiet_NaN())), "NaN");
  for (const json& value : {json{{"a", {1, 2}}}, json("locked"), json(nullptr), json(2.5)})
    EXPECT_EQ(codec<json>::decode(codec<json>::encode(value)), value) << value.dump();
}

TEST(Codec, BoolsAreWrittenAsJsonAndReadInBothSpellings) {
  EXPECT_EQ(codec<bool>::encode(true), "true");
  EXPECT_EQ(codec<bool>::encode(false), "false");
  EXPECT_EQ(codec<bool>::decode("True"), true);
  EXPECT_EQ(codec<bool>::decode("False"), false);
  EXPECT_EQ(codec<bool>::decode("true"), true);
  EXPECT_EQ(codec<bool>::decode("false"), false);
  EXPECT_EQ(codec<bool>::decode("1"), std::nullopt);
  EXPECT_EQ(codec<bool>::decode("TRUE"), std::nullopt);
}

TEST(Codec, DoublesUsePythonsShortestFormAndItsNonFiniteSpellings) {
  EXPECT_EQ(codec<double>::encode(299.99), "299.99");
  EXPECT_EQ(codec<double>::encode(42.0), "42.0");
  EXPECT_EQ(codec<double>::encode(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(codec<double>::encode(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(codec<double>::encode(std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(codec<double>::encode(-std::numeric_limits<double>::infinity()), "-Infinity");
  EXPECT_EQ(codec<double>::decode("299.99"), 299.99);
  EXPECT_EQ(codec<double>::decode("42"), 42.0);
  EXPECT_EQ(codec<double>::decode("1e-05"), 1e-05);
  EXPECT_TRUE(std::isnan(*codec<double>::decode("nan")));
  EXPECT_TRUE(std::isnan(*codec<double>::decode("NaN")));
  EXPECT_EQ(codec<double>::decode("inf"), std::numeric_limits<double>::infinity());
  EXPECT_EQ(codec<double>::decode("-Infinity"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(codec<double>::decode("true"), std::nullopt);
  EXPECT_EQ(codec<double>::decode("\"1.5\""), std::nullopt);
  EXPECT_EQ(codec<float>::decode("1e300"), std::nullopt);
  EXPECT_EQ(codec<float>::decode("2.5"), 2.5F);
}

TEST(Codec, OptionalsReadNoneAndNullAsAPresentNoValue) {
  using Maybe = std::optional<int>;
  const std::optional<Maybe> no_value{Maybe{}};  // present, and None
  EXPECT_EQ(codec<Maybe>::decode("None"), no_value);
  EXPECT_EQ(codec<Maybe>::decode("null"), no_value);
  EXPECT_EQ(codec<Maybe>::decode("7"), std::optional<Maybe>{Maybe{7}});
  EXPECT_EQ(codec<Maybe>::decode("seven"), std::nullopt);  // not an int: undecodable
  EXPECT_EQ(codec<Maybe>::encode(std::nullopt), "null");
  EXPECT_EQ(codec<Maybe>::encode(7), "7");
  const auto gate = codec<std::optional<gate::Gate>>::decode("None");
  ASSERT_TRUE(gate);
  EXPECT_FALSE(gate->has_value());
}

TEST(Codec, JsonTypesReadPythonsNanInsideAStructure) {
  const auto prices = codec<std::map<std::string, double>>::decode(R"({"a": NaN, "b": 1.5})");
  ASSERT_TRUE(prices);
  EXPECT_TRUE(std::isnan(prices->at("a")));
  EXPECT_EQ(prices->at("b"), 1.5);
}

}  // namespace
}  // namespace airport::cache
