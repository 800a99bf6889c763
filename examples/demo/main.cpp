// airport-cache-demo: runs the workshop's scenarios (all, or the ones named) against Valkey, a
// throwaway local server, or the in-memory fallback, and ends with a summary table.
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cstdlib>

#include "common/scenario.hpp"

namespace {

using namespace airport::examples;

struct NamedScenario {
  const char* name;
  const char* what;
  Scenario run;
};

const std::vector<NamedScenario>& scenarios() {
  static const std::vector<NamedScenario> all{
      {"flight_search", "cache-aside over SQLite, single flight", run_flight_search},
      {"seat_reservation", "50 passengers race for 30 seats under locks", run_seat_reservation},
      {"weather", "slow, flaky API with stale-if-error", run_weather},
      {"leaderboard", "sorted-set leaderboard with ranks and pages", run_leaderboard},
      {"russian_doll", "nested fragments and the four invalidations", run_russian_doll},
      {"flight_status", "pub/sub updates a near-real-time cache", run_flight_status},
      {"monitoring", "live stats through an outage and recovery", run_monitoring},
  };
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"airport-cache-demo: Valkey caching patterns for an airport"};
  CommonOptions options;
  bool list = false;
  std::vector<std::string> selected;
  app.add_option("scenarios", selected, "Scenarios to run (default: all); see --list");
  add_common_options(app, options);
  app.add_flag("--list", list, "List the scenarios and exit");
  CLI11_PARSE(app, argc, argv);
  const bool json = options.json;

  if (list) {
    for (const auto& scenario : scenarios())
      fmt::print("{:<18} {}\n", scenario.name, scenario.what);
    return EXIT_SUCCESS;
  }
  std::vector<const NamedScenario*> to_run;
  for (const auto& name : selected) {
    const auto found = std::find_if(scenarios().begin(), scenarios().end(),
                                    [&](const NamedScenario& s) { return name == s.name; });
    if (found == scenarios().end()) {
      fmt::print(stderr, "airport-cache-demo: unknown scenario '{}' (try --list)\n", name);
      return EXIT_FAILURE;
    }
    to_run.push_back(&*found);
  }
  if (to_run.empty()) {
    for (const auto& scenario : scenarios())
      to_run.push_back(&scenario);
  }

  try {
    const Output out{json};
    ServerChoice server = choose_server(options);
    if (!json) {
      fmt::print("airport-cache {} (hiredis {}): {}\n", AIRPORT_CACHE_VERSION,
                 AIRPORT_CACHE_HIREDIS_VERSION, server.description);
    }
    ScenarioContext context{server, out};
    std::vector<ScenarioResult> results;
    for (const NamedScenario* scenario : to_run) {
      try {
        results.push_back(scenario->run(context));
      } catch (const std::exception& error) {
        results.push_back({.name = scenario->name, .ok = false, .verdict = error.what()});
      }
    }

    const bool all_ok =
        std::all_of(results.begin(), results.end(), [](const auto& r) { return r.ok; });
    if (json) {
      nlohmann::json report{{"version", AIRPORT_CACHE_VERSION},
                            {"server", server.description},
                            {"tls", server.tls()},
                            {"in_memory_only", server.in_memory_only},
                            {"ok", all_ok},
                            {"scenarios", nlohmann::json::array()}};
      for (const auto& result : results) {
        report["scenarios"].push_back({{"name", result.name},
                                       {"ok", result.ok},
                                       {"operations", result.operations},
                                       {"hit_ratio", result.hit_ratio},
                                       {"p50_us", result.p50_us},
                                       {"p99_us", result.p99_us},
                                       {"verdict", result.verdict},
                                       {"details", result.details}});
      }
      fmt::print("{}\n", report.dump(2));
    } else {
      out.header("summary");
      std::vector<std::vector<std::string>> rows{
          {"scenario", "ops", "hit ratio", "p50", "p99", "result"}};
      for (const auto& result : results) {
        // Scenarios that never read through the CacheManager (locks, sorted sets) have no gets.
        const bool has_gets = result.p50_us > 0;
        rows.push_back({result.name, std::to_string(result.operations),
                        has_gets ? fmt::format("{:.1f}%", result.hit_ratio * 100) : "-",
                        has_gets ? fmt::format("{:.1f} µs", result.p50_us) : "-",
                        has_gets ? fmt::format("{:.1f} µs", result.p99_us) : "-",
                        result.ok ? "✓" : "✗ " + result.verdict});
      }
      out.table(rows);
    }
    return all_ok ? EXIT_SUCCESS : EXIT_FAILURE;
  } catch (const std::exception& error) {
    fmt::print(stderr, "airport-cache-demo: {}\n", error.what());
    return EXIT_FAILURE;
  }
}
