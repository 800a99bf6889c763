// SPDX-License-Identifier: BSD-3-Clause
// Unit tests of keys.hpp: escaping, the builder, patterns, digests and the workshop's keys.
#include "airport/cache/keys.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "airport/cache/cluster_slot.hpp"
#include "airport/cache/config.hpp"
#include "airport/cache/errors.hpp"
#include "airport/cache/patterns/lock.hpp"

namespace airport::cache {
namespace {

// The seat lock key must not take a user: two users wanting one seat must race for one key.
template <class... Args>
concept SeatLockKeyInvocable = requires(const CacheKeyManager& m, Args... args) {
  m.seat_lock_key(args...);
};
static_assert(SeatLockKeyInvocable<std::string_view, std::string_view, std::string_view>);
static_assert(
    !SeatLockKeyInvocable<std::string_view, std::string_view, std::string_view, std::string_view>);
static_assert(!SeatLockKeyInvocable<const char*, const char*, const char*, const char*>);
// The original's two-argument form (flight id, seat) exists; its user-taking form does not.
static_assert(SeatLockKeyInvocable<std::string_view, std::string_view>);

bool contains_reserved(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7F ||
        std::string_view{":=#*?[]\\{}"}.find(c) != std::string_view::npos) {
      return true;
    }
  }
  return false;
}

TEST(KeyEscaping, RoundTripsEveryByteValue) {
  std::string all;
  for (int b = 0; b < 256; ++b) {
    const std::string one(1, static_cast<char>(b));
    const std::string escaped = escape_key_part(one);
    EXPECT_EQ(unescape_key_part(escaped), one) << "byte " << b;
    EXPECT_FALSE(contains_reserved(escaped)) << "byte " << b << " -> " << escaped;
    all += one;
  }
  const std::string escaped = escape_key_part(all);
  EXPECT_EQ(unescape_key_part(escaped), all);
  EXPECT_FALSE(contains_reserved(escaped));
}

TEST(KeyEscaping, EncodesSpacesSeparatorsAndGlobCharacters) {
  EXPECT_EQ(escape_key_part("Los Angeles"), "Los%20Angeles");
  EXPECT_EQ(escape_key_part("a:b"), "a%3Ab");
  EXPECT_EQ(escape_key_part("*?[]"), "%2A%3F%5B%5D");
  EXPECT_EQ(escape_key_part("50%"), "50%25");
  EXPECT_EQ(escape_key_part("k=v"), "k%3Dv");
  EXPECT_EQ(escape_key_part("a\\b"), "a%5Cb");
  EXPECT_EQ(escape_key_part("{tag}#1"), "%7Btag%7D%231");
  EXPECT_EQ(escape_key_part("line\n"), "line%0A");
  EXPECT_EQ(escape_key_part("UA123"), "UA123");
  EXPECT_EQ(escape_key_part("Zürich"), "Zürich");  // UTF-8 stays readable
}

TEST(KeyEscaping, UnescapeAcceptsLowerCaseHexAndRejectsMalformedEscapes) {
  EXPECT_EQ(unescape_key_part("a%3ab"), "a:b");
  EXPECT_THROW((void)unescape_key_part("a%"), std::invalid_argument);
  EXPECT_THROW((void)unescape_key_part("a%3"), std::invalid_argument);
  EXPECT_THROW((void)unescape_key_part("a%zz"), std::invalid_argument);
}

TEST(KeyPrefix, AcceptsColonSeparatedSafeSegmentsOnly) {
  EXPECT_TRUE(is_valid_key_prefix(""));
  EXPECT_TRUE(is_valid_key_prefix("airport"));
  EXPECT_TRUE(is_valid_key_prefix("airport:prod"));
  EXPECT_FALSE(is_valid_key_prefix("airport:"));
  EXPECT_FALSE(is_valid_key_prefix(":airport"));
  EXPECT_FALSE(is_valid_key_prefix("airport::prod"));
  EXPECT_FALSE(is_valid_key_prefix("air port"));
  EXPECT_FALSE(is_valid_key_prefix("airport*"));
  EXPECT_FALSE(is_valid_key_prefix("{airport}"));
  EXPECT_THROW(CacheKeyBuilder{"bad prefix"}, std::invalid_argument);
}

