// Tests of the test support itself against a real server: ServerProcess, RawClient, FaultProxy
// and wait_until. Every other integration test trusts these, so they prove each promise.
#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "support/fault_proxy.hpp"
#include "support/raw_client.hpp"
#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Sets an environment variable for one scope and restores the previous value (or its absence).
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) {
      previous_ = old;
    }
    ::setenv(name_.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (previous_) {
      ::setenv(name_.c_str(), previous_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> previous_;
};

bool answers_ping(const std::string& host, int port) {
  try {
    return RawClient(host, port, {}, {}, 200ms).command({"PING"}) == "PONG";
  } catch (const std::exception&) {
    return false;
  }
}

TEST(ServerProcess, AnswersPingOnAFreeLoopbackPort) {
  ServerProcess server;
  EXPECT_EQ(server.host(), "127.0.0.1");
  EXPECT_GT(server.port(), 0);
  EXPECT_TRUE(server.running());
  EXPECT_TRUE(std::filesystem::is_directory(server.dir()));
  EXPECT_TRUE(std::filesystem::path(server.binary()).is_absolute()) << server.binary();
  EXPECT_EQ(server.client().command({"PING"}), "PONG");
}

TEST(ServerProcess, TwoServersAtOnceGetDifferentPortsAndData) {
  ServerProcess first;
  ServerProcess second;
  EXPECT_NE(first.port(), second.port());
  EXPECT_NE(first.dir(), second.dir());
  first.client().set("who", "first");
  EXPECT_EQ(second.client().get("who"), std::nullopt);
  EXPECT_EQ(first.client().get("who"), "first");
}

TEST(ServerProcess, RendersRepliesAsText) {
  ServerProcess server;
  auto client = server.client();
  EXPECT_EQ(client.command({"SET", "k", std::string_view("a\0b", 3)}), "OK");
  EXPECT_EQ(client.get("k"), std::string("a\0b", 3));
  EXPECT_EQ(client.command({"GET", "missing"}), "(nil)");
  EXPECT_EQ(client.integer({"INCR", "counter"}), 1);
  EXPECT_EQ(client.command({"INCR", "counter"}), "2");
  EXPECT_EQ(client.command({"RPUSH", "list", "x", "y"}), "2");
  EXPECT_EQ(client.command(std::vector<std::string>{"LRANGE", "list", "0", "-1"}), "x\ny");
  EXPECT_EQ(client.command({"NOSUCHCOMMAND"}).rfind("(error) ERR", 0), 0U);
  EXPECT_THROW(client.integer({"GET", "k"}), std::runtime_error);
}

TEST(ServerProcess, AllowsDebugCommands) {
  ServerProcess server;
  EXPECT_EQ(server.client().command({"DEBUG", "SLEEP", "0"}), "OK");
}

TEST(ServerProcess, PassesExtraArgumentsToTheServer) {
  ServerProcess server(ServerOptions{.extra_args = {"--maxmemory", "1mb"}});
  EXPECT_EQ(server.client().command({"CONFIG", "GET", "maxmemory"}), "maxmemory\n1048576");
}

TEST(ServerProcess, KillEndsTheProcessAndConnectionsFail) {
  ServerProcess server;
  server.kill();
  EXPECT_FALSE(server.running());
  EXPECT_EQ(::kill(server.pid(), 0), -1);
  EXPECT_THROW(RawClient(server.host(), server.port(), {}, {}, 200ms), std::runtime_error);
}

TEST(ServerProcess, StopEndsTheProcessGracefully) {
  ServerProcess server;
  server.stop();
  EXPECT_FALSE(server.running());
  EXPECT_FALSE(answers_ping(server.host(), server.port()));
}

TEST(ServerProcess, RestartAnswersAgainOnTheSamePort) {
  ServerProcess server;
  const int port = server.port();
  const pid_t first_pid = server.pid();
  server.stop();
  server.restart();
  EXPECT_TRUE(server.running());
  EXPECT_EQ(server.port(), port);
  EXPECT_NE(server.pid(), first_pid);
  EXPECT_EQ(server.client().command({"PING"}), "PONG");

  server.kill();
  server.restart();
  EXPECT_EQ(server.client().command({"PING"}), "PONG");
}

TEST(ServerProcess, RestartWhileRunningThrows) {
  ServerProcess server;
  EXPECT_THROW(server.restart(), std::runtime_error);
}

TEST(ServerProcess, SaveThenKillAndRestartKeepsOnlyTheSavedData) {
  ServerProcess server;
  server.client().set("saved", "before");
  server.save();
  // Written after the snapshot: gone after a crash, which is what stale-data tests rely on.
  server.client().set("saved", "after");
  server.client().set("unsaved", "x");
  server.kill();
  server.restart();
  auto client = server.client();
  EXPECT_EQ(client.get("saved"), "before");
  EXPECT_EQ(client.get("unsaved"), std::nullopt);
}

TEST(ServerProcess, PauseMakesCommandsTimeOutAndResumeRecovers) {
  ServerProcess server;
  RawClient client(server.host(), server.port(), {}, {}, 200ms);
  ASSERT_EQ(client.command({"PING"}), "PONG");

  server.pause();
  EXPECT_TRUE(server.running());
  const auto started = Clock::now();
  EXPECT_THROW(client.command({"PING"}), std::runtime_error);
  EXPECT_GE(Clock::now() - started, 150ms);

  server.resume();
  EXPECT_TRUE(wait_until([&] { return answers_ping(server.host(), server.port()); }, 2s));
  // The client dropped its timed-out connection; its next command reconnects.
  EXPECT_EQ(client.command({"PING"}), "PONG");
}

TEST(ServerProcess, DestructorStopsAPausedServer) {
  pid_t pid = 0;
  {
    ServerProcess server;
    pid = server.pid();
    server.pause();
  }
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(ServerProcess, RequirepassRejectsUnauthenticatedCommands) {
  ServerProcess server(ServerOptions{.requirepass = "s3cret-pass"});
  RawClient anonymous(server.host(), server.port());
  EXPECT_EQ(anonymous.command({"GET", "k"}).rfind("(error) NOAUTH", 0), 0U);

  RawClient authenticated(server.host(), server.port(), "s3cret-pass");
  EXPECT_EQ(authenticated.command({"PING"}), "PONG");
  EXPECT_EQ(server.client().command({"PING"}), "PONG");
  EXPECT_EQ(server.config().password.reveal(), "s3cret-pass");
  EXPECT_TRUE(server.config().username.empty());

  try {
    RawClient wrong(server.host(), server.port(), "wrong");
    ADD_FAILURE() << "AUTH with a wrong password succeeded";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()).find("wrong"), std::string::npos)
        << "the password leaked into: " << error.what();
  }
}

TEST(ServerProcess, AclUserAuthenticatesWithUsernameAndPassword) {
  ServerProcess server(ServerOptions{.acl_user = AclUser{"airport", "acl-pass"}});
  RawClient client(server.host(), server.port(), "acl-pass", "airport");
  EXPECT_EQ(client.command({"ACL", "WHOAMI"}), "airport");
  client.set("k", "v");
  EXPECT_EQ(client.get("k"), "v");
  EXPECT_EQ(server.client().command({"ACL", "WHOAMI"}), "airport");
  EXPECT_THROW(RawClient(server.host(), server.port(), "nope", "airport"), std::runtime_error);

  const ValkeyConfig config = server.config();
  EXPECT_EQ(config.username, "airport");
  EXPECT_EQ(config.password.reveal(), "acl-pass");
}

TEST(ServerProcess, ConfigPointsAtTheServerWithShortTimeouts) {
  ServerProcess server;
  const ValkeyConfig config = server.config();
  EXPECT_EQ(config.host, "127.0.0.1");
  EXPECT_EQ(config.port, server.port());
  EXPECT_TRUE(config.password.empty());
  EXPECT_EQ(config.connect_timeout, 1s);
  EXPECT_EQ(config.socket_timeout, 1s);
  EXPECT_EQ(config.pool_timeout, 1s);
}

TEST(ServerProcess, DestructorRemovesTheTempDirAndReapsTheProcess) {
  std::filesystem::path dir;
  pid_t pid = 0;
  {
    ServerProcess server;
    dir = server.dir();
    pid = server.pid();
    server.save();  // leaves a dump.rdb in the directory
    ASSERT_TRUE(std::filesystem::exists(dir / "dump.rdb"));
  }
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(ServerProcess, ServerBinPointingNowhereMakesTheConstructorThrow) {
  const std::string missing = "/nonexistent/airport-cache/valkey-server";
  const ScopedEnv env("AIRPORT_CACHE_SERVER_BIN", missing);
  try {
    ServerProcess server;
    ADD_FAILURE() << "started " << server.binary();
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(missing), std::string::npos) << error.what();
  }
}

TEST(ServerProcess, ServerBinChoosesTheBinary) {
  const std::string chosen = ServerProcess().binary();
  const ScopedEnv env("AIRPORT_CACHE_SERVER_BIN", chosen);
  ServerProcess server;
  EXPECT_EQ(server.binary(), chosen);
}

TEST(ServerProcess, ServerBinMayBeANameLookedUpOnPath) {
  const std::filesystem::path chosen = ServerProcess().binary();
  const ScopedEnv env("AIRPORT_CACHE_SERVER_BIN", chosen.filename().string());
  const ScopedEnv path("PATH", chosen.parent_path().string());
  ServerProcess server;
  EXPECT_EQ(server.binary(), chosen.string());
}

TEST(ServerProcess, AStartupFailureThrowsWithTheLogTail) {
  try {
    ServerProcess server(ServerOptions{.extra_args = {"--no-such-directive", "1"}});
    ADD_FAILURE() << "started with a bad directive";
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("no-such-directive"), std::string::npos) << message;
  }
}

