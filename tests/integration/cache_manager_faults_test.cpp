// SPDX-License-Identifier: BSD-3-Clause
// CacheManager under real faults: a killed server under load, restarts with bounded probes, the
// invalidation journal's stale-data story, and a paused server. Each runs over plaintext and
// over TLS: a TLS connection must recover from every fault as a plaintext one does.
#include <gtest/gtest.h>
#include <airport/cache/manager.hpp>

#include <algorithm>
#include <iostream>
#include <mutex>
#include <thread>
#include <tuple>

#include "support/fault_proxy.hpp"
#include "support/server.hpp"
#include "support/wait.hpp"
#include "support/wire.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::FaultProxy;
using testing::ServerProcess;
using testing::wait_until;
using testing::Wire;
using SteadyTime = std::chrono::steady_clock;

ValkeyConfig fault_config(Wire wire, const ServerProcess& server) {
  ValkeyConfig config = testing::config_on_wire(wire, server);
  config.operation_timeout = 200ms;
  config.socket_timeout = 200ms;
  config.connect_timeout = 200ms;
  config.reconnect_base_delay = 10ms;
  config.reconnect_max_delay = 100ms;
  config.health_check_interval = 50ms;
  config.retry.base_delay = 5ms;
  config.retry.max_delay = 20ms;
  config.circuit_breaker.failure_threshold = 5;
  config.circuit_breaker.recovery_timeout = 60s;
  return config;
}

long long server_calls(ServerProcess& server, std::string_view command) {
  const std::string stats = server.client().command({"INFO", "commandstats"});
  const std::string marker = "cmdstat_" + std::string{command} + ":calls=";
  const auto at = stats.find(marker);
  if (at == std::string::npos)
    return 0;
  return std::stoll(stats.substr(at + marker.size()));
}

class CacheManagerFaults : public ::testing::TestWithParam<Wire> {
 protected:
  [[nodiscard]] Wire wire() const { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Wires, CacheManagerFaults, ::testing::ValuesIn(testing::kWires),
                         [](const auto& info) { return testing::to_string(info.param); });

TEST_P(CacheManagerFaults, AKilledServerUnderLoadOpensTheBreakerAndTheFallbackServes) {
  ServerProcess server{testing::on_wire(wire())};
  ValkeyConfig config = fault_config(wire(), server);
  CacheManager cache{config, {.health_check_closes_circuit = false}};
  for (int i = 0; i < 100; ++i)
    cache.set("flight:" + std::to_string(i), "status-" + std::to_string(i), 600s);

  std::atomic<bool> killed{false}, stop{false};
  std::atomic<int> escaped{0}, wrong_values{0};
  std::mutex latencies_mutex;
  std::vector<std::chrono::nanoseconds> open_latencies;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::chrono::nanoseconds> mine;
      for (int i = 0; !stop.load(); ++i) {
        const int n = (i * 7 + t) % 100;
        const std::string key = "flight:" + std::to_string(n);
        try {
          const bool open = cache.circuit_state() == CircuitState::Open;
          const auto start = SteadyTime::now();
          const auto value = cache.get(key);
          const auto elapsed = SteadyTime::now() - start;
          if (open)
            mine.push_back(elapsed);
          if (value && *value != "status-" + std::to_string(n))
            ++wrong_values;
          if (i % 10 == 0)
            cache.set(key, "status-" + std::to_string(n), 600s);
        } catch (...) {
          ++escaped;
        }
      }
      std::lock_guard lock{latencies_mutex};
      open_latencies.insert(open_latencies.end(), mine.begin(), mine.end());
    });
  }
  std::this_thread::sleep_for(100ms);
  server.kill();
  killed = true;
  ASSERT_TRUE(wait_until([&] { return cache.circuit_state() == CircuitState::Open; }, 10s));
  std::this_thread::sleep_for(300ms);  // keep serving from the fallback for a while
  stop = true;
  for (auto& thread : threads)
    thread.join();

  EXPECT_EQ(escaped.load(), 0);
  EXPECT_EQ(wrong_values.load(), 0);
  const StatsSnapshot stats = cache.stats();
  EXPECT_EQ(stats.circuit.state, CircuitState::Open);
  // Opened once from closed; every later opening came from a failed probe (the open period
  // doubles from 250 ms), and it never closed while the server was down.
  EXPECT_GE(stats.circuit.opened, 1u);
  EXPECT_EQ(stats.circuit.opened, stats.circuit.half_opened + 1);
  EXPECT_EQ(stats.circuit.closed, 0u);
  EXPECT_GT(stats.fallback.hits, 0u);
  EXPECT_GT(stats.degraded_operations, 0u);
  ASSERT_GT(open_latencies.size(), 1000u);
  std::sort(open_latencies.begin(), open_latencies.end());
  const auto p50 = open_latencies[open_latencies.size() / 2];
  const auto p99 = open_latencies[open_latencies.size() * 99 / 100];
  std::cout << "[ measure  ] breaker open: " << open_latencies.size() << " gets, p50 "
            << p50.count() << " ns, p99 " << p99.count() << " ns\n";
  EXPECT_LT(p99, 1ms) << "a get with the breaker open must cost microseconds";
}

