// SPDX-License-Identifier: BSD-3-Clause
// CacheManager against a real server and a real local cluster (the same tests, parameterized):
// counts, typed values, failure semantics for bad input, server error replies, patterns, and the
// stats it reports.
#include <gtest/gtest.h>
#include <airport/cache/manager.hpp>

#include <set>

#include <spdlog/logger.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include "support/backend.hpp"
#include "support/sample_flight.hpp"
#include "support/server.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::Backend;
using testing::Oracle;
using testing::ServerProcess;
using testing::SharedBackend;

// On the cluster the manager is made exactly as a service makes it (VALKEY_CLUSTER=on); the
// oracle checks what it stored on the node owning each key.
class CacheManagerTest : public ::testing::TestWithParam<Backend> {
 protected:
  static void TearDownTestSuite() { SharedBackend::stop_all(); }

  SharedBackend& backend = SharedBackend::fresh(GetParam());
  Oracle oracle = backend.oracle();
  CacheManager cache{backend.config()};
};

INSTANTIATE_TEST_SUITE_P(, CacheManagerTest, ::testing::ValuesIn(testing::all_backends),
                         testing::BackendName{});

TEST_P(CacheManagerTest, CountsHitsMissesSetsAndDeletesExactlyForAScriptedSequence) {
  EXPECT_TRUE(cache.set("a", "1", 60s));
  EXPECT_EQ(cache.get("a"), "1");
  EXPECT_EQ(cache.get("b"), std::nullopt);
  EXPECT_TRUE(cache.del("a"));
  EXPECT_EQ(cache.get("a"), std::nullopt);
  EXPECT_TRUE(cache.set("c", "3", TTLPreset::FlightStatus));
  EXPECT_EQ(cache.get("c"), "3");
  const StatsSnapshot stats = cache.stats();
  EXPECT_EQ(stats.hits, 2u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.sets, 2u);
  EXPECT_EQ(stats.deletes, 1u);
  EXPECT_DOUBLE_EQ(stats.hit_ratio, 0.5);
  EXPECT_EQ(stats.degraded_operations, 0u);
  EXPECT_EQ(stats.circuit.state, CircuitState::Closed);
}

TEST_P(CacheManagerTest, TypedValuesRoundTripThroughTheirJsonFunctions) {
  const std::vector<app::Flight> flights{{"UA123", "LAX", 4}, {"DL456", "JFK", 0}};
  const std::string key = key_manager().flight_search_key("LAX", "JFK", "2024-01-15");
  ASSERT_TRUE(cache.set(key, flights, TTLPreset::SearchResults));
  EXPECT_EQ(cache.get<std::vector<app::Flight>>(key), flights);
  EXPECT_EQ(nlohmann::json::parse(*oracle.get(key))[0]["number"], "UA123");
}

TEST_P(CacheManagerTest, StringsAreStoredVerbatimAndIntegersAsDecimalSoIncrStillWorks) {
  cache.set("greeting", std::string{"hello\0world", 11}, 60s);
  EXPECT_EQ(oracle.get("greeting"), std::string("hello\0world", 11));
  cache.set("bookings", 41, 60s);
  EXPECT_EQ(oracle.get("bookings"), "41");
  EXPECT_EQ(cache.client().incr("bookings"), 42);
  EXPECT_EQ(cache.get<int>("bookings"), 42);
}

TEST_P(CacheManagerTest, AnUndecodableValueIsACountedMissLeftOnTheServerAndLoggedOncePerMinute) {
  // A ring buffer, read under its sink's lock: the health check thread logs meanwhile.
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1024);
  auto logger = std::make_shared<spdlog::logger>("undecodable", sink);
  CacheManager logged{backend.config(), {.logger = logger}};
  oracle.set("flight", "{not json");
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(logged.get<app::Flight>("flight"), std::nullopt);
  EXPECT_EQ(oracle.get("flight"), "{not json") << "another program's value was destroyed";
  oracle.set("flight", R"({"number": 7})");  // valid JSON of the wrong shape
  EXPECT_EQ(logged.get<app::Flight>("flight"), std::nullopt);
  EXPECT_EQ(logged.get<int>("flight"), std::nullopt);
  EXPECT_EQ(oracle.get("flight"), R"({"number": 7})");
  EXPECT_EQ(logged.stats().errors.count(ErrorCategory::Serialization), 7u);
  // The same bytes read by a type that can read them.
  EXPECT_EQ(logged.get<nlohmann::json>("flight"), (nlohmann::json{{"number", 7}}));
  std::size_t lines = 0;
  std::string all_lines;
  for (const std::string& line : sink->last_formatted()) {
    all_lines += line;
    if (line.find("does not decode") != std::string::npos) {
      ++lines;
      EXPECT_NE(line.find("9 bytes"), std::string::npos) << line;
      EXPECT_EQ(line.find("flight"), std::string::npos) << "the key was logged: " << line;
      EXPECT_EQ(line.find("not json"), std::string::npos) << "the value was logged: " << line;
    }
  }
  EXPECT_EQ(lines, 1u) << all_lines;
}

