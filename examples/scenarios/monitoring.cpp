// SPDX-License-Identifier: BSD-3-Clause
// Monitoring: a mixed workload with live stats; then the server goes away (only a server this
// program started itself), the breaker opens, the fallback serves, the server comes back and
// the cache recovers. Ends with the stats as a table, as JSON and as Prometheus text.
#include <fmt/format.h>
#include <atomic>
#include <random>
#include <thread>

#include "common/scenario.hpp"
#include "support/server.hpp"

namespace airport::examples {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Runs a mixed read/write workload on `threads` threads until told to stop.
class Workload {
 public:
  Workload(cache::CacheManager& cache, int threads) {
    for (int t = 0; t < threads; ++t) {
      workers_.emplace_back([this, &cache, t] {
        std::mt19937 random{static_cast<unsigned>(t)};
        while (!stop_.load()) {
          const std::string key =
              cache.keys().flight_status_key(fmt::format("UA{}", random() % 200));
          if (random() % 10 < 8) {
            if (!cache.get(key))
              cache.set(key, "on time", cache::TTLPreset::FlightStatus);
          } else {
            cache.set(key, random() % 2 ? "boarding" : "delayed", cache::TTLPreset::FlightStatus);
          }
          ++operations_;
          std::this_thread::sleep_for(200us);  // a service doing other work between calls
        }
      });
    }
  }
  ~Workload() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& worker : workers_) {
      if (worker.joinable())
        worker.join();
    }
  }
  [[nodiscard]] long operations() const { return operations_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<long> operations_{0};
  std::vector<std::thread> workers_;
};

void watch(const Output& out, cache::CacheManager& cache, std::string_view phase,
           std::chrono::milliseconds duration) {
  const auto until = Clock::now() + duration;
  while (Clock::now() < until) {
    const auto stats = cache.stats();
    out.progress(fmt::format(
        "{:<10} circuit {:<9} ops {:>6}  hit {:>5.1f}%  degraded {:>5}  fallback hits {:>5}", phase,
        cache::to_string(stats.circuit.state), stats.operations, stats.hit_ratio * 100,
        stats.degraded_operations, stats.fallback.hits));
    std::this_thread::sleep_for(100ms);
  }
  out.done_progress();
}

}  // namespace

ScenarioResult run_monitoring(ScenarioContext& context) {
  const Output& out = context.out;
  out.header("monitoring", "live stats, a server outage, the breaker, the fallback and recovery");
  ScenarioResult result{.name = "monitoring"};
  cache::ValkeyConfig config = example_config(context.server);
  config.operation_timeout = 200ms;
  config.health_check_interval = 100ms;
  config.reconnect_base_delay = 20ms;
  config.reconnect_max_delay = 200ms;
  config.circuit_breaker.recovery_timeout = 1s;
  config.log_level = cache::LogLevel::Off;  // the progress line tells the story
  cache::CacheManager cache{config};

  Workload workload{cache, 4};
  watch(out, cache, "healthy", 1s);
  bool outage_shown = false, recovered = false;
  std::uint64_t fallback_hits = 0;
  auto* server = context.server.local_server.get();
  if (server != nullptr) {
    server->kill();
    out.line(fmt::format("killed the throwaway server (pid {})", server->pid()));
    watch(out, cache, "outage", 1500ms);
    outage_shown = cache.circuit_state() != cache::CircuitState::Closed;
    fallback_hits = cache.stats().fallback.hits;
    server->restart();
    out.line(fmt::format("restarted it on the same port (pid {})", server->pid()));
    const auto deadline = Clock::now() + 10s;
    watch(out, cache, "recovery", 1s);
    while (cache.circuit_state() != cache::CircuitState::Closed && Clock::now() < deadline) {
      watch(out, cache, "recovery", 500ms);
    }
    recovered = cache.circuit_state() == cache::CircuitState::Closed;
  } else {
    out.line(context.server.in_memory_only ? "no server: the whole run is served by the fallback"
             : context.server.local_cluster
                 ? "on the throwaway cluster no node is stopped: a failover is not part of this "
                   "scenario yet (no outage shown)"
                 : "this server was not started by the demo, so it is not stopped (no outage "
                   "shown)");
  }
  workload.stop();

  const cache::StatsSnapshot stats = cache.stats();
  std::vector<std::vector<std::string>> rows{{"operation", "count", "p50", "p99", "max"}};
  for (std::size_t i = 0; i < cache::kOperationCount; ++i) {
    const auto& latency = stats.latency[i];
    if (latency.count == 0)
      continue;
    rows.push_back({std::string{cache::to_string(static_cast<cache::Operation>(i))},
                    std::to_string(latency.count), fmt::format("{:.1f} µs", latency.p50_us),
                    fmt::format("{:.1f} µs", latency.p99_us),
                    fmt::format("{:.1f} µs", latency.max_us)});
  }
  out.table(rows);
  out.table(
      {{"counter", "value"},
       {"hits / misses", fmt::format("{} / {}", stats.hits, stats.misses)},
       {"degraded operations", std::to_string(stats.degraded_operations)},
       {"fallback hits", std::to_string(stats.fallback.hits)},
       {"circuit transitions (open/half-open/closed)",
        fmt::format("{}/{}/{}", stats.circuit.opened, stats.circuit.half_opened,
                    stats.circuit.closed)},
       {"journal replayed / overflows",
        fmt::format("{} / {}", stats.journal.replayed, stats.journal.overflows)},
       {"errors (connection/timeout/pool)", fmt::format("{}/{}/{}", stats.errors.connection,
                                                        stats.errors.timeout, stats.errors.pool)}});
  if (!out.json()) {
    fmt::print("\n   stats().to_json():\n{}\n", stats.to_json().dump(2));
    const std::string prometheus = stats.to_prometheus();
    fmt::print("\n   stats().to_prometheus() (first lines of {} bytes):\n", prometheus.size());
    std::size_t at = 0;
    for (int line = 0; line < 16 && at < prometheus.size(); ++line) {
      const auto end = prometheus.find('\n', at);
      fmt::print("   {}\n", prometheus.substr(at, end - at));
      at = end + 1;
    }
  }

  take_stats(result, stats);
  const bool outage_part_ok = server == nullptr || (outage_shown && fallback_hits > 0 && recovered);
  result.ok = workload.operations() > 0 && outage_part_ok;
  result.verdict = server == nullptr
                       ? fmt::format("{} operations, no outage shown ({})", workload.operations(),
                                     context.server.local_cluster ? "cluster: no failover yet"
                                                                  : "server not ours")
                       : fmt::format("{} operations; breaker opened {}×, {} fallback hits, {}",
                                     workload.operations(), stats.circuit.opened, fallback_hits,
                                     recovered ? "recovered" : "NOT recovered");
  result.details = stats.to_json();
  result.details["outage_shown"] = outage_shown;
  result.details["recovered"] = recovered;
  return result;
}

}  // namespace airport::examples
