#include "common/scenario.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "support/server.hpp"

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

bool answers(const cache::ValkeyConfig& config) {
  cache::ValkeyConfig probe = config;
  probe.connect_timeout = std::chrono::milliseconds{300};
  probe.socket_timeout = std::chrono::milliseconds{300};
  try {
    cache::ValkeyClient client{probe, {.logger = quiet_logger(), .health_check = false}};
    client.ping();
    return true;
  } catch (const cache::Error&) {
    return false;
  }
}

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

}  // namespace

ServerChoice choose_server(const std::string& url, bool force_local) {
  ServerChoice choice;
  const bool explicit_server = configured_by_environment(url);
  choice.config =
      url.empty() ? cache::ValkeyConfig::from_env() : cache::ValkeyConfig::from_url(url);
  if (!force_local && explicit_server) {
    choice.in_memory_only = !answers(choice.config);
    choice.description =
        choice.in_memory_only
            ? fmt::format("server {} is not answering: running on the in-memory fallback",
                          choice.config.endpoint())
            : fmt::format("server {}", choice.config.endpoint());
    return choice;
  }
  if (!force_local && answers(choice.config)) {
    choice.description = fmt::format("server {}", choice.config.endpoint());
    return choice;
  }
  if (server_binary_available()) {
    choice.local_server = std::make_shared<cache::testing::ServerProcess>();
    choice.config.host = choice.local_server->host();
    choice.config.port = choice.local_server->port();
    choice.config.username.clear();
    choice.config.password = cache::Secret{};
    choice.description =
        fmt::format("throwaway {} on {} (pid {}), stopped at the end",
                    std::filesystem::path{choice.local_server->binary()}.filename().string(),
                    choice.config.endpoint(), choice.local_server->pid());
    return choice;
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
  const auto& get = stats.latency_of(cache::Operation::Get);
  result.p50_us = get.p50_us;
  result.p99_us = get.p99_us;
}

cache::ValkeyConfig example_config(const ServerChoice& server) {
  cache::ValkeyConfig config = server.config;
  config.log_level = cache::LogLevel::Warn;
  if (server.in_memory_only) {
    config.log_level = cache::LogLevel::Off;  // every call fails by design; say it once, above
    config.circuit_breaker.failure_threshold = 1;
    config.circuit_breaker.recovery_timeout = std::chrono::hours{1};
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
  std::string url;
  bool json = false, local_server = false;
  app.add_option("--url", url, "Server URL, e.g. valkey://localhost:6379/0");
  app.add_flag("--json", json, "Print the result as JSON");
  app.add_flag("--local-server", local_server, "Always start a throwaway local server");
  CLI11_PARSE(app, argc, argv);
  try {
    const Output out{json};
    ServerChoice server = choose_server(url, local_server);
    out.line(server.description);
    ScenarioContext context{server, out};
    const ScenarioResult result = scenario(context);
    if (json) {
      fmt::print("{}\n", nlohmann::json{{"scenario", result.name},
                                        {"ok", result.ok},
                                        {"verdict", result.verdict},
                                        {"details", result.details}}
                             .dump(2));
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