TEST(CacheKeyBuilder, JoinsPartsAfterThePrefix) {
  EXPECT_EQ(CacheKeyBuilder{"airport:prod"}.part("flight").part("search").part("LAX").build(),
            "airport:prod:flight:search:LAX");
  EXPECT_EQ(CacheKeyBuilder{}.part("flight").part("status").part("UA123").build(),
            "flight:status:UA123");
}

TEST(CacheKeyBuilder, AcceptsIntegersAsPartsAndParams) {
  EXPECT_EQ(CacheKeyBuilder{}.part("gate").part(42).part(-1).param("n", 7u).build(),
            "gate:42:-1:n=7");
}

TEST(CacheKeyBuilder, SortsParamsByNameKeepsEmptyOnesAndDropsAbsentOnes) {
  const std::optional<std::string> absent;
  const std::optional<std::string> present{"2"};
  const auto key = CacheKeyBuilder{"airport:prod"}
                       .part("flight")
                       .part("search")
                       .param("cabin", "economy")
                       .param("adults", present)
                       .param("promo", "")
                       .param("children", absent)
                       .build();
  EXPECT_EQ(key, "airport:prod:flight:search:adults=2:cabin=economy:promo=");
}

TEST(CacheKeyBuilder, ParamSetTwiceKeepsTheLaterValueAndNulloptRemovesIt) {
  EXPECT_EQ(CacheKeyBuilder{}.part("a").param("x", "1").param("x", "2").build(), "a:x=2");
  EXPECT_EQ(CacheKeyBuilder{}.part("a").param("x", "1").param("x", "").build(), "a:x=");
  EXPECT_EQ(
      CacheKeyBuilder{}.part("a").param("x", "1").param("x", std::optional<std::string>{}).build(),
      "a");
  EXPECT_EQ(CacheKeyBuilder{}.part("a").param("x", "1").remove_param("x").build(), "a");
}

TEST(CacheKeyBuilder, SkipsAbsentOptionalPartsAsTheOriginalSkippedNone) {
  const std::optional<std::string> none;
  const std::optional<int> seven{7};
  EXPECT_EQ(CacheKeyBuilder{}.part("a").part(none).part(seven).build(), "a:7");
}

TEST(CacheKeyBuilder, EscapesPartsAndParams) {
  EXPECT_EQ(CacheKeyBuilder{"airport:prod"}.part("weather").part("US").part("Los Angeles").build(),
            "airport:prod:weather:US:Los%20Angeles");
  // A value keeps '=' (the segment splits at its first '=', which a name escapes).
  EXPECT_EQ(CacheKeyBuilder{}.part("a").param("k:1", "v=*").build(), "a:k%3A1=v=%2A");
  EXPECT_EQ(CacheKeyBuilder{}.part("a").param("k=1", "v").build(), "a:k%3D1=v");
  EXPECT_EQ(escape_param_value("a=b :*"), "a=b%20%3A%2A");
}

TEST(CacheKeyBuilder, PartsWithSeparatorsDoNotCollide) {
  // Unescaped, both would be "a:b:c".
  EXPECT_NE(CacheKeyBuilder{}.part("a:b").part("c").build(),
            CacheKeyBuilder{}.part("a").part("b:c").build());
  EXPECT_NE(CacheKeyBuilder{}.part("a").param("b", "c").build(),
            CacheKeyBuilder{}.part("a").part("b=c").build());
}

TEST(CacheKeyBuilder, RejectsEmptyPartsNamingThePosition) {
  CacheKeyBuilder builder;
  builder.part("a");
  try {
    builder.part("");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string{error.what()}.find("part 1"), std::string::npos) << error.what();
  }
  EXPECT_THROW(CacheKeyBuilder{}.part("a").param("", "v"), std::invalid_argument);
  EXPECT_THROW((void)CacheKeyBuilder{"airport"}.build(), std::invalid_argument);
}

