// SPDX-License-Identifier: BSD-3-Clause
// Keys and TTLs: building a flight-search key with two parameters, hashing and shortening long
// keys (MD5 for hash_key as the original, SHA-256 for shortening), and drawing one jittered TTL.
#include <airport/cache/keys.hpp>
#include <airport/cache/ttl.hpp>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <string>

namespace airport::cache::bench {
namespace {

void BM_Keys_FlightSearchKey2Params(benchmark::State& state) {
  const CacheKeyManager keys{"airport:prod"};
  const KeyParams params{{"cabin", "economy"}, {"adults", "2"}};
  for (auto _ : state) {
    std::string key = keys.flight_search_key("LAX", "JFK", "2024-01-15", params);
    benchmark::DoNotOptimize(key);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Keys_FlightSearchKey2Params);

// A stable digest key for a search's full parameter set (JSON dump + MD5, as the original).
void BM_Keys_HashKey(benchmark::State& state) {
  const nlohmann::json params = {{"origin", "LAX"},      {"destination", "JFK"},
                                 {"date", "2024-01-15"}, {"return", "2024-01-22"},
                                 {"cabin", "economy"},   {"adults", 2},
                                 {"children", 1},        {"airlines", {"UA", "AA", "DL"}},
                                 {"max_stops", 1},       {"sort", "price"}};
  for (auto _ : state) {
    std::string key = hash_key("airport:prod:flight:search", params);
    benchmark::DoNotOptimize(key);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Keys_HashKey);

// A 400-byte key cut to 250 bytes: readable head + '#' + SHA-256 digest.
void BM_Keys_ShortenLongKey(benchmark::State& state) {
  std::string long_key = "airport:prod:flight:search:LAX:JFK:2024-01-15";
  while (long_key.size() < 400)
    long_key += ":airline=UA:cabin=economy:fare=flex";
  long_key.resize(400);
  for (auto _ : state) {
    std::string key = shorten_key(long_key, default_max_key_length);
    benchmark::DoNotOptimize(key);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Keys_ShortenLongKey);

void BM_Ttl_Jittered(benchmark::State& state) {
  const TTLCalculator calculator{0.1};
  for (auto _ : state) {
    auto ttl = calculator.jittered(TTLPreset::SearchResults);
    benchmark::DoNotOptimize(ttl);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Ttl_Jittered);

}  // namespace
}  // namespace airport::cache::bench
