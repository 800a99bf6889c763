// SPDX-License-Identifier: BSD-3-Clause
#include "common/scenario.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>

#include "common/cluster_view.hpp"
#include "common/interrupt.hpp"
#include "support/cluster_process.hpp"
#include "support/server.hpp"
#include "support/tls_certificates.hpp"

namespace airport::examples {
namespace {

bool configured_by_environment(const std::string& url) {
  if (!url.empty())
    return true;
  for (const char* name : {"VALKEY_URL", "VALKEY_HOST", "VALKEY_PORT"}) {
    if (std::getenv(name) != nullptr)
      return true;
  }
  return false;
}

std::shared_ptr<spdlog::logger> quiet_logger() {
  auto logger = std::make_shared<spdlog::logger>("airport_cache_examples_probe");
  logger->set_level(spdlog::level::off);
  return logger;
}

// Why the server does not answer a PING (refused, timed out, a failed TLS handshake), or
// nullopt when it does.
std::optional<std::string> probe_failure(const cache::ValkeyConfig& config) {
  cache::ValkeyConfig probe = config;
  probe.connect_timeout = std::chrono::milliseconds{300};
  probe.socket_timeout = std::chrono::milliseconds{300};
  try {
    cache::ValkeyClient client{probe, {.logger = quiet_logger(), .health_check = false}};
    client.ping();
    return std::nullopt;
  } catch (const cache::Error& error) {
    return std::string{error.what()};
  }
}

// --url names the server. The TLS settings other than on/off (CA file, client certificate,
// server name, verification) have no place in a URL, so the VALKEY_TLS and VALKEY_TLS_*
// variables of the environment apply on top of it, exactly as they do on top of VALKEY_URL; the
// rest of VALKEY_* does not (--url always meant the URL over the defaults). from_url() runs
// first so that a bad URL is reported as the user wrote it, not as VALKEY_URL.
cache::ValkeyConfig config_from_url(const std::string& url) {
  (void)cache::ValkeyConfig::from_url(url);
  std::map<std::string, std::string, std::less<>> variables{{"VALKEY_URL", url}};
  for (const std::string_view name : cache::config_variable_names()) {
    if (name != "VALKEY_TLS" && !name.starts_with("VALKEY_TLS_"))
      continue;
    if (const char* value = std::getenv(std::string{name}.c_str()); value != nullptr)
      variables.emplace(name, value);
  }
  return cache::ValkeyConfig::from_variables(variables);
}

// "valkey 8.0.1" or "redis 7.0.15" from INFO server; throws cache::Error when the server does
// not answer a PING's worth of time. Valkey reports a redis_version too (the Redis version it is
// compatible with), so valkey_version wins.
std::string server_version_of(const cache::ValkeyConfig& config) {
  cache::ValkeyConfig probe = config;
  probe.connect_timeout = std::chrono::milliseconds{300};
  probe.socket_timeout = std::chrono::milliseconds{300};
  cache::ValkeyClient client{probe, {.logger = quiet_logger(), .health_check = false}};
  const std::string info = client.info("server");
  for (const char* product : {"valkey", "redis"}) {
    if (std::string version = cache::testing::info_field(info, std::string{product} + "_version");
        !version.empty())
      return std::string{product} + " " + version;
  }
  return "of unknown version (INFO server names none)";
}

// "127.0.0.1:6379", or "valkeys://127.0.0.1:6380" when the connections use TLS.
std::string endpoint_of(const cache::ValkeyConfig& config) {
  return config.tls.enabled ? "valkeys://" + config.endpoint() : config.endpoint();
}

// " (TLS, certificate verified against /etc/airport/ca.pem)", or nothing without TLS.
std::string tls_note(const cache::ValkeyConfig& config) {
  const cache::TlsOptions& tls = config.tls;
  if (!tls.enabled)
    return {};
  std::string note = !tls.verify            ? "TLS without certificate verification"
                     : !tls.ca_file.empty() ? "TLS, certificate verified against " + tls.ca_file
                     : !tls.ca_dir.empty()  ? "TLS, certificate verified against " + tls.ca_dir
                                            : "TLS, certificate verified against the system CAs";
  if (!tls.cert_file.empty())
    note += ", client certificate " + tls.cert_file;
  return " (" + note + ")";
}

cache::testing::ServerOptions local_server_options(
    const cache::testing::TlsCertificates* certificates) {
  cache::testing::ServerOptions options;
  if (certificates != nullptr)
    options.tls = certificates->server_files();
  return options;
}

// A throwaway server and, for --tls, the certificates it presents. The certificates are the
// first member: made before the server and destroyed after it, so they outlive it (restart()
// reads them again), and their directory goes away however the program ends, through an
// exception too, or when the server fails to start.
struct LocalServer {
  explicit LocalServer(bool tls)
      : certificates{tls ? std::make_unique<cache::testing::TlsCertificates>() : nullptr},
        on_interrupt{certificates.get()},
        server{local_server_options(certificates.get())} {}

