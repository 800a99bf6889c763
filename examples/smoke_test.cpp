// SPDX-License-Identifier: BSD-3-Clause
// Runs every example and airport-cache-demo as a user would, against a server this test starts
// (or, with --local-server or --local-cluster, one the program starts itself), and checks exit
// codes and results.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <airport/cache/version.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/server.hpp"
#include "support/tls_certificates.hpp"

namespace {

namespace fs = std::filesystem;
using airport::cache::testing::ServerOptions;
using airport::cache::testing::ServerProcess;
using airport::cache::testing::TlsCertificates;

struct Run {
  int exit_code = -1;
  std::string output;
};

/// Whether stderr goes into Run::output (interleaved with stdout), is dropped, or is all of it
/// (stdout dropped).
enum class Stderr { Drop, Keep, Only };

// Runs `arguments` (a program of the examples directory and its arguments) with `environment`
// ("NAME=value ..." put before the command by the shell).
Run run(const std::string& arguments, const std::string& environment = {},
        Stderr stderr_output = Stderr::Drop) {
  const std::string command = environment + " " + std::string{AIRPORT_CACHE_EXAMPLES_DIR} + "/" +
                              arguments +
                              (stderr_output == Stderr::Keep   ? " 2>&1"
                               : stderr_output == Stderr::Only ? " 2>&1 >/dev/null"
                                                               : " 2>/dev/null");
  Run result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr)
    return result;
  std::array<char, 4096> buffer{};
  while (const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) {
    result.output.append(buffer.data(), n);
  }
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

nlohmann::json run_json(const std::string& arguments, const std::string& environment = {}) {
  const auto result = run(arguments + " --json", environment);
  EXPECT_EQ(result.exit_code, 0) << arguments << " printed:\n" << result.output;
  const auto json = nlohmann::json::parse(result.output, nullptr, false);
  EXPECT_FALSE(json.is_discarded()) << arguments << " printed no JSON:\n" << result.output;
  return json;
}

std::string url_of(const airport::cache::testing::ServerProcess& server) {
  return "--url valkey://" + server.host() + ":" + std::to_string(server.port());
}

std::string quoted(const fs::path& path) {
  return "'" + path.string() + "'";
}

// A directory of this test's own, given to a program as its TMPDIR, so that what the program
// leaves in its temporary directory can be seen. Removed with everything in it.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    std::string pattern = (fs::temp_directory_path() / "airport-cache-smoke-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr)
      path_ = pattern;
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;

