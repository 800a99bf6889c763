// SPDX-License-Identifier: BSD-3-Clause
// Tests of the test support itself against a real server: ServerProcess (with and without TLS),
// RawClient, FaultProxy, TlsCertificates, tls_ping and wait_until. Every other integration test
// trusts these, so they prove each promise.
#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/fault_proxy.hpp"
#include "support/raw_client.hpp"
#include "support/server.hpp"
#include "support/tls_certificates.hpp"
#include "support/tls_probe.hpp"
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

// What a throwaway certificate says, as `openssl x509 -noout <args>` prints it.
std::string inspect_certificate(const std::filesystem::path& certificate,
                                const std::vector<std::string>& args) {
  std::vector<std::string> command{"x509", "-noout", "-in", certificate.string()};
  command.insert(command.end(), args.begin(), args.end());
  const CommandResult result = run_openssl(command);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  return result.output;
}

// `openssl verify -CAfile <ca> <extra...> <certificate>`.
CommandResult verify_certificate(const std::filesystem::path& ca,
                                 const std::filesystem::path& certificate,
                                 const std::vector<std::string>& extra = {}) {
  std::vector<std::string> command{"verify", "-CAfile", ca.string()};
  command.insert(command.end(), extra.begin(), extra.end());
  command.push_back(certificate.string());
  return run_openssl(command);
}

// tls_ping's failure message, or "" when it answered.
std::string tls_ping_failure(int port, const TlsProbeOptions& options) {
  try {
    static_cast<void>(tls_ping("127.0.0.1", port, options));
    return "";
  } catch (const std::runtime_error& error) {
    return error.what();
  }
}

TEST(TlsCertificates, TheCaSignsEveryCertificateAndTheOtherCaNone) {
  const TlsCertificates certificates;
  for (const auto& certificate :
       {certificates.server_certificate(), certificates.other_name_certificate(),
        certificates.client_certificate(), certificates.second_client_certificate()}) {
    const CommandResult trusted = verify_certificate(certificates.ca_certificate(), certificate);
    EXPECT_EQ(trusted.exit_code, 0) << certificate << ": " << trusted.output;
    EXPECT_NE(trusted.output.find(": OK"), std::string::npos) << trusted.output;

    const CommandResult untrusted =
        verify_certificate(certificates.other_ca_certificate(), certificate);
    EXPECT_NE(untrusted.exit_code, 0) << certificate << ": " << untrusted.output;
    EXPECT_NE(untrusted.output.find("unable to get local issuer certificate"), std::string::npos)
        << untrusted.output;
  }
}

TEST(TlsCertificates, TheExpiredCertificateIsReallyExpired) {
  const TlsCertificates certificates;
  // -checkend 0: exit status 1 when the certificate is no longer valid now.
  const CommandResult expired = run_openssl(
      {"x509", "-noout", "-checkend", "0", "-in", certificates.expired_certificate().string()});
  EXPECT_EQ(expired.exit_code, 1) << expired.output;
  EXPECT_NE(expired.output.find("Certificate will expire"), std::string::npos) << expired.output;
  EXPECT_EQ(inspect_certificate(certificates.expired_certificate(), {"-dates"}),
            "notBefore=Jan  1 00:00:00 2020 GMT\nnotAfter=Jan  2 00:00:00 2020 GMT\n");

  const CommandResult verified =
      verify_certificate(certificates.ca_certificate(), certificates.expired_certificate());
  EXPECT_NE(verified.exit_code, 0);
  EXPECT_NE(verified.output.find("certificate has expired"), std::string::npos) << verified.output;

  // Everything else stays valid for the whole test run.
  const CommandResult valid = run_openssl(
      {"x509", "-noout", "-checkend", "86400", "-in", certificates.server_certificate().string()});
  EXPECT_EQ(valid.exit_code, 0) << valid.output;
}

