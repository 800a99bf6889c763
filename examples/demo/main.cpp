// SPDX-License-Identifier: BSD-3-Clause
// airport-cache-demo: runs the workshop's scenarios (all, or the ones named) against Valkey, a
// throwaway local server or cluster, or the in-memory fallback, and ends with a summary table.
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

#include "common/cluster_view.hpp"
#include "common/interrupt.hpp"
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
  constexpr std::string_view program = "airport-cache-demo";
  if (const auto status = parse_command_line(app, argc, argv, program))
    return *status;
  if (options.version)
    return print_versions(options);
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
    if (found == scenarios().end())
      return usage_error(program, fmt::format("unknown scenario '{}' (try --list)", name));
    to_run.push_back(&*found);
  }
  if (to_run.empty()) {
    for (const auto& scenario : scenarios())
      to_run.push_back(&scenario);
  }

  // Before any thread starts (the library's, a cluster's): they all inherit its blocked signals.
  const InterruptCleanup interrupts{std::string{program}};
  try {
    const Output out{json};
    ServerChoice server = choose_server(options);
    if (!json) {
      fmt::print("airport-cache {} (hiredis {}): {}\n", AIRPORT_CACHE_VERSION,
                 AIRPORT_CACHE_HIREDIS_VERSION, server.description);
      // Now, not at exit: whoever watches a pipe (a test waiting to interrupt the run) sees the
      // throwaway server's pid.
      std::fflush(stdout);
    }
    // On our own cluster: its nodes first, then, for each scenario, which primaries its keys
    // went to. Each scenario starts on an empty cluster, so the keys counted after it are its
    // own (those it deleted again, such as released locks, are not counted).
    std::vector<ClusterNodeView> nodes;
    if (server.local_cluster) {
      nodes = cluster_nodes(server.config);
      out.header("cluster", "its nodes, by CLUSTER NODES on the seed");
      print_cluster_nodes(out, nodes);
    }
    ScenarioContext context{server, out};
    std::vector<ScenarioResult> results;
    std::vector<std::vector<PrimaryKeys>> keys_of_scenario;
    for (const NamedScenario* scenario : to_run) {
      if (server.local_cluster)
        empty_primaries(nodes);
      try {
        results.push_back(scenario->run(context));
      } catch (const std::exception& error) {
        results.push_back({.name = scenario->name, .ok = false, .verdict = error.what()});
        out.line(fmt::format("✗ {}", error.what()));
      }
      if (server.local_cluster) {
        keys_of_scenario.push_back(keys_per_primary(nodes));
        print_keys_per_primary(out, keys_of_scenario.back());
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
      if (server.local_cluster)
        report["cluster"] = {{"nodes", nodes_json(nodes)}};
      for (std::size_t i = 0; i < results.size(); ++i) {
        const ScenarioResult& result = results[i];
        nlohmann::json scenario{{"name", result.name},
                                {"ok", result.ok},
                                {"operations", result.operations},
                                {"hit_ratio", result.hit_ratio},
                                {"p50_us", result.p50_us},
                                {"p99_us", result.p99_us},
                                {"verdict", result.verdict},
                                {"details", result.details}};
        if (server.local_cluster)
          scenario["keys_per_primary"] = keys_json(keys_of_scenario[i]);
        report["scenarios"].push_back(std::move(scenario));
      }
      fmt::print("{}\n", report.dump(2));
    } else {
      out.header("summary");
      std::vector<std::vector<std::string>> rows{
          {"scenario", "ops", "hit ratio", "p50", "p99", "result"}};
      if (server.local_cluster)
        rows[0].insert(rows[0].end() - 1, "keys per primary");
      for (std::size_t i = 0; i < results.size(); ++i) {
        const ScenarioResult& result = results[i];
        // Scenarios that never read through the CacheManager (locks, sorted sets) have no gets.
        const bool has_gets = result.p50_us > 0;
        std::vector<std::string> row{
            result.name,
            std::to_string(result.operations),
            has_gets ? fmt::format("{:.1f}%", result.hit_ratio * 100) : "-",
            has_gets ? fmt::format("{:.1f} µs", result.p50_us) : "-",
            has_gets ? fmt::format("{:.1f} µs", result.p99_us) : "-",
            result.ok ? "✓" : "✗ " + result.verdict};
        if (server.local_cluster) {
          std::string counts;
          for (const PrimaryKeys& primary : keys_of_scenario[i])
            counts += (counts.empty() ? "" : " / ") + std::to_string(primary.keys);
          row.insert(row.end() - 1, counts);
        }
        rows.push_back(std::move(row));
      }
      out.table(rows);
    }
    return all_ok ? EXIT_SUCCESS : EXIT_FAILURE;
  } catch (const std::exception& error) {
    fmt::print(stderr, "{}: {}\n", program, error.what());
    return EXIT_FAILURE;
  }
}