TEST(CacheKeyBuilder, IsAValueType) {
  auto base = CacheKeyBuilder{"p"}.part("flight");
  auto copy = base;
  copy.part("status");
  EXPECT_EQ(base.build(), "p:flight");
  EXPECT_EQ(copy.build(), "p:flight:status");
}

TEST(CacheKeyBuilder, HashTagWrapsAnEscapedValueInBraces) {
  EXPECT_EQ(CacheKeyBuilder{}.hash_tag("UA123").part("seat").build(), "{UA123}:seat");
  EXPECT_EQ(CacheKeyBuilder{}.hash_tag("a}b").build(), "{a%7Db}");
}

TEST(CacheKeyBuilder, HashTagPartsJoinsEscapedValuesWithARawColonInsideOneTag) {
  EXPECT_EQ(CacheKeyBuilder{"p"}.part("seat").hash_tag_parts({"UA123", "2024-01-15"}).build(),
            "p:seat:{UA123:2024-01-15}");
  // Braces and colons in a value are escaped: the tag is still exactly the joined values.
  const std::string odd = CacheKeyBuilder{}.hash_tag_parts({"a}b", "c:d{"}).part("x").build();
  EXPECT_EQ(odd, "{a%7Db:c%3Ad%7B}:x");
  EXPECT_EQ(cluster_hash_tag(odd), "a%7Db:c%3Ad%7B");
  EXPECT_EQ(CacheKeyBuilder{}.hash_tag_parts({"one"}).build(), "{one}");
  EXPECT_THROW(CacheKeyBuilder{}.hash_tag_parts({}), std::invalid_argument);
  try {
    CacheKeyBuilder{}.part("seat").hash_tag_parts({"UA123", ""});
    ADD_FAILURE() << "an empty value was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string{error.what()}.find("value 1"), std::string::npos) << error.what();
  }
}

TEST(CacheKeyPattern, WildcardMatchesTheRestAndLiteralGlobCharactersAreEscaped) {
  EXPECT_EQ(CacheKeyBuilder{"airport:prod"}.part("weather").part("US").any().pattern(),
            "airport:prod:weather:US:*");
  EXPECT_EQ(
      CacheKeyBuilder{}.part("weather").part(CacheKeyBuilder::any_part).part("Paris").pattern(),
      "weather:*:Paris");
  EXPECT_EQ(CacheKeyBuilder{}.part("weather").part("U*").any().pattern(), "weather:U%2A:*");
  EXPECT_THROW((void)CacheKeyBuilder{}.part("a").any().build(), std::invalid_argument);
}

TEST(CacheKeyPattern, GlobKeepsGlobCharactersWhilePartEscapesThem) {
  EXPECT_EQ(CacheKeyBuilder{}.part(CacheKeyPrefix::SeatMap).glob("AA*").any().pattern(),
            "seat:map:AA*:*");
  EXPECT_EQ(CacheKeyBuilder{}.part(CacheKeyPrefix::SeatMap).part("AA*").any().pattern(),
            "seat:map:AA%2A:*");
  EXPECT_EQ(CacheKeyBuilder{}.part("gate").glob("?").glob("[abc]").glob("\\*").pattern(),
            "gate:?:[abc]:\\*");
  // Everything else in a glob is escaped as in a part: it still matches one segment of data.
  EXPECT_EQ(CacheKeyBuilder{}.part("weather").glob("Los A* {x}:%").pattern(),
            "weather:Los%20A*%20%7Bx%7D%3A%25");
  EXPECT_THROW((void)CacheKeyBuilder{}.part("a").glob("b").build(), std::invalid_argument);
  EXPECT_THROW((void)CacheKeyBuilder{}.part("a").glob(""), std::invalid_argument);
  const CacheKeyManager keys{"airport:prod"};
  EXPECT_EQ(keys.build_pattern(CacheKeyPrefix::SeatMap, {"AA*", "*"}),
            "airport:prod:seat:map:AA*:*");
  EXPECT_EQ(keys.build_pattern(CacheKeyPrefix::FlightStatus, {"*"}),
            "airport:prod:flight:status:*");
}

