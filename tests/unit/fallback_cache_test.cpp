// SPDX-License-Identifier: BSD-3-Clause
// Unit tests of fallback_cache.hpp: TTL on every read path, CLOCK eviction by entries and bytes,
// byte accounting, reclamation without a sweep, glob rules, validation and concurrent use. No
// server and no sleeps: time moves through a ManualClock.
#include "airport/cache/fallback_cache.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using std::chrono::milliseconds;

constexpr std::optional<milliseconds> kNoTtl = std::nullopt;

FallbackOptions options(std::size_t max_entries, std::size_t max_bytes = 64 * 1024 * 1024) {
  FallbackOptions result;
  result.max_entries = max_entries;
  result.max_bytes = max_bytes;
  return result;
}

std::size_t cost(std::string_view key, std::string_view value) {
  return FallbackCache::entry_bytes(key.size(), value.size());
}

std::string numbered_key(int i) {
  return "key:" + std::string(i < 10 ? "0" : "") + std::to_string(i);
}

TEST(FallbackCache, GetReturnsWhatWasSet) {
  ManualClock clock;
  FallbackCache cache({}, clock);
  EXPECT_TRUE(cache.set("flight:AA100", "on time", kNoTtl));
  EXPECT_EQ(cache.get("flight:AA100"), "on time");
  EXPECT_EQ(cache.get("flight:AA101"), std::nullopt);
  const auto stats = cache.stats();
  EXPECT_EQ(stats.hits, 1U);
  EXPECT_EQ(stats.misses, 1U);
  EXPECT_EQ(stats.entries, 1U);
}

TEST(FallbackCache, ExistsIgnoresExpiredEntries) {
  ManualClock clock;
  FallbackCache cache({}, clock);
  cache.set("gate:A1", "open", 1000ms);
  EXPECT_TRUE(cache.exists("gate:A1"));
  clock.advance(999ms);
  EXPECT_TRUE(cache.exists("gate:A1"));
  clock.advance(1ms);
  EXPECT_FALSE(cache.exists("gate:A1"));
  EXPECT_FALSE(cache.exists("never:set"));
}

TEST(FallbackCache, GetIgnoresExpiredEntries) {
  ManualClock clock;
  FallbackCache cache({}, clock);
  cache.set("gate:A1", "open", 1000ms);
  clock.advance(1000ms);
  EXPECT_EQ(cache.get("gate:A1"), std::nullopt);
  const auto stats = cache.stats();
  EXPECT_EQ(stats.hits, 0U);
  EXPECT_EQ(stats.misses, 1U);
  EXPECT_EQ(stats.expirations, 1U);
}

TEST(FallbackCache, TtlIgnoresExpiredEntries) {
  ManualClock clock;
  FallbackCache cache({}, clock);
  cache.set("gate:A1", "open", 1000ms);
  clock.advance(1500ms);
  EXPECT_EQ(cache.ttl("gate:A1"), std::nullopt);
  EXPECT_EQ(cache.ttl("never:set"), std::nullopt);
}

