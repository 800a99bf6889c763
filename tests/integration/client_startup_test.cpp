// SPDX-License-Identifier: BSD-3-Clause
// Start-up: the first command does not wait for a handshake round trip of its own or for the
// health check, and what the handshake promises still holds when it rides with that command: a
// refused AUTH or SELECT runs nothing, and CLIENT SETNAME takes effect. Round trips are made
// long and countable with a FaultProxy that delays every chunk; connections are counted by the
// proxy too.
#include <gtest/gtest.h>
#include <airport/cache/cluster_client.hpp>
#include <airport/cache/errors.hpp>
#include <airport/cache/valkey_client.hpp>

#include <array>
#include <chrono>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>

#include "support/fault_proxy.hpp"
#include "support/raw_client.hpp"
#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::FaultProxy;
using testing::ms_since;
using testing::RawClient;
using testing::ServerOptions;
using testing::ServerProcess;
using testing::wait_until;
using Clock = std::chrono::steady_clock;

// Each chunk waits this long in the proxy, each way: one round trip costs twice as much.
constexpr auto kChunkDelay = 100ms;

TEST(ClientStartup, TheFirstCommandCarriesTheHandshakeInItsOwnRoundTrip) {
  ServerProcess server{ServerOptions{.requirepass = "s3cret-startup"}};
  FaultProxy proxy{server.host(), server.port()};
  proxy.set_delay(kChunkDelay);
  ValkeyConfig config = server.config();
  config.port = proxy.port();
  config.password = Secret{"s3cret-startup"};
  config.client_name = "startup-probe";
  config.socket_timeout = 5s;
  ValkeyClient client{config, {.health_check = false}};

  // AUTH, CLIENT SETNAME and INFO go out in the GET's write: one round trip (200 ms here), not
  // two. The slowest of a few fresh clients is the bound.
  long long slowest = 0;
  for (int i = 0; i < 3; ++i) {
    ValkeyClient fresh{config, {.health_check = false}};
    const auto start = Clock::now();
    EXPECT_EQ(fresh.get("startup:absent"), std::nullopt);
    slowest = std::max(slowest, ms_since(start));
  }
  std::cout << "[ measure  ] first GET through a proxy with a 200 ms round trip, slowest of 3: "
            << slowest << " ms\n";
  EXPECT_LT(slowest, 330) << "the handshake took a round trip of its own";

  // The handshake did take effect: the connection is authenticated and named.
  static constexpr std::array<std::string_view, 2> getname{"CLIENT", "GETNAME"};
  const Reply name = client.execute(getname);
  EXPECT_EQ(name.text(), "startup-probe");
}

TEST(ClientStartup, ARefusedPasswordSentWithTheFirstCommandRunsNothing) {
  ServerProcess server{ServerOptions{.requirepass = "right-password"}};
  ValkeyConfig config = server.config();
  config.password = Secret{"wrong-password"};
  ValkeyClient client{config, {.health_check = false}};
  EXPECT_THROW((void)client.set("startup:written", "v"), RefusedError);
  EXPECT_NE(client.health().refusal.find("WRONGPASS"), std::string::npos)
      << client.health().refusal;
  RawClient raw{server.host(), server.port(), "right-password"};
  EXPECT_EQ(raw.command({"EXISTS", "startup:written"}), "0");
}

TEST(ClientStartup, AServerRefusingEveryHandshakeSeesTheBackoffGrow) {
  // The connects succeed and each handshake is refused with the caller's command: those are
  // failed connects all the same, and their backoff must grow, not restart at every connect.
  ServerProcess server{ServerOptions{.requirepass = "right-password"}};
  FaultProxy proxy{server.host(), server.port()};
  ValkeyConfig config = server.config();
  config.port = proxy.port();
  config.password = Secret{"wrong-password"};
  config.reconnect_base_delay = 10ms;
  config.reconnect_max_delay = 2s;
  ValkeyClient client{config, {.health_check = false}};
  const auto start = Clock::now();
  std::size_t calls = 0;
  while (Clock::now() - start < 1500ms) {
    EXPECT_THROW((void)client.get("startup:absent"), RefusedError);
    ++calls;
    std::this_thread::sleep_for(1ms);
  }
  const std::size_t connects = proxy.connections_accepted();
  std::cout << "[ measure  ] " << calls << " calls in 1.5 s against a refusing server: " << connects
            << " connects\n";
  // Doubling from 10 ms with full jitter: about a dozen connects in 1.5 s; a backoff that
  // restarts at 10 ms every time: over a hundred.
  EXPECT_LT(connects, 30u);
}

TEST(ClientStartup, ARefusedSelectIsAnsweredBeforeAnyCommandIsSent) {
  // A SELECT sent with the first command and refused would let that command run in database
  // 0: with a database to select, the handshake is answered first.
  ServerProcess server{ServerOptions{.extra_args = {"--databases", "2"}}};
  ValkeyConfig config = server.config();
  config.database = 5;  // out of the server's range: ERR DB index is out of range
  ValkeyClient client{config, {.health_check = false}};
  EXPECT_THROW((void)client.set("startup:db0", "v"), RefusedError);
  RawClient raw{server.host(), server.port()};
  EXPECT_EQ(raw.command({"EXISTS", "startup:db0"}), "0") << "the SET ran in database 0";
}

TEST(ClientStartup, TheHealthChecksStartWithTheSecondCommandNotWithTheFirst) {
  ServerProcess server;
  FaultProxy proxy{server.host(), server.port()};
  ValkeyConfig config = server.config();
  config.port = proxy.port();
  config.health_check_interval = 20ms;
  ValkeyClient client{config};
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(proxy.connections_accepted(), 0u) << "a connection before any command";
  EXPECT_EQ(client.get("startup:absent"), std::nullopt);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(proxy.connections_accepted(), 1u) << "the health check connected with the 1st command";
  EXPECT_EQ(client.get("startup:absent"), std::nullopt);
  // The second command starts the checks: their own connection, then checks every 20 ms.
  EXPECT_TRUE(wait_until([&] { return client.health().checks >= 2; }, 5s));
  EXPECT_EQ(proxy.connections_accepted(), 2u);
  EXPECT_TRUE(client.health().up);
}

TEST(ClientStartup, ClusterDetectionAsksOnTheConnectionThatServesTheFirstCommand) {
  ServerProcess server;
  FaultProxy proxy{server.host(), server.port()};
  proxy.set_delay(kChunkDelay);
  ValkeyConfig config = server.config();
  config.port = proxy.port();
  config.cluster.mode = ClusterMode::Auto;
  config.socket_timeout = 5s;
  const auto start = Clock::now();
  const auto client = make_client(config);
  EXPECT_EQ(client->get("startup:absent"), std::nullopt);
  const long long took = ms_since(start);
  std::cout << "[ measure  ] make_client (auto) and the first GET, 200 ms round trips: " << took
            << " ms\n";
  EXPECT_FALSE(client->is_cluster());
  EXPECT_EQ(proxy.connections_accepted(), 1u) << "the question had a connection of its own";
  // The question's round trip (with the handshake) and the GET's: two, not three.
  EXPECT_LT(took, 530);
}

}  // namespace
}  // namespace airport::cache