  // The environment for a program: this TMPDIR, and the flight database where it usually is,
  // so that it is not generated again for every scratch directory.
  [[nodiscard]] std::string environment() const {
    return "TMPDIR=" + quoted(path_) + " AIRPORT_FLIGHTS_DB=" +
           quoted(fs::temp_directory_path() / "airport-cache-flights.sqlite");
  }
  // The throwaway certificate directories (TlsCertificates) still in it.
  [[nodiscard]] std::vector<std::string> certificate_directories() const {
    std::vector<std::string> found;
    for (const auto& entry : fs::directory_iterator{path_}) {
      if (entry.path().filename().string().starts_with("airport-cache-tls-"))
        found.push_back(entry.path().string());
    }
    return found;
  }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

class Example : public ::testing::Test {
 protected:
  airport::cache::testing::ServerProcess server;
};

TEST_F(Example, FlightSearchRunsTheQueryOnceForABurstAndHitsAfterwards) {
  const auto json = run_json("flight_search " + url_of(server));
  EXPECT_TRUE(json["ok"]);
  EXPECT_EQ(json["details"]["burst_queries"], 1);
  EXPECT_GT(json["details"]["hit_ratio"].get<double>(), 0.5);
  EXPECT_LT(json["details"]["warm_us"].get<double>(), json["details"]["cold_us"].get<double>());
}

TEST_F(Example, SeatReservationNeverDoubleBooksAndHoldsExpire) {
  const auto json = run_json("seat_reservation " + url_of(server));
  EXPECT_TRUE(json["ok"]);
  EXPECT_EQ(json["details"]["double_booked"], 0);
  EXPECT_EQ(json["details"]["confirmed"], json["details"]["seats_taken_in_bitmap"]);
  EXPECT_TRUE(json["details"]["holds_expired"]);
  // On a single server the keys keep the original workshop's shapes: no hash tag.
  EXPECT_EQ(json["details"]["keys"]["seat_map"], "seat:map:UA123_20240115");
  EXPECT_EQ(json["details"]["keys"]["seat_lock"], "seat:lock:UA123_20240115:1A");
  EXPECT_FALSE(json["details"].contains("cluster"));
}

TEST_F(Example, WeatherServesWarmRequestsFromTheCache) {
  const auto json = run_json("weather " + url_of(server));
  EXPECT_TRUE(json["ok"]);
  EXPECT_LT(json["details"]["warm_ms"].get<double>(), json["details"]["cold_ms"].get<double>());
}

TEST_F(Example, LeaderboardRanksPassengers) {
  const auto json = run_json("leaderboard " + url_of(server));
  EXPECT_TRUE(json["ok"]);
  EXPECT_EQ(json["details"]["top"].size(), 10u);
}

TEST_F(Example, RussianDollRebuildsOnlyWhatChanged) {
  const auto json = run_json("russian_doll " + url_of(server));
  EXPECT_TRUE(json["ok"]);
  EXPECT_EQ(json["details"]["cases"].size(), 4u);
}

TEST_F(Example, FlightStatusDeliversUpdatesToTheCache) {
  const auto json = run_json("flight_status " + url_of(server));
  EXPECT_TRUE(json["ok"]);
  EXPECT_GT(json["details"]["delivered"].get<int>(), 0);
}

TEST(ExampleMonitoring, ShowsTheBreakerOpeningAndRecoveryOnItsOwnServer) {
  const auto json = run_json("monitoring --local-server");
  EXPECT_TRUE(json["ok"]);
  EXPECT_TRUE(json["details"]["outage_shown"]);
  EXPECT_TRUE(json["details"]["recovered"]);
  EXPECT_GE(json["details"]["circuit"]["transitions"]["open"].get<int>(), 1);
}

TEST(ExampleMonitoring, NeverStopsAServerItDidNotStart) {
  airport::cache::testing::ServerProcess server;
  const auto json = run_json("monitoring " + url_of(server));
  EXPECT_TRUE(json["ok"]);
  EXPECT_FALSE(json["details"]["outage_shown"]);
  EXPECT_TRUE(server.running());
}

TEST(ExampleTls, AcceptsLocalServerWithTlsLikeTheDemo) {
  const auto json = run_json("leaderboard --local-server --tls");
  EXPECT_TRUE(json["ok"]);
  EXPECT_TRUE(json["tls"]);
  EXPECT_NE(json["server"].get<std::string>().find("valkeys://127.0.0.1:"), std::string::npos)
      << json["server"];
}

TEST(Demo, RunsEveryScenarioAndReportsJson) {
  const auto json = run_json("airport-cache-demo --local-server");
  EXPECT_TRUE(json["ok"]);
  EXPECT_FALSE(json["tls"]);
  ASSERT_EQ(json["scenarios"].size(), 7u);
  for (const auto& scenario : json["scenarios"]) {
    EXPECT_TRUE(scenario["ok"]) << scenario["name"] << ": " << scenario["verdict"];
    EXPECT_TRUE(scenario.contains("hit_ratio"));
    EXPECT_TRUE(scenario.contains("p99_us"));
  }
}

TEST(Demo, RunsANamedScenarioAndRejectsAnUnknownOne) {
  airport::cache::testing::ServerProcess server;
  const auto json = run_json("airport-cache-demo leaderboard " + url_of(server));
  ASSERT_EQ(json["scenarios"].size(), 1u);
  EXPECT_EQ(json["scenarios"][0]["name"], "leaderboard");
  const auto unknown = run("airport-cache-demo no_such_scenario", {}, Stderr::Only);
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("unknown scenario 'no_such_scenario'"), std::string::npos)
      << unknown.output;
  EXPECT_NE(unknown.output.find("Run with --help for usage."), std::string::npos) << unknown.output;
  EXPECT_NE(run("airport-cache-demo --help").output.find("--url"), std::string::npos);
}

