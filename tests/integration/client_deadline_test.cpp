// SPDX-License-Identifier: BSD-3-Clause
// One deadline per operation: a DeadlineScope, else each step's own timeout, bounds the pool wait,
// the idle check, the handshake, the write and the whole reply, however the server misbehaves
// (hung, dripping, an endless bulk, garbage), and the client's destructor never waits on it.
#include <gtest/gtest.h>
#include <airport/cache/deadline.hpp>
#include <airport/cache/errors.hpp>
#include <airport/cache/valkey_client.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "support/fault_proxy.hpp"
#include "support/lying_server.hpp"
#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::FaultProxy;
using testing::Lie;
using testing::LyingServer;
using testing::ms_since;
using testing::ServerProcess;
using testing::wait_until;
using Clock = std::chrono::steady_clock;

ValkeyConfig lying_config(const LyingServer& server) {
  ValkeyConfig config;
  config.host = "127.0.0.1";
  config.port = server.port();
  config.connect_timeout = 1s;
  config.socket_timeout = 300ms;
  config.pool_timeout = 1s;
  config.reconnect_base_delay = 10ms;
  config.reconnect_max_delay = 50ms;
  return config;
}

// Runs `call`, which must throw an Error; returns how long it took and records what it threw.
template <class Call>
long long timed_failure(Call&& call, std::string& thrown) {
  const auto start = Clock::now();
  try {
    call();
    thrown = "nothing";
  } catch (const Error& error) {
    thrown = std::string{to_string(error.category())} + ": " + error.what();
  }
  return ms_since(start);
}

TEST(ClientDeadline, EveryLieEndsWithinTheSocketTimeoutAndTheConnectionIsNeverReused) {
  struct Case {
    Lie lie;
    const char* name;
    ErrorCategory expected;
  };
  const std::vector<Case> cases{
      {Lie::Silent, "Silent", ErrorCategory::Timeout},
      {Lie::Drip, "Drip", ErrorCategory::Timeout},
      {Lie::EndlessBulk, "EndlessBulk", ErrorCategory::Timeout},
      {Lie::HugeBulkLength, "HugeBulkLength", ErrorCategory::Timeout},
      {Lie::Garbage, "Garbage", ErrorCategory::Protocol},
      {Lie::CloseMidReply, "CloseMidReply", ErrorCategory::Connection},
  };
  long long worst = 0;
  for (const Case& c : cases) {
    LyingServer server{c.lie, 10ms};
    ValkeyClient client{lying_config(server), {.health_check = false}};
    for (int call = 0; call < 3; ++call) {
      std::string thrown;
      const long long took = timed_failure([&] { (void)client.get("flight:UA123"); }, thrown);
      worst = std::max(worst, took);
      std::cout << "[ measure  ] " << c.name << " call " << call << ": " << took << " ms, "
                << thrown << "\n";
      EXPECT_LT(took, 450) << c.name << ": " << thrown;
      EXPECT_EQ(thrown.rfind(std::string{to_string(c.expected)}, 0), 0u)
          << c.name << ": " << thrown;
      EXPECT_EQ(client.health().pool_open, 0u) << c.name << ": a lied-to connection was kept";
    }
    // Every call needed a connection of its own: none was lent twice.
    EXPECT_EQ(server.connections_accepted(), 3u) << c.name;
  }
  std::cout << "[ measure  ] worst call against a lying server: " << worst
            << " ms (socket timeout 300 ms)\n";
}