TEST(FaultProxy, ForwardsCommandsToTheTarget) {
  ServerProcess server;
  FaultProxy proxy(server.host(), server.port());
  RawClient client("127.0.0.1", proxy.port());
  EXPECT_EQ(client.command({"PING"}), "PONG");
  client.set("through", "proxy");
  EXPECT_EQ(server.client().get("through"), "proxy");
  EXPECT_EQ(proxy.connections_accepted(), 1U);
}

TEST(FaultProxy, ForwardsLargeValuesIntact) {
  ServerProcess server;
  FaultProxy proxy(server.host(), server.port());
  RawClient client("127.0.0.1", proxy.port());
  std::string big(4 * 1024 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>(i * 7919 % 251);
  }
  client.set("big", big);
  EXPECT_EQ(client.get("big"), big);
}

TEST(FaultProxy, CutBreaksOpenConnectionsButAcceptsNewOnes) {
  ServerProcess server;
  FaultProxy proxy(server.host(), server.port());
  RawClient established("127.0.0.1", proxy.port(), {}, {}, 1s);
  ASSERT_EQ(established.command({"PING"}), "PONG");

  proxy.cut();
  EXPECT_THROW(established.command({"PING"}), std::runtime_error);
  RawClient fresh("127.0.0.1", proxy.port(), {}, {}, 1s);
  EXPECT_EQ(fresh.command({"PING"}), "PONG");
}