TEST(TlsCertificates, ServerCertificatesAreValidForTheirNamesOnly) {
  const TlsCertificates certificates;
  const auto ca = certificates.ca_certificate();
  EXPECT_EQ(verify_certificate(ca, certificates.server_certificate(), {"-verify_ip", "127.0.0.1"})
                .exit_code,
            0);
  EXPECT_EQ(
      verify_certificate(ca, certificates.server_certificate(), {"-verify_hostname", "localhost"})
          .exit_code,
      0);
  EXPECT_EQ(verify_certificate(ca, certificates.other_name_certificate(),
                               {"-verify_hostname", "cache.airport.test"})
                .exit_code,
            0);
  const CommandResult wrong_ip =
      verify_certificate(ca, certificates.other_name_certificate(), {"-verify_ip", "127.0.0.1"});
  EXPECT_NE(wrong_ip.exit_code, 0);
  EXPECT_NE(wrong_ip.output.find("IP address mismatch"), std::string::npos) << wrong_ip.output;
  const CommandResult wrong_name = verify_certificate(ca, certificates.other_name_certificate(),
                                                      {"-verify_hostname", "localhost"});
  EXPECT_NE(wrong_name.exit_code, 0);
  EXPECT_NE(wrong_name.output.find("hostname mismatch"), std::string::npos) << wrong_name.output;

  // Leaves are not CAs, and each is meant for its side of the handshake.
  EXPECT_NE(inspect_certificate(certificates.server_certificate(), {"-ext", "basicConstraints"})
                .find("CA:FALSE"),
            std::string::npos);
  EXPECT_NE(inspect_certificate(certificates.server_certificate(), {"-ext", "extendedKeyUsage"})
                .find("TLS Web Server Authentication"),
            std::string::npos);
  EXPECT_NE(inspect_certificate(certificates.client_certificate(), {"-ext", "extendedKeyUsage"})
                .find("TLS Web Client Authentication"),
            std::string::npos);
  EXPECT_NE(inspect_certificate(certificates.client_certificate(), {"-text"})
                .find("ASN1 OID: prime256v1"),
            std::string::npos);
}

TEST(TlsCertificates, IssuesMoreCertificatesOnDemand) {
  TlsCertificates certificates;
  const CertificateFiles client = certificates.issue_client_certificate("client3");
  EXPECT_EQ(client.certificate, certificates.dir() / "client3.crt");
  EXPECT_TRUE(std::filesystem::exists(client.key));
  EXPECT_EQ(verify_certificate(certificates.ca_certificate(), client.certificate).exit_code, 0);

  const CertificateFiles server =
      certificates.issue_server_certificate("replica", {"DNS:replica.airport.test"});
  EXPECT_EQ(verify_certificate(certificates.ca_certificate(), server.certificate,
                               {"-verify_hostname", "replica.airport.test"})
                .exit_code,
            0);

  EXPECT_THROW(certificates.issue_client_certificate("client3"), std::runtime_error);
  EXPECT_THROW(certificates.issue_client_certificate("../escape"), std::runtime_error);
  EXPECT_THROW(certificates.issue_server_certificate("nameless", {}), std::runtime_error);
}

TEST(TlsCertificates, CreatesEveryFileAndRemovesThemAfterwards) {
  std::filesystem::path dir;
  {
    const auto started = Clock::now();
    const TlsCertificates certificates;
    // Reported in the XML output (--gtest_output=xml), not asserted: speed is not a test's job.
    ::testing::Test::RecordProperty(
        "generation_ms",
        static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()));
    dir = certificates.dir();
    for (const char* file : {"ca.crt", "ca.key", "other-ca.crt", "server.crt", "server.key",
                             "other-name.crt", "other-name.key", "expired.crt", "expired.key",
                             "client.crt", "client.key", "client2.crt", "client2.key"}) {
      EXPECT_TRUE(std::filesystem::is_regular_file(dir / file)) << file;
    }
    // Private keys are readable by their owner only.
    EXPECT_EQ(std::filesystem::status(certificates.server_key()).permissions() &
                  std::filesystem::perms::group_read,
              std::filesystem::perms::none);
  }
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
}

