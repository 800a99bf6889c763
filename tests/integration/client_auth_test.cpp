// SPDX-License-Identifier: BSD-3-Clause
// AUTH with requirepass and with an ACL user. A handshake the server refuses (wrong password, a
// database that does not exist, an ACL denial) is a RefusedError with the server's reason and
// never the password, logged once, reported by health(), and latched for the whole client.
#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <airport/cache/errors.hpp>
#include <airport/cache/valkey_client.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <sstream>
#include <thread>

#include "log_limiter.hpp"
#include "support/raw_client.hpp"
#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::AclUser;
using testing::RawClient;
using testing::ServerOptions;
using testing::ServerProcess;
using testing::wait_until;
using Clock = std::chrono::steady_clock;

// A logger whose lines a test can read: "<level>|<message>" per line.
struct CapturedLog {
  std::shared_ptr<std::ostringstream> out = std::make_shared<std::ostringstream>();
  std::shared_ptr<spdlog::logger> logger = [this] {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*out);
    sink->set_pattern("%l|%v");
    auto made = std::make_shared<spdlog::logger>("captured", sink);
    made->set_level(spdlog::level::debug);
    return made;
  }();
  std::vector<std::string> lines(std::string_view level) {
    logger->flush();
    std::vector<std::string> found;
    std::istringstream in{out->str()};
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with(std::string{level} + "|"))
        found.push_back(line);
    }
    return found;
  }
};

TEST(ClientAuth, RequirepassServerAcceptsTheRightPassword) {
  ServerProcess server{ServerOptions{.requirepass = "gate-b12-secret"}};
  ValkeyClient client{server.config()};
  EXPECT_TRUE(client.set("k", "v"));
  EXPECT_EQ(client.get("k"), "v");
}

TEST(ClientAuth, AclUserAuthenticatesWithUsernameAndPassword) {
  ServerProcess server{ServerOptions{.acl_user = AclUser{"checkin", "acl-secret-42"}}};
  ValkeyConfig config = server.config();
  ASSERT_EQ(config.username, "checkin");
  ValkeyClient client{config};
  client.set("k", "v");
  EXPECT_EQ(client.get("k"), "v");
  const std::string whoami = server.client().command({"CLIENT", "LIST"});
  EXPECT_NE(whoami.find("user=checkin"), std::string::npos) << whoami;
}

TEST(ClientAuth, WrongPasswordIsARefusalWithTheServersReasonWithoutThePassword) {
  ServerProcess server{ServerOptions{.requirepass = "right-password"}};
  ValkeyConfig config = server.config();
  config.password = Secret{"wrong-p4ssw0rd"};
  ValkeyClient client{config, {.health_check = false}};
  try {
    (void)client.get("k");
    FAIL() << "a wrong password was accepted";
  } catch (const RefusedError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("AUTH"), std::string::npos) << message;
    EXPECT_NE(message.find(config.endpoint()), std::string::npos) << message;
    EXPECT_EQ(message.find("wrong-p4ssw0rd"), std::string::npos) << message;
    EXPECT_EQ(message.find("right-password"), std::string::npos) << message;
    EXPECT_NE(message.find("WRONGPASS"), std::string::npos) << message;
  }
  const std::string refusal = client.health().refusal;
  EXPECT_NE(refusal.find("WRONGPASS"), std::string::npos) << refusal;
  EXPECT_EQ(refusal.find("wrong-p4ssw0rd"), std::string::npos) << refusal;
}

TEST(ClientAuth, WrongAclPasswordIsAClearErrorWithoutThePassword) {
  ServerProcess server{ServerOptions{.acl_user = AclUser{"checkin", "acl-secret-42"}}};
  ValkeyConfig config = server.config();
  config.password = Secret{"not-the-acl-secret"};
  ValkeyClient client{config, {.health_check = false}};
  try {
    (void)client.ping();
    FAIL() << "a wrong ACL password was accepted";
  } catch (const RefusedError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("checkin"), std::string::npos) << message;
    EXPECT_EQ(message.find("not-the-acl-secret"), std::string::npos) << message;
  }
}

