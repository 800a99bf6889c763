// codec<T>: strings verbatim, integers as decimal, JSON for types with to_json/from_json, and a
// user specialization for anything else.
#include <gtest/gtest.h>
#include <airport/cache/serialization.hpp>

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

}  // namespace
}  // namespace airport::cache