TEST_P(CacheManagerFaults, AfterARestartOnlyTheConfiguredProbesReachTheServer) {
  ServerProcess server{testing::on_wire(wire())};
  FaultProxy proxy{server.host(), testing::port_on_wire(wire(), server)};
  ValkeyConfig config = fault_config(wire(), server);
  config.port = proxy.port();
  config.operation_timeout = 1s;
  config.socket_timeout = 1s;
  // Over TLS the handshake's round trips through the 150 ms proxy are part of connecting.
  config.connect_timeout = 1s;
  config.circuit_breaker.recovery_timeout = 300ms;
  config.circuit_breaker.half_open_max_calls = 2;
  // The health check stays on (it PINGs every 50 ms): it may end the open period early, but
  // the probe limit must hold all the same.
  CacheManager cache{config};
  cache.set("k", "v", 600s);

  server.kill();
  // The breaker opens on failures spread over time (failure_spacing apart), not on a burst.
  ASSERT_TRUE(wait_until(
      [&] {
        (void)cache.get("k");
        return cache.circuit_state() == CircuitState::Open;
      },
      10s));
  server.restart();
  server.client().command({"CONFIG", "RESETSTAT"});
  std::this_thread::sleep_for(350ms);  // past the recovery timeout
  proxy.set_delay(150ms);              // probes stay in flight while the others arrive

  std::vector<std::thread> callers;
  std::atomic<int> escaped{0};
  for (int i = 0; i < 20; ++i) {
    callers.emplace_back([&] {
      try {
        (void)cache.get("k");
      } catch (...) {
        ++escaped;
      }
    });
  }
  for (auto& caller : callers)
    caller.join();
  EXPECT_EQ(escaped.load(), 0);
  EXPECT_EQ(server_calls(server, "get"), 2) << "only half_open_max_calls probes may go out";
  EXPECT_EQ(cache.circuit_state(), CircuitState::Closed);
  const StatsSnapshot stats = cache.stats();
  EXPECT_EQ(stats.circuit.half_opened, 1u);
  EXPECT_EQ(stats.circuit.closed, 1u);
  proxy.set_delay(0ms);
  EXPECT_EQ(cache.get("k"), std::nullopt);  // the server restarted empty; no stale fallback value
}

class StaleDataStory : public ::testing::TestWithParam<std::tuple<bool, Wire>> {
 protected:
  [[nodiscard]] Wire wire() const { return std::get<1>(GetParam()); }
};

TEST_P(StaleDataStory, AnInvalidationDuringTheOutageIsReplayedBeforeTrafficResumes) {
  const bool overwrite = std::get<0>(GetParam());
  ServerProcess server{testing::on_wire(wire())};
  ValkeyConfig config = fault_config(wire(), server);
  config.circuit_breaker.recovery_timeout = 100ms;
  CacheManager cache{config};
  ASSERT_TRUE(cache.set("k", "v1", 600s));
  server.save();  // the restarted server will come back with k=v1
  server.kill();

  if (overwrite) {
    EXPECT_FALSE(cache.set("k", "v2", 600s));  // lands in the fallback only
    EXPECT_EQ(cache.get("k"), "v2");
  } else {
    cache.del("k");
    EXPECT_EQ(cache.get("k"), std::nullopt);
  }
  EXPECT_EQ(cache.stats().journal.pending, 1u);

  server.restart();
  ASSERT_EQ(server.client().get("k"), "v1");  // the old data really is back
  // Traffic resumes only after the replay: no read may ever see the old value on the way.
  int stale_reads = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        if (cache.get("k") == "v1")
          ++stale_reads;
        return cache.stats().journal.pending == 0;
      },
      10s));
  EXPECT_EQ(stale_reads, 0);
  EXPECT_EQ(cache.circuit_state(), CircuitState::Closed);
  EXPECT_EQ(cache.get("k"), std::nullopt);
  EXPECT_EQ(server.client().get("k"), std::nullopt);
  const StatsSnapshot stats = cache.stats();
  EXPECT_EQ(stats.journal.pending, 0u);
  EXPECT_EQ(stats.journal.replayed, 1u);
  EXPECT_EQ(stats.fallback.entries, 0u) << "fallback entries are dropped on recovery";
}