// hiredis 0.14 callocs an array's element pointers when it reads "*<count>": a server that
// announces INT_MAX elements asked for 16 GiB, and the call then waited out its deadline for
// elements that never came. A count over the reader's limit is a protocol error at once.
TEST(ClientDeadline, AnAbsurdArrayCountIsRefusedAtOnceWithoutAllocatingForIt) {
  LyingServer server{Lie::HugeArrayCount};
  ValkeyConfig config = lying_config(server);
  config.socket_timeout = 2s;
  ValkeyClient client{config, {.health_check = false}};
  std::string thrown;
  const long long took = timed_failure([&] { (void)client.get("k"); }, thrown);
  std::cout << "[ measure  ] array count of 2147483647: " << took << " ms, " << thrown << "\n";
  EXPECT_LT(took, 1000) << thrown;
  EXPECT_EQ(thrown.rfind("protocol", 0), 0u) << thrown;
  EXPECT_NE(thrown.find("2147483647"), std::string::npos) << thrown;
  EXPECT_NE(thrown.find(std::to_string(max_reply_array_elements)), std::string::npos) << thrown;
  EXPECT_EQ(client.health().pool_open, 0u) << "the connection was kept";
}

TEST(ClientDeadline, ADeadlineScopeShorterThanTheSocketTimeoutBoundsTheReply) {
  LyingServer server{Lie::Drip, 10ms};
  ValkeyConfig config = lying_config(server);
  config.socket_timeout = 5s;
  ValkeyClient client{config, {.health_check = false}};
  std::string thrown;
  const long long took = timed_failure(
      [&] {
        const DeadlineScope scope{Clock::now() + 200ms};
        (void)client.get("k");
      },
      thrown);
  std::cout << "[ measure  ] dripping reply under a 200 ms scope: " << took << " ms, " << thrown
            << "\n";
  EXPECT_GE(took, 190);
  EXPECT_LT(took, 350) << thrown;
  EXPECT_EQ(thrown.rfind("timeout", 0), 0u) << thrown;
}

TEST(ClientDeadline, RetriesShareTheScopeInsteadOfEachTakingAFullTimeout) {
  LyingServer server{Lie::Silent};
  ValkeyConfig config = lying_config(server);
  config.socket_timeout = 300ms;
  ValkeyClient client{config, {.retries = 3, .health_check = false}};
  std::string thrown;
  const long long took = timed_failure(
      [&] {
        const DeadlineScope scope{Clock::now() + 500ms};
        (void)client.get("k");  // read-only: retried on a timeout
      },
      thrown);
  std::cout << "[ measure  ] 3 retries under a 500 ms scope: " << took << " ms, " << thrown << "\n";
  EXPECT_LT(took, 650) << thrown;
  EXPECT_EQ(thrown.rfind("timeout", 0), 0u) << thrown;
}

TEST(ClientDeadline, IdleChecksOfAPausedServerTakeOneDeadlineNotOnePerConnection) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.max_connections = 8;
  config.socket_timeout = 1s;
  config.idle_check_after = 0ms;  // every idle connection is PINGed before it is lent
  ValkeyClient client{config, {.health_check = false}};
  {
    std::vector<std::unique_ptr<Session>> sessions;
    for (int i = 0; i < 8; ++i)
      sessions.push_back(client.session());
  }
  ASSERT_EQ(client.health().pool_idle, 8u);
  server.pause();
  std::string thrown;
  const long long took = timed_failure(
      [&] {
        const DeadlineScope scope{Clock::now() + 500ms};
        (void)client.get("k");
      },
      thrown);
  std::cout << "[ measure  ] 8 idle connections, paused server, 500 ms scope: " << took << " ms, "
            << thrown << "\n";
  EXPECT_LT(took, 650) << thrown;
  EXPECT_EQ(client.health().pool_idle, 0u) << "one failed idle check must drop every idle one";
  server.resume();
  EXPECT_TRUE(wait_until(
      [&] {
        try {
          return !client.get("k").has_value();
        } catch (const Error&) {
          return false;
        }
      },
      5s));
}

