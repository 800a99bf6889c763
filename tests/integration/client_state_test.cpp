// SPDX-License-Identifier: BSD-3-Clause
// Clean connections: whatever a session or a pipeline left behind on its connection (an open
// MULTI, a WATCH, another database, another name, tracking) is undone before the pool lends that
// connection again, and a session keeps its pool alive after the client is gone.
#include <gtest/gtest.h>
#include <airport/cache/errors.hpp>
#include <airport/cache/valkey_client.hpp>

#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>

#include "support/fault_proxy.hpp"
#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::AclUser;
using testing::FaultProxy;
using testing::ms_since;
using testing::ServerOptions;
using testing::ServerProcess;
using testing::wait_until;
using Clock = std::chrono::steady_clock;

// One pooled connection, so the next caller surely gets the connection the last one used.
ValkeyConfig single_connection(const ServerProcess& server) {
  ValkeyConfig config = server.config();
  config.max_connections = 1;
  return config;
}

// Runs Client's typed commands over one Session, so that a test can put that session's
// connection into a state (MULTI) in which a real server answers GET with a status reply.
class SessionClient final : public Client {
 public:
  explicit SessionClient(Session& session) : session_{session} {}
  Reply execute(CommandArgs argv) override { return session_.execute(argv); }
  std::vector<Reply> execute(const Pipeline&) override {
    throw std::logic_error("SessionClient runs single commands only");
  }
  std::optional<std::vector<Reply>> transaction(const Pipeline&) override {
    throw std::logic_error("SessionClient runs single commands only");
  }
  std::unique_ptr<Session> session() override {
    throw std::logic_error("SessionClient is a session already");
  }
  [[nodiscard]] HealthStatus health() const override { return {}; }
  [[nodiscard]] std::string endpoint() const override { return "session"; }

 private:
  Session& session_;
};

TEST(ClientState, ASessionAbandonedInsideMultiLeavesNothingForTheNextCaller) {
  ServerProcess server;
  ValkeyClient client{single_connection(server), {.health_check = false}};
  try {
    auto session = client.session();
    session->command("MULTI");
    session->command("SET", "seat:12A", "abandoned");
    throw std::runtime_error("the booking failed half-way");
  } catch (const std::runtime_error&) {
  }
  // The same connection, next caller: a plain read, not the abandoned transaction's "QUEUED".
  EXPECT_EQ(client.get("seat:12A"), std::nullopt);
  // A later, unrelated EXEC must not run the abandoned SET.
  const Reply exec = client.command("EXEC");
  EXPECT_TRUE(exec.is_error()) << "EXEC answered " << to_string(exec.type()) << " '" << exec.text()
                               << "'";
  EXPECT_EQ(server.client().get("seat:12A"), std::nullopt);
}

TEST(ClientState, APipelineLeftInsideMultiIsCleanedToo) {
  ServerProcess server;
  ValkeyClient client{single_connection(server), {.health_check = false}};
  Pipeline pipeline;
  pipeline.add("multi").add("SET", "gate", "B12");  // lower case: commands are case-insensitive
  (void)client.execute(pipeline);
  EXPECT_EQ(client.get("gate"), std::nullopt);
  EXPECT_TRUE(client.command("EXEC").is_error());
  EXPECT_EQ(server.client().get("gate"), std::nullopt);
}

TEST(ClientState, AWatchLeftBehindDoesNotAbortAnUnrelatedTransaction) {
  ServerProcess server;
  ValkeyClient client{single_connection(server), {.health_check = false}};
  {
    auto session = client.session();
    session->command("WATCH", "fare:LHR-JFK");
  }                                            // released without EXEC, DISCARD or UNWATCH
  server.client().set("fare:LHR-JFK", "420");  // the watched key changes meanwhile
  Pipeline pipeline;
  pipeline.add("SET", "gate", "B12");
  const auto replies = client.transaction(pipeline);
  ASSERT_TRUE(replies.has_value()) << "an unrelated transaction was aborted by a stale WATCH";
  EXPECT_EQ(server.client().get("gate"), "B12");
}