TEST(HashKey, HasAFixedKnownDigestForAFixedInput) {
  // printf '{"adults":2,"cabin":"economy"}' | sha256sum
  EXPECT_EQ(sha256_hex(R"({"adults":2,"cabin":"economy"})"),
            "56ff157504a8f772f8e6f404678375cff4d855bf65523c41ecdecde497efd595");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // printf '{"adults":2,"cabin":"economy"}' | md5sum
  EXPECT_EQ(md5_hex(R"({"adults":2,"cabin":"economy"})"), "92416f99e90b4a777134cd8bf0a9bc70");
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  const nlohmann::json params = {{"cabin", "economy"}, {"adults", 2}};
  EXPECT_EQ(hash_key("airport:prod:flight:search", params),
            "airport:prod:flight:search:hash:92416f99e90b");
  EXPECT_EQ(hash_key("", params), "hash:92416f99e90b");
}

TEST(HashKey, WritesTheJsonAsPythonsJsonDumpsWithSortedKeysAndNoSpaces) {
  // python3: json.dumps(d, sort_keys=True, separators=(',', ':')) is
  // {"city":"Z\u00fcrich","n":[1,2,{"a":true,"b":null}]}, md5 79fbdfbb1fbb...
  nlohmann::json d;
  d["n"] = nlohmann::json::array({1, 2, {{"b", nullptr}, {"a", true}}});
  d["city"] = "Zürich";
  EXPECT_EQ(hash_key("p", d), "p:hash:79fbdfbb1fbb");
}

TEST(HashKey, IgnoresInsertionOrderAndSeesEveryValue) {
  nlohmann::json a;
  a["x"] = 1;
  a["y"] = "two";
  nlohmann::json b;
  b["y"] = "two";
  b["x"] = 1;
  EXPECT_EQ(hash_key("p", a), hash_key("p", b));
  b["x"] = 2;
  EXPECT_NE(hash_key("p", a), hash_key("p", b));
}

TEST(HashKey, RejectsInvalidUtf8) {
  const nlohmann::json bad = {{"x", std::string{"\xff"}}};
  EXPECT_THROW((void)hash_key("p", bad), std::invalid_argument);
}

TEST(KeyShortening, ShortensLongKeysToTheLimitWithAStableDigest) {
  const std::string long_part(300, 'a');
  const std::string key = CacheKeyBuilder{"p"}.part(long_part).build();
  // python3 -c "import sys; sys.stdout.write('p:'+'a'*300)" | sha256sum
  const std::string expected = "p:" + std::string(215, 'a') + "#e4958984377ec392d1027ac76df1d992";
  EXPECT_EQ(key, expected);
  EXPECT_EQ(key.size(), 250u);
  EXPECT_EQ(CacheKeyBuilder{"p"}.part(long_part).build(), key);  // same input, same key
}

TEST(KeyShortening, KeysDifferingOnlyInTheLastByteStayDistinct) {
  const std::string a = std::string(400, 'x') + "1";
  const std::string b = std::string(400, 'x') + "2";
  const auto key_a = CacheKeyBuilder{}.part(a).build();
  const auto key_b = CacheKeyBuilder{}.part(b).build();
  EXPECT_NE(key_a, key_b);
  EXPECT_LE(key_a.size(), default_max_key_length);
  EXPECT_LE(key_b.size(), default_max_key_length);
}