  // Ctrl-C removes the certificates too (InterruptCleanup), as long as they exist.
  struct RemovedOnInterrupt {
    explicit RemovedOnInterrupt(const cache::testing::TlsCertificates* certificates)
        : dir{certificates != nullptr ? certificates->dir() : std::filesystem::path{}} {
      if (!dir.empty())
        remove_on_interrupt(dir);
    }
    ~RemovedOnInterrupt() {
      if (!dir.empty())
        forget_on_interrupt(dir);
    }
    RemovedOnInterrupt(const RemovedOnInterrupt&) = delete;
    RemovedOnInterrupt& operator=(const RemovedOnInterrupt&) = delete;
    std::filesystem::path dir;
  };

  std::unique_ptr<cache::testing::TlsCertificates> certificates;
  RemovedOnInterrupt on_interrupt;
  cache::testing::ServerProcess server;
};

bool server_binary_available() {
  if (const char* bin = std::getenv("AIRPORT_CACHE_SERVER_BIN"); bin != nullptr && *bin)
    return true;
  const char* path = std::getenv("PATH");
  if (path == nullptr)
    return false;
  std::string_view rest{path};
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::filesystem::path dir{std::string{rest.substr(0, colon)}};
    for (const char* name : {"valkey-server", "redis-server"}) {
      if (::access((dir / name).c_str(), X_OK) == 0)
        return true;
    }
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
  }
  return false;
}

std::size_t display_width(std::string_view text) {
  // Count UTF-8 code points, not bytes, so ✓ and µ line up.
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// A throwaway cluster, and the config pointed at its first primary as the cluster client's
// seed; the client learns the other nodes from it.
ServerChoice local_cluster_choice(ServerChoice choice) {
  if (!server_binary_available()) {
    throw std::runtime_error{
        "--local-cluster: no valkey-server or redis-server on PATH (nor "
        "$AIRPORT_CACHE_SERVER_BIN) to start a cluster with"};
  }
  choice.local_cluster = std::make_shared<cache::testing::ClusterProcess>();
  const cache::testing::ClusterProcess& cluster = *choice.local_cluster;
  const cache::ValkeyConfig seed = cluster.seed_config();
  choice.config.host = seed.host;
  choice.config.port = seed.port;
  choice.config.username.clear();
  choice.config.password = cache::Secret{};
  choice.config.database = 0;  // a cluster has only database 0
  choice.config.tls = cache::TlsOptions{};
  choice.config.cluster.mode = cache::ClusterMode::On;
  choice.config.cluster.seed_nodes.clear();
  const auto primaries = cluster.primaries().size();
  const auto nodes = cluster.nodes().size();
  choice.description = fmt::format(
      "throwaway {} cluster ({} primaries, {} replicas, formed in {}), seed {}, stopped at the "
      "end",
      std::filesystem::path{cluster.nodes().front()->binary()}.filename().string(), primaries,
      nodes - primaries, format_duration(cluster.formation_time()), endpoint_of(choice.config));
  return choice;
}

}  // namespace

void add_common_options(CLI::App& app, CommonOptions& options) {
  const CLI::Option* url = app.add_option(
      "--url", options.url,
      "Server URL, e.g. valkey://localhost:6379/0, or valkeys://host:port for TLS with "
      "VALKEY_TLS_CA_FILE etc. (default: VALKEY_* variables or .env, else "
      "localhost:6379 if it answers, else a throwaway local server)");
  app.add_flag("--json", options.json, "Print machine-readable results instead of tables");
  app.add_flag(
      "--local-server", options.local_server,
      "Always start a throwaway local server (the monitoring scenario then shows an outage)");
  app.add_flag("--tls", options.tls,
               "With --local-server: give the throwaway server throwaway certificates and "
               "connect over TLS, verified against their CA");
  app.add_flag("--local-cluster", options.local_cluster,
               "Start a throwaway local cluster (3 primaries, 3 replicas) and run on it, showing "
               "which primary holds which keys");
  app.add_flag("--allow-fallback", options.allow_fallback,
               "When the server given by --url or VALKEY_* does not answer, run on the in-memory "
               "fallback instead of failing (exit status 1) before any scenario runs");
  app.add_flag("--version", options.version,
               "Print the library, hiredis and server versions and exit");
  // Checked once everything is parsed, whatever the order of the flags; CLI11_PARSE prints it
  // as a usage error and exits with CLI11's code for a missing or excluded companion option.
  app.final_callback([&options, url] {
    if (options.local_cluster && options.local_server) {
      throw CLI::ExcludesError(
          "--local-cluster and --local-server exclude each other: --local-cluster starts a "
          "throwaway cluster, --local-server a throwaway single server; pick one",
          CLI::ExitCodes::ExcludesError);
    }
    if (options.local_cluster && url->count() > 0) {
      throw CLI::ExcludesError(
          "--local-cluster and --url exclude each other: --local-cluster runs on a throwaway "
          "cluster of its own. For your own cluster, use --url valkey://host:port with any one "
          "of its nodes (VALKEY_CLUSTER=auto, the default, finds the others)",
          CLI::ExitCodes::ExcludesError);
    }
    if (options.local_cluster && options.tls) {
      throw CLI::ExcludesError(
          "--tls with --local-cluster: TLS on the local cluster is not supported yet. For TLS "
          "on a throwaway single server, use --local-server --tls",
          CLI::ExitCodes::ExcludesError);
    }
    if (options.tls && !options.local_server) {
      throw CLI::RequiresError(
          "--tls requires --local-server: it starts a throwaway server with TLS. For your own "
          "server, use --url valkeys://host:port and VALKEY_TLS_CA_FILE=<CA file>",
          CLI::ExitCodes::RequiresError);
    }
  });
}

ServerChoice choose_server(const CommonOptions& options) {
  if (options.tls && !options.local_server)
    throw std::invalid_argument{"choose_server: --tls requires --local-server"};
  if (options.local_cluster && (options.local_server || !options.url.empty())) {
    throw std::invalid_argument{"choose_server: --local-cluster excludes --local-server and --url"};
  }
  ServerChoice choice;
  const bool explicit_server = configured_by_environment(options.url);
  choice.config =
      options.url.empty() ? cache::ValkeyConfig::from_env() : config_from_url(options.url);
  if (options.local_cluster)
    return local_cluster_choice(std::move(choice));
  const std::string configured =
      fmt::format("server {}{}", endpoint_of(choice.config), tls_note(choice.config));
  if (!options.local_server && explicit_server) {
    const auto failure = probe_failure(choice.config);
    // A server the user named that does not answer is an error, not a reason to show off the
    // fallback: a run that "passes" on the fallback would hide it (issue 14).
    if (failure && !options.allow_fallback) {
      throw std::runtime_error{
          fmt::format("{} is not answering ({}); no scenario was run. Start it, fix --url or "
                      "VALKEY_*, or pass --allow-fallback to run on the in-memory fallback",
                      configured, *failure)};
    }
    choice.in_memory_only = failure.has_value();
    choice.description = failure
                             ? fmt::format(
                                   "{} is not answering ({}): running on the in-memory fallback "
                                   "(--allow-fallback)",
                                   configured, *failure)
                             : configured;
    return choice;
  }
  if (!options.local_server && !probe_failure(choice.config)) {
    choice.description = configured;
    return choice;
  }
  if (server_binary_available()) {
    const auto local = std::make_shared<LocalServer>(options.tls);
    // Aliasing: whoever holds on to the server holds on to its certificates too.
    choice.local_server = std::shared_ptr<cache::testing::ServerProcess>{local, &local->server};
    choice.config.host = local->server.host();
    choice.config.username.clear();
    choice.config.password = cache::Secret{};
    if (options.tls) {
      choice.config.port = local->server.tls_port();
      choice.config.tls = local->server.tls_config().tls;
    } else {
      choice.config.port = local->server.port();
      choice.config.tls = cache::TlsOptions{};
    }
    choice.description =
        fmt::format("throwaway {} on {} (pid {}{}), stopped at the end",
                    std::filesystem::path{local->server.binary()}.filename().string(),
                    endpoint_of(choice.config), local->server.pid(),
                    options.tls ? "; TLS, certificate verified against a throwaway CA" : "");
    return choice;
  }
  if (options.tls) {
    throw std::runtime_error{
        "--tls: no valkey-server or redis-server on PATH (nor $AIRPORT_CACHE_SERVER_BIN) to "
        "start with TLS"};
  }
  // Nothing to talk to: a port nobody listens on, so every call degrades to the fallback at
  // once (connection refused), and the breaker keeps it at microseconds.
  choice.in_memory_only = true;
  choice.config.host = "127.0.0.1";
  choice.config.port = 1;
  choice.description =
      "no Valkey server reachable and no server binary found: running on the in-memory fallback";
  return choice;
}

std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv,
                                      std::string_view program) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::ParseError& error) {
    // --help (and CLI11's other "success" exits) print to stdout and exit 0 as CLI11 does them.
    if (error.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success))
      return app.exit(error);
    return usage_error(program, error.what());
  }
}

