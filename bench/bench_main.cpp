// The benchmark runner: starts one server for the whole run on a free loopback port, with a TLS
// port next to it, fills it with the hot keys, runs every registered benchmark and stops the
// server at the end.
#include <hiredis/hiredis.h>

#include <benchmark/benchmark.h>
#include <spdlog/sinks/null_sink.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "bench_support.hpp"
#include "support/tls_certificates.hpp"

namespace airport::cache::bench {
namespace {

testing::ServerProcess* current_server = nullptr;
std::string tls_unavailable;  // why the server has no TLS port; empty when it has one

// The server's certificate: the usual names, and a wildcard for never used names (see
// kTlsWildcardDomain).
testing::TlsServerFiles bench_server_files(testing::TlsCertificates& certificates) {
  const testing::CertificateFiles files = certificates.issue_server_certificate(
      "bench-server",
      {"DNS:localhost", "IP:127.0.0.1", "DNS:*." + std::string{kTlsWildcardDomain}});
  return {.cert_file = files.certificate,
          .key_file = files.key,
          .ca_file = certificates.ca_certificate(),
          .require_client_certificate = false};
}

// Writes every hot key in pipelined batches over a plain hiredis connection, so that the data
// the benchmarks read does not depend on the code under test.
void fill_hot_keys(const testing::ServerProcess& process) {
  redisContext* context = redisConnect(process.host().c_str(), process.port());
  if (context == nullptr || context->err != 0) {
    const std::string detail = context != nullptr ? context->errstr : "out of memory";
    redisFree(context);
    throw std::runtime_error("bench: cannot connect to fill the server: " + detail);
  }
  constexpr std::size_t batch = 1000;
  const auto& keys = hot_keys();
  for (std::size_t first = 0; first < keys.size(); first += batch) {
    const std::size_t last = std::min(keys.size(), first + batch);
    for (std::size_t i = first; i < last; ++i) {
      const char* argv[] = {"SET", keys[i].c_str(), value_100().c_str()};
      const std::size_t lengths[] = {3, keys[i].size(), value_100().size()};
      redisAppendCommandArgv(context, 3, argv, lengths);
    }
    for (std::size_t i = first; i < last; ++i) {
      void* reply = nullptr;
      if (redisGetReply(context, &reply) != REDIS_OK) {
        redisFree(context);
        throw std::runtime_error("bench: filling the server failed");
      }
      freeReplyObject(reply);
    }
  }
  redisFree(context);
}

// "7.0.15" from INFO server's redis_version (valkey_version on Valkey 8+, when present).
std::string server_version(const testing::ServerProcess& process) {
  std::istringstream info{process.client().command({"INFO", "server"})};
  std::string line, version;
  while (std::getline(info, line)) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    for (const std::string_view field : {"valkey_version:", "redis_version:"}) {
      if (line.rfind(field, 0) == 0 && (version.empty() || field == "valkey_version:"))
        version = line.substr(field.size());
    }
  }
  return version;
}

}  // namespace

testing::ServerProcess& server() {
  if (current_server == nullptr)
    throw std::logic_error("bench: the server is not running");
  return *current_server;
}

ValkeyConfig quiet_config() {
  ValkeyConfig config = server().config();
  config.health_check_interval = std::chrono::hours{1};
  config.log_level = LogLevel::Off;
  return config;
}

ValkeyConfig quiet_tls_config() {
  if (!tls_unavailable.empty())
    throw std::runtime_error("bench: the server has no TLS port: " + tls_unavailable);
  ValkeyConfig config = server().tls_config();
  config.health_check_interval = std::chrono::hours{1};
  config.log_level = LogLevel::Off;
  return config;
}

std::shared_ptr<spdlog::logger> quiet_logger() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    auto made = std::make_shared<spdlog::logger>("airport_cache_bench",
                                                 std::make_shared<spdlog::sinks::null_sink_mt>());
    made->set_level(spdlog::level::off);
    return made;
  }();
  return logger;
}

std::string search_key(std::size_t i) {
  return "flight:search:LAX:JFK:2024-01-15:" + std::to_string(i);
}

const std::vector<std::string>& hot_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> made;
    made.reserve(kHotKeyCount);
    for (std::size_t i = 0; i < kHotKeyCount; ++i)
      made.push_back(search_key(i));
    return made;
  }();
  return keys;
}