TEST(ServerProcess, TlsServerAnswersPingOverTlsAndKeepsItsPlaintextPort) {
  const TlsCertificates certificates;
  ServerProcess server(ServerOptions{.tls = certificates.server_files()});
  EXPECT_GT(server.tls_port(), 0);
  EXPECT_NE(server.tls_port(), server.port());
  EXPECT_EQ(tls_ping(server.host(), server.tls_port(),
                     TlsProbeOptions{.ca_file = certificates.ca_certificate()}),
            "+PONG");
  EXPECT_EQ(tls_ping(server.host(), server.tls_port(),
                     TlsProbeOptions{.ca_file = certificates.ca_certificate(),
                                     .expected_name = "localhost"}),
            "+PONG");
  EXPECT_EQ(server.client().command({"PING"}), "PONG");
  // Plaintext on the TLS port gets no answer: the server waits for a ClientHello.
  EXPECT_THROW(RawClient(server.host(), server.tls_port(), {}, {}, 200ms).command({"PING"}),
               std::runtime_error);

  EXPECT_EQ(ServerProcess().tls_port(), 0);
}

TEST(ServerProcess, TlsHandshakeFailsAgainstAnotherCa) {
  const TlsCertificates certificates;
  ServerProcess server(ServerOptions{.tls = certificates.server_files()});
  const std::string failure = tls_ping_failure(
      server.tls_port(), TlsProbeOptions{.ca_file = certificates.other_ca_certificate()});
  EXPECT_NE(failure.find("handshake"), std::string::npos) << failure;
  // The server sends its CA along with its certificate (OpenSSL completes the chain from the
  // trust store it was given), so the client meets a root it does not trust.
  EXPECT_NE(failure.find("certificate verify failed: self-signed certificate in certificate chain"),
            std::string::npos)
      << failure;
}

TEST(ServerProcess, TlsHandshakeFailsForACertificateOfAnotherName) {
  const TlsCertificates certificates;
  ServerProcess server(
      ServerOptions{.tls = TlsServerFiles{.cert_file = certificates.other_name_certificate(),
                                          .key_file = certificates.other_name_key(),
                                          .ca_file = certificates.ca_certificate()}});
  const std::string failure = tls_ping_failure(
      server.tls_port(), TlsProbeOptions{.ca_file = certificates.ca_certificate()});
  EXPECT_NE(failure.find("IP address mismatch"), std::string::npos) << failure;
  // The certificate is otherwise fine: only the name is wrong.
  EXPECT_EQ(tls_ping(server.host(), server.tls_port(),
                     TlsProbeOptions{.ca_file = certificates.ca_certificate(),
                                     .expected_name = "cache.airport.test"}),
            "+PONG");
}

TEST(ServerProcess, TlsServerWithAnExpiredCertificateStartsButItsHandshakeFails) {
  const TlsCertificates certificates;
  ServerProcess server(
      ServerOptions{.tls = TlsServerFiles{.cert_file = certificates.expired_certificate(),
                                          .key_file = certificates.expired_key(),
                                          .ca_file = certificates.ca_certificate()}});
  const std::string failure = tls_ping_failure(
      server.tls_port(), TlsProbeOptions{.ca_file = certificates.ca_certificate()});
  EXPECT_NE(failure.find("certificate has expired"), std::string::npos) << failure;
}