TEST(ClientAuth, MissingPasswordFailsTheConnectionSetUpWithNoauth) {
  ServerProcess server{ServerOptions{.requirepass = "right-password"}};
  ValkeyConfig config = server.config();
  config.password = Secret{};
  ValkeyClient client{config, {.health_check = false}};
  try {
    (void)client.get("k");
    FAIL() << "a password-protected server answered without AUTH";
  } catch (const RefusedError& error) {
    EXPECT_NE(std::string{error.what()}.find("NOAUTH"), std::string::npos) << error.what();
  }
}

TEST(ClientAuth, HealthCheckReportsAuthFailureWithoutThePassword) {
  ServerProcess server{ServerOptions{.requirepass = "right-password"}};
  ValkeyConfig config = server.config();
  config.password = Secret{"wrong-p4ssw0rd"};
  config.health_check_interval = std::chrono::milliseconds{50};
  ValkeyClient client{config};
  ASSERT_TRUE(
      testing::wait_until([&] { return client.health().checks > 0; }, std::chrono::seconds{5}));
  const HealthStatus health = client.health();
  EXPECT_FALSE(health.up);
  EXPECT_EQ(health.last_error.find("wrong-p4ssw0rd"), std::string::npos) << health.last_error;
}

TEST(ClientAuth, MissingPasswordWithoutAnyHandshakeCommandIsARefusalToo) {
  // No AUTH, SELECT or SETNAME to send: the first command's NOAUTH is the refusal.
  ServerProcess server{ServerOptions{.requirepass = "right-password"}};
  ValkeyConfig config = server.config();
  config.password = Secret{};
  config.client_name.clear();
  ValkeyClient client{config, {.health_check = false}};
  EXPECT_THROW((void)client.get("k"), RefusedError);
  const std::string refusal = client.health().refusal;
  EXPECT_NE(refusal.find("NOAUTH"), std::string::npos) << refusal;
  EXPECT_EQ(client.health().pool_open, 0u) << "an unauthenticated connection was pooled";
}

TEST(ClientAuth, SelectOfADatabaseThatDoesNotExistIsARefusal) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.database = 99;
  ValkeyClient client{config, {.health_check = false}};
  try {
    (void)client.get("k");
    FAIL() << "SELECT 99 was accepted";
  } catch (const RefusedError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("SELECT 99"), std::string::npos) << message;
    EXPECT_NE(message.find("out of range"), std::string::npos) << message;
  }
  EXPECT_NE(client.health().refusal.find("SELECT 99"), std::string::npos)
      << client.health().refusal;
}

TEST(ClientAuth, AnAclDenialDuringTheHandshakeIsARefusal) {
  ServerProcess server;
  server.client().command(
      {"ACL", "SETUSER", "kiosk", "on", ">kiosk-pass", "~*", "+@all", "-client"});
  ValkeyConfig config = server.config();
  config.username = "kiosk";
  config.password = Secret{"kiosk-pass"};
  ValkeyClient client{config, {.health_check = false}};
  try {
    (void)client.get("k");
    FAIL() << "CLIENT SETNAME was allowed to a user without +client";
  } catch (const RefusedError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("NOPERM"), std::string::npos) << message;
    EXPECT_EQ(message.find("kiosk-pass"), std::string::npos) << message;
  }
}