TEST_P(CacheManagerTest, GetOrComputeOverwritesAnUndecodableValueWithTheLoadersValue) {
  oracle.set("flight", "written by another service");
  int loads = 0;
  const app::Flight fresh{"UA1", "SFO", 3};
  EXPECT_EQ(cache.get_or_compute("flight", 60s,
                                 [&] {
                                   ++loads;
                                   return fresh;
                                 }),
            fresh);
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(nlohmann::json::parse(*oracle.get("flight"))["number"], "UA1");
  EXPECT_EQ(cache.get<app::Flight>("flight"), fresh);
  EXPECT_EQ(cache.stats().errors.count(ErrorCategory::Serialization), 1u);
}

TEST_P(CacheManagerTest, DeleteUndecodableDeletesWhatDoesNotDecodeAndNothingElse) {
  CacheManager deleting{backend.config(), {.delete_undecodable = true}};
  oracle.set("flight", "{not json");
  oracle.set("none", "None");
  EXPECT_EQ(deleting.get<app::Flight>("flight"), std::nullopt);
  EXPECT_EQ(oracle.get("flight"), std::nullopt);
  EXPECT_EQ(deleting.get<app::Flight>("none"), std::nullopt);
  EXPECT_EQ(oracle.get("none"), "None") << "None is no value, not a damaged one";
  EXPECT_EQ(deleting.stats().errors.count(ErrorCategory::Serialization), 1u);
}

TEST_P(CacheManagerTest, ANoneIsNoValueNotASerializationError) {
  oracle.set("python-none", "None");
  oracle.set("json-null", "null");
  EXPECT_EQ(cache.get<int>("python-none"), std::nullopt);
  EXPECT_EQ(cache.get<app::Flight>("json-null"), std::nullopt);
  const std::optional<std::optional<int>> none = cache.get<std::optional<int>>("python-none");
  ASSERT_TRUE(none.has_value()) << "a stored None is a hit of no value, not a miss";
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(cache.get<std::optional<int>>("missing"), std::nullopt);
  EXPECT_EQ(cache.stats().errors.count(ErrorCategory::Serialization), 0u);
  EXPECT_EQ(oracle.get("python-none"), "None");
  // get_or_compute reads None as a miss, as the original did, and stores the loader's value.
  EXPECT_EQ(cache.get_or_compute("python-none", 60s, [] { return 5; }), 5);
  EXPECT_EQ(oracle.get("python-none"), "5");
}

TEST_P(CacheManagerTest, GetWithADefaultReturnsTheValueElseTheDefault) {
  cache.set("seats", 12, 60s);
  cache.set("gate", "B12", 60s);
  oracle.set("garbled", "{not json");
  EXPECT_EQ(cache.get("seats", 0), 12);
  EXPECT_EQ(cache.get("missing", 0), 0);
  EXPECT_EQ(cache.get<int>("garbled", -1), -1);
  EXPECT_EQ(cache.get("gate", "none"), "B12");
  EXPECT_EQ(cache.get("missing", "none"), "none");
  EXPECT_EQ(cache.get<std::string>("missing", "none"), "none");
  EXPECT_EQ(cache.get("missing", app::Flight{"X", "Y", 1}), (app::Flight{"X", "Y", 1}));
  EXPECT_EQ(oracle.get("garbled"), "{not json");
}

TEST_P(CacheManagerTest, TtlIsJitteredWithinTheRatioUnlessExact) {
  cache.set("jittered", "v", 100s);
  const auto jittered = cache.ttl("jittered");
  ASSERT_TRUE(jittered.has_value());
  EXPECT_GE(*jittered, 89s);
  EXPECT_LE(*jittered, 110s);
  cache.set("exact", "v", Ttl::exact(100s));
  EXPECT_GT(*cache.ttl("exact"), 99s);
  EXPECT_EQ(cache.ttl("missing"), std::nullopt);
  EXPECT_TRUE(cache.expire("exact", 5s));
  EXPECT_LE(*cache.ttl("exact"), 5s);
  EXPECT_TRUE(cache.exists("exact"));
  EXPECT_FALSE(cache.exists("missing"));
}