TEST(Demo, RunsOnTheInMemoryFallbackWhenItsServerDoesNotAnswer) {
  // A port with nothing behind it: the server process is started and killed to find one.
  std::string url;
  {
    airport::cache::testing::ServerProcess server;
    url = url_of(server);
    server.kill();
  }
  const auto json = run_json("airport-cache-demo flight_search weather --allow-fallback " + url);
  EXPECT_TRUE(json["in_memory_only"]);
  EXPECT_NE(json["server"].get<std::string>().find("in-memory fallback"), std::string::npos);
  EXPECT_NE(json["server"].get<std::string>().find("--allow-fallback"), std::string::npos);
  EXPECT_TRUE(json["ok"]) << json.dump(2);
}

TEST(DemoTls, RunsEveryScenarioOverTlsOnItsOwnServerAndRemovesTheCertificates) {
  const ScratchDirectory scratch;
  ASSERT_FALSE(scratch.path().empty());
  const auto json = run_json("airport-cache-demo --local-server --tls", scratch.environment());
  EXPECT_TRUE(json["ok"]);
  EXPECT_TRUE(json["tls"]);
  EXPECT_FALSE(json["in_memory_only"]);
  EXPECT_NE(json["server"].get<std::string>().find("valkeys://127.0.0.1:"), std::string::npos)
      << json["server"];
  ASSERT_EQ(json["scenarios"].size(), 7u);
  for (const auto& scenario : json["scenarios"]) {
    EXPECT_TRUE(scenario["ok"]) << scenario["name"] << ": " << scenario["verdict"];
    // monitoring killed the server and restarted it: it came back on its TLS port.
    if (scenario["name"] == "monitoring") {
      EXPECT_TRUE(scenario["details"]["outage_shown"]);
      EXPECT_TRUE(scenario["details"]["recovered"]);
    }
  }
  EXPECT_EQ(scratch.certificate_directories(), std::vector<std::string>{});
}

TEST(DemoTls, RemovesTheCertificatesWhenTheServerDoesNotStart) {
  const ScratchDirectory scratch;
  ASSERT_FALSE(scratch.path().empty());
  // A "server" that exits at once: the certificates are made, then the start fails.
  const auto result =
      run("airport-cache-demo --local-server --tls",
          scratch.environment() + " AIRPORT_CACHE_SERVER_BIN=/bin/false", Stderr::Keep);
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("during startup"), std::string::npos) << result.output;
  EXPECT_EQ(scratch.certificate_directories(), std::vector<std::string>{});
}

TEST(DemoTls, RunsEveryScenarioOverAValkeysUrlWithTheCaFromTheEnvironment) {
  const TlsCertificates certificates;
  const ServerProcess server{ServerOptions{.tls = certificates.server_files()}};
  const std::string url =
      "--url valkeys://" + server.host() + ":" + std::to_string(server.tls_port());
  const auto json = run_json("airport-cache-demo " + url,
                             "VALKEY_TLS_CA_FILE=" + quoted(certificates.ca_certificate()));
  EXPECT_TRUE(json["ok"]);
  EXPECT_TRUE(json["tls"]);
  EXPECT_FALSE(json["in_memory_only"]);
  EXPECT_NE(json["server"].get<std::string>().find(certificates.ca_certificate().string()),
            std::string::npos)
      << json["server"];
  ASSERT_EQ(json["scenarios"].size(), 7u);
  for (const auto& scenario : json["scenarios"]) {
    EXPECT_TRUE(scenario["ok"]) << scenario["name"] << ": " << scenario["verdict"];
  }
  EXPECT_TRUE(server.running());
}

TEST(DemoTls, DoesNotTrustAValkeysServerWithoutItsCa) {
  const TlsCertificates certificates;
  const ServerProcess server{ServerOptions{.tls = certificates.server_files()}};
  // The system CAs did not sign the throwaway certificate: no connection, and no plaintext
  // either; the demo refuses to run and says why, or with --allow-fallback runs on the fallback.
  const std::string url =
      "--url valkeys://" + server.host() + ":" + std::to_string(server.tls_port());
  const auto refused = run("airport-cache-demo leaderboard " + url, {}, Stderr::Only);
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("certificate"), std::string::npos) << refused.output;
  const auto json = run_json("airport-cache-demo leaderboard --allow-fallback " + url);
  EXPECT_TRUE(json["in_memory_only"]);
  EXPECT_FALSE(json["tls"]);
  EXPECT_NE(json["server"].get<std::string>().find("certificate"), std::string::npos)
      << json["server"];
}

