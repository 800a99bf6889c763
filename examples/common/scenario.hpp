// The small framework every example shares: where the server is, how results are printed (human
// tables or JSON), and what each scenario reports to the demo's closing summary.
#pragma once

#include <airport/cache.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace airport::cache::testing {
class ServerProcess;
}

namespace airport::examples {

namespace cache = airport::cache;

/// Where the examples run: the configured server, a throwaway local one, or none at all (the
/// in-memory fallback).
struct ServerChoice {
  cache::ValkeyConfig config;
  /// Set when the examples started the server themselves; only then may a scenario stop it.
  std::shared_ptr<cache::testing::ServerProcess> local_server;
  /// No server binary and nothing reachable: everything runs on the fallback.
  bool in_memory_only = false;
  /// One line for a person: "server 127.0.0.1:6379", "throwaway redis-server on ...".
  std::string description;
};

/// --url when given; else VALKEY_* / .env when they name a server; else the default address
/// when something answers there; else a throwaway valkey-server / redis-server from PATH on a
/// free port; else the in-memory fallback. `force_local` skips straight to the throwaway server.
ServerChoice choose_server(const std::string& url, bool force_local = false);

/// Printing for people (headers, aligned tables, progress) that goes quiet in --json mode.
class Output {
 public:
  explicit Output(bool json) : json_{json} {}
  [[nodiscard]] bool json() const noexcept { return json_; }
  void header(std::string_view title, std::string_view subtitle = {}) const;
  void line(std::string_view text) const;
  /// An aligned table; the first row is the heading.
  void table(const std::vector<std::vector<std::string>>& rows) const;
  /// A progress line that overwrites itself; finish with done_progress().
  void progress(std::string_view text) const;
  void done_progress() const;

 private:
  bool json_;
  mutable std::string last_progress_;
};

/// What a scenario reports for the closing summary table and --json.
struct ScenarioResult {
  std::string name;
  bool ok = false;
  std::uint64_t operations = 0;
  double hit_ratio = 0.0;
  double p50_us = 0.0;
  double p99_us = 0.0;
  std::string verdict;  // one line: what was shown or what went wrong
  nlohmann::json details = nlohmann::json::object();
};

/// Everything a scenario needs.
struct ScenarioContext {
  ServerChoice& server;
  const Output& out;
};

/// Fills operations, hit ratio and GET latency percentiles from a manager's stats.
void take_stats(ScenarioResult& result, const cache::StatsSnapshot& stats);

/// A CacheManager for examples: the server's config with the library's log lines at warn.
cache::ValkeyConfig example_config(const ServerChoice& server);

/// "1.23 ms", "850 us", "2.1 s".
std::string format_duration(std::chrono::nanoseconds duration);

using Scenario = std::function<ScenarioResult(ScenarioContext&)>;

// The scenarios, one file each under examples/scenarios/.
ScenarioResult run_flight_search(ScenarioContext& context);
ScenarioResult run_seat_reservation(ScenarioContext& context);
ScenarioResult run_weather(ScenarioContext& context);
ScenarioResult run_leaderboard(ScenarioContext& context);
ScenarioResult run_russian_doll(ScenarioContext& context);
ScenarioResult run_flight_status(ScenarioContext& context);
ScenarioResult run_monitoring(ScenarioContext& context);

/// Runs one scenario as a standalone program: chooses the server, prints, exits 0 when it
/// succeeded. `--json`, `--url URL` and `--local-server` are accepted.
int run_standalone(int argc, char** argv, std::string_view name, const Scenario& scenario);

}  // namespace airport::examples
