// AUTH with requirepass and with an ACL user; a wrong password is a clear error without the
// password in it.
#include <gtest/gtest.h>
#include <airport/cache/errors.hpp>
#include <airport/cache/valkey_client.hpp>

#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache {
namespace {

using testing::AclUser;
using testing::ServerOptions;
using testing::ServerProcess;

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

TEST(ClientAuth, WrongPasswordIsAClearErrorWithoutThePassword) {
  ServerProcess server{ServerOptions{.requirepass = "right-password"}};
  ValkeyConfig config = server.config();
  config.password = Secret{"wrong-p4ssw0rd"};
  ValkeyClient client{config, {.health_check = false}};
  try {
    (void)client.get("k");
    FAIL() << "a wrong password was accepted";
  } catch (const ConnectionError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("AUTH"), std::string::npos) << message;
    EXPECT_NE(message.find(config.endpoint()), std::string::npos) << message;
    EXPECT_EQ(message.find("wrong-p4ssw0rd"), std::string::npos) << message;
    EXPECT_EQ(message.find("right-password"), std::string::npos) << message;
  }
}

TEST(ClientAuth, WrongAclPasswordIsAClearErrorWithoutThePassword) {
  ServerProcess server{ServerOptions{.acl_user = AclUser{"checkin", "acl-secret-42"}}};
  ValkeyConfig config = server.config();
  config.password = Secret{"not-the-acl-secret"};
  ValkeyClient client{config, {.health_check = false}};
  try {
    (void)client.ping();
    FAIL() << "a wrong ACL password was accepted";
  } catch (const ConnectionError& error) {
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
  } catch (const ConnectionError& error) {
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

}  // namespace
}  // namespace airport::cache