TEST(DemoTls, RefusesTlsWithoutLocalServerAsAUsageError) {
  for (const std::string program : {"airport-cache-demo", "weather"}) {
    const auto result = run(program + " --tls", {}, Stderr::Keep);
    EXPECT_EQ(result.exit_code, 2) << program << ": a usage error";
    EXPECT_NE(result.output.find("--tls requires --local-server"), std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("--url valkeys://"), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find("stopped at the end"), std::string::npos) << result.output;
  }
}

// Every scenario works on a cluster: keys used together by one script or transaction share a
// {hash tag} there (seat_reservation: a flight-day's seat map, seat locks, fencing counters and
// reservations), and the other keys spread over the primaries by slot.
const std::vector<std::string> scenarios{"flight_search", "seat_reservation", "weather",
                                         "leaderboard",   "russian_doll",     "flight_status",
                                         "monitoring"};

TEST(DemoCluster, RunsEveryScenarioOnItsOwnClusterAndShowsWhichPrimaryHoldsTheKeys) {
  const auto result = run("airport-cache-demo --local-cluster --json");
  // A scenario that fails makes the exit status 1, as on a single server: none may.
  EXPECT_EQ(result.exit_code, 0) << result.output;
  const auto json = nlohmann::json::parse(result.output, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << result.output;
  EXPECT_EQ(json["ok"], true);
  EXPECT_FALSE(json["tls"]);
  EXPECT_FALSE(json["in_memory_only"]);
  EXPECT_NE(json["server"].get<std::string>().find("cluster (3 primaries, 3 replicas"),
            std::string::npos)
      << json["server"];

  // The nodes: 3 primaries sharing the 16384 slots, each with one replica.
  const auto& nodes = json["cluster"]["nodes"];
  ASSERT_EQ(nodes.size(), 6u) << nodes.dump(2);
  std::vector<std::string> primaries;
  std::size_t slots = 0;
  for (const auto& node : nodes) {
    if (node["role"] == "primary") {
      primaries.push_back(node["endpoint"]);
      slots += node["slots"].get<std::size_t>();
      EXPECT_FALSE(node["slot_ranges"].get<std::string>().empty()) << node;
    }
  }
  ASSERT_EQ(primaries.size(), 3u) << nodes.dump(2);
  EXPECT_EQ(slots, 16384u);
  for (const auto& node : nodes) {
    if (node["role"] == "replica") {
      EXPECT_NE(std::find(primaries.begin(), primaries.end(), node["replica_of"]), primaries.end())
          << node;
    }
  }

  // Every scenario ran, and says which primaries its keys went to.
  ASSERT_EQ(json["scenarios"].size(), 7u);
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& scenario : json["scenarios"]) {
    by_name[scenario["name"]] = scenario;
    const auto& keys = scenario["keys_per_primary"];
    ASSERT_EQ(keys.size(), 3u) << scenario["name"];
    for (std::size_t i = 0; i < keys.size(); ++i)
      EXPECT_EQ(keys[i]["endpoint"], primaries[i]) << scenario["name"];
  }
  ASSERT_EQ(by_name.size(), scenarios.size());
  for (const std::string& name : scenarios) {
    ASSERT_TRUE(by_name.contains(name)) << name;
    EXPECT_TRUE(by_name[name]["ok"]) << name << ": " << by_name[name]["verdict"];
  }
  // seat_reservation's keys all carry the flight-day's tag: one slot, so one primary holds every
  // key the scenario left (seat map, reservations, fencing counters), the one it names.
  const auto& seat = by_name["seat_reservation"];
  EXPECT_EQ(seat["details"]["double_booked"], 0) << seat.dump(2);
  EXPECT_GT(seat["details"]["confirmed"].get<int>(), 0) << seat.dump(2);
  EXPECT_EQ(seat["details"]["keys"]["seat_map"], "seat:map:{UA123_20240115}") << seat.dump(2);
  EXPECT_EQ(seat["details"]["keys"]["seat_lock"], "seat:lock:{UA123_20240115}:1A") << seat.dump(2);
  EXPECT_EQ(seat["details"]["keys"]["fencing_counter"], "seat:lock:{UA123_20240115}:1A:fence")
      << seat.dump(2);
  EXPECT_TRUE(seat["details"]["cluster"]["same_primary_for_every_key"]) << seat.dump(2);
  const std::string seat_primary = seat["details"]["cluster"]["primary"];
  EXPECT_NE(std::find(primaries.begin(), primaries.end(), seat_primary), primaries.end())
      << seat.dump(2);
  for (const auto& primary : seat["keys_per_primary"]) {
    if (primary["endpoint"] == seat_primary)
      EXPECT_GT(primary["keys"].get<long long>(), 0) << seat["keys_per_primary"].dump(2);
    else
      EXPECT_EQ(primary["keys"].get<long long>(), 0) << seat["keys_per_primary"].dump(2);
  }
  // flight_search caches about 80 routes: they spread over the primaries by slot.
  int primaries_used = 0;
  for (const auto& primary : by_name["flight_search"]["keys_per_primary"])
    primaries_used += primary["keys"].get<long long>() > 0 ? 1 : 0;
  EXPECT_GE(primaries_used, 2) << by_name["flight_search"]["keys_per_primary"].dump(2);
}

