// SPDX-License-Identifier: BSD-3-Clause
// TLS against real TLS servers with throwaway certificates: what is refused and why, mutual TLS,
// the verified name, verification off, certificate rotation without a restart, session
// resumption, a timed-out reply never read by the next caller, and an ACL user limited to the
// cache's keys. The commands, the subscriber and the CacheManager faults run over TLS in their
// own suites (parameterized on Wire).
#include <gtest/gtest.h>
#include <airport/cache/errors.hpp>
#include <airport/cache/manager.hpp>
#include <airport/cache/valkey_client.hpp>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>

#include "connection.hpp"
#include "support/fault_proxy.hpp"
#include "support/server.hpp"
#include "support/tls_certificates.hpp"
#include "support/wait.hpp"
#include "support/wire.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::FaultProxy;
using testing::ServerOptions;
using testing::ServerProcess;
using testing::TlsCertificates;
using testing::wait_until;
namespace fs = std::filesystem;

const TlsCertificates& certificates() {
  return testing::shared_certificates();
}

ServerOptions tls_server(const fs::path& certificate, const fs::path& key,
                         bool require_client_certificate = false) {
  ServerOptions options;
  options.tls = testing::TlsServerFiles{.cert_file = certificate,
                                        .key_file = key,
                                        .ca_file = certificates().ca_certificate(),
                                        .require_client_certificate = require_client_certificate};
  return options;
}

ValkeyConfig quick(ValkeyConfig config) {
  config.connect_timeout = 2s;
  config.socket_timeout = 2s;
  config.reconnect_base_delay = 10ms;
  config.reconnect_max_delay = 50ms;
  return config;
}

// What one GET through a fresh client throws: "" when it succeeds.
std::string failure_of(const ValkeyConfig& config) {
  try {
    ValkeyClient client{config, {.health_check = false}};
    (void)client.get("k");
  } catch (const ConnectionError& error) {
    return error.what();
  } catch (const TimeoutError& error) {
    return error.what();
  } catch (const Error& error) {
    return std::string{"unexpected "} + std::string{to_string(error.category())} + ": " +
           error.what();
  }
  return {};
}

TEST(Tls, AServerSignedByAnotherCaIsRefusedWithTheReason) {
  ServerProcess server{testing::on_wire(testing::Wire::Tls)};
  ValkeyConfig config = quick(server.tls_config());
  config.tls.ca_file = certificates().other_ca_certificate().string();
  const std::string failure = failure_of(config);
  std::cout << "[ measure  ] wrong CA: " << failure << "\n";
  EXPECT_NE(failure.find("certificate verify failed"), std::string::npos) << failure;
  EXPECT_NE(failure.find(config.endpoint()), std::string::npos) << failure;
}

TEST(Tls, ACertificateForAnotherNameIsRefusedNamingTheName) {
  ServerProcess server{
      tls_server(certificates().other_name_certificate(), certificates().other_name_key())};
  const std::string failure = failure_of(quick(server.tls_config()));
  std::cout << "[ measure  ] wrong name: " << failure << "\n";
  EXPECT_NE(failure.find("certificate verify failed"), std::string::npos) << failure;
  EXPECT_NE(failure.find("'127.0.0.1'"), std::string::npos) << failure;
  EXPECT_NE(failure.find("VALKEY_TLS_SERVER_NAME"), std::string::npos) << failure;
}

TEST(Tls, TheServerNameSettingVerifiesACertificateNotForTheAddressDialled) {
  ServerProcess server{
      tls_server(certificates().other_name_certificate(), certificates().other_name_key())};
  ValkeyConfig config = quick(server.tls_config());
  config.tls.server_name = "cache.airport.test";
  ValkeyClient client{config, {.health_check = false}};
  client.set("k", "v");
  EXPECT_EQ(client.get("k"), "v");
}

TEST(Tls, AnExpiredCertificateIsRefusedWithTheReason) {
  ServerProcess server{
      tls_server(certificates().expired_certificate(), certificates().expired_key())};
  const std::string failure = failure_of(quick(server.tls_config()));
  std::cout << "[ measure  ] expired: " << failure << "\n";
  EXPECT_NE(failure.find("certificate verify failed: certificate has expired"), std::string::npos)
      << failure;
}