TEST(FallbackCache, TtlCountsDownWithTheClock) {
  ManualClock clock;
  FallbackCache cache({}, clock);
  cache.set("gate:A1", "open", 10s);
  cache.set("airport:JFK", "New York", kNoTtl);
  EXPECT_EQ(cache.ttl("gate:A1"), 10'000ms);
  clock.advance(2500ms);
  EXPECT_EQ(cache.ttl("gate:A1"), 7500ms);
  // Rounded up: a live entry never reports 0.
  clock.advance(7499ms + std::chrono::microseconds{500});
  EXPECT_EQ(cache.ttl("gate:A1"), 1ms);
  EXPECT_EQ(cache.ttl("airport:JFK"), -1ms);
}

TEST(FallbackCache, SetWithoutTtlClearsAPreviousTtl) {
  ManualClock clock;
  FallbackCache cache({}, clock);
  cache.set("gate:A1", "open", 1s);
  cache.set("gate:A1", "closed", kNoTtl);
  clock.advance(1h);
  EXPECT_EQ(cache.get("gate:A1"), "closed");
  EXPECT_EQ(cache.ttl("gate:A1"), -1ms);
}

TEST(FallbackCache, EvictsWhatWasNotReadNotTheOldestInsert) {
  ManualClock clock;
  FallbackCache cache(options(3), clock, 1);
  cache.set("a", "1", kNoTtl);  // oldest insert, but read below: its second chance
  cache.set("b", "2", kNoTtl);  // never read: the first to go
  cache.set("c", "3", kNoTtl);
  EXPECT_EQ(cache.get("a"), "1");
  cache.set("d", "4", kNoTtl);
  EXPECT_TRUE(cache.exists("a"));
  EXPECT_FALSE(cache.exists("b"));
  EXPECT_TRUE(cache.exists("c"));
  EXPECT_TRUE(cache.exists("d"));
  EXPECT_EQ(cache.stats().evictions, 1U);
  // Overwriting queues the key again as the newest: "c" is now the oldest one not read.
  cache.set("a", "1'", kNoTtl);
  cache.set("e", "5", kNoTtl);
  EXPECT_FALSE(cache.exists("c"));
  EXPECT_EQ(cache.size(), 3U);
}

TEST(FallbackCache, AReadEntrySurvivesOnePassThenGoesIfNotReadAgain) {
  ManualClock clock;
  FallbackCache cache(options(3), clock, 1);
  cache.set("a", "1", kNoTtl);
  cache.set("b", "2", kNoTtl);
  cache.set("c", "3", kNoTtl);
  for (const char* key : {"a", "b", "c"}) {
    EXPECT_TRUE(cache.get(key));
  }
  // Every entry was read: the scan unmarks all three and queues them again in their order,
  // then drops the oldest, "a".
  cache.set("d", "4", kNoTtl);
  EXPECT_FALSE(cache.exists("a"));
  // Reads after their pass count again: "b" is kept, "c" (not read since) goes.
  EXPECT_TRUE(cache.get("b"));
  cache.set("e", "5", kNoTtl);
  EXPECT_TRUE(cache.exists("b"));
  EXPECT_FALSE(cache.exists("c"));
  EXPECT_TRUE(cache.exists("d"));
  EXPECT_TRUE(cache.exists("e"));
  // exists() and ttl() do not count as reads: "d" goes next, although it was just looked at.
  EXPECT_TRUE(cache.ttl("d"));
  cache.set("f", "6", kNoTtl);
  EXPECT_FALSE(cache.exists("d"));
  EXPECT_EQ(cache.stats().evictions, 3U);
}

TEST(FallbackCache, RespectsTheByteBound) {
  ManualClock clock;
  const std::string value(100, 'v');
  const std::size_t one = cost("key:0", value);
  FallbackCache cache(options(1000, 3 * one + one / 2), clock, 1);
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(cache.set("key:" + std::to_string(i), value, kNoTtl));
    EXPECT_LE(cache.bytes(), 3 * one + one / 2);
  }
  EXPECT_EQ(cache.size(), 3U);
  EXPECT_EQ(cache.bytes(), 3 * one);
  EXPECT_TRUE(cache.exists("key:9"));
  EXPECT_TRUE(cache.exists("key:7"));
  EXPECT_FALSE(cache.exists("key:6"));
  EXPECT_EQ(cache.stats().evictions, 7U);
}

TEST(FallbackCache, ByteBoundIsPerShardRoundedUp) {
  ManualClock clock;
  const std::size_t max_bytes = 10'000;
  FallbackCache cache(options(1'000'000, max_bytes), clock, 16);
  const std::size_t per_shard = (max_bytes + 15) / 16;
  for (int i = 0; i < 2000; ++i) {
    cache.set("key:" + std::to_string(i), std::string(static_cast<std::size_t>(i % 300), 'v'),
              kNoTtl);
  }
  EXPECT_LE(cache.bytes(), 16 * per_shard);
  EXPECT_GT(cache.size(), 0U);
}

