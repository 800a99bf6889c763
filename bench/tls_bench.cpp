// SPDX-License-Identifier: BSD-3-Clause
// TLS against plaintext on the same server process (bench_main.cpp gives it a TLS port): a
// ValkeyClient GET and a Pipeline of 100 SETs over each port, opening a connection with a full
// and with a resumed TLS handshake (and plain TCP for reference), and redis-benchmark's GET over
// TLS and plaintext on one connection (run by redis_benchmark.hpp): the reference ("ceiling") of
// what TLS costs a C client.
#include <airport/cache/valkey_client.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "connection.hpp"
#include "paired.hpp"
#include "redis_benchmark.hpp"

namespace airport::cache::bench {
namespace {

constexpr std::size_t kBatch = 100;

// A client as a service would build it, with its one connection opened and warmed.
std::unique_ptr<ValkeyClient> make_client(const ValkeyConfig& config) {
  auto client = std::make_unique<ValkeyClient>(config, ClientOptions{.logger = quiet_logger()});
  (void)client->get(hot_keys().front());
  return client;
}

// --- GET and pipelines over TLS ----------------------------------------------------------------

// BM_Client_Get (client_bench.cpp) over the TLS port.
void BM_Tls_Get(benchmark::State& state) {
  guarded(state, [&] {
    auto client = make_client(quiet_tls_config());
    const auto& keys = hot_keys();
    std::size_t i = 0;
    ServerCpu server_cpu{state};
    for (auto _ : state) {
      std::optional<std::string> value = client->get(keys[i++ % keys.size()]);
      benchmark::DoNotOptimize(value);
    }
    server_cpu.report(state, state.iterations());
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Tls_Get)->UseRealTime();

void pipeline_100_set(ValkeyClient& client, Pipeline& pipeline, std::size_t first) {
  const auto& keys = hot_keys();
  pipeline.clear();
  for (std::size_t n = 0; n < kBatch; ++n)
    pipeline.add("SET", keys[(first + n) % keys.size()], value_100());
  std::vector<Reply> replies = client.execute(pipeline);
  benchmark::DoNotOptimize(replies);
}

// BM_Client_Pipeline100Set (client_bench.cpp) over the TLS port.
void BM_Tls_Pipeline100Set(benchmark::State& state) {
  guarded(state, [&] {
    auto client = make_client(quiet_tls_config());
    Pipeline pipeline;
    std::size_t first = 0;
    for (auto _ : state) {
      pipeline_100_set(*client, pipeline, first);
      first += kBatch;
    }
  });
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
}
BENCHMARK(BM_Tls_Pipeline100Set)->UseRealTime();

// Paired (paired.hpp): plaintext is the baseline, so ratio_p50 is TLS throughput ÷ plaintext.
void BM_Paired_TlsGet(benchmark::State& state) {
  guarded(state, [&] {
    auto plain = make_client(quiet_config());
    auto tls = make_client(quiet_tls_config());
    const auto& keys = hot_keys();
    run_paired(
        state, [&](std::size_t i) { benchmark::DoNotOptimize(plain->get(keys[i % keys.size()])); },
        [&](std::size_t i) { benchmark::DoNotOptimize(tls->get(keys[i % keys.size()])); });
  });
}
BENCHMARK(BM_Paired_TlsGet)->UseRealTime();

void BM_Paired_TlsPipeline100Set(benchmark::State& state) {
  guarded(state, [&] {
    auto plain = make_client(quiet_config());
    auto tls = make_client(quiet_tls_config());
    Pipeline pipeline;
    run_paired(
        state, [&](std::size_t i) { pipeline_100_set(*plain, pipeline, i * kBatch); },
        [&](std::size_t i) { pipeline_100_set(*tls, pipeline, i * kBatch); });
  });
}
BENCHMARK(BM_Paired_TlsPipeline100Set)->UseRealTime();

// --- opening a connection ----------------------------------------------------------------------
//
// One iteration is what the pool pays for a new connection: detail::Connection::open() (TCP
// connect, TLS handshake, then AUTH / SELECT / CLIENT SETNAME as configured and INFO server in one
// round trip) and closing it again.
//
// Resumed: the library offers the session (TLS 1.3 ticket) of the last connection made under
// the same TLS setting, endpoint and server name, so every connection after a first one resumes.
// Full: each connection verifies a server name no earlier connection used, so there is no session
// to offer. Both verify a name under the wildcard of the server's certificate ("resumed." and
// "c<n>." + kTlsWildcardDomain) and send it as SNI; the chain is verified in full either way, and
// nothing else differs. Each iteration checks which kind of handshake it really got. Every unique
// name leaves one session in the library's cache: a few thousand small entries in a run.

std::atomic<std::uint64_t> unique_names{0};

ValkeyConfig resumed_config() {
  ValkeyConfig config = quiet_tls_config();
  config.tls.server_name = "resumed." + std::string{kTlsWildcardDomain};
  (void)detail::Connection::open(config);  // leaves the session the next connection resumes
  return config;
}

void open_full(ValkeyConfig& config) {
  config.tls.server_name =
      "c" + std::to_string(unique_names.fetch_add(1)) + "." + std::string{kTlsWildcardDomain};
  const auto connection = detail::Connection::open(config);
  if (connection->transport().resumed_session())
    throw std::runtime_error("a connection under a never used server name resumed a session");
}

void open_resumed(const ValkeyConfig& config) {
  const auto connection = detail::Connection::open(config);
  if (!connection->transport().resumed_session())
    throw std::runtime_error("a second connection to the same name did not resume the session");
}

void BM_Client_ConnectPlain(benchmark::State& state) {
  guarded(state, [&] {
    const ValkeyConfig config = quiet_config();
    for (auto _ : state) {
      auto connection = detail::Connection::open(config);
      benchmark::DoNotOptimize(connection);
    }
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Client_ConnectPlain)->UseRealTime();

void BM_Tls_ConnectFull(benchmark::State& state) {
  guarded(state, [&] {
    ValkeyConfig config = quiet_tls_config();
    for (auto _ : state)
      open_full(config);
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Tls_ConnectFull)->UseRealTime();

void BM_Tls_ConnectResumed(benchmark::State& state) {
  guarded(state, [&] {
    const ValkeyConfig config = resumed_config();
    for (auto _ : state)
      open_resumed(config);
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Tls_ConnectResumed)->UseRealTime();

// Paired: the full handshake is the baseline, so ratio_p50 is how many times faster resuming is.
void BM_Paired_TlsConnect(benchmark::State& state) {
  guarded(state, [&] {
    ValkeyConfig full = quiet_tls_config();
    const ValkeyConfig resumed = resumed_config();
    run_paired(
        state, [&](std::size_t) { open_full(full); }, [&](std::size_t) { open_resumed(resumed); });
  });
}
BENCHMARK(BM_Paired_TlsConnect)->UseRealTime();

// --- redis-benchmark: the ceiling ---------------------------------------------------------------

constexpr int kRedisBenchmarkRequests = 10'000;

// redis-benchmark: 1 client, no pipelining, GET of hot_keys()[0] (100 bytes) on the same server,
// over TLS (trusting the run's CA) or plaintext. One iteration is one redis-benchmark run of
// kRedisBenchmarkRequests GETs; its time is what redis-benchmark measured itself, so starting
// the process and connecting are not in it.
void run_redis_benchmark_get(benchmark::State& state, bool tls) {
  guarded(state, [&] {
    std::vector<std::string> argv{redis_benchmark_binary(), "-h", server().host()};
    if (tls) {
      const ValkeyConfig config = quiet_tls_config();
      argv.insert(argv.end(),
                  {"-p", std::to_string(config.port), "--tls", "--cacert", config.tls.ca_file});
    } else {
      argv.insert(argv.end(), {"-p", std::to_string(server().port())});
    }
    argv.insert(argv.end(), {"-c", "1", "-P", "1", "-n", std::to_string(kRedisBenchmarkRequests),
                             "--csv", "GET", hot_keys().front()});
    for (auto _ : state) {
      const double rps =
          csv_get_requests_per_second(run_to_completion(argv, std::chrono::minutes{2}));
      state.SetIterationTime(kRedisBenchmarkRequests / rps);
    }
  });
  state.SetItemsProcessed(state.iterations() * kRedisBenchmarkRequests);
}

void BM_RedisBenchmark_TlsGet(benchmark::State& state) {
  run_redis_benchmark_get(state, true);
}
BENCHMARK(BM_RedisBenchmark_TlsGet)->Iterations(1)->UseManualTime();

void BM_RedisBenchmark_PlainGet(benchmark::State& state) {
  run_redis_benchmark_get(state, false);
}
BENCHMARK(BM_RedisBenchmark_PlainGet)->Iterations(1)->UseManualTime();

}  // namespace
}  // namespace airport::cache::bench