TEST(ClientDeadline, WithoutAScopeAFailedIdleCheckCostsOneSocketTimeout) {
  ServerProcess server;
  FaultProxy proxy{server.host(), server.port()};
  ValkeyConfig config = server.config();
  config.port = proxy.port();
  config.max_connections = 8;
  config.socket_timeout = 300ms;
  config.idle_check_after = 0ms;
  ValkeyClient client{config, {.health_check = false}};
  {
    std::vector<std::unique_ptr<Session>> sessions;
    for (int i = 0; i < 8; ++i)
      sessions.push_back(client.session());
  }
  proxy.refuse(true);  // a server that is down: no reconnect can hide the idle checks' cost
  proxy.blackhole(true);
  std::string thrown;
  const long long took = timed_failure([&] { (void)client.get("k"); }, thrown);
  std::cout << "[ measure  ] 8 idle connections, hung link, no scope: " << took << " ms, " << thrown
            << "\n";
  EXPECT_LT(took, 450) << thrown;
  EXPECT_EQ(client.health().pool_idle, 0u);
}

TEST(ClientDeadline, ThePoolWaitEndsAtTheScopeDeadline) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.max_connections = 1;
  config.pool_timeout = 2s;
  ValkeyClient client{config, {.health_check = false}};
  auto held = client.session();
  std::string thrown;
  const long long took = timed_failure(
      [&] {
        const DeadlineScope scope{Clock::now() + 200ms};
        (void)client.get("k");
      },
      thrown);
  std::cout << "[ measure  ] pool wait under a 200 ms scope (pool timeout 2 s): " << took
            << " ms\n";
  EXPECT_GE(took, 190);
  EXPECT_LT(took, 350) << thrown;
  EXPECT_EQ(thrown.rfind("pool", 0), 0u) << thrown;
}

TEST(ClientDeadline, AHandshakeWithAHungServerEndsAtTheScopeDeadline) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.socket_timeout = 3s;
  ValkeyClient client{config, {.health_check = false}};
  server.pause();  // the kernel still accepts the connection; CLIENT SETNAME is never answered
  std::string thrown;
  const long long took = timed_failure(
      [&] {
        const DeadlineScope scope{Clock::now() + 250ms};
        (void)client.get("k");
      },
      thrown);
  std::cout << "[ measure  ] handshake with a paused server under a 250 ms scope: " << took
            << " ms, " << thrown << "\n";
  EXPECT_LT(took, 400) << thrown;
  EXPECT_EQ(thrown.rfind("timeout", 0), 0u) << thrown;
  server.resume();
}

TEST(ClientDeadline, DestroyingTheClientDuringTheHealthChecksHandshakeReturnsAtOnce) {
  ServerProcess server;
  FaultProxy proxy{server.host(), server.port()};
  proxy.blackhole(true);  // accepted, never answered: the health check hangs in its handshake
  ValkeyConfig config = server.config();
  config.port = proxy.port();
  config.socket_timeout = 5s;
  config.health_check_interval = 50ms;
  auto client = std::make_unique<ValkeyClient>(config);
  (void)client->health();  // the health checks start when first asked (or at the 2nd command)
  ASSERT_TRUE(wait_until([&] { return proxy.connections_accepted() >= 1; }, 5s));
  std::this_thread::sleep_for(50ms);  // let the handshake's first read start waiting
  const auto start = Clock::now();
  client.reset();
  const long long took = ms_since(start);
  std::cout << "[ measure  ] ~ValkeyClient during a hung handshake: " << took << " ms\n";
  EXPECT_LT(took, 200);
}

TEST(ClientDeadline, DestroyingTheClientAgainstAPausedServerReturnsAtOnce) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.socket_timeout = 5s;
  config.connect_timeout = 5s;
  config.health_check_interval = 20ms;
  server.pause();
  auto client = std::make_unique<ValkeyClient>(config);
  (void)client->health();  // the health checks start when first asked (or at the 2nd command)
  std::this_thread::sleep_for(100ms);  // the health check connects and waits on its handshake
  const auto start = Clock::now();
  client.reset();
  const long long took = ms_since(start);
  std::cout << "[ measure  ] ~ValkeyClient against a SIGSTOPped server: " << took << " ms\n";
  EXPECT_LT(took, 200);
  server.resume();
}

}  // namespace
}  // namespace airport::cache