TEST(KeyShortening, AlwaysFitsTheLimitAndNeverCutsAnEscape) {
  for (std::size_t limit : {40u, 64u, 100u, 250u}) {
    for (std::size_t length = 1; length < 400; length += 7) {
      const std::string part(length, ' ');  // every byte becomes a 3-byte escape
      const auto key = CacheKeyBuilder{"p", limit}.part(part).build();
      ASSERT_LE(key.size(), limit) << "limit " << limit << " length " << length;
      const auto hash = key.find('#');
      if (hash == std::string::npos) {
        EXPECT_EQ(unescape_key_part(key.substr(2)), part);
      } else {
        EXPECT_NO_THROW((void)unescape_key_part(key.substr(0, hash)));
        EXPECT_EQ(key.substr(0, 2), "p:");  // the prefix survives, so "p:*" still finds it
      }
    }
  }
}

// Found by the keys fuzzer (corpus/keys/regression_shortened_head_cut_inside_escape): at the
// smallest limits the head is one or two bytes, and the back-off never looked at key[0].
TEST(KeyShortening, NeverCutsAnEscapeEvenWhenTheHeadIsOneOrTwoBytes) {
  for (const std::string lead : {"%20", "a%20", "%2F%20"}) {
    const std::string key = lead + std::string(60, 'a');
    for (std::size_t limit = 34; limit <= 40; ++limit) {
      const std::string shortened = shorten_key(key, limit);
      EXPECT_LE(shortened.size(), limit) << key << " at " << limit;
      const auto hash = shortened.rfind('#');
      ASSERT_NE(hash, std::string::npos);
      EXPECT_NO_THROW((void)unescape_key_part(shortened.substr(0, hash)))
          << "head '" << shortened.substr(0, hash) << "' of " << key << " at " << limit;
    }
  }
}

TEST(KeyShortening, KeepsKeysAtTheLimitAndRejectsLimitsTooSmall) {
  const std::string exact(250, 'k');
  EXPECT_EQ(shorten_key(exact, 250), exact);
  EXPECT_THROW((void)shorten_key(exact, 10), std::invalid_argument);
  EXPECT_THROW(CacheKeyBuilder("airport:prod", 40), std::invalid_argument);
  EXPECT_NO_THROW(CacheKeyBuilder("airport:prod", 48));
}

TEST(CacheKeyManager, BuildsTheWorkshopKeys) {
  const CacheKeyManager keys{"airport:prod"};
  EXPECT_EQ(keys.flight_search_key("LAX", "JFK", "2024-01-15"),
            "airport:prod:flight:search:LAX:JFK:2024-01-15");
  EXPECT_EQ(keys.flight_search_key("LAX", "JFK", "2024-01-15",
                                   {{"cabin", "economy"}, {"adults", "2"}, {"promo", ""}}),
            "airport:prod:flight:search:LAX:JFK:2024-01-15:adults=2:cabin=economy:promo=");
  EXPECT_EQ(keys.flight_status_key("UA123"), "airport:prod:flight:status:UA123");
  EXPECT_EQ(keys.flight_schedule_key("UA123", "2024-01-15"),
            "airport:prod:flight:schedule:UA123:2024-01-15");
  EXPECT_EQ(keys.flight_manifest_key("UA123", "2024-01-15"),
            "airport:prod:flight:manifest:UA123_20240115");
  EXPECT_EQ(keys.flight_manifest_key("UA123"), "airport:prod:flight:manifest:UA123");
  EXPECT_EQ(keys.seat_map_key("UA123", "2024-01-15"), "airport:prod:seat:map:UA123_20240115");
  EXPECT_EQ(keys.seat_reservation_key("UA123", "2024-01-15", "12A"),
            "airport:prod:seat:reservation:UA123_20240115:12A");
  EXPECT_EQ(keys.seat_lock_key("UA123", "2024-01-15", "12A"),
            "airport:prod:seat:lock:UA123_20240115:12A");
  EXPECT_EQ(keys.weather_key("US", "Los Angeles"), "airport:prod:weather:city:US:Los%20Angeles");
  EXPECT_EQ(keys.leaderboard_key("daily"), "airport:prod:leaderboard:daily");
  EXPECT_EQ(keys.passenger_score_key("P42"), "airport:prod:passenger:score:P42");
  EXPECT_EQ(keys.airport_daily_key("LAX", "2024-01-15"),
            "airport:prod:airport:daily:LAX:2024-01-15");
  EXPECT_EQ(keys.flight_status_channel("UA123"), "airport:prod:flight:status:updates:UA123");
  EXPECT_EQ(keys.flight_status_channel_pattern(), "airport:prod:flight:status:updates:*");
  EXPECT_EQ(keys.all_keys_pattern(), "airport:prod:*");
}

