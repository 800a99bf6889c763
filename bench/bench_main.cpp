// SPDX-License-Identifier: BSD-3-Clause
// The benchmark runner: starts one server for the whole run on a free loopback port, with a TLS
// port next to it, fills it with the hot keys, runs every registered benchmark and stops the
// server at the end. The cluster benchmarks' local cluster is started on first use and stopped
// at the end too.
#include <hiredis/hiredis.h>

#include <airport/cache/cluster_slot.hpp>

#include <benchmark/benchmark.h>
#include <spdlog/sinks/null_sink.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include "bench_support.hpp"
#include "support/tls_certificates.hpp"

namespace airport::cache::bench {
namespace {

testing::ServerProcess* current_server = nullptr;
std::string tls_unavailable;  // why the server has no TLS port; empty when it has one

// The cluster's place in main(), empty until cluster() starts it; null outside main().
std::optional<testing::ClusterProcess>* cluster_holder = nullptr;
std::string cluster_unavailable;  // why the cluster could not start; empty until it failed
const std::thread::id main_thread = std::this_thread::get_id();  // static init runs on it

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

// Every node of `process` that owns slots ("host:port"), with the slot ranges it owns, read
// from CLUSTER SLOTS over plain hiredis: [[start, end, [host, port, id], replicas...], ...].
std::map<std::pair<std::string, int>, std::vector<std::pair<int, int>>> slot_owners(
    const testing::ClusterProcess& process) {
  const ValkeyConfig seed = process.seed_config();
  redisContext* context = redisConnect(seed.host.c_str(), seed.port);
  if (context == nullptr || context->err != 0) {
    const std::string detail = context != nullptr ? context->errstr : "out of memory";
    redisFree(context);
    throw std::runtime_error("bench: cannot connect to the cluster: " + detail);
  }
  auto* reply = static_cast<redisReply*>(redisCommand(context, "CLUSTER SLOTS"));
  redisFree(context);
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) {
    freeReplyObject(reply);
    throw std::runtime_error("bench: CLUSTER SLOTS did not answer with an array");
  }
  std::map<std::pair<std::string, int>, std::vector<std::pair<int, int>>> owners;
  for (std::size_t i = 0; i < reply->elements; ++i) {
    const redisReply* range = reply->element[i];
    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
        range->element[2]->type != REDIS_REPLY_ARRAY || range->element[2]->elements < 2)
      continue;
    const redisReply* primary = range->element[2];
    owners[{std::string{primary->element[0]->str, primary->element[0]->len},
            static_cast<int>(primary->element[1]->integer)}]
        .emplace_back(static_cast<int>(range->element[0]->integer),
                      static_cast<int>(range->element[1]->integer));
  }
  freeReplyObject(reply);
  return owners;
}

// The keys of `keys` whose slot is in one of `ranges`.
std::vector<std::string> keys_in(const std::vector<std::pair<int, int>>& ranges,
                                 const std::vector<std::string>& keys) {
  std::vector<std::string> found;
  for (const std::string& key : keys) {
    const int slot = cluster_slot(key);
    const auto holds = [&](const auto& range) {
      return range.first <= slot && slot <= range.second;
    };
    if (std::any_of(ranges.begin(), ranges.end(), holds))
      found.push_back(key);
  }
  return found;
}

// Writes every hot key to the primary owning its slot.
void fill_cluster(const testing::ClusterProcess& process) {
  for (const auto& [node, ranges] : slot_owners(process))
    fill_keys(node.first, node.second, keys_in(ranges, hot_keys()));
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

void fill_keys(const std::string& host, int port, const std::vector<std::string>& keys) {
  redisContext* context = redisConnect(host.c_str(), port);
  if (context == nullptr || context->err != 0) {
    const std::string detail = context != nullptr ? context->errstr : "out of memory";
    redisFree(context);
    throw std::runtime_error("bench: cannot connect to " + host + ":" + std::to_string(port) +
                             " to fill it: " + detail);
  }
  constexpr std::size_t batch = 1000;
  std::string failure;
  for (std::size_t first = 0; first < keys.size() && failure.empty(); first += batch) {
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
        throw std::runtime_error("bench: filling " + host + ":" + std::to_string(port) + " failed");
      }
      const auto* answer = static_cast<const redisReply*>(reply);
      if (answer->type == REDIS_REPLY_ERROR && failure.empty())
        failure = "SET " + keys[i] + ": " + std::string{answer->str, answer->len};
      freeReplyObject(reply);
    }
  }
  redisFree(context);
  if (!failure.empty())
    throw std::runtime_error("bench: filling " + host + ":" + std::to_string(port) +
                             " failed: " + failure);
}

testing::ClusterProcess& cluster() {
  if (cluster_holder == nullptr)
    throw std::logic_error("bench: the cluster exists only while main() runs the benchmarks");
  if (*cluster_holder)
    return **cluster_holder;
  if (!cluster_unavailable.empty())
    throw std::runtime_error("bench: no cluster: " + cluster_unavailable);
  // ServerProcess ties each node to the thread that starts it (PR_SET_PDEATHSIG); only the main
  // thread, which runs every Setup() and thread 0 of every benchmark, lasts the whole run.
  if (std::this_thread::get_id() != main_thread)
    throw std::logic_error("bench: the cluster must be started from the main thread");
  try {
    cluster_holder->emplace();
    fill_cluster(**cluster_holder);
  } catch (const std::exception& error) {
    cluster_holder->reset();
    cluster_unavailable = error.what();
    throw std::runtime_error("bench: no cluster: " + cluster_unavailable);
  }
  return **cluster_holder;
}

std::vector<std::string> keys_on(const testing::ServerProcess& node,
                                 const std::vector<std::string>& keys) {
  const auto owners = slot_owners(cluster());
  const auto ranges = owners.find({node.host(), node.port()});
  return ranges == owners.end() ? std::vector<std::string>{} : keys_in(ranges->second, keys);
}

ValkeyConfig quiet_cluster_config() {
  ValkeyConfig config = cluster().seed_config();
  config.cluster.mode = ClusterMode::On;
  config.health_check_interval = std::chrono::hours{1};
  config.log_level = LogLevel::Off;
  return config;
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

const std::string& hot_key_of_thread(int thread, int threads, std::size_t i) {
  const auto& keys = hot_keys();
  const std::size_t stride = keys.size() / static_cast<std::size_t>(threads);
  return keys[(static_cast<std::size_t>(thread) * stride + i) % keys.size()];
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
    // Started by the first cluster benchmark (cluster()), stopped with the server.
    std::optional<testing::ClusterProcess> cluster_process;
    airport::cache::bench::cluster_holder = &cluster_process;
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
    airport::cache::bench::fill_keys(process.host(), process.port(),
                                     airport::cache::bench::hot_keys());
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
    airport::cache::bench::cluster_holder = nullptr;
  } catch (const std::exception& error) {
    std::cerr << "bench: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