INSTANTIATE_TEST_SUITE_P(DeleteOrOverwrite, StaleDataStory,
                         ::testing::Combine(::testing::Bool(),
                                            ::testing::ValuesIn(testing::kWires)),
                         [](const auto& info) {
                           return std::string{std::get<0>(info.param) ? "Overwrite" : "Delete"} +
                                  testing::to_string(std::get<1>(info.param));
                         });

TEST_P(CacheManagerFaults, APausedServerCountsTimeoutsOpensTheBreakerAndRecoversAfterSigcont) {
  ServerProcess server{testing::on_wire(wire())};
  ValkeyConfig config = fault_config(wire(), server);
  config.operation_timeout = 100ms;
  config.socket_timeout = 100ms;
  config.retry.max_attempts = 1;
  config.circuit_breaker.failure_threshold = 3;
  config.circuit_breaker.recovery_timeout = 200ms;
  CacheManager cache{config};
  cache.set("k", "v", 600s);
  server.pause();
  // The breaker opens on timeouts spread over time (failure_spacing apart); the calls between
  // them fail fast in the pool's reconnect backoff without feeding it.
  EXPECT_TRUE(wait_until(
      [&] {
        EXPECT_EQ(cache.get("k"), "v");  // from the fallback
        return cache.circuit_state() == CircuitState::Open;
      },
      10s));
  // The first calls time out; after that the pool knows the server is not answering (its
  // reconnect's CLIENT SETNAME timed out too) and fails fast with connection errors.
  const ErrorCounts errors = cache.stats().errors;
  EXPECT_GE(errors.timeout, 1u);
  EXPECT_GE(errors.timeout + errors.connection, 3u);
  server.resume();
  ASSERT_TRUE(wait_until(
      [&] {
        (void)cache.get("k");
        return cache.circuit_state() == CircuitState::Closed;
      },
      10s));
  // A just-resumed server can still miss a 100 ms deadline (notably under the sanitizers);
  // recovery means writes reach Valkey again, and then reads see them.
  ASSERT_TRUE(wait_until([&] { return cache.set("k", "fresh", 600s); }, 10s));
  EXPECT_EQ(cache.get("k"), "fresh");
}

TEST_P(CacheManagerFaults, TheHealthCheckEndsTheOpenPeriodEarlyAndTheProbesClose) {
  ServerProcess server{testing::on_wire(wire())};
  ValkeyConfig config = fault_config(wire(), server);
  // Probes alone would take ten minutes, from the first open period on.
  config.circuit_breaker.recovery_timeout = 600s;
  config.circuit_breaker.initial_recovery_timeout = 600s;
  CacheManager cache{config};
  server.kill();
  ASSERT_TRUE(wait_until(
      [&] {
        (void)cache.get("k");
        return cache.circuit_state() == CircuitState::Open;
      },
      10s));
  server.restart();
  // The PING alone does not close it: it ends the open period, and the probes decide.
  EXPECT_TRUE(wait_until(
      [&] {
        (void)cache.get("k");
        return cache.circuit_state() == CircuitState::Closed;
      },
      10s));
  EXPECT_EQ(cache.stats().circuit.half_opened, 1u);
}

TEST_P(CacheManagerFaults, GetOrComputeReturnsTheLoadersValueWhileValkeyIsDown) {
  ServerProcess server{testing::on_wire(wire())};
  CacheManager cache{fault_config(wire(), server)};
  server.kill();
  int loads = 0;
  const auto value = cache.get_or_compute("k", 60s, [&] { return ++loads; });
  EXPECT_EQ(value, 1);
  EXPECT_EQ(cache.get<int>("k"), 1);  // kept in the fallback
}

TEST_P(CacheManagerFaults, NothingThrowsWhileTheServerIsDown) {
  ServerProcess server{testing::on_wire(wire())};
  CacheManager cache{fault_config(wire(), server)};
  server.kill();
  const auto every_operation = [&] {
    EXPECT_EQ(cache.get("k"), std::nullopt);
    EXPECT_FALSE(cache.set("k", "v", 60s));
    EXPECT_TRUE(cache.exists("k"));
    EXPECT_TRUE(cache.ttl("k").has_value());
    EXPECT_TRUE(cache.expire("k", 30s));
    EXPECT_TRUE(cache.del("k"));
    EXPECT_EQ(cache.invalidate_pattern("x:*"), 0u);
    const std::array<std::string_view, 1> keys{"k"};
    EXPECT_EQ(cache.mget(keys).size(), 1u);
  };
  EXPECT_NO_THROW(every_operation());
  EXPECT_NE(cache.health().level, HealthLevel::Healthy);
}

}  // namespace
}  // namespace airport::cache