TEST(FaultProxy, DelayMakesARoundTripTakeAtLeastTheDelay) {
  ServerProcess server;
  FaultProxy proxy(server.host(), server.port());
  RawClient client("127.0.0.1", proxy.port(), {}, {}, 5s);
  proxy.set_delay(200ms);
  const auto started = Clock::now();
  EXPECT_EQ(client.command({"PING"}), "PONG");
  EXPECT_GE(Clock::now() - started, 200ms);

  proxy.set_delay(0ms);
  EXPECT_EQ(client.command({"PING"}), "PONG");
}

TEST(FaultProxy, BlackholeMakesCommandsTimeOut) {
  ServerProcess server;
  FaultProxy proxy(server.host(), server.port());
  RawClient established("127.0.0.1", proxy.port(), {}, {}, 200ms);
  ASSERT_EQ(established.command({"PING"}), "PONG");

  proxy.blackhole(true);
  EXPECT_THROW(established.command({"PING"}), std::runtime_error);
  RawClient fresh("127.0.0.1", proxy.port(), {}, {}, 200ms);  // the connect itself succeeds
  EXPECT_THROW(fresh.command({"PING"}), std::runtime_error);

  proxy.blackhole(false);
  EXPECT_EQ(RawClient("127.0.0.1", proxy.port(), {}, {}, 1s).command({"PING"}), "PONG");
}

TEST(FaultProxy, RefuseClosesNewConnectionsAtOnce) {
  ServerProcess server;
  FaultProxy proxy(server.host(), server.port());
  proxy.refuse(true);
  const auto started = Clock::now();
  EXPECT_THROW(
      {
        RawClient client("127.0.0.1", proxy.port(), {}, {}, 2s);
        client.command({"PING"});
      },
      std::runtime_error);
  EXPECT_LT(Clock::now() - started, 1s) << "refused connections must fail fast, not time out";
  EXPECT_EQ(proxy.connections_accepted(), 1U);

  proxy.refuse(false);
  EXPECT_EQ(RawClient("127.0.0.1", proxy.port()).command({"PING"}), "PONG");
}

TEST(FaultProxy, ClosesTheClientWhenTheTargetIsDown) {
  ServerProcess server;
  FaultProxy proxy(server.host(), server.port());
  server.kill();
  EXPECT_THROW(
      {
        RawClient client("127.0.0.1", proxy.port(), {}, {}, 2s);
        client.command({"PING"});
      },
      std::runtime_error);
}

TEST(FaultProxy, DestructorStopsQuicklyWithOpenConnections) {
  ServerProcess server;
  std::optional<FaultProxy> proxy(std::in_place, server.host(), server.port());
  RawClient client("127.0.0.1", proxy->port(), {}, {}, 1s);
  ASSERT_EQ(client.command({"PING"}), "PONG");
  const auto started = Clock::now();
  proxy.reset();
  // Generous for loaded CI machines; without the eventfd wake-up it would hang forever.
  EXPECT_LT(Clock::now() - started, 250ms);
  EXPECT_THROW(client.command({"PING"}), std::runtime_error);
}

TEST(WaitUntil, ReturnsTrueAsSoonAsTheConditionHolds) {
  int calls = 0;
  EXPECT_TRUE(wait_until([&] { return ++calls == 3; }, 1s, 1ms));
  EXPECT_EQ(calls, 3);
}

TEST(WaitUntil, ReturnsFalseAfterTheDeadline) {
  const auto started = Clock::now();
  EXPECT_FALSE(wait_until([] { return false; }, 30ms));
  EXPECT_GE(Clock::now() - started, 30ms);
}

}  // namespace
}  // namespace airport::cache::testing