const std::vector<std::string>& missing_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> made;
    made.reserve(kHotKeyCount);
    for (std::size_t i = 0; i < kHotKeyCount; ++i)
      made.push_back("flight:search:LAX:JFK:2024-01-15:miss:" + std::to_string(i));
    return made;
  }();
  return keys;
}

const std::string& value_100() {
  static const std::string value = [] {
    std::string made = R"({"flight":"UA123","from":"LAX","to":"JFK","fare":"249.00","cabin":"Y")";
    made.resize(99, ' ');
    made.push_back('}');
    return made;
  }();
  return value;
}

double server_cpu_seconds() {
  std::istringstream info{server().client().command({"INFO", "cpu"})};
  std::string line;
  double seconds = 0;
  while (std::getline(info, line)) {
    for (const std::string_view field : {"used_cpu_user:", "used_cpu_sys:"}) {
      if (line.rfind(field, 0) == 0)
        seconds += std::stod(line.substr(field.size()));
    }
  }
  return seconds;
}

ServerCpu::ServerCpu(const benchmark::State& state) : active_{state.thread_index() == 0} {
  if (active_)
    start_ = server_cpu_seconds();
}

void ServerCpu::report(benchmark::State& state, std::int64_t operations) {
  if (!active_ || operations <= 0)
    return;
  const double used = server_cpu_seconds() - start_;
  state.counters["server_cpu_us_per_op"] = used * 1e6 / static_cast<double>(operations);
}

void LatencySamples::report(benchmark::State& state) {
  if (samples_.empty())
    return;
  std::sort(samples_.begin(), samples_.end());
  const auto at = [&](double quantile) {
    const auto index =
        static_cast<std::size_t>(quantile * static_cast<double>(samples_.size() - 1));
    return static_cast<double>(samples_[index]);
  };
  // What one pair of clock reads costs, measured on the spot, so readers can subtract it.
  constexpr int probes = 1000;
  const auto probe_start = std::chrono::steady_clock::now();
  for (int i = 0; i < probes; ++i) {
    benchmark::DoNotOptimize(std::chrono::steady_clock::now());
    benchmark::DoNotOptimize(std::chrono::steady_clock::now());
  }
  const auto probe_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now() - probe_start)
                            .count();
  state.counters["p50_ns"] = at(0.50);
  state.counters["p99_ns"] = at(0.99);
  state.counters["p999_ns"] = at(0.999);
  state.counters["max_ns"] = static_cast<double>(samples_.back());
  state.counters["timer_overhead_ns"] = static_cast<double>(probe_ns) / probes;
}

}  // namespace airport::cache::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  namespace testing = airport::cache::testing;
  using airport::cache::bench::tls_unavailable;
  try {
    // Declared before the server, so that the certificate files outlive it; both are removed
    // when main() returns or throws.
    std::optional<testing::TlsCertificates> certificates;
    // Constructed on the main thread, which outlives it (ServerProcess uses PR_SET_PDEATHSIG).
    std::optional<testing::ServerProcess> server_process;
    try {
      certificates.emplace();
      server_process.emplace(
          testing::ServerOptions{.tls = airport::cache::bench::bench_server_files(*certificates)});
    } catch (const std::exception& error) {
      // No openssl CLI, or a server built without TLS: the TLS benchmarks report this, the
      // others run as before.
      tls_unavailable = error.what();
      std::cerr << "bench: no TLS port, the TLS benchmarks will fail: " << tls_unavailable << '\n';
      server_process.emplace();
    }
    testing::ServerProcess& process = *server_process;
    airport::cache::bench::current_server = &process;
    airport::cache::bench::fill_hot_keys(process);
    benchmark::AddCustomContext("server_binary", process.binary());
    benchmark::AddCustomContext("server_version", airport::cache::bench::server_version(process));
    benchmark::AddCustomContext("server_endpoint",
                                process.host() + ":" + std::to_string(process.port()));
    benchmark::AddCustomContext("server_tls_endpoint",
                                tls_unavailable.empty()
                                    ? process.host() + ":" + std::to_string(process.tls_port())
                                    : "none: " + tls_unavailable);
    benchmark::AddCustomContext("hot_keys", std::to_string(airport::cache::bench::kHotKeyCount));
    benchmark::AddCustomContext("value_bytes",
                                std::to_string(airport::cache::bench::value_100().size()));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    airport::cache::bench::current_server = nullptr;
  } catch (const std::exception& error) {
    std::cerr << "bench: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
