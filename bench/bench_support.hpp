// SPDX-License-Identifier: BSD-3-Clause
// Shared set-up of the benchmark suite: the one server the whole run uses (started by
// bench_main.cpp, plaintext and TLS), the local cluster the cluster benchmarks start on first
// use, configs and loggers that keep the measurements quiet, and realistic keys.
#pragma once

#include <airport/cache/config.hpp>

#include <benchmark/benchmark.h>
#include <spdlog/logger.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/cluster_process.hpp"
#include "support/server.hpp"

struct redisContext;

namespace airport::cache::bench {

/// Keys SET by bench_main.cpp before any benchmark runs, each holding value_100().
inline constexpr std::size_t kHotKeyCount = 10'000;

/// The server of this run: a real redis-server / valkey-server on a free loopback port, started
/// once in main() and stopped when the run ends. It also listens with TLS on a second port
/// (tls_port()), with a throwaway CA and certificate made at start and removed at the end, unless
/// the binary lacks TLS support.
[[nodiscard]] testing::ServerProcess& server();

/// The run's local cluster (3 primaries, 3 replicas; ClusterProcess), started by the first call
/// and stopped when the run ends, holding every hot key. Starting takes ~2-3 s, so only runs
/// with a cluster benchmark pay for it. Call it first from the main thread (a benchmark's
/// Setup(), or the body of a single-threaded benchmark): the nodes die with the thread that
/// started them. Throws std::runtime_error saying why when the cluster cannot start (then and
/// on every later call), std::logic_error when first called from another thread.
[[nodiscard]] testing::ClusterProcess& cluster();

/// A config for this run's server that keeps background work out of the measurements: a health
/// check once an hour and the library's own logging off.
[[nodiscard]] ValkeyConfig quiet_config();

/// quiet_config() for the server's TLS port, verifying its certificate against the run's CA.
/// Throws std::runtime_error saying why when the server has no TLS port.
[[nodiscard]] ValkeyConfig quiet_tls_config();

/// The server's certificate is valid for localhost, 127.0.0.1 and *.<this domain>: a connection
/// can verify a name that no earlier connection used, and so get no session to resume.
inline constexpr std::string_view kTlsWildcardDomain = "bench.airport.test";

/// quiet_config() for cluster(): its first node as the seed, cluster.mode On.
[[nodiscard]] ValkeyConfig quiet_cluster_config();

/// The keys of `keys` whose slot the cluster node `node` owns now, by one CLUSTER SLOTS (over
/// plain hiredis); none for a replica.
[[nodiscard]] std::vector<std::string> keys_on(const testing::ServerProcess& node,
                                               const std::vector<std::string>& keys);

/// SETs value_100() to each of `keys` on the server at host:port, in pipelined batches over a
/// plain hiredis connection (so that the data read does not depend on the code under test).
/// Throws std::runtime_error on an I/O error or an error reply (MOVED, for a key whose slot
/// the node does not own).
void fill_keys(const std::string& host, int port, const std::vector<std::string>& keys);

/// A logger at level off, for CacheManagerOptions / ClientOptions.
[[nodiscard]] std::shared_ptr<spdlog::logger> quiet_logger();

/// "flight:search:LAX:JFK:2024-01-15:<i>": the shape of the workshop's search keys.
[[nodiscard]] std::string search_key(std::size_t i);

/// search_key(0 .. kHotKeyCount-1), built once; every one of them is on the server.
[[nodiscard]] const std::vector<std::string>& hot_keys();

/// The i-th hot key of `thread`'s own stretch of hot_keys() when `threads` threads share them
/// (wrapping), so that threads of a multi-threaded benchmark do not all read the same keys.
[[nodiscard]] const std::string& hot_key_of_thread(int thread, int threads, std::size_t i);

/// Keys that are never written: "flight:search:LAX:JFK:2024-01-15:miss:<i>".
[[nodiscard]] const std::vector<std::string>& missing_keys();

/// A 100-byte value (printable, JSON-like).
[[nodiscard]] const std::string& value_100();

/// A plain hiredis connection to server(): the baseline every layer is compared with.
/// redisCommandArgv for single commands, redisAppendCommandArgv + redisGetReply for pipelines.
/// Every call throws std::runtime_error on an I/O error or an unexpected reply. One thread at a
/// time. Defined in baseline_hiredis.cpp.
class RawConnection {
 public:
  RawConnection();
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  /// GET: the value's length, or -1 for a missing key.
  long long get(const std::string& key);
  /// SET key value, no expiry; with `px`, SET key value PX px (what a CacheManager sends for a
  /// TTL), so that the server does the same work for the baseline as for the layer.
  void set(const std::string& key, const std::string& value, std::string_view px = {});
  /// `count` SETs of value_100() to hot_keys()[first ...] (wrapping), in one pipeline; with
  /// `px`, each with PX px.
  void pipeline_set(std::size_t first, std::size_t count, std::string_view px = {});

 private:
  redisContext* context_;
};

/// Runs a benchmark body, turning an exception into a reported benchmark error.
template <class Body>
void guarded(benchmark::State& state, Body&& body) {
  try {
    body();
  } catch (const std::exception& error) {
    state.SkipWithError(error.what());
  }
}

/// CPU seconds the server process has used so far (INFO cpu: used_cpu_user + used_cpu_sys).
[[nodiscard]] double server_cpu_seconds();

/// Sets the counter server_cpu_us_per_op: the server's CPU time per operation between
/// construction and report(). In a multi-threaded benchmark only thread 0 measures.
class ServerCpu {
 public:
  explicit ServerCpu(const benchmark::State& state);
  /// `operations` is the number of commands (or batches) this benchmark ran on all threads.
  void report(benchmark::State& state, std::int64_t operations);

 private:
  bool active_;
  double start_ = 0;
};

/// Per-call latencies collected inside a benchmark loop and reported as counters. Each sample
/// includes one pair of steady_clock reads; timer_overhead_ns says what that pair costs here.
class LatencySamples {
 public:
  explicit LatencySamples(std::size_t expected) { samples_.reserve(expected); }
  void add(std::chrono::steady_clock::duration elapsed) {
    samples_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
  }
  /// Sets the counters p50_ns, p99_ns, p999_ns, max_ns and timer_overhead_ns on `state`.
  void report(benchmark::State& state);

 private:
  std::vector<long long> samples_;
};

}  // namespace airport::cache::bench
