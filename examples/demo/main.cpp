// airport-cache-demo: connects to Valkey (or starts a throwaway local server), stores and reads a
// flight-search result, and prints what the client measured.
#include <airport/cache.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <optional>
#include <thread>

#include "support/server.hpp"

namespace {

using namespace airport::cache;

// True when the user configured a server explicitly, through --url or the environment.
bool server_configured(const std::string& url) {
  return !url.empty() || std::getenv("VALKEY_URL") != nullptr ||
         std::getenv("VALKEY_HOST") != nullptr || std::getenv("VALKEY_PORT") != nullptr;
}

bool reachable(const ValkeyConfig& config) {
  ValkeyConfig probe = config;
  probe.connect_timeout = std::chrono::milliseconds{300};
  probe.socket_timeout = std::chrono::milliseconds{300};
  try {
    // A silent logger: an unreachable default server is expected here, not worth a warning.
    auto quiet = std::make_shared<spdlog::logger>("airport_cache_probe");
    quiet->set_level(spdlog::level::off);
    ValkeyClient client{probe, {.logger = quiet, .health_check = false}};
    client.ping();
    return true;
  } catch (const Error&) {
    return false;
  }
}

struct CommandTally {
  std::atomic<long> commands{0};
  std::atomic<long> errors{0};
  std::atomic<long long> nanoseconds{0};
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"airport-cache-demo: Valkey caching patterns for an airport"};
  std::string url;
  bool json = false;
  app.add_option("--url", url,
                 "Server URL, e.g. valkey://localhost:6379/0 (default: VALKEY_* "
                 "environment or .env, else a throwaway local server)");
  app.add_flag("--json", json, "Print machine-readable results");
  CLI11_PARSE(app, argc, argv);

  try {
    ValkeyConfig config = url.empty() ? ValkeyConfig::from_env() : ValkeyConfig::from_url(url);
    std::unique_ptr<testing::ServerProcess> local_server;
    std::string server_source = fmt::format("server {}", config.endpoint());
    if (!server_configured(url) && !reachable(config)) {
      local_server = std::make_unique<testing::ServerProcess>();
      config.host = local_server->host();
      config.port = local_server->port();
      server_source = fmt::format("throwaway {} on {} (pid {})", local_server->binary(),
                                  config.endpoint(), local_server->pid());
    }

    auto tally = std::make_shared<CommandTally>();
    ValkeyClient client{config, {.observer = [tally](const CommandEvent& event) {
                          tally->commands.fetch_add(1, std::memory_order_relaxed);
                          if (event.error)
                            tally->errors.fetch_add(1);
                          tally->nanoseconds.fetch_add(event.duration.count(),
                                                       std::memory_order_relaxed);
                        }}};
    const CacheKeyManager keys{config};
    const std::string key = keys.flight_search_key("LAX", "JFK", "2024-01-15");
    const nlohmann::json flights = {{{"flight", "UA123"}, {"departs", "08:15"}, {"price", 329}},
                                    {{"flight", "DL456"}, {"departs", "11:40"}, {"price", 289}}};
    const TTLCalculator ttl{config.ttl_jitter};
    const auto expiry = ttl.jittered(TTLPreset::SearchResults);
    client.set(key, flights.dump(), {.ttl = expiry});
    const std::optional<std::string> cached = client.get(key);
    const bool round_trip_ok = cached && nlohmann::json::parse(*cached) == flights;
    // The first health check runs in the background right after the client starts.
    for (int i = 0; i < 100 && client.health().checks == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    const HealthStatus health = client.health();
    const long commands = tally->commands.load();
    const double mean_us =
        commands == 0 ? 0.0 : static_cast<double>(tally->nanoseconds.load()) / commands / 1000.0;

    if (json) {
      const nlohmann::json result = {
          {"server", server_source},    {"key", key},
          {"ttl_ms", expiry.count()},   {"round_trip_ok", round_trip_ok},
          {"commands", commands},       {"errors", tally->errors.load()},
          {"mean_latency_us", mean_us},
      };
      fmt::print("{}\n", result.dump(2));
    } else {
      fmt::print("airport-cache {} (hiredis {}) using {}\n", AIRPORT_CACHE_VERSION,
                 AIRPORT_CACHE_HIREDIS_VERSION, server_source);
      fmt::print("  SET {} ({} flights, TTL {} ms with jitter)\n", key, flights.size(),
                 expiry.count());
      fmt::print("  GET {} -> {}\n", key, round_trip_ok ? "same 2 flights" : "MISMATCH");
      fmt::print("  server {} {} ({}), PING round trip {} us\n", health.server_name,
                 health.server_version, health.role.empty() ? "role unknown" : health.role,
                 client.ping().count());
      fmt::print("  stats: {} commands, {} errors, mean latency {:.1f} us\n", commands,
                 tally->errors.load(), mean_us);
    }
    return round_trip_ok ? EXIT_SUCCESS : EXIT_FAILURE;
  } catch (const std::exception& error) {
    fmt::print(stderr, "airport-cache-demo: {}\n", error.what());
    return EXIT_FAILURE;
  }
}
