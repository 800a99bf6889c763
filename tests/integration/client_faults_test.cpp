// SPDX-License-Identifier: BSD-3-Clause
// Real faults: the server is killed and restarted, paused with SIGSTOP, or kills our connections;
// the same ValkeyClient object recovers by itself.
#include <gtest/gtest.h>
#include <airport/cache/errors.hpp>
#include <airport/cache/valkey_client.hpp>

#include <algorithm>
#include <iostream>

#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::ServerProcess;
using testing::wait_until;
using Clock = std::chrono::steady_clock;

ValkeyConfig fault_config(const ServerProcess& server) {
  ValkeyConfig config = server.config();
  config.socket_timeout = 300ms;
  config.connect_timeout = 300ms;
  config.reconnect_base_delay = 20ms;
  config.reconnect_max_delay = 200ms;
  config.health_check_interval = 50ms;
  return config;
}

bool get_succeeds(Client& client) {
  try {
    (void)client.get("k");
    return true;
  } catch (const Error&) {
    return false;
  }
}

TEST(ClientFaults, KilledServerGivesConnectionErrorFastAndTheSameClientRecoversAfterRestart) {
  ServerProcess server;
  ValkeyClient client{fault_config(server)};
  client.set("k", "before");
  server.kill();

  EXPECT_THROW((void)client.get("k"), ConnectionError);
  // While it is down, callers fail fast: no connect timeout each, no hang.
  const auto start = Clock::now();
  int failures = 0;
  for (int i = 0; i < 20; ++i) {
    try {
      (void)client.get("k");
    } catch (const ConnectionError&) {
      ++failures;
    }
  }
  const auto twenty_calls = Clock::now() - start;
  EXPECT_EQ(failures, 20);
  EXPECT_LT(twenty_calls, 300ms)
      << "20 calls against a dead server took "
      << std::chrono::duration_cast<std::chrono::milliseconds>(twenty_calls).count() << " ms";

  server.restart();
  const auto restarted = Clock::now();
  ASSERT_TRUE(wait_until([&] { return get_succeeds(client); }, 5s));
  std::cout
      << "[ measure  ] recovered "
      << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - restarted).count()
      << " ms after the restart\n";
  client.set("k", "after");
  EXPECT_EQ(client.get("k"), "after");
}

TEST(ClientFaults, ARestartedServerIsNoticedBeforeItAnswersACommand) {
  ServerProcess server;
  ValkeyClient client{fault_config(server)};
  client.set("k", "v1");
  EXPECT_EQ(client.server_epoch(), 0u);
  client.set("k", "v1");  // a second connection to the same process changes nothing
  EXPECT_EQ(client.server_epoch(), 0u);
  server.kill();
  server.restart();
  // The first command that reaches the new process runs on a connection whose handshake
  // already learnt the new run_id: the epoch has moved by the time its reply is read.
  Clock::duration slowest{};
  ASSERT_TRUE(wait_until(
      [&] {
        const auto start = Clock::now();
        try {
          const bool fresh = client.get("k") == std::nullopt;
          slowest = std::max(slowest, Clock::now() - start);
          return fresh;
        } catch (const Error&) {
          slowest = std::max(slowest, Clock::now() - start);
          return false;
        }
      },
      5s));
  EXPECT_EQ(client.server_epoch(), 1u);
  // Learning the run_id rides in the handshake's round trip: no call waits longer than the
  // connect and socket timeouts (300 ms each here) allow.
  std::cout << "[ measure  ] slowest get across the restart: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count() << " ms\n";
  EXPECT_LE(slowest, 600ms);
}

TEST(ClientFaults, PausedServerGivesTimeoutErrorAfterTheSocketTimeoutNotAHang) {
  ServerProcess server;
  ValkeyClient client{fault_config(server)};
  client.set("k", "v");
  server.pause();
  const auto start = Clock::now();
  EXPECT_THROW((void)client.get("k"), TimeoutError);
  const auto waited = Clock::now() - start;
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 3s);
  server.resume();
  ASSERT_TRUE(wait_until([&] { return get_succeeds(client); }, 5s));
  EXPECT_EQ(client.get("k"), "v");
}

