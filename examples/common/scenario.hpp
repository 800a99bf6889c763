// SPDX-License-Identifier: BSD-3-Clause
// The small framework every example shares: where the server is, how results are printed (human
// tables or JSON), and what each scenario reports to the demo's closing summary.
#pragma once

#include <airport/cache.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace airport::cache::testing {
class ServerProcess;
class ClusterProcess;
}  // namespace airport::cache::testing

namespace CLI {
class App;
}

namespace airport::examples {

namespace cache = airport::cache;

/// Where the examples run: the configured server, a throwaway local one, a throwaway local
/// cluster, or none at all (the in-memory fallback).
struct ServerChoice {
  cache::ValkeyConfig config;
  /// Set when the examples started the server themselves; only then may a scenario stop it.
  /// With --tls, its throwaway certificates live exactly as long as it does (restart() reads
  /// them again) and are removed with it.
  std::shared_ptr<cache::testing::ServerProcess> local_server;
  /// Set for --local-cluster: the throwaway cluster the examples started (3 primaries, 3
  /// replicas), stopped when the last holder lets go. config points at one of its primaries
  /// with cluster.mode On.
  std::shared_ptr<cache::testing::ClusterProcess> local_cluster;
  /// No server binary and nothing reachable: everything runs on the fallback.
  bool in_memory_only = false;
  /// One line for a person: "server 127.0.0.1:6379", "server valkeys://cache:6380 (TLS, ...)",
  /// "throwaway redis-server on ...", "throwaway redis-server cluster ...".
  std::string description;

  /// Whether the scenarios talk to a server over TLS (false on the in-memory fallback).
  [[nodiscard]] bool tls() const noexcept { return config.tls.enabled && !in_memory_only; }
};

/// The command-line options that every example program and airport-cache-demo share.
struct CommonOptions {
  /// --url: the server, e.g. valkey://localhost:6379/0 or valkeys://cache:6380.
  std::string url;
  /// --json: machine-readable output instead of tables.
  bool json = false;
  /// --local-server: always start a throwaway local server.
  bool local_server = false;
  /// --tls (needs --local-server): the throwaway server listens with TLS too, with throwaway
  /// certificates, and every connection goes over TLS.
  bool tls = false;
  /// --local-cluster: start a throwaway local cluster (3 primaries, 3 replicas) and run on it.
  bool local_cluster = false;
  /// --allow-fallback: when the server given by --url or VALKEY_* does not answer, run on the
  /// in-memory fallback instead of failing before any scenario runs.
  bool allow_fallback = false;
  /// --version: print the versions (print_versions()) and exit.
  bool version = false;
};

/// The exit status for a usage error: an unknown option, a missing or bad value, options that
/// exclude each other, an unknown scenario. 0 means every scenario succeeded, 1 that one failed
/// or the server did not answer, 128 + n that signal n interrupted the run (InterruptCleanup).
inline constexpr int usage_error_status = 2;

/// Adds --url, --json, --local-server, --local-cluster, --tls, --allow-fallback and --version to
/// `app`. The parse fails with a usage error for --tls without --local-server (pointing to --url
/// valkeys:// and VALKEY_TLS_CA_FILE), for --local-cluster with --local-server or --url, and for
/// --tls with --local-cluster (not supported yet).
void add_common_options(CLI::App& app, CommonOptions& options);

/// Parses the command line. Returns nullopt when the program goes on; else the status to exit
/// with: 0 once --help printed the usage to stdout, usage_error_status once usage_error() printed
/// CLI11's message. Never lets CLI11's own exit codes (105-109 and so on) out.
std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv,
                                      std::string_view program);

/// Prints "<program>: <message>" and "Run with --help for usage." to stderr; returns
/// usage_error_status.
int usage_error(std::string_view program, std::string_view message);

/// --version: prints the library's version (AIRPORT_CACHE_VERSION), the hiredis version it was
/// built against, and the server's: with a server configured (--url or VALKEY_*), its
/// valkey_version or redis_version from INFO server, or that it does not answer and why; with
/// none, the version of the binary that --local-server would start, or that there is none.
/// Informational, so it returns 0 in every case; a PING's worth of time at most (300 ms timeouts).
int print_versions(const CommonOptions& options);

/// --url when given, with the VALKEY_TLS_* variables of the environment (a URL cannot carry a CA
/// file); else VALKEY_* / .env when they name a server; else the default address when something
/// answers there; else a throwaway valkey-server / redis-server from PATH on a free port; else
/// the in-memory fallback. --local-server skips straight to the throwaway server, which --tls
/// starts with a TLS port and throwaway certificates. --local-cluster starts a throwaway cluster
/// instead (about 2 s) and points the config at its first primary, with cluster.mode On.
/// A server given by --url or VALKEY_* that does not answer a PING within 300 ms is a
/// std::runtime_error naming its endpoint (never the password), unless --allow-fallback is set:
/// then the choice is the in-memory fallback, and the description says why.
/// Throws ConfigError for a bad URL or variable, std::invalid_argument for options that
/// add_common_options() refuses, and std::runtime_error when --tls cannot start a TLS server
/// (no server binary, no TLS support in it, no openssl CLI) or --local-cluster cannot start a
/// cluster (no server binary, no cluster support in it).
ServerChoice choose_server(const CommonOptions& options);

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
/// succeeded, 1 when it failed or the server did not answer, usage_error_status for a usage
/// error, 128 + n on signal n (SIGINT, SIGTERM; InterruptCleanup). Accepts the CommonOptions:
/// `--json`, `--url URL`, `--local-server`, `--local-cluster`, `--tls`, `--allow-fallback` and
/// `--version`. On a --local-cluster it also shows the nodes, and how many keys each primary
/// holds afterwards.
int run_standalone(int argc, char** argv, std::string_view name, const Scenario& scenario);

}  // namespace airport::examples