TEST(FallbackCache, RespectsTheEntryBound) {
  ManualClock clock;
  FallbackCache exact(options(100), clock, 1);
  FallbackCache sharded(options(100), clock, 16);
  for (int i = 0; i < 1000; ++i) {
    exact.set("key:" + std::to_string(i), "v", kNoTtl);
    sharded.set("key:" + std::to_string(i), "v", kNoTtl);
  }
  EXPECT_EQ(exact.size(), 100U);
  EXPECT_EQ(exact.stats().evictions, 900U);
  // Per shard: ceil(100 / 16) = 7, so at most 112 in all.
  EXPECT_LE(sharded.size(), 112U);
  EXPECT_GE(sharded.size(), 80U);
}

TEST(FallbackCache, ShardCountNeverExceedsMaxEntries) {
  ManualClock clock;
  FallbackCache cache(options(1), clock, 16);
  for (int i = 0; i < 50; ++i) {
    cache.set("key:" + std::to_string(i), "v", kNoTtl);
  }
  EXPECT_EQ(cache.size(), 1U);
  EXPECT_EQ(cache.get("key:49"), "v");
}

TEST(FallbackCache, OverwriteUpdatesBytesExactly) {
  ManualClock clock;
  FallbackCache cache({}, clock);
  const std::string small(10, 's');
  const std::string large(5000, 'l');
  cache.set("flight:AA100", small, kNoTtl);
  EXPECT_EQ(cache.bytes(), cost("flight:AA100", small));
  cache.set("flight:AA100", large, 1min);
  EXPECT_EQ(cache.bytes(), cost("flight:AA100", large));
  cache.set("flight:AA100", small, kNoTtl);
  EXPECT_EQ(cache.bytes(), cost("flight:AA100", small));
  cache.set("flight:BA200", "", kNoTtl);
  EXPECT_EQ(cache.bytes(), cost("flight:AA100", small) + cost("flight:BA200", ""));
  EXPECT_TRUE(cache.erase("flight:AA100"));
  EXPECT_EQ(cache.bytes(), cost("flight:BA200", ""));
  EXPECT_EQ(cache.size(), 1U);
}

TEST(FallbackCache, EntryBytesCountsKeyValueAndOverhead) {
  EXPECT_GE(FallbackCache::entry_bytes(10, 100), 10U + 100U + 32U);
  EXPECT_LT(FallbackCache::entry_bytes(10, 100), FallbackCache::entry_bytes(10, 1000));
  EXPECT_LE(FallbackCache::entry_bytes(0, 0), FallbackCache::entry_bytes(0, 1));
}

TEST(FallbackCache, RejectsAnEntryBiggerThanAShardAndDropsTheOldValue) {
  ManualClock clock;
  const std::size_t max_bytes = 16 * 1024;
  FallbackCache cache(options(100, max_bytes), clock, 4);
  EXPECT_TRUE(cache.set("report", "small", kNoTtl));
  // One shard's budget is 4 KiB: a 5000-byte value never fits.
  EXPECT_FALSE(cache.set("report", std::string(5000, 'x'), kNoTtl));
  EXPECT_EQ(cache.get("report"), std::nullopt);
  EXPECT_EQ(cache.bytes(), 0U);
}

TEST(FallbackCache, ExpiredEntriesAreReclaimedWithoutASweep) {
  ManualClock clock;
  FallbackCache cache(options(1000), clock, 1);
  // Touching an expired entry frees it.
  cache.set("touched", "v", 1s);
  clock.advance(2s);
  EXPECT_EQ(cache.bytes(), cost("touched", "v"));  // still charged: nothing ran yet
  EXPECT_FALSE(cache.exists("touched"));
  EXPECT_EQ(cache.bytes(), 0U);
  EXPECT_EQ(cache.stats().expirations, 1U);

  // Sets reclaim expired entries from the LRU tail, a bounded number per call.
  for (int i = 0; i < 10; ++i) {
    cache.set("old:" + std::to_string(i), std::string(100, 'o'), 1s);
  }
  clock.advance(2s);
  for (int i = 0; i < 5; ++i) {
    cache.set("new:" + std::to_string(i), "n", kNoTtl);
  }
  EXPECT_EQ(cache.size(), 5U);
  EXPECT_EQ(cache.bytes(), 5 * cost("new:0", "n"));
  const auto stats = cache.stats();
  EXPECT_EQ(stats.expirations, 11U);
  EXPECT_EQ(stats.evictions, 0U);
}