TEST(DemoCluster, RunsAStandaloneExampleOnItsOwnCluster) {
  const auto json = run_json("leaderboard --local-cluster");
  EXPECT_TRUE(json["ok"]) << json["verdict"];
  EXPECT_EQ(json["cluster"]["nodes"].size(), 6u);
  // The board is one sorted set: one key, on one primary.
  long long keys = 0;
  for (const auto& primary : json["keys_per_primary"])
    keys += primary["keys"].get<long long>();
  EXPECT_EQ(keys, 1);
}

TEST(DemoCluster, RefusesLocalClusterWithLocalServerUrlOrTlsAsAUsageError) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"--local-cluster --local-server", "--local-cluster and --local-server exclude each other"},
      {"--local-server --local-cluster", "--local-cluster and --local-server exclude each other"},
      {"--local-cluster --url valkey://127.0.0.1:6379",
       "--local-cluster and --url exclude each other"},
      {"--local-cluster --tls", "TLS on the local cluster is not supported yet"},
  };
  for (const std::string program : {"airport-cache-demo", "weather"}) {
    for (const auto& [arguments, message] : cases) {
      const auto result = run(program + " " + arguments, {}, Stderr::Keep);
      EXPECT_EQ(result.exit_code, 2) << program << " " << arguments << ": a usage error";
      EXPECT_NE(result.output.find(message), std::string::npos) << result.output;
      EXPECT_EQ(result.output.find("stopped at the end"), std::string::npos) << result.output;
    }
  }
}

// --- The command line: exit statuses, --version, a server that does not answer, signals ---

// A port with nothing behind it: a server is started and killed to find one.
int dead_port() {
  ServerProcess server;
  const int port = server.port();
  server.kill();
  return port;
}

// "valkey_version" (else "redis_version") of INFO server, as "valkey 8.0.1".
std::string info_version(const ServerProcess& server) {
  std::istringstream info{server.client().command({"INFO", "server"})};
  std::map<std::string, std::string> fields;
  for (std::string line; std::getline(info, line);) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (const auto colon = line.find(':'); colon != std::string::npos)
      fields[line.substr(0, colon)] = line.substr(colon + 1);
  }
  for (const std::string product : {"valkey", "redis"}) {
    if (fields.contains(product + "_version"))
      return product + " " + fields[product + "_version"];
  }
  return "no version in INFO server";
}

// The environment of a run with no server configured: no VALKEY_* naming one.
const std::string kNoServerConfigured = "env -u VALKEY_URL -u VALKEY_HOST -u VALKEY_PORT";

const std::vector<std::string> kPrograms{"airport-cache-demo", "weather"};

TEST(Cli, UsageErrorsExitWith2AndPrintAHintOnStderr) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"--no-such-option", "--no-such-option"},
      {"--url", "--url"},  // no value
      {"--local-cluster --local-server", "exclude each other"},
      {"--tls", "--tls requires --local-server"},
  };
  for (const std::string& program : kPrograms) {
    for (const auto& [arguments, message] : cases) {
      const auto result = run(program + " " + arguments, {}, Stderr::Only);
      EXPECT_EQ(result.exit_code, 2) << program << " " << arguments << ":\n" << result.output;
      EXPECT_NE(result.output.find(message), std::string::npos) << result.output;
      EXPECT_NE(result.output.find("Run with --help for usage."), std::string::npos)
          << program << " " << arguments << ":\n"
          << result.output;
    }
  }
}