TEST(ClientAuth, ARefusalIsLoggedOnceAtErrorLevelNotOncePerCall) {
  ServerProcess server{ServerOptions{.requirepass = "right-password"}};
  ValkeyConfig config = server.config();
  config.password = Secret{"wrong-p4ssw0rd"};
  config.reconnect_base_delay = 1ms;  // every call is due a fresh attempt
  config.reconnect_max_delay = 2ms;
  CapturedLog log;
  ValkeyClient client{config, {.logger = log.logger, .health_check = false}};
  int refused = 0;
  long long worst_ms = 0;
  for (int i = 0; i < 20; ++i) {
    const auto start = Clock::now();
    try {
      (void)client.get("k");
    } catch (const RefusedError&) {
      ++refused;
    }
    worst_ms = std::max<long long>(
        worst_ms,
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
    std::this_thread::sleep_for(3ms);  // past the backoff: the next call really tries again
  }
  std::cout << "[ measure  ] slowest of 20 refused calls: " << worst_ms << " ms\n";
  EXPECT_LT(worst_ms, 200);
  EXPECT_EQ(refused, 20);
  const auto errors = log.lines("error");
  ASSERT_EQ(errors.size(), 1u) << log.out->str();
  EXPECT_NE(errors[0].find("WRONGPASS"), std::string::npos) << errors[0];
  EXPECT_EQ(log.out->str().find("wrong-p4ssw0rd"), std::string::npos) << log.out->str();
}

TEST(ClientAuth, AChangedPasswordLatchesTheWholeClientUntilAHandshakeSucceedsAgain) {
  // After CONFIG SET requirepass, connections opened before keep working while new ones are
  // refused, so some calls would see the server and some would not. The first refused handshake
  // must turn the whole client into refusing, connections already lent included.
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.reconnect_base_delay = 5ms;
  config.reconnect_max_delay = 20ms;
  ValkeyClient client{config, {.health_check = false}};
  auto lent = client.session();  // authenticated before the change
  client.set("k", "before");
  ASSERT_EQ(client.health().pool_idle, 1u);
  RawClient admin = server.client();
  admin.command({"CONFIG", "SET", "requirepass", "rotated-secret"});

  // The idle connection still works: the client cannot know yet.
  EXPECT_EQ(client.get("k"), "before");
  // A second connection is needed while the first one is busy: its handshake is refused.
  auto second = client.session();
  EXPECT_THROW((void)client.get("k"), RefusedError);
  second.reset();
  // Latched: the idle connection is gone, and the one still lent is closed when it comes back.
  EXPECT_NE(client.health().refusal.find("NOAUTH"), std::string::npos) << client.health().refusal;
  EXPECT_EQ(lent->command("GET", "k").text(), "before");  // lent before: it still answers
  lent.reset();
  EXPECT_EQ(client.health().pool_open, 0u) << "a connection lent before the latch was pooled";
  long long worst_ms = 0;
  for (int i = 0; i < 20; ++i) {
    const auto start = Clock::now();
    EXPECT_THROW((void)client.get("k"), RefusedError) << "call " << i;
    worst_ms = std::max<long long>(
        worst_ms,
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
    std::this_thread::sleep_for(2ms);
  }
  std::cout << "[ measure  ] slowest refused call while latched: " << worst_ms << " ms\n";
  EXPECT_LT(worst_ms, 200);

  admin.command({"AUTH", "rotated-secret"});
  admin.command({"CONFIG", "SET", "requirepass", ""});
  ASSERT_TRUE(wait_until(
      [&] {
        try {
          return client.get("k") == "before";
        } catch (const RefusedError&) {
          return false;
        }
      },
      5s));
  EXPECT_TRUE(client.health().refusal.empty()) << client.health().refusal;
}

TEST(ClientAuth, TheHealthChecksRefusedHandshakeLatchesThePoolToo) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.health_check_interval = 50ms;
  ValkeyClient client{config};
  client.set("k", "v");
  ASSERT_TRUE(wait_until([&] { return client.health().up; }, 5s));
  RawClient admin = server.client();
  admin.command({"CONFIG", "SET", "requirepass", "rotated-secret"});
  // The health check's connection goes; its next handshake is refused.
  admin.command({"CLIENT", "KILL", "SKIPME", "yes"});
  ASSERT_TRUE(wait_until([&] { return !client.health().refusal.empty(); }, 5s))
      << "the health check's refused handshake did not reach the pool";
  EXPECT_NE(client.health().refusal.find("NOAUTH"), std::string::npos) << client.health().refusal;
  EXPECT_THROW((void)client.get("k"), RefusedError);
}

TEST(ClientAuth, MaxClientsReachedIsAConnectionErrorNotAReply) {
  ServerProcess server{ServerOptions{.extra_args = {"--maxclients", "1"}}};
  RawClient only_one = server.client();
  (void)only_one.command({"PING"});
  for (const bool with_name : {false, true}) {
    ValkeyConfig config = server.config();
    if (!with_name)
      config.client_name.clear();  // no handshake: the refusal arrives as the first reply
    ValkeyClient client{config, {.health_check = false}};
    const auto start = Clock::now();
    try {
      (void)client.get("k");
      FAIL() << "a connection over maxclients answered";
    } catch (const ConnectionError& error) {
      const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      std::cout << "[ measure  ] refused over maxclients (with_name=" << with_name << ") in "
                << took.count() << " ms\n";
      EXPECT_LT(took, 200ms);
      EXPECT_NE(std::string{error.what()}.find("max number of clients"), std::string::npos)
          << error.what();
    } catch (const Error& error) {
      ADD_FAILURE() << "with_name=" << with_name << ": expected ConnectionError, got "
                    << to_string(error.category()) << ": " << error.what();
    }
    EXPECT_TRUE(client.health().refusal.empty()) << client.health().refusal;
  }
}

TEST(LogLimiter, OneLinePerCausePerIntervalWithTheCountOfRepeats) {
  detail::LogLimiter limiter{10s};
  const auto t0 = detail::LogLimiter::Clock::time_point{} + 1h;
  EXPECT_EQ(limiter.admit("WRONGPASS", t0), 0u);
  EXPECT_EQ(limiter.admit("WRONGPASS", t0 + 1s), std::nullopt);
  EXPECT_EQ(limiter.admit("WRONGPASS", t0 + 9s), std::nullopt);
  EXPECT_EQ(limiter.admit("SELECT 99", t0 + 9s), 0u);  // another cause has its own interval
  EXPECT_EQ(limiter.admit("WRONGPASS", t0 + 10s), 2u);
  EXPECT_EQ(limiter.admit("WRONGPASS", t0 + 11s), std::nullopt);
  EXPECT_EQ(limiter.admit("WRONGPASS", t0 + 25s), 1u);
}

TEST(LogLimiter, CausesThatVaryCannotGrowItWithoutBound) {
  detail::LogLimiter limiter{10s, 2};
  const auto t0 = detail::LogLimiter::Clock::time_point{} + 1h;
  EXPECT_EQ(limiter.admit("key 1", t0), 0u);
  EXPECT_EQ(limiter.admit("key 2", t0 + 1s), 0u);
  EXPECT_EQ(limiter.admit("key 2", t0 + 2s), std::nullopt);
  // Full: "key 1", quiet for a whole interval, makes room; "key 2" is still held back.
  EXPECT_EQ(limiter.admit("key 3", t0 + 10s), 0u);
  EXPECT_EQ(limiter.admit("key 2", t0 + 10s), std::nullopt);
  EXPECT_EQ(limiter.admit("key 2", t0 + 11s), 2u);
}

TEST(LogLimiter, WhileFullOfActiveCausesNewOnesShareOneLinePerInterval) {
  detail::LogLimiter limiter{60s, 2};
  const auto t0 = detail::LogLimiter::Clock::time_point{} + 1h;
  EXPECT_EQ(limiter.admit("key 1", t0), 0u);
  EXPECT_EQ(limiter.admit("key 2", t0), 0u);
  // 1000 more keys within the interval: one line for all of them, and no more memory.
  std::size_t lines = 0;
  for (int i = 3; i < 1003; ++i)
    lines += limiter.admit("key " + std::to_string(i), t0 + 1s).has_value() ? 1 : 0;
  EXPECT_EQ(lines, 1u);
  EXPECT_EQ(limiter.admit("key 1", t0 + 2s), std::nullopt);  // its own interval still runs
  EXPECT_EQ(limiter.admit("key 5000", t0 + 61s), 0u);        // quiet ones make room again
}

}  // namespace
}  // namespace airport::cache