TEST_P(CacheManagerTest, ProgrammingErrorsThrowWithAClearMessage) {
  EXPECT_THROW(cache.get(""), std::invalid_argument);
  EXPECT_THROW(cache.set(std::string(300, 'k'), "v", 60s), std::invalid_argument);
  EXPECT_THROW(cache.set("k", "v", -5s), std::invalid_argument);
  EXPECT_THROW(cache.set("k", "v", 0s), std::invalid_argument);
  try {
    cache.set("k", std::string(cache.config().max_value_size + 1, 'x'), 60s);
    FAIL() << "an oversized value was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string{error.what()}.find("max_value_size"), std::string::npos);
  }
}

TEST_P(CacheManagerTest, ServerErrorRepliesAreCountedAndDoNotTripTheBreaker) {
  oracle.command({"HSET", "hash", "f", "v"});
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(cache.get("hash"), std::nullopt);
  const StatsSnapshot stats = cache.stats();
  EXPECT_EQ(stats.errors.count(ErrorCategory::Reply), 10u);
  EXPECT_EQ(stats.circuit.state, CircuitState::Closed);
  EXPECT_EQ(stats.degraded_operations, 0u);
}

// One round trip each on a single server; on a cluster, one per shard holding the keys.
TEST_P(CacheManagerTest, MgetAndMsetUseOneRoundTripEach) {
  const std::array<std::pair<std::string_view, std::string_view>, 3> items{
      {{"m1", "a"}, {"m2", "b"}, {"m3", "c"}}};
  EXPECT_TRUE(cache.mset(items, 60s));
  const std::array<std::string_view, 4> keys{"m1", "nope", "m3", "m2"};
  EXPECT_EQ(cache.mget(keys),
            (std::vector<std::optional<std::string>>{"a", std::nullopt, "c", "b"}));
  EXPECT_GT(*cache.ttl("m2"), 50s);
}

TEST_P(CacheManagerTest, InvalidatePatternRemovesEveryMatchWithScanAndUnlink) {
  for (int i = 0; i < 1200; ++i)
    cache.set("flight:status:F" + std::to_string(i), "x", 60s);
  cache.set("weather:US:LAX", "sunny", 60s);
  EXPECT_EQ(cache.invalidate_pattern("flight:status:*"), 1200u);
  EXPECT_EQ(oracle.dbsize(), 1);
  EXPECT_EQ(cache.get("weather:US:LAX"), "sunny");
}

TEST_P(CacheManagerTest, LatencyIsReallyMeasured) {
  for (int i = 0; i < 50; ++i)
    (void)cache.get("k");
  const nlohmann::json json = cache.stats().to_json();
  EXPECT_EQ(json["latency"]["get"]["count"], 50);
  EXPECT_GT(json["latency"]["get"]["p50_us"].get<double>(), 0.0);
  EXPECT_GE(json["latency"]["get"]["max_us"].get<double>(),
            json["latency"]["get"]["p50_us"].get<double>());
}

TEST_P(CacheManagerTest, StatsJsonHasExactlyTheDocumentedTopLevelKeys) {
  (void)cache.get("k");
  const nlohmann::json json = cache.stats().to_json();
  std::set<std::string> keys;
  for (const auto& [key, value] : json.items())
    keys.insert(key);
  for (const char* expected :
       {"hits", "misses", "hit_ratio", "sets", "deletes", "errors", "degraded_operations",
        "fallback", "circuit", "latency", "uptime_seconds"}) {
    EXPECT_TRUE(keys.contains(expected)) << expected;
  }
  EXPECT_EQ(json["circuit"]["state"], "closed");
  // Every node with its shard's breaker, on a cluster only.
  EXPECT_EQ(json.contains("nodes"), GetParam() == Backend::Cluster);
  EXPECT_NE(cache.stats().to_prometheus().find("airport_cache_hits_total"), std::string::npos);
}

TEST_P(CacheManagerTest, HealthIsHealthyWhenTheServerAnswers) {
  const CacheHealth health = cache.health();
  EXPECT_EQ(health.level, HealthLevel::Healthy);
  EXPECT_EQ(health.to_json()["status"], "healthy");
}

TEST(CacheManagerConfig, TheKeyPrefixComesFromTheConfig) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.key_prefix = "airport:test";
  CacheManager cache{config};
  const std::string key = cache.keys().flight_status_key("UA123");
  EXPECT_TRUE(key.starts_with("airport:test:")) << key;
  cache.set(key, "boarding", 60s);
  EXPECT_EQ(server.client().get(key), "boarding");
}

}  // namespace
}  // namespace airport::cache