TEST(Tls, APlaintextServerIsRefusedAndNeverSpokenToInPlaintext) {
  ServerProcess server;
  ValkeyConfig config = quick(server.config());
  config.tls.enabled = true;
  config.tls.ca_file = certificates().ca_certificate().string();
  const std::string failure = failure_of(config);
  std::cout << "[ measure  ] plaintext server: " << failure << "\n";
  // The server reads the ClientHello as the start of an inline command and waits for its end:
  // the handshake runs into connect_timeout, and the message says what to check.
  EXPECT_NE(failure.find("TLS handshake"), std::string::npos) << failure;
  EXPECT_NE(failure.find("does the server speak TLS"), std::string::npos) << failure;
  // Nothing but the handshake reached the server: no command ran there.
  const std::string stats = server.client().command({"INFO", "commandstats"});
  EXPECT_EQ(stats.find("cmdstat_get"), std::string::npos) << stats;
  EXPECT_EQ(stats.find("cmdstat_auth"), std::string::npos) << stats;
}

TEST(Tls, MutualTlsRefusesAClientWithoutACertificateAndAcceptsOneWithIt) {
  ServerProcess server{
      tls_server(certificates().server_certificate(), certificates().server_key(), true)};
  const ValkeyConfig without = quick(server.tls_config());
  const std::string failure = failure_of(without);
  std::cout << "[ measure  ] no client certificate: " << failure << "\n";
  EXPECT_NE(failure.find("client certificate"), std::string::npos) << failure;

  ValkeyConfig with = without;
  with.tls.cert_file = certificates().client_certificate().string();
  with.tls.key_file = certificates().client_key().string();
  ValkeyClient client{with, {.health_check = false}};
  client.set("k", "v");
  EXPECT_EQ(client.get("k"), "v");
}

TEST(Tls, VerificationOffConnectsToAnUnverifiableServerAndWarnsOncePerClient) {
  ServerProcess server{
      tls_server(certificates().other_name_certificate(), certificates().other_name_key())};
  ValkeyConfig config = quick(server.tls_config());
  config.tls.ca_file = certificates().other_ca_certificate().string();  // cannot verify either
  config.tls.verify = false;  // allowed: the host is loopback
  config.max_connections = 4;
  std::ostringstream log_text;
  auto logger = std::make_shared<spdlog::logger>(
      "tls", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text));
  {
    ValkeyClient client{config, {.logger = logger, .health_check = false}};
    client.set("k", "v");
    for (int i = 0; i < 10; ++i)
      EXPECT_EQ(client.get("k"), "v");
  }
  std::size_t warnings = 0;
  std::istringstream lines{log_text.str()};
  for (std::string line; std::getline(lines, line);)
    warnings += line.find("without verification") != std::string::npos ? 1 : 0;
  EXPECT_EQ(warnings, 1u) << log_text.str();
}

// The files are read again when a new connection is made, if they changed: a rotated client
// certificate or CA needs no restart of the client.
TEST(Tls, RotatedCertificateAndCaFilesAreUsedByTheNextConnectionWithoutARestart) {
  ServerProcess server{
      tls_server(certificates().server_certificate(), certificates().server_key(), true)};
  const fs::path dir = certificates().dir() / "rotation";
  fs::create_directories(dir);
  const auto install = [&](const fs::path& from, const std::string& name) {
    // As a deployment rotates: a new file renamed over the old one.
    fs::copy_file(from, dir / (name + ".new"), fs::copy_options::overwrite_existing);
    fs::rename(dir / (name + ".new"), dir / name);
  };
  // Start with a CA that does not sign the server and an expired, server-only certificate as
  // the client's: both are refused.
  install(certificates().other_ca_certificate(), "ca.crt");
  install(certificates().expired_certificate(), "client.crt");
  install(certificates().expired_key(), "client.key");
  ValkeyConfig config = quick(server.tls_config());
  config.tls.ca_file = (dir / "ca.crt").string();
  config.tls.cert_file = (dir / "client.crt").string();
  config.tls.key_file = (dir / "client.key").string();
  ValkeyClient client{config, {.health_check = false}};
  const auto works = [&] {
    try {
      client.set("k", "v");
      return client.get("k") == "v";
    } catch (const Error&) {
      return false;
    }
  };
  EXPECT_FALSE(works()) << "the wrong CA must be refused";

  install(certificates().ca_certificate(), "ca.crt");
  EXPECT_FALSE(works()) << "an expired client certificate must be refused";

  install(certificates().client_certificate(), "client.crt");
  install(certificates().client_key(), "client.key");
  EXPECT_TRUE(wait_until(works, 5s)) << "the rotated files were not read again";
  fs::remove_all(dir);
}