int usage_error(std::string_view program, std::string_view message) {
  fmt::print(stderr, "{}: {}\nRun with --help for usage.\n", program, message);
  return usage_error_status;
}

int print_versions(const CommonOptions& options) {
  fmt::print("airport-cache {}\n", AIRPORT_CACHE_VERSION);
  fmt::print("hiredis {} (built against)\n", AIRPORT_CACHE_HIREDIS_VERSION);
  std::string server;
  if (configured_by_environment(options.url)) {
    try {
      const cache::ValkeyConfig config =
          options.url.empty() ? cache::ValkeyConfig::from_env() : config_from_url(options.url);
      const std::string endpoint = endpoint_of(config);
      try {
        server = fmt::format("{} at {}", server_version_of(config), endpoint);
      } catch (const cache::Error& error) {
        server = fmt::format("{} does not answer ({})", endpoint, error.what());
      }
    } catch (const std::exception& error) {
      server = fmt::format("not known: the configuration is invalid ({})", error.what());
    }
  } else {
    // What a --local-server run would start; a throwaway cluster starts the same binary.
    try {
      const std::string binary = cache::testing::server_binary();
      const std::string version = cache::testing::server_binary_version(binary);
      server = fmt::format("none configured; --local-server would start {} {}", binary,
                           version.empty() ? "(it reports no version)" : version);
    } catch (const std::exception& error) {
      server = fmt::format("none configured, and none found for --local-server ({})", error.what());
    }
  }
  fmt::print("server {}\n", server);
  return EXIT_SUCCESS;
}