TEST(CacheKeyManager, WithHashTagsPutsAFlightDaysSeatKeysInOneSlotAndLeavesTheRestAlone) {
  const CacheKeyManager plain{"airport:prod"};
  const CacheKeyManager tagged = plain.with_hash_tags();
  EXPECT_FALSE(plain.hash_tags());
  EXPECT_TRUE(tagged.hash_tags());
  EXPECT_FALSE(tagged.with_hash_tags(false).hash_tags());
  EXPECT_EQ(tagged.seat_map_key("UA123", "2024-01-15"), "airport:prod:seat:map:{UA123_20240115}");
  EXPECT_EQ(tagged.seat_lock_key("UA123", "2024-01-15", "12A"),
            "airport:prod:seat:lock:{UA123_20240115}:12A");
  EXPECT_EQ(tagged.seat_reservation_key("UA123", "2024-01-15", "12A"),
            "airport:prod:seat:reservation:{UA123_20240115}:12A");
  EXPECT_EQ(tagged.seat_map_key("UA123_20240115"), "airport:prod:seat:map:{UA123_20240115}");
  const std::string lock = tagged.seat_lock_key("UA123", "2024-01-15", "12A");
  EXPECT_EQ(DistributedLock::fencing_key(lock), lock + ":fence");
  const auto slot = cluster_slot(tagged.seat_map_key("UA123", "2024-01-15"));
  for (const std::string& key : {lock, DistributedLock::fencing_key(lock),
                                 tagged.seat_lock_key("UA123", "2024-01-15", "30F"),
                                 tagged.seat_reservation_key("UA123", "2024-01-15", "1A")}) {
    EXPECT_EQ(cluster_slot(key), slot) << key;
  }
  EXPECT_EQ(cluster_slot(tagged.seat_map_key("UA123", "2024-01-15")),
            cluster_slot("{UA123_20240115}"));
  // Without tags no key has braces; the other keys never get one.
  for (const CacheKeyManager* keys : {&plain, &tagged}) {
    EXPECT_EQ(keys->flight_status_key("UA123"), "airport:prod:flight:status:UA123");
    EXPECT_EQ(keys->leaderboard_key("daily"), "airport:prod:leaderboard:daily");
    EXPECT_EQ(keys->fragment_key("status", "UA123", 3), "airport:prod:doll:status:UA123:v3");
  }
  EXPECT_EQ(plain.seat_lock_key("UA{1}", "2024-01-15", "12A").find('{'), std::string::npos);
  // Escaped segments stay escaped inside the tag.
  EXPECT_EQ(tagged.seat_map_key("UA 1}", "2024:01"), "airport:prod:seat:map:{UA%201%7D_2024%3A01}");
  EXPECT_THROW((void)tagged.seat_lock_key("UA123", "2024-01-15", ""), std::invalid_argument);
}

TEST(CacheKeyManager, ATaggedSeatKeyTooLongToKeepItsTagIsRefused) {
  const CacheKeyManager tagged = CacheKeyManager{"p", 64}.with_hash_tags();
  EXPECT_EQ(tagged.seat_map_key("UA123", "2024-01-15"), "p:seat:map:{UA123_20240115}");
  // Shortened, but the tag is in the head that survives: still in the flight's slot.
  const std::string long_seat = tagged.seat_lock_key("UA123", "2024-01-15", std::string(40, 'S'));
  EXPECT_EQ(long_seat.size(), 64u);
  EXPECT_EQ(cluster_hash_tag(long_seat), "UA123_20240115");
  try {
    (void)tagged.seat_map_key(std::string(60, 'F'), "2024-01-15");
    ADD_FAILURE() << "a key that lost its tag was returned";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string{error.what()}.find("seat_map_key"), std::string::npos) << error.what();
  }
}

