// SPDX-License-Identifier: BSD-3-Clause
// Runs every example and airport-cache-demo as a user would, against a server this test starts
// (or, with --local-server or --local-cluster, one the program starts itself), and checks exit
// codes and results.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
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

/// Whether stderr goes into Run::output (interleaved with stdout) or is dropped.
enum class Stderr { Drop, Keep };

// Runs `arguments` (a program of the examples directory and its arguments) with `environment`
// ("NAME=value ..." put before the command by the shell).
Run run(const std::string& arguments, const std::string& environment = {},
        Stderr stderr_output = Stderr::Drop) {
  const std::string command = environment + " " + std::string{AIRPORT_CACHE_EXAMPLES_DIR} + "/" +
                              arguments +
                              (stderr_output == Stderr::Keep ? " 2>&1" : " 2>/dev/null");
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
  EXPECT_NE(run("airport-cache-demo no_such_scenario").exit_code, 0);
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
  const auto json = run_json("airport-cache-demo flight_search weather " + url);
  EXPECT_TRUE(json["in_memory_only"]);
  EXPECT_NE(json["server"].get<std::string>().find("in-memory fallback"), std::string::npos);
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
  // either; the demo runs on the fallback and says why.
  const auto json = run_json("airport-cache-demo leaderboard --url valkeys://" + server.host() +
                             ":" + std::to_string(server.tls_port()));
  EXPECT_TRUE(json["in_memory_only"]);
  EXPECT_FALSE(json["tls"]);
  EXPECT_NE(json["server"].get<std::string>().find("certificate"), std::string::npos)
      << json["server"];
}

TEST(DemoTls, RefusesTlsWithoutLocalServerAsAUsageError) {
  for (const std::string program : {"airport-cache-demo", "weather"}) {
    const auto result = run(program + " --tls", {}, Stderr::Keep);
    EXPECT_NE(result.exit_code, 0) << program;
    EXPECT_NE(result.exit_code, 1) << program << " failed at run time, not as a usage error";
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
      EXPECT_NE(result.exit_code, 0) << program << " " << arguments;
      EXPECT_NE(result.exit_code, 1)
          << program << " " << arguments << " failed at run time, not as a usage error";
      EXPECT_NE(result.output.find(message), std::string::npos) << result.output;
      EXPECT_EQ(result.output.find("stopped at the end"), std::string::npos) << result.output;
    }
  }
}

}  // namespace
