// SPDX-License-Identifier: BSD-3-Clause
// CacheManager: GET hit / miss and SET with the breaker closed, GET with the breaker open (served
// by the fallback without a syscall), get_or_compute on a hit, and a typed get<T> of ~1 KiB JSON.
#include <airport/cache/manager.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace airport::cache::bench {

/// One flight of a search result, JSON-serializable the way a service's HTTP layer would make it.
struct Flight {
  std::string number;
  std::string origin;
  std::string destination;
  std::string departure;
  std::string arrival;
  std::string aircraft;
  long long fare_cents = 0;
  int seats_left = 0;
  std::vector<std::string> cabins;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Flight, number, origin, destination, departure, arrival,
                                   aircraft, fare_cents, seats_left, cabins)

/// A flight search result of about 1 KiB as JSON.
struct FlightSearchResult {
  std::string origin;
  std::string destination;
  std::string date;
  std::string currency;
  std::vector<Flight> flights;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FlightSearchResult, origin, destination, date, currency, flights)

namespace {

using namespace std::chrono_literals;

FlightSearchResult sample_result() {
  FlightSearchResult result{"LAX", "JFK", "2024-01-15", "USD", {}};
  for (int n = 0; n < 6; ++n) {
    result.flights.push_back(Flight{"UA" + std::to_string(100 + n),
                                    "LAX",
                                    "JFK",
                                    "2024-01-15T0" + std::to_string(n) + ":30:00-08:00",
                                    "2024-01-15T1" + std::to_string(n) + ":05:00-05:00",
                                    "Boeing 737-900",
                                    24900 + 1000 * n,
                                    12 + n,
                                    {"economy", "premium_economy", "business"}});
  }
  return result;
}

std::unique_ptr<CacheManager> make_manager() {
  auto manager =
      std::make_unique<CacheManager>(quiet_config(), CacheManagerOptions{.logger = quiet_logger()});
  (void)manager->get(hot_keys().front());  // opens the pooled connection
  return manager;
}

void BM_Manager_GetHit(benchmark::State& state) {
  guarded(state, [&] {
    auto manager = make_manager();
    const auto& keys = hot_keys();
    std::size_t i = 0;
    ServerCpu server_cpu{state};
    for (auto _ : state) {
      std::optional<std::string> value = manager->get(keys[i++ % keys.size()]);
      benchmark::DoNotOptimize(value);
    }
    server_cpu.report(state, state.iterations());
    if (manager->stats().hits == 0)
      state.SkipWithError("no hit was recorded");
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Manager_GetHit)->UseRealTime();

void BM_Manager_GetMiss(benchmark::State& state) {
  guarded(state, [&] {
    auto manager = make_manager();
    const auto& keys = missing_keys();
    std::size_t i = 0;
    for (auto _ : state) {
      std::optional<std::string> value = manager->get(keys[i++ % keys.size()]);
      benchmark::DoNotOptimize(value);
    }
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Manager_GetMiss)->UseRealTime();

// SET with a jittered TTL (PX on the wire) and the write-through copy into the fallback.
void BM_Manager_Set(benchmark::State& state) {
  guarded(state, [&] {
    auto manager = make_manager();
    const auto& keys = hot_keys();
    const std::string& value = value_100();
    std::size_t i = 0;
    for (auto _ : state) {
      bool stored = manager->set(keys[i++ % keys.size()], value, TTLPreset::SearchResults);
      benchmark::DoNotOptimize(stored);
    }
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Manager_Set)->UseRealTime();

void BM_Manager_GetOrComputeHit(benchmark::State& state) {
  guarded(state, [&] {
    auto manager = make_manager();
    const auto& keys = hot_keys();
    std::size_t i = 0;
    std::size_t loads = 0;
    for (auto _ : state) {
      std::string value =
          manager->get_or_compute(keys[i++ % keys.size()], TTLPreset::SearchResults, [&] {
            ++loads;
            return value_100();
          });
      benchmark::DoNotOptimize(value);
    }
    if (loads != 0)
      state.SkipWithError("get_or_compute ran the loader on a pre-filled key");
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Manager_GetOrComputeHit)->UseRealTime();

void BM_Manager_GetTypedJson1KiB(benchmark::State& state) {
  guarded(state, [&] {
    auto manager = make_manager();
    const FlightSearchResult result = sample_result();
    const std::string key = "flight:search:LAX:JFK:2024-01-15:typed";
    manager->set(key, result, TTLPreset::SearchResults);
    state.counters["value_bytes"] =
        static_cast<double>(codec<FlightSearchResult>::encode(result).size());
    for (auto _ : state) {
      std::optional<FlightSearchResult> value = manager->get<FlightSearchResult>(key);
      if (!value) {
        state.SkipWithError("typed get missed");
        break;
      }
      benchmark::DoNotOptimize(value);
    }
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Manager_GetTypedJson1KiB)->UseRealTime();

// --- the breaker open: every get is served by the fallback, no network
// ----------------------------

// A loopback port that refuses connections for the whole run: bound, never listening, so that no
// other process can take it.
int refusing_port() {
  static const int port = [] {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = 0;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("bench: cannot reserve a refusing port");
    }
    return static_cast<int>(ntohs(address.sin_port));  // fd stays open until the process exits
  }();
  return port;
}

constexpr std::size_t kFallbackKeys = 1000;

// A manager whose server refuses connections: the first failure opens the breaker (threshold 1)
// for a day; then the fallback is filled through set(), which write-through keeps there.
std::unique_ptr<CacheManager> make_open_manager(benchmark::State& state) {
  ValkeyConfig config = quiet_config();
  config.port = refusing_port();
  config.circuit_breaker.failure_threshold = 1;
  config.circuit_breaker.recovery_timeout = 24h;
  config.circuit_breaker.initial_recovery_timeout = 24h;  // no probe during the benchmark
  config.retry.max_attempts = 1;
  auto manager = std::make_unique<CacheManager>(
      config, CacheManagerOptions{.logger = quiet_logger(), .health_check_closes_circuit = false});
  (void)manager->get(hot_keys().front());
  if (manager->circuit_state() != CircuitState::Open) {
    state.SkipWithError("the breaker did not open");
    return nullptr;
  }
  for (std::size_t i = 0; i < kFallbackKeys; ++i)
    manager->set(hot_keys()[i], value_100(), TTLPreset::SearchResults);
  return manager;
}

void BM_Manager_GetBreakerOpen(benchmark::State& state) {
  guarded(state, [&] {
    auto manager = make_open_manager(state);
    if (!manager)
      return;
    const auto& keys = hot_keys();
    std::size_t i = 0;
    for (auto _ : state) {
      std::optional<std::string> value = manager->get(keys[i++ % kFallbackKeys]);
      benchmark::DoNotOptimize(value);
    }
    if (manager->stats().fallback.hits == 0)
      state.SkipWithError("the fallback served nothing");
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Manager_GetBreakerOpen)->UseRealTime();

// The same, each call timed on its own for the median and the tail.
void BM_Manager_GetBreakerOpenLatency(benchmark::State& state) {
  guarded(state, [&] {
    auto manager = make_open_manager(state);
    if (!manager)
      return;
    const auto& keys = hot_keys();
    LatencySamples samples{static_cast<std::size_t>(state.max_iterations)};
    std::size_t i = 0;
    for (auto _ : state) {
      const auto start = std::chrono::steady_clock::now();
      std::optional<std::string> value = manager->get(keys[i++ % kFallbackKeys]);
      const auto stop = std::chrono::steady_clock::now();
      benchmark::DoNotOptimize(value);
      samples.add(stop - start);
    }
    samples.report(state);
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Manager_GetBreakerOpenLatency)->UseRealTime();

}  // namespace
}  // namespace airport::cache::bench