TEST(ClientState, AnotherDatabaseSelectedInASessionIsNotKeptForTheNextCaller) {
  ServerProcess server;
  ValkeyConfig config = single_connection(server);
  config.database = 2;
  ValkeyClient client{config, {.health_check = false}};
  {
    auto session = client.session();
    ASSERT_EQ(session->command("SELECT", "5").text(), "OK");
  }
  client.set("flight:BA117", "boarding");
  auto admin = server.client();
  admin.command({"SELECT", "2"});
  EXPECT_EQ(admin.get("flight:BA117"), "boarding") << "the write did not land in database 2";
  admin.command({"SELECT", "5"});
  EXPECT_EQ(admin.get("flight:BA117"), std::nullopt);
}

TEST(ClientState, ClientNameAndTrackingAreRestored) {
  ServerProcess server;
  ValkeyConfig config = single_connection(server);
  config.client_name = "airport-checkin";
  ValkeyClient client{config, {.health_check = false}};
  {
    auto session = client.session();
    ASSERT_EQ(session->command("client", "setname", "someone-else").text(), "OK");
    ASSERT_EQ(session->command("CLIENT", "TRACKING", "on").text(), "OK");
  }
  auto session = client.session();
  const std::string info = session->command("CLIENT", "INFO").text();
  EXPECT_NE(info.find("name=airport-checkin "), std::string::npos) << info;
  // CLIENT INFO's flags: 't' while tracking is on.
  const auto flags = info.find("flags=");
  ASSERT_NE(flags, std::string::npos) << info;
  const std::string flag_text = info.substr(flags + 6, info.find(' ', flags) - flags - 6);
  EXPECT_EQ(flag_text.find('t'), std::string::npos) << info;
}

TEST(ClientState, ResetAuthenticatesAgainWithThePasswordAndTheAclUser) {
  // RESET also logs the connection out, so the clean-up must send AUTH again.
  ServerProcess with_password{ServerOptions{.requirepass = "gate-b12-secret"}};
  ServerProcess with_acl_user{ServerOptions{.acl_user = AclUser{"checkin", "acl-secret-42"}}};
  for (ServerProcess* server : {&with_password, &with_acl_user}) {
    ValkeyClient client{single_connection(*server), {.health_check = false}};
    {
      auto session = client.session();
      session->command("MULTI");
    }
    EXPECT_NO_THROW(client.set("k", "v"));
    EXPECT_EQ(client.get("k"), "v");
    EXPECT_EQ(client.health().pool_open, 1u) << "the cleaned connection was not kept";
  }
}

TEST(ClientState, ADirtyConnectionIsCleanedInOneRoundTrip) {
  ServerProcess server{ServerOptions{.requirepass = "gate-b12-secret"}};
  FaultProxy proxy{server.host(), server.port()};
  ValkeyConfig config = single_connection(server);
  config.port = proxy.port();
  config.database = 3;
  ValkeyClient client{config, {.health_check = false}};
  auto session = client.session();
  session->command("MULTI");
  proxy.set_delay(60ms);  // a round trip now takes at least 120 ms
  // RESET, AUTH, SELECT and CLIENT SETNAME: four round trips one by one, one when pipelined.
  const auto start = Clock::now();
  session.reset();
  const long long took = ms_since(start);
  std::cout << "[ measure  ] clean-up took " << took << " ms at 120+ ms per round trip\n";
  EXPECT_GE(took, 110);
  EXPECT_LT(took, 230);
  EXPECT_EQ(client.health().pool_idle, 1u);
}