void Output::header(std::string_view title, std::string_view subtitle) const {
  if (json_)
    return;
  fmt::print("\n== {} ==\n", title);
  if (!subtitle.empty())
    fmt::print("   {}\n", subtitle);
}

void Output::line(std::string_view text) const {
  if (!json_)
    fmt::print("   {}\n", text);
}

void Output::table(const std::vector<std::vector<std::string>>& rows) const {
  if (json_ || rows.empty())
    return;
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], display_width(row[i]));
    }
  }
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::string text = "   ";
    for (std::size_t i = 0; i < rows[r].size(); ++i) {
      const std::string& cell = rows[r][i];
      text += cell;
      if (i + 1 < rows[r].size())
        text += std::string(widths[i] - display_width(cell) + 2, ' ');
    }
    fmt::print("{}\n", text);
    if (r == 0) {
      std::size_t total = 0;
      for (const std::size_t width : widths)
        total += width + 2;
      fmt::print("   {}\n", std::string(total - 2, '-'));
    }
  }
}

void Output::progress(std::string_view text) const {
  if (json_)
    return;
  // A terminal sees the line update in place; a pipe or a log gets only the final state.
  if (::isatty(STDOUT_FILENO) != 0) {
    fmt::print("\r   {:<76}", text);
    std::fflush(stdout);
  } else {
    last_progress_ = std::string{text};
  }
}