TEST(Tls, ASecondConnectionResumesTheSessionOfTheFirst) {
  ServerProcess server{testing::on_wire(testing::Wire::Tls)};
  const ValkeyConfig config = quick(server.tls_config());
  const auto first = detail::Connection::open(config);
  EXPECT_FALSE(first->transport().resumed_session());
  const auto second = detail::Connection::open(config);
  EXPECT_TRUE(second->transport().resumed_session())
      << "the session (TLS 1.3 ticket) of the first connection was not offered";
  EXPECT_EQ(second->execute(std::array<std::string_view, 1>{"PING"}).text(), "PONG");
}

// A reply that arrives after its call timed out is never read by the next caller: the timed-out
// TLS connection is discarded with whatever record it was in the middle of.
TEST(Tls, AReplyArrivingAfterItsCallTimedOutIsNeverReadByTheNextCaller) {
  ServerProcess server{testing::on_wire(testing::Wire::Tls)};
  FaultProxy proxy{server.host(), server.tls_port()};
  ValkeyConfig config = quick(server.tls_config());
  config.port = proxy.port();
  config.socket_timeout = 200ms;
  config.max_connections = 1;
  ValkeyClient client{config, {.health_check = false}};
  client.set("a", "value of a");
  client.set("b", "value of b");
  proxy.set_delay(300ms);
  EXPECT_THROW((void)client.get("a"), TimeoutError);
  proxy.set_delay(0ms);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(client.get("b"), "value of b");
}

// The ACL rule docs/security.md gives: the cache's own keys and the commands CacheManager
// sends, nothing else.
TEST(Tls, TheCacheManagerRunsAsAnAclUserLimitedToItsKeysOverTls) {
  ServerProcess server{testing::on_wire(testing::Wire::Tls)};
  auto admin = server.client();
  ASSERT_EQ(
      admin.command({"ACL",          "SETUSER",    "airport-app",   "on",         ">app-secret",
                     "resetkeys",    "~airport:*", "resetchannels", "&airport:*", "-@all",
                     "+@connection", "+get",       "+set",          "+del",       "+unlink",
                     "+exists",      "+pttl",      "+pexpire",      "+mget",      "+scan",
                     "+evalsha",     "+eval",      "+publish",      "+info"}),
      "OK");
  ValkeyConfig config = quick(server.tls_config());
  config.username = "airport-app";
  config.password = Secret{"app-secret"};
  config.key_prefix = "airport";  // the namespace a journal overflow or restart sweeps
  CacheManager cache{config};
  ASSERT_TRUE(cache.set("airport:flight:UA123", "on time", 60s));
  EXPECT_EQ(cache.get("airport:flight:UA123"), "on time");
  EXPECT_EQ(
      cache.get_or_compute("airport:flight:BA117", 60s, [] { return std::string{"boarding"}; }),
      "boarding");
  EXPECT_TRUE(cache.exists("airport:flight:BA117"));
  EXPECT_TRUE(cache.del("airport:flight:UA123"));
  EXPECT_EQ(admin.command({"GET", "airport:flight:BA117"}), "boarding");
  // Outside its keys the same user is refused by the server itself.
  ValkeyClient raw{config, {.health_check = false}};
  EXPECT_THROW(raw.set("other:key", "x"), ReplyError);
  EXPECT_EQ(cache.stats().errors.reply, 0u);
}

}  // namespace
}  // namespace airport::cache