TEST(FallbackCache, RemoveExpiredSweepsEveryShard) {
  ManualClock clock;
  FallbackCache cache({}, clock);
  for (int i = 0; i < 100; ++i) {
    cache.set("short:" + std::to_string(i), "v", 1s);
    cache.set("long:" + std::to_string(i), "v", 1h);
  }
  clock.advance(2s);
  EXPECT_EQ(cache.size(), 200U);
  EXPECT_EQ(cache.remove_expired(), 100U);
  EXPECT_EQ(cache.size(), 100U);
  std::size_t expected_bytes = 0;
  for (int i = 0; i < 100; ++i) {
    expected_bytes += cost("long:" + std::to_string(i), "v");
  }
  EXPECT_EQ(cache.bytes(), expected_bytes);
  EXPECT_EQ(cache.stats().expirations, 100U);
}

TEST(FallbackCache, ExpireChangesTheDeadline) {
  ManualClock clock;
  FallbackCache cache({}, clock);
  cache.set("seat:12A", "held", 10s);
  EXPECT_TRUE(cache.expire("seat:12A", 1s));
  EXPECT_EQ(cache.ttl("seat:12A"), 1000ms);
  EXPECT_TRUE(cache.expire("seat:12A", 1min));  // can lengthen too
  EXPECT_EQ(cache.ttl("seat:12A"), 60'000ms);
  EXPECT_TRUE(cache.expire("seat:12A", 1s));
  clock.advance(1s);
  EXPECT_FALSE(cache.exists("seat:12A"));
  EXPECT_FALSE(cache.expire("seat:12A", 1s));  // expired: nothing to extend
  EXPECT_FALSE(cache.expire("never:set", 1s));

  cache.set("airport:JFK", "New York", kNoTtl);
  EXPECT_TRUE(cache.expire("airport:JFK", 5s));
  EXPECT_EQ(cache.ttl("airport:JFK"), 5000ms);
  EXPECT_THROW((void)cache.expire("airport:JFK", 0ms), std::invalid_argument);
  EXPECT_THROW((void)cache.expire("airport:JFK", -5ms), std::invalid_argument);
}

TEST(FallbackCache, HugeTtlSaturatesInsteadOfOverflowing) {
  ManualClock clock;
  FallbackCache cache({}, clock);
  cache.set("forever-ish", "v", milliseconds::max());
  clock.advance(24h * 365 * 100);
  EXPECT_TRUE(cache.exists("forever-ish"));
  EXPECT_GT(cache.ttl("forever-ish").value(), 0ms);
}

TEST(FallbackCache, EraseReturnsWhetherALiveEntryWasRemoved) {
  ManualClock clock;
  FallbackCache cache({}, clock);
  cache.set("live", "v", kNoTtl);
  cache.set("dying", "v", 1s);
  clock.advance(1s);
  EXPECT_TRUE(cache.erase("live"));
  EXPECT_FALSE(cache.erase("live"));
  EXPECT_FALSE(cache.erase("dying"));
  EXPECT_EQ(cache.size(), 0U);
  EXPECT_EQ(cache.bytes(), 0U);
}

TEST(FallbackCache, EraseMatchingUsesGlobRules) {
  ManualClock clock;
  FallbackCache cache({}, clock);
  for (const char* key : {"flight:AA100", "flight:AA101", "flight:BA200", "flight:AA1", "gate:A1",
                          "gate:B2", "literal*star", "literalXstar"}) {
    cache.set(key, "v", kNoTtl);
  }
  cache.set("flight:AA999", "v", 1s);
  clock.advance(1s);  // expired: removed but not counted

  EXPECT_EQ(cache.erase_matching("flight:AA1??"), 2U);
  EXPECT_TRUE(cache.exists("flight:AA1"));
  EXPECT_EQ(cache.erase_matching("gate:[^A]*"), 1U);
  EXPECT_TRUE(cache.exists("gate:A1"));
  EXPECT_EQ(cache.erase_matching("literal\\*star"), 1U);
  EXPECT_TRUE(cache.exists("literalXstar"));
  EXPECT_EQ(cache.erase_matching("nothing:*"), 0U);
  EXPECT_EQ(cache.erase_matching("gate:A1"), 1U);  // no wildcard: a plain erase
  EXPECT_EQ(cache.erase_matching("flight:*"), 2U);
  EXPECT_EQ(cache.size(), 1U);
  EXPECT_EQ(cache.bytes(), cost("literalXstar", "v"));
}

TEST(GlobMatch, FollowsRedisRules) {
  struct Case {
    std::string_view pattern;
    std::string_view text;
    bool matches;
  };
  const Case cases[] = {
      {"", "", true},
      {"", "a", false},
      {"*", "", true},
      {"*", "anything at all", true},
      {"**", "x", true},
      {"flight:*", "flight:AA100", true},
      {"flight:*", "flights:AA100", false},
      {"*:AA100", "flight:AA100", true},
      {"*AA*00", "flight:AA100", true},
      {"*AA*01", "flight:AA100", false},
      {"a*b*c", "aXbYc", true},
      {"a*b*c", "aXbYcZ", false},
      {"a*b*c*", "aXbYcZ", true},
      {"?", "a", true},
      {"?", "", false},
      {"??", "a", false},
      {"gate:?1", "gate:A1", true},
      {"[abc]", "b", true},
      {"[abc]", "d", false},
      {"[a-c]", "b", true},
      {"[a-c]", "d", false},
      {"[c-a]", "b", true},  // reversed ranges work, as in Redis
      {"[^x]", "y", true},
      {"[^x]", "x", false},
      {"[^a-c]", "b", false},
      {"[^a-c]", "z", true},
      {"[a\\]]", "]", true},
      {"[\\^a]", "^", true},
      {"[]", "a", false},
      {"[^]", "a", true},
      {"[abc", "c", true},  // an unclosed set runs to the end of the pattern
      {"[abc", "d", false},
      {"\\*", "*", true},
      {"\\*", "a", false},
      {"\\?", "?", true},
      {"\\?", "a", false},
      {"\\[a]", "[a]", true},
      {"a\\\\b", "a\\b", true},
      {"ab\\", "ab\\", true},  // a trailing backslash is literal
      {"flight:[A-Z][A-Z][0-9]*", "flight:AA100", true},
      {"flight:[A-Z][A-Z][0-9]*", "flight:A1100", false},
      {"h?llo", "hello", true},
      {"h*llo", "heeeello", true},
      {"h[ae]llo", "hallo", true},
      {"h[ae]llo", "hillo", false},
      {"h[^e]llo", "hallo", true},
      {"h[^e]llo", "hello", false},
      {"Flight", "flight", false},  // case-sensitive
  };
  for (const auto& [pattern, text, matches] : cases) {
    EXPECT_EQ(glob_match(pattern, text), matches)
        << "pattern '" << pattern << "' text '" << text << "'";
  }
}

TEST(GlobMatch, IsLinearOnPathologicalStars) {
  const std::string text(10'000, 'a');
  std::string pattern;
  for (int i = 0; i < 50; ++i) {
    pattern += "a*";
  }
  pattern += "b";
  EXPECT_FALSE(glob_match(pattern, text));  // returns promptly: no exponential backtracking
}

TEST(GlobMatch, HandlesBinaryBytes) {
  EXPECT_TRUE(glob_match("a?c"s, "a\0c"s));
  EXPECT_TRUE(glob_match("[\x01-\xff]"s, "\x80"s));
  EXPECT_FALSE(glob_match("a\0c"s, "abc"));
}

TEST(FallbackCache, BinaryValuesRoundTrip) {
  ManualClock clock;
  FallbackCache cache({}, clock);
  std::string value;
  for (int i = 0; i < 512; ++i) {
    value.push_back(static_cast<char>(i % 256));
  }
  const std::string key = "bin\0key"s;
  cache.set(key, value, kNoTtl);
  EXPECT_EQ(cache.get(key), value);
  EXPECT_EQ(cache.get("bin"), std::nullopt);  // the NUL is part of the key
  EXPECT_EQ(cache.bytes(), cost(key, value));
  cache.set("empty", "", kNoTtl);
  EXPECT_EQ(cache.get("empty"), "");
}

TEST(FallbackCache, InvalidOptionsThrowNamingTheField) {
  const auto message_of = [](auto&& make) {
    try {
      make();
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string("no exception");
  };
  EXPECT_NE(message_of([] { FallbackCache cache(options(0)); }).find("max_entries"),
            std::string::npos);
  EXPECT_NE(message_of([] { FallbackCache cache(options(10, 0)); }).find("max_bytes"),
            std::string::npos);
  EXPECT_NE(message_of([] { FallbackCache cache({}, steady_clock(), 0); }).find("shard_count"),
            std::string::npos);

  FallbackCache cache;
  EXPECT_NE(message_of([&] { cache.set("k", "v", 0ms); }).find("ttl"), std::string::npos);
  EXPECT_THROW(cache.set("k", "v", -1ms), std::invalid_argument);
  EXPECT_EQ(cache.size(), 0U);
}

TEST(FallbackCache, DisabledOptionsStillWork) {
  FallbackOptions disabled;
  disabled.enabled = false;
  FallbackCache cache(disabled);
  cache.set("k", "v", kNoTtl);
  EXPECT_EQ(cache.get("k"), "v");
}

TEST(FallbackCache, ClearRemovesEverythingButKeepsCounters) {
  ManualClock clock;
  FallbackCache cache({}, clock);
  for (int i = 0; i < 100; ++i) {
    cache.set("key:" + std::to_string(i), "v", kNoTtl);
  }
  EXPECT_EQ(cache.get("key:1"), "v");
  cache.clear();
  EXPECT_EQ(cache.size(), 0U);
  EXPECT_EQ(cache.bytes(), 0U);
  EXPECT_EQ(cache.get("key:1"), std::nullopt);
  const auto stats = cache.stats();
  EXPECT_EQ(stats.hits, 1U);
  EXPECT_EQ(stats.misses, 1U);
  cache.set("key:1", "again", kNoTtl);
  EXPECT_EQ(cache.get("key:1"), "again");
}

TEST(FallbackCache, StatsReportTheConfiguredBounds) {
  FallbackCache cache(options(1234, 56789));
  const auto stats = cache.stats();
  EXPECT_EQ(stats.max_entries, 1234U);
  EXPECT_EQ(stats.max_bytes, 56789U);
}

TEST(FallbackCache, MatchesAClockModelUnderRandomOperations) {
  // A reference second-chance FIFO (front = newest) checked after every operation: exercises
  // the index's growth and deletion and the eviction order together.
  constexpr std::size_t kMaxEntries = 40;
  ManualClock clock;
  FallbackCache cache(options(kMaxEntries), clock, 1);
  struct Entry {
    std::string key;
    std::string value;
    bool read = false;
  };
  std::list<Entry> model;
  const auto find = [&](const std::string& key) {
    return std::find_if(model.begin(), model.end(), [&](const Entry& e) { return e.key == key; });
  };
  std::mt19937 random(7);
  for (int op = 0; op < 20'000; ++op) {
    const std::string key = "key:" + std::to_string(random() % 120);
    const auto it = find(key);
    switch (random() % 4) {
      case 0: {
        const std::string value(random() % 40, static_cast<char>('a' + random() % 26));
        ASSERT_TRUE(cache.set(key, value, kNoTtl));
        if (it != model.end()) {
          model.erase(it);
        }
        // Room is made before the new entry is queued: it is never its own victim.
        while (model.size() + 1 > kMaxEntries) {
          if (model.back().read) {
            model.back().read = false;
            model.splice(model.begin(), model, std::prev(model.end()));
          } else {
            model.pop_back();
          }
        }
        model.push_front({key, value});
        break;
      }
      case 1: {
        const auto value = cache.get(key);
        if (it == model.end()) {
          ASSERT_EQ(value, std::nullopt) << key;
        } else {
          ASSERT_EQ(value, it->value) << key;
          it->read = true;
        }
        break;
      }
      case 2:
        ASSERT_EQ(cache.erase(key), it != model.end()) << key;
        if (it != model.end()) {
          model.erase(it);
        }
        break;
      default:
        ASSERT_EQ(cache.exists(key), it != model.end()) << key;
        break;
    }
    ASSERT_EQ(cache.size(), model.size());
  }
  std::size_t expected_bytes = 0;
  for (const Entry& entry : model) {
    expected_bytes += cost(entry.key, entry.value);
  }
  EXPECT_EQ(cache.bytes(), expected_bytes);
}

TEST(FallbackCache, ConcurrentMixedOperationsKeepBoundsAndCounts) {
  constexpr int kThreads = 4;
  constexpr int kOpsPerThread = 20'000;
  constexpr int kKeys = 300;
  constexpr std::size_t kShards = 4;
  constexpr std::size_t kMaxEntries = 64;
  constexpr std::size_t kMaxBytes = 16 * 1024;
  constexpr std::size_t kEntryLimit = kShards * ((kMaxEntries + kShards - 1) / kShards);
  constexpr std::size_t kByteLimit = kShards * ((kMaxBytes + kShards - 1) / kShards);

  ManualClock clock;
  FallbackCache cache(options(kMaxEntries, kMaxBytes), clock, kShards);
  std::vector<std::uint64_t> gets(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(static_cast<std::uint32_t>(t) + 1);
      for (int op = 0; op < kOpsPerThread; ++op) {
        const std::string key = "k" + std::to_string(random() % kKeys);
        switch (random() % 10) {
          case 0:
          case 1:
          case 2: {
            const std::string value(random() % 400, static_cast<char>('a' + t));
            const std::optional<milliseconds> ttl =
                random() % 2 == 0 ? kNoTtl : std::optional{milliseconds{1 + random() % 50}};
            cache.set(key, value, ttl);
            break;
          }
          case 3:
          case 4:
          case 5: {
            const auto value = cache.get(key);
            ++gets[static_cast<std::size_t>(t)];
            if (value && !value->empty()) {
              // Never a torn value: one writer's bytes only.
              EXPECT_EQ(value->find_first_not_of(value->front()), std::string::npos);
            }
            break;
          }
          case 6:
            cache.erase(key);
            break;
          case 7:
            cache.expire(key, milliseconds{1 + random() % 50});
            break;
          case 8:
            (void)cache.exists(key);
            (void)cache.ttl(key);
            break;
          default:
            if (op % 1000 == 0) {
              cache.erase_matching("k1*");
            } else if (t == 0) {
              clock.advance(1ms);
            } else {
              const auto stats = cache.stats();
              EXPECT_LE(stats.entries, kEntryLimit);
              EXPECT_LE(stats.bytes, kByteLimit);
            }
            break;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }

  auto stats = cache.stats();
  EXPECT_LE(stats.entries, kEntryLimit);
  EXPECT_LE(stats.bytes, kByteLimit);
  std::uint64_t total_gets = 0;
  for (const auto count : gets) {
    total_gets += count;
  }
  EXPECT_EQ(stats.hits + stats.misses, total_gets);
  EXPECT_GT(stats.evictions, 0U);
  EXPECT_GT(stats.expirations, 0U);

  // Byte accounting matches what is stored: touching every key frees the expired ones, and the
  // rest add up to bytes().
  std::size_t live = 0;
  std::size_t live_bytes = 0;
  for (int k = 0; k < kKeys; ++k) {
    const std::string key = "k" + std::to_string(k);
    if (const auto value = cache.get(key)) {
      ++live;
      live_bytes += cost(key, *value);
    }
  }
  EXPECT_EQ(cache.size(), live);
  EXPECT_EQ(cache.bytes(), live_bytes);
}

// set_many() must leave exactly what repeated set() leaves: the same values, TTLs, byte count
// and the same victims of the entry and byte bounds, with expired entries reclaimed alike.
void expect_same_state(FallbackCache& batched, FallbackCache& repeated,
                       const std::vector<std::string>& keys, int round) {
  const auto a = batched.stats();
  const auto b = repeated.stats();
  EXPECT_EQ(a.entries, b.entries) << "round " << round;
  EXPECT_EQ(a.bytes, b.bytes) << "round " << round;
  EXPECT_EQ(a.evictions, b.evictions) << "round " << round;
  EXPECT_EQ(a.expirations, b.expirations) << "round " << round;
  for (const std::string& key : keys) {
    EXPECT_EQ(batched.ttl(key), repeated.ttl(key)) << key << ", round " << round;
    EXPECT_EQ(batched.exists(key), repeated.exists(key)) << key << ", round " << round;
  }
}

TEST(FallbackCache, SetManyLeavesWhatRepeatedSetLeaves) {
  ManualClock clock;
  // Tight bounds on 4 shards, so that batches evict by entries and by bytes, and one value is
  // bigger than a shard's byte budget.
  const std::size_t max_bytes = 24 * cost("key:00", std::string(100, 'v'));
  FallbackCache batched(options(32, max_bytes), clock, 4);
  FallbackCache repeated(options(32, max_bytes), clock, 4);
  std::mt19937 random{15};
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i)
    keys.push_back(numbered_key(i));
  const std::string too_big(max_bytes / 4 + 1, 'x');
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> values;
    std::vector<FallbackCache::Item> items;
    const std::size_t count = std::uniform_int_distribution<std::size_t>{1, 40}(random);
    values.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t size = std::uniform_int_distribution<std::size_t>{0, 300}(random);
      values.push_back(size == 300 ? too_big : std::string(size, static_cast<char>('a' + i % 26)));
    }
    for (std::size_t i = 0; i < count; ++i) {
      // A narrow key range: the same key often comes twice in one batch.
      const std::string& key = keys[std::uniform_int_distribution<std::size_t>{0, 59}(random)];
      const int ttl_choice = std::uniform_int_distribution<int>{0, 3}(random);
      const std::optional<milliseconds> ttl =
          ttl_choice == 0 ? kNoTtl : std::optional{milliseconds{ttl_choice * 10}};
      items.push_back({key, values[i], ttl});
    }
    std::size_t stored = 0;
    for (const auto& item : items)
      stored += repeated.set(item.key, item.value, item.ttl) ? 1 : 0;
    EXPECT_EQ(batched.set_many(items), stored) << "round " << round;
    expect_same_state(batched, repeated, keys, round);
    // Reads give an entry its second chance in both, so that the next batch's evictions skip it.
    for (int i = 0; i < 5; ++i) {
      const std::string& key = keys[std::uniform_int_distribution<std::size_t>{0, 59}(random)];
      EXPECT_EQ(batched.get(key), repeated.get(key)) << key << ", round " << round;
    }
    clock.advance(std::chrono::milliseconds{std::uniform_int_distribution<int>{0, 15}(random)});
  }
  EXPECT_GT(batched.stats().evictions, 0U);
  EXPECT_GT(batched.stats().expirations, 0U);
}

TEST(FallbackCache, SetManyWithANonPositiveTtlThrowsAndStoresNothing) {
  ManualClock clock;
  FallbackCache cache({}, clock);
  const std::vector<FallbackCache::Item> items{{"a", "1", kNoTtl}, {"b", "2", 0ms}};
  EXPECT_THROW(cache.set_many(items), std::invalid_argument);
  EXPECT_EQ(cache.size(), 0U);
  EXPECT_EQ(cache.set_many({}), 0U);
}

}  // namespace
}  // namespace airport::cache
