// Runs every example and airport-cache-demo as a user would, against a server this test starts
// (or, with --local-server, one the program starts itself), and checks exit codes and results.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "support/server.hpp"

namespace {

struct Run {
  int exit_code = -1;
  std::string output;
};

Run run(const std::string& arguments) {
  const std::string command =
      std::string{AIRPORT_CACHE_EXAMPLES_DIR} + "/" + arguments + " 2>/dev/null";
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

nlohmann::json run_json(const std::string& arguments) {
  const Run result = run(arguments + " --json");
  EXPECT_EQ(result.exit_code, 0) << arguments << " printed:\n" << result.output;
  const auto json = nlohmann::json::parse(result.output, nullptr, false);
  EXPECT_FALSE(json.is_discarded()) << arguments << " printed no JSON:\n" << result.output;
  return json;
}

std::string url_of(const airport::cache::testing::ServerProcess& server) {
  return "--url valkey://" + server.host() + ":" + std::to_string(server.port());
}

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

TEST(Demo, RunsEveryScenarioAndReportsJson) {
  const auto json = run_json("airport-cache-demo --local-server");
  EXPECT_TRUE(json["ok"]);
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

}  // namespace