TEST(Cli, HelpExitsWith0AndShowsTheNewOptions) {
  for (const std::string& program : kPrograms) {
    const auto result = run(program + " --help");
    EXPECT_EQ(result.exit_code, 0) << program;
    for (const char* option : {"--url", "--allow-fallback", "--version"})
      EXPECT_NE(result.output.find(option), std::string::npos) << program << ": " << option;
  }
}

TEST(Cli, VersionPrintsTheLibraryHiredisAndConfiguredServerVersions) {
  const ServerProcess server;
  for (const std::string& program : kPrograms) {
    const auto result = run(program + " --version " + url_of(server));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find(std::string{"airport-cache "} + AIRPORT_CACHE_VERSION + "\n"),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find(std::string{"hiredis "} + AIRPORT_CACHE_HIREDIS_VERSION),
              std::string::npos)
        << result.output;
    const std::string expected = "server " + info_version(server) + " at " + server.host() + ":" +
                                 std::to_string(server.port()) + "\n";
    EXPECT_NE(result.output.find(expected), std::string::npos) << "expected " << expected << "in:\n"
                                                               << result.output;
  }
}

TEST(Cli, VersionSaysWhenTheConfiguredServerDoesNotAnswer) {
  const int port = dead_port();
  const auto result = run("airport-cache-demo --version",
                          "VALKEY_URL=valkey://127.0.0.1:" + std::to_string(port), Stderr::Keep);
  // Informational: it still exits 0, and says why there is no server version.
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find(std::string{"airport-cache "} + AIRPORT_CACHE_VERSION),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("server 127.0.0.1:" + std::to_string(port) + " does not answer ("),
            std::string::npos)
      << result.output;
}

TEST(Cli, VersionWithoutAServerNamesTheBinaryLocalServerWouldStart) {
  const std::string binary = airport::cache::testing::server_binary();
  const std::string version = airport::cache::testing::server_binary_version(binary);
  ASSERT_FALSE(version.empty()) << binary << " --version reports no v=";
  const auto result = run("airport-cache-demo --version", kNoServerConfigured);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("server none configured; --local-server would start " + binary +
                               " " + version + "\n"),
            std::string::npos)
      << result.output;
}

TEST(Cli, AServerThatDoesNotAnswerFailsBeforeAnyScenarioAndNamesTheEndpoint) {
  const std::string endpoint = "127.0.0.1:" + std::to_string(dead_port());
  for (const std::string& program : kPrograms) {
    // A password in the URL must not appear in the message.
    const auto result = run(program + " --url valkey://:s3cret-pass@" + endpoint, {}, Stderr::Keep);
    EXPECT_EQ(result.exit_code, 1) << program << ":\n" << result.output;
    EXPECT_NE(result.output.find("server " + endpoint + " is not answering"), std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("--allow-fallback"), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find("s3cret-pass"), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find("✓"), std::string::npos) << "no scenario may run:\n"
                                                          << result.output;
    // The same through the environment.
    const auto from_environment = run(program, "VALKEY_URL=valkey://" + endpoint, Stderr::Keep);
    EXPECT_EQ(from_environment.exit_code, 1) << from_environment.output;
    EXPECT_NE(from_environment.output.find(endpoint), std::string::npos) << from_environment.output;
  }
  // With --allow-fallback, the run happens on the in-memory fallback and succeeds.
  const auto weather = run_json("weather --allow-fallback --url valkey://" + endpoint);
  EXPECT_TRUE(weather["in_memory_only"]);
  EXPECT_TRUE(weather["ok"]) << weather.dump(2);
  const auto demo =
      run_json("airport-cache-demo weather --allow-fallback --url valkey://" + endpoint);
  EXPECT_TRUE(demo["in_memory_only"]);
  EXPECT_TRUE(demo["ok"]) << demo.dump(2);
}