void Output::done_progress() const {
  if (json_)
    return;
  if (::isatty(STDOUT_FILENO) != 0) {
    fmt::print("\n");
  } else if (!last_progress_.empty()) {
    fmt::print("   {}\n", last_progress_);
    last_progress_.clear();
  }
}

void take_stats(ScenarioResult& result, const cache::StatsSnapshot& stats) {
  result.operations = stats.operations;
  result.hit_ratio = stats.hit_ratio;
  // The read the scenario does most: plain gets, or get_or_compute for the cache-aside ones
  // (whose reads are timed as get_or_compute, not as get).
  const auto& get = stats.latency_of(cache::Operation::Get);
  const auto& compute = stats.latency_of(cache::Operation::GetOrCompute);
  const auto& read = compute.count > get.count ? compute : get;
  result.p50_us = read.p50_us;
  result.p99_us = read.p99_us;
}

cache::ValkeyConfig example_config(const ServerChoice& server) {
  cache::ValkeyConfig config = server.config;
  config.log_level = cache::LogLevel::Warn;
  if (server.in_memory_only) {
    config.log_level = cache::LogLevel::Off;  // every call fails by design; say it once, above
    config.circuit_breaker.failure_threshold = 1;
    config.circuit_breaker.recovery_timeout = std::chrono::hours{1};
    config.circuit_breaker.initial_recovery_timeout = std::chrono::hours{1};
  }
  return config;
}

std::string format_duration(std::chrono::nanoseconds duration) {
  const double ns = static_cast<double>(duration.count());
  if (ns >= 1e9)
    return fmt::format("{:.2f} s", ns / 1e9);
  if (ns >= 1e6)
    return fmt::format("{:.2f} ms", ns / 1e6);
  if (ns >= 1e3)
    return fmt::format("{:.1f} µs", ns / 1e3);
  return fmt::format("{:.0f} ns", ns);
}

int run_standalone(int argc, char** argv, std::string_view name, const Scenario& scenario) {
  CLI::App app{fmt::format("airport-cache example: {}", name)};
  CommonOptions options;
  add_common_options(app, options);
  if (const auto status = parse_command_line(app, argc, argv, name))
    return *status;
  if (options.version)
    return print_versions(options);
  // Before any thread starts (the library's, a cluster's): they all inherit its blocked signals.
  const InterruptCleanup interrupts{std::string{name}};
  try {
    const Output out{options.json};
    ServerChoice server = choose_server(options);
    out.line(server.description);
    // Now, not at exit: whoever watches a pipe (a test waiting to interrupt the run) sees the pid.
    std::fflush(stdout);
    std::vector<ClusterNodeView> nodes;
    if (server.local_cluster) {
      nodes = cluster_nodes(server.config);
      print_cluster_nodes(out, nodes);
    }
    ScenarioContext context{server, out};
    const ScenarioResult result = scenario(context);
    std::vector<PrimaryKeys> keys;
    if (server.local_cluster) {
      keys = keys_per_primary(nodes);
      print_keys_per_primary(out, keys);
    }
    if (options.json) {
      nlohmann::json report{{"scenario", result.name},  {"server", server.description},
                            {"tls", server.tls()},      {"in_memory_only", server.in_memory_only},
                            {"ok", result.ok},          {"verdict", result.verdict},
                            {"details", result.details}};
      if (server.local_cluster) {
        report["cluster"] = {{"nodes", nodes_json(nodes)}};
        report["keys_per_primary"] = keys_json(keys);
      }
      fmt::print("{}\n", report.dump(2));
    } else {
      fmt::print("\n{} {}: {}\n", result.ok ? "✓" : "✗", result.name, result.verdict);
    }
    return result.ok ? EXIT_SUCCESS : EXIT_FAILURE;
  } catch (const std::exception& error) {
    fmt::print(stderr, "{}: {}\n", name, error.what());
    return EXIT_FAILURE;
  }
}

}  // namespace airport::examples