TEST(ClientFaults, ClientKillOfOurConnectionsIsSurvived) {
  ServerProcess server;
  ValkeyConfig config = fault_config(server);
  config.client_name = "victim";
  ValkeyClient client{config, {.health_check = false}};
  client.set("k", "v");
  const std::string killed = server.client().command({"CLIENT", "KILL", "SKIPME", "yes"});
  EXPECT_NE(killed, "0");
  // At most one caller sees the broken connection; the pool then drops the rest and reconnects.
  int errors = 0;
  for (int i = 0; i < 5; ++i) {
    try {
      EXPECT_EQ(client.get("k"), "v");
    } catch (const ConnectionError&) {
      ++errors;
    }
  }
  EXPECT_LE(errors, 1);
}

TEST(ClientFaults, OptInRetriesHideAKilledConnectionFromReads) {
  ServerProcess server;
  ValkeyClient client{fault_config(server), {.retries = 1, .health_check = false}};
  client.set("k", "v");
  server.client().command({"CLIENT", "KILL", "SKIPME", "yes"});
  EXPECT_EQ(client.get("k"), "v");
}

TEST(ClientFaults, IncrIsNeverSentTwiceAfterALostReply) {
  ServerProcess server;
  ValkeyConfig config = fault_config(server);
  ValkeyClient client{config, {.retries = 3, .health_check = false}};
  client.set("n", "0");
  // DEBUG SLEEP holds the server past our socket timeout: INCR runs, its reply comes too late.
  std::thread sleeper{[&] { server.client().command({"DEBUG", "SLEEP", "0.6"}); }};
  std::this_thread::sleep_for(50ms);
  EXPECT_THROW((void)client.incr("n"), TimeoutError);
  sleeper.join();
  ASSERT_TRUE(wait_until([&] { return get_succeeds(client); }, 5s));
  EXPECT_EQ(client.get("n"), "1");
}

TEST(ClientHealth, ReportsUpWithVersionRoleAndRoundTrip) {
  ServerProcess server;
  ValkeyClient client{fault_config(server)};
  ASSERT_TRUE(wait_until([&] { return client.health().up; }, 5s));
  const HealthStatus health = client.health();
  EXPECT_FALSE(health.server_version.empty());
  EXPECT_TRUE(health.server_name == "redis" || health.server_name == "valkey");
  EXPECT_EQ(health.role, "master");
  EXPECT_GT(health.round_trip.count(), 0);
  EXPECT_TRUE(health.last_error.empty());
}

TEST(ClientHealth, APausedServerShowsAsDownAndComesBackUp) {
  ServerProcess server;
  ValkeyClient client{fault_config(server)};
  ASSERT_TRUE(wait_until([&] { return client.health().up; }, 5s));
  server.pause();
  ASSERT_TRUE(wait_until([&] { return !client.health().up; }, 5s))
      << "the health check never noticed a SIGSTOPped server";
  EXPECT_FALSE(client.health().last_error.empty());
  server.resume();
  EXPECT_TRUE(wait_until([&] { return client.health().up; }, 5s));
}

TEST(ClientHealth, TheHealthThreadStopsPromptlyEvenInTheMiddleOfAPing) {
  ServerProcess server;
  ValkeyConfig config = fault_config(server);
  config.socket_timeout = 10s;
  config.health_check_interval = 20ms;
  auto client = std::make_unique<ValkeyClient>(config);
  ASSERT_TRUE(wait_until([&] { return client->health().up; }, 5s));
  server.pause();  // the next PING blocks for up to 10 s
  std::this_thread::sleep_for(100ms);
  const auto start = Clock::now();
  client.reset();
  EXPECT_LT(Clock::now() - start, 500ms);
  server.resume();
}

TEST(ClientHealth, TheHealthThreadStopsPromptlyBetweenChecks) {
  ServerProcess server;
  ValkeyConfig config = fault_config(server);
  config.health_check_interval = std::chrono::hours{1};
  auto client = std::make_unique<ValkeyClient>(config);
  ASSERT_TRUE(wait_until([&] { return client->health().checks > 0; }, 5s));
  const auto start = Clock::now();
  client.reset();
  EXPECT_LT(Clock::now() - start, 500ms);
}

}  // namespace
}  // namespace airport::cache