// A program of the examples directory running in the background with its stdout on a pipe that
// the test reads as it comes, so that it can act on what the program printed (a pid) and then
// signal it. Its stderr goes to `stderr_file`. Killed by pid and reaped if still running when
// the test ends.
class Background {
 public:
  Background(const std::vector<std::string>& arguments,
             const std::map<std::string, std::string>& environment, const fs::path& stderr_file) {
    std::vector<std::string> argv_storage{std::string{AIRPORT_CACHE_EXAMPLES_DIR} + "/" +
                                          arguments.front()};
    argv_storage.insert(argv_storage.end(), arguments.begin() + 1, arguments.end());
    std::vector<std::string> env_storage;
    for (char** variable = environ; *variable != nullptr; ++variable) {
      const std::string entry{*variable};
      if (!environment.contains(entry.substr(0, entry.find('='))))
        env_storage.push_back(entry);
    }
    for (const auto& [name, value] : environment)
      env_storage.push_back(name + "=" + value);
    std::vector<char*> argv;
    for (auto& argument : argv_storage)
      argv.push_back(argument.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& entry : env_storage)
      envp.push_back(entry.data());
    envp.push_back(nullptr);

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw std::runtime_error{std::string{"pipe2: "} + std::strerror(errno)};
    const int err_fd = ::open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      if (err_fd >= 0)
        ::dup2(err_fd, STDERR_FILENO);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    if (err_fd >= 0)
      ::close(err_fd);
    out_fd_ = fds[0];
    if (pid_ < 0)
      throw std::runtime_error{std::string{"fork: "} + std::strerror(errno)};
  }
  ~Background() {
    if (!status_ && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    if (out_fd_ >= 0)
      ::close(out_fd_);
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] const std::string& output() const { return output_; }

  // Reads stdout until `ready(output())` holds (true), the program exits or `timeout` passes.
  bool wait_for_output(const std::function<bool(const std::string&)>& ready,
                       std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!ready(output_)) {
      if (std::chrono::steady_clock::now() >= deadline || (!read_some(100) && exited()))
        return ready(output_);
    }
    return true;
  }

  // Waits for the exit, reading stdout meanwhile (a full pipe would block the program); the wait
  // status, or nullopt after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exited() && std::chrono::steady_clock::now() < deadline)
      read_some(10);
    while (status_ && read_some(0)) {
    }
    return status_;
  }

 private:
  // Whether it read anything within `timeout_ms`.
  bool read_some(int timeout_ms) {
    pollfd ready{.fd = out_fd_, .events = POLLIN, .revents = 0};
    if (::poll(&ready, 1, timeout_ms) <= 0)
      return false;
    std::array<char, 4096> buffer{};
    const ssize_t n = ::read(out_fd_, buffer.data(), buffer.size());
    if (n <= 0) {
      if (n == 0)  // end of file: keep the loops from spinning on it
        std::this_thread::sleep_for(std::chrono::milliseconds{timeout_ms});
      return false;
    }
    output_.append(buffer.data(), static_cast<std::size_t>(n));
    return true;
  }
  bool exited() {
    if (status_)
      return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_)
      status_ = status;
    return status_.has_value();
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string output_;
  std::optional<int> status_;
};

// Every "pid N" in `text`.
std::set<pid_t> pids_in(const std::string& text) {
  std::set<pid_t> pids;
  for (auto at = text.find("pid "); at != std::string::npos; at = text.find("pid ", at + 4)) {
    pid_t pid = 0;
    for (auto i = at + 4; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i)
      pid = pid * 10 + (text[i] - '0');
    if (pid > 0)
      pids.insert(pid);
  }
  return pids;
}

// The children of `parent` now, from /proc/<pid>/task/<tid>/children (every thread's).
std::set<pid_t> children_of(pid_t parent) {
  std::set<pid_t> children;
  const fs::path tasks = fs::path{"/proc"} / std::to_string(parent) / "task";
  std::error_code ec;
  for (const auto& task : fs::directory_iterator{tasks, ec}) {
    std::ifstream in{task.path() / "children"};
    for (pid_t child = 0; in >> child;)
      children.insert(child);
  }
  return children;
}

bool process_exists(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno != ESRCH;
}

std::vector<std::string> server_directories(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator{dir}) {
    if (entry.path().filename().string().starts_with("airport-cache-server-"))
      found.push_back(entry.path().filename().string());
  }
  return found;
}

// The slowest exit after a signal over the interrupt tests, for the record.
std::chrono::milliseconds slowest_exit{0};