TEST(ServerProcess, RequiredClientCertificateRejectsAHandshakeWithoutOne) {
  const TlsCertificates certificates;
  ServerProcess server(
      ServerOptions{.tls = certificates.server_files(/*require_client_certificate=*/true)});
  const std::string failure = tls_ping_failure(
      server.tls_port(), TlsProbeOptions{.ca_file = certificates.ca_certificate()});
  // TLS 1.3: the client's side of the handshake completes; the server's alert ends the read.
  EXPECT_FALSE(failure.empty());
  EXPECT_NE(failure.find("certificate required"), std::string::npos) << failure;

  for (const auto& [certificate, key] :
       {std::pair{certificates.client_certificate(), certificates.client_key()},
        std::pair{certificates.second_client_certificate(), certificates.second_client_key()}}) {
    EXPECT_EQ(tls_ping(server.host(), server.tls_port(),
                       TlsProbeOptions{.ca_file = certificates.ca_certificate(),
                                       .cert_file = certificate,
                                       .key_file = key}),
              "+PONG")
        << certificate;
  }
}

TEST(ServerProcess, RestartKeepsTheTlsPort) {
  const TlsCertificates certificates;
  ServerProcess server(ServerOptions{.tls = certificates.server_files()});
  const int port = server.port();
  const int tls_port = server.tls_port();
  const TlsProbeOptions probe{.ca_file = certificates.ca_certificate()};
  server.kill();
  EXPECT_FALSE(tls_ping_failure(tls_port, probe).empty());
  server.restart();
  EXPECT_EQ(server.port(), port);
  EXPECT_EQ(server.tls_port(), tls_port);
  EXPECT_EQ(tls_ping(server.host(), server.tls_port(), probe), "+PONG");
  EXPECT_EQ(server.client().command({"PING"}), "PONG");
}

TEST(ServerProcess, TlsConfigPointsAtTheTlsPortAndTrustsTheCa) {
  const TlsCertificates certificates;
  ServerProcess server(
      ServerOptions{.requirepass = "tls-pass", .tls = certificates.server_files()});
  const ValkeyConfig config = server.tls_config();
  EXPECT_EQ(config.host, "127.0.0.1");
  EXPECT_EQ(config.port, server.tls_port());
  EXPECT_TRUE(config.tls.enabled);
  EXPECT_EQ(config.tls.ca_file, certificates.ca_certificate().string());
  EXPECT_TRUE(config.tls.cert_file.empty());
  EXPECT_TRUE(config.tls.verify);
  EXPECT_EQ(config.password.reveal(), "tls-pass");
  EXPECT_EQ(config.connect_timeout, 1s);
  EXPECT_FALSE(server.config().tls.enabled);
  // The password applies over TLS too.
  EXPECT_EQ(tls_ping(server.host(), server.tls_port(),
                     TlsProbeOptions{.ca_file = certificates.ca_certificate()})
                .rfind("-NOAUTH", 0),
            0U);

  ServerProcess plaintext;
  EXPECT_THROW(static_cast<void>(plaintext.tls_config()), std::runtime_error);
}

TEST(ServerProcess, TlsFromABinaryWithoutTlsSupportThrowsNamingTheBinary) {
  const TlsCertificates certificates;
  // Stands in for a redis-server 7.0 built without BUILD_TLS, whose tls-* directives do not
  // exist: it fails as that one does, on stderr, before it opens its log file.
  const auto fake = certificates.dir() / "redis-server-without-tls";
  {
    std::ofstream script(fake);
    script << "#!/bin/sh\n"
              "case \"$1\" in --version) echo 'Redis server v=7.0.15 sha=0 bits=64'; exit 0;; "
              "esac\n"
              "printf '\\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\\n"
              "Reading the configuration file, at line 2\\n"
              ">>> %s\\nBad directive or wrong number of arguments\\n' \"'tls-port \\\"1\\\"'\" "
              ">&2\n"
              "exit 1\n";
  }
  std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
  const ScopedEnv env("AIRPORT_CACHE_SERVER_BIN", fake.string());
  try {
    ServerProcess server(ServerOptions{.tls = certificates.server_files()});
    ADD_FAILURE() << "started " << server.binary() << " with TLS";
  } catch (const std::runtime_error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(fake.string() + " lacks TLS support"), std::string::npos) << message;
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