TEST(ClientState, ACleanUpThatCannotFinishDropsTheConnectionWithinTheSocketTimeout) {
  ServerProcess server;
  FaultProxy proxy{server.host(), server.port()};
  ValkeyConfig config = single_connection(server);
  config.port = proxy.port();
  config.socket_timeout = 300ms;
  ValkeyClient client{config, {.health_check = false}};
  auto session = client.session();
  session->command("WATCH", "k");
  proxy.blackhole(true);
  const auto start = Clock::now();
  session.reset();  // the RESET is never answered
  const long long took = ms_since(start);
  std::cout << "[ measure  ] a clean-up that cannot finish gave up after " << took << " ms\n";
  EXPECT_LT(took, 450);
  EXPECT_EQ(client.health().pool_open, 0u) << "a connection in an unknown state was pooled";
  proxy.blackhole(false);
  EXPECT_NO_THROW(client.set("k", "v"));
}

TEST(ClientState, SubscribeAndMonitorAreRefusedOutsideASubscriber) {
  ServerProcess server;
  ValkeyClient client{single_connection(server), {.health_check = false}};
  const auto expect_refused = [](auto&& call, std::string_view what) {
    try {
      call();
      ADD_FAILURE() << what << " was accepted";
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string{error.what()}.find("Subscriber"), std::string::npos) << error.what();
    }
  };
  expect_refused([&] { (void)client.command("SUBSCRIBE", "flight:status"); }, "SUBSCRIBE");
  expect_refused([&] { (void)client.command("psubscribe", "flight:*"); }, "psubscribe");
  expect_refused([&] { (void)client.command("SSUBSCRIBE", "flight:status"); }, "SSUBSCRIBE");
  expect_refused([&] { (void)client.command("MONITOR"); }, "MONITOR");
  {
    auto session = client.session();
    expect_refused([&] { (void)session->command("Subscribe", "flight:status"); },
                   "a session's Subscribe");
  }
  Pipeline pipeline;
  pipeline.add("GET", "k").add("SUBSCRIBE", "flight:status");
  expect_refused([&] { (void)client.execute(pipeline); }, "a pipelined SUBSCRIBE");
  expect_refused([&] { (void)client.transaction(pipeline); }, "a SUBSCRIBE in a transaction");
  // Nothing reached the server, and the connection is as good as before.
  server.client().set("k", "v");
  EXPECT_EQ(client.publish("flight:status", "boarding"), 0);
  EXPECT_EQ(client.get("k"), "v");
}

TEST(ClientState, StatusRepliesAreNeverReadAsStringValues) {
  ServerProcess server;
  ValkeyClient client{single_connection(server), {.health_check = false}};
  server.client().set("seat:12A", "alice");
  auto session = client.session();
  ASSERT_EQ(session->command("MULTI").text(), "OK");
  SessionClient in_multi{*session};
  // Inside MULTI the real server answers every command with the status QUEUED.
  EXPECT_THROW((void)in_multi.get("seat:12A"), ProtocolError);
  EXPECT_THROW((void)in_multi.getdel("seat:12A"), ProtocolError);
  EXPECT_THROW((void)in_multi.hget("h", "f"), ProtocolError);
  EXPECT_THROW((void)in_multi.set("seat:12A", "bob"), ProtocolError);
  EXPECT_THROW((void)in_multi.info("server"), ProtocolError);
  EXPECT_THROW((void)in_multi.zscore("z", "m"), ProtocolError);
  EXPECT_FALSE(Reply::status("QUEUED").as_optional_string().has_value());
  session->command("DISCARD");
  EXPECT_EQ(server.client().get("seat:12A"), "alice");
}

TEST(ClientState, ASessionKeepsItsPoolAliveAfterTheClientIsGone) {
  ServerProcess server;
  auto client = std::make_unique<ValkeyClient>(server.config());
  std::unique_ptr<Session> session = client->session();
  client.reset();
  EXPECT_EQ(session->command("SET", "k", "still here").text(), "OK");
  EXPECT_EQ(session->command("GET", "k").text(), "still here");
  session->command("MULTI");  // dirty: the clean-up runs on a pool the client no longer owns
  session.reset();
  EXPECT_EQ(server.client().get("k"), "still here");
}

}  // namespace
}  // namespace airport::cache