// Starts `arguments` with a TMPDIR of its own, waits until `ready` holds for its stdout (the
// throwaway server is up), sends `signal`, and checks that it exits with 128 + signal within
// 10 s, with its servers' processes gone and no server directory left.
void expect_signal_stops_the_throwaway_servers(const std::vector<std::string>& arguments,
                                               int signal,
                                               const std::function<bool(const std::string&)>& ready,
                                               std::size_t expected_servers) {
  const ScratchDirectory scratch;
  ASSERT_FALSE(scratch.path().empty());
  const fs::path stderr_file =
      fs::temp_directory_path() / ("airport-cache-smoke-stderr-" + std::to_string(::getpid()));
  Background program{arguments,
                     {{"TMPDIR", scratch.path().string()},
                      {"AIRPORT_FLIGHTS_DB",
                       (fs::temp_directory_path() / "airport-cache-flights.sqlite").string()}},
                     stderr_file};
  const bool started = program.wait_for_output(ready, std::chrono::seconds{60});
  std::ifstream stderr_in{stderr_file};
  const std::string early_stderr{std::istreambuf_iterator<char>{stderr_in}, {}};
  ASSERT_TRUE(started) << "it never reported its servers; stdout:\n"
                       << program.output() << "\nstderr:\n"
                       << early_stderr;
  // The servers: the pids it printed, and its children now (the nodes of a cluster print none).
  std::set<pid_t> servers = pids_in(program.output());
  const std::set<pid_t> children = children_of(program.pid());
  servers.insert(children.begin(), children.end());
  EXPECT_GE(servers.size(), expected_servers) << program.output();
  EXPECT_FALSE(server_directories(scratch.path()).empty()) << "no server directory to clean up";

  const auto signalled = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(program.pid(), signal), 0);
  const auto status = program.wait(std::chrono::seconds{30});
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - signalled);
  slowest_exit = std::max(slowest_exit, took);
  std::cout << "[ info ] " << arguments.front() << " exited " << took.count() << " ms after "
            << ::strsignal(signal) << " (slowest so far " << slowest_exit.count() << " ms)\n";
  std::ifstream stderr_after{stderr_file};
  const std::string stderr_text{std::istreambuf_iterator<char>{stderr_after}, {}};
  std::error_code ignored;
  fs::remove(stderr_file, ignored);

  ASSERT_TRUE(status.has_value()) << "still running 30 s after the signal";
  ASSERT_TRUE(WIFEXITED(*status)) << "wait status " << *status << "; stderr:\n" << stderr_text;
  EXPECT_EQ(WEXITSTATUS(*status), 128 + signal) << stderr_text;
  EXPECT_LT(took, std::chrono::seconds{10});
  EXPECT_NE(stderr_text.find("interrupted by"), std::string::npos) << stderr_text;
  for (const pid_t pid : servers)
    EXPECT_FALSE(process_exists(pid)) << "pid " << pid << " is still there";
  EXPECT_EQ(server_directories(scratch.path()), std::vector<std::string>{});
}

bool reported_a_throwaway_server(const std::string& output) {
  return output.find("throwaway") != std::string::npos && !pids_in(output).empty();
}

TEST(Interrupt, SigintStopsTheDemosThrowawayServerAndExitsWith130) {
  expect_signal_stops_the_throwaway_servers({"airport-cache-demo", "--local-server"}, SIGINT,
                                            reported_a_throwaway_server, 1);
}

TEST(Interrupt, SigtermStopsTheDemosThrowawayServerAndExitsWith143) {
  expect_signal_stops_the_throwaway_servers({"airport-cache-demo", "--local-server"}, SIGTERM,
                                            reported_a_throwaway_server, 1);
}

TEST(Interrupt, SigintStopsAnExamplesThrowawayServerAndExitsWith130) {
  expect_signal_stops_the_throwaway_servers({"monitoring", "--local-server"}, SIGINT,
                                            reported_a_throwaway_server, 1);
}

TEST(Interrupt, SigtermStopsEveryNodeOfTheThrowawayClusterAndExitsWith143) {
  expect_signal_stops_the_throwaway_servers(
      {"airport-cache-demo", "--local-cluster"}, SIGTERM,
      [](const std::string& output) { return output.find("seed 127.0.0.1:") != std::string::npos; },
      6);
}

}  // namespace