TEST(CacheKeyManager, WeatherPatternForOneCountry) {
  const CacheKeyManager keys{"airport:prod"};
  EXPECT_EQ(keys.builder().part("weather").part("US").any().pattern(), "airport:prod:weather:US:*");
}

TEST(CacheKeyManager, SeatLockKeyIsTheSameForEveryContender) {
  // The original put the user in the key, so two users held two different locks on one seat.
  const CacheKeyManager alice_side{"airport:prod"};
  const CacheKeyManager bob_side{"airport:prod"};
  EXPECT_EQ(alice_side.seat_lock_key("UA123", "2024-01-15", "12A"),
            bob_side.seat_lock_key("UA123", "2024-01-15", "12A"));
  EXPECT_NE(alice_side.seat_lock_key("UA123", "2024-01-15", "12A"),
            alice_side.seat_lock_key("UA123", "2024-01-15", "12B"));
}

TEST(CacheKeyManager, NestedKeysEmbedTheVersionsOfWhatTheyContain) {
  const CacheKeyManager keys;
  EXPECT_EQ(keys.fragment_key("flight", "UA123", 3), "doll:flight:UA123:v3");
  EXPECT_EQ(keys.nested_key("flight", "UA123", 3, {{"status", 7}}),
            "doll:flight:UA123:v3:status:v7");
  EXPECT_EQ(keys.nested_key("flight", "UA123", 3, {}), keys.fragment_key("flight", "UA123", 3));
  EXPECT_NE(keys.nested_key("flight", "UA123", 3, {{"status", 7}, {"seats", 1}}),
            keys.nested_key("flight", "UA123", 3, {{"status", 8}, {"seats", 1}}));
}

TEST(CacheKeyManager, RejectsEmptyArgumentsNamingThem) {
  const CacheKeyManager keys;
  try {
    (void)keys.seat_lock_key("UA123", "2024-01-15", "");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string{error.what()}.find("seat"), std::string::npos) << error.what();
  }
  EXPECT_THROW((void)keys.weather_key("", "Paris"), std::invalid_argument);
  EXPECT_THROW((void)keys.nested_key("flight", "UA1", 1, {{"", 2}}), std::invalid_argument);
}

TEST(CacheKeyManager, TakesPrefixAndLimitFromTheConfig) {
  ValkeyConfig config;
  config.key_prefix = "airport:test";
  config.max_key_length = 100;
  const CacheKeyManager keys{config};
  EXPECT_EQ(keys.prefix(), "airport:test");
  EXPECT_EQ(keys.max_key_length(), 100u);
  EXPECT_LE(keys.weather_key("US", std::string(500, 'c')).size(), 100u);

  config.key_prefix = "airport test";
  EXPECT_THROW(CacheKeyManager{config}, ConfigError);
  config.key_prefix = "airport";
  config.max_key_length = 10;
  EXPECT_THROW(CacheKeyManager{config}, ConfigError);
}

TEST(CacheKeyManager, ProcessDefaultHasNoPrefix) {
  EXPECT_EQ(&key_manager(), &key_manager());
  EXPECT_EQ(key_manager().prefix(), "");
  EXPECT_EQ(key_manager().flight_status_key("UA123"), "flight:status:UA123");
  EXPECT_EQ(key_manager().all_keys_pattern(), "*");
}

TEST(CacheKeyManager, DistinctInputsGiveDistinctKeys) {
  const CacheKeyManager keys;
  std::set<std::string> seen;
  for (const char* city :
       {"Los Angeles", "Los:Angeles", "Los%20Angeles", "Los*", "Los?", "Los", "Los=1"}) {
    EXPECT_TRUE(seen.insert(keys.weather_key("US", city)).second) << city;
  }
}

}  // namespace
}  // namespace airport::cache
