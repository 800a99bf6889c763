// SPDX-License-Identifier: BSD-3-Clause
// ValkeyClient against the raw hiredis baseline: GET and SET of 100-byte values, the pool shared
// by 1, 2 and 4 threads, a Pipeline of 100 SETs, MGET of 100 keys and 100 sequential GETs.
#include <airport/cache/valkey_client.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_support.hpp"

namespace airport::cache::bench {
namespace {

// A client as a service would build it, with its pool warmed by one command.
std::unique_ptr<ValkeyClient> make_client(std::size_t max_connections = 1) {
  ValkeyConfig config = quiet_config();
  config.max_connections = max_connections;
  auto client = std::make_unique<ValkeyClient>(config, ClientOptions{.logger = quiet_logger()});
  (void)client->get(hot_keys().front());
  return client;
}

void BM_Client_Get(benchmark::State& state) {
  guarded(state, [&] {
    auto client = make_client();
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
BENCHMARK(BM_Client_Get)->UseRealTime();

void BM_Client_Set(benchmark::State& state) {
  guarded(state, [&] {
    auto client = make_client();
    const auto& keys = hot_keys();
    const std::string& value = value_100();
    std::size_t i = 0;
    for (auto _ : state) {
      bool stored = client->set(keys[i++ % keys.size()], value);
      benchmark::DoNotOptimize(stored);
    }
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Client_Set)->UseRealTime();

// --- one client, pool of 4, shared by 1, 2 and 4 threads ---------------------------------------

std::unique_ptr<ValkeyClient> shared_pool_client;

void open_shared_pool(const benchmark::State&) {
  shared_pool_client = make_client(4);
}
void close_shared_pool(const benchmark::State&) {
  shared_pool_client.reset();
}

void BM_Client_GetPool4(benchmark::State& state) {
  ValkeyClient& client = *shared_pool_client;
  const auto& keys = hot_keys();
  // Each thread walks its own stretch of the keys.
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (keys.size() / 4);
  ServerCpu server_cpu{state};
  for (auto _ : state) {
    std::optional<std::string> value = client.get(keys[i++ % keys.size()]);
    benchmark::DoNotOptimize(value);
  }
  // Every thread runs the same number of iterations.
  server_cpu.report(state, state.iterations() * state.threads());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Client_GetPool4)
    ->Setup(open_shared_pool)
    ->Teardown(close_shared_pool)
    ->Threads(1)
    ->Threads(2)
    ->Threads(4)
    ->UseRealTime();

// --- batches
// --------------------------------------------------------------------------------------

constexpr std::size_t kBatch = 100;

// Building the Pipeline is inside the loop, as the raw baseline's redisAppendCommandArgv is.
void BM_Client_Pipeline100Set(benchmark::State& state) {
  guarded(state, [&] {
    auto client = make_client();
    const auto& keys = hot_keys();
    const std::string& value = value_100();
    Pipeline pipeline;
    std::size_t first = 0;
    for (auto _ : state) {
      pipeline.clear();
      for (std::size_t n = 0; n < kBatch; ++n)
        pipeline.add("SET", keys[(first + n) % keys.size()], value);
      std::vector<Reply> replies = client->execute(pipeline);
      benchmark::DoNotOptimize(replies);
      first += kBatch;
    }
  });
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
}
BENCHMARK(BM_Client_Pipeline100Set)->UseRealTime();

// The 100 keys of batch `b`, as views into hot_keys().
std::vector<std::string_view> batch_keys(std::size_t b) {
  const auto& keys = hot_keys();
  std::vector<std::string_view> views;
  views.reserve(kBatch);
  for (std::size_t n = 0; n < kBatch; ++n)
    views.emplace_back(keys[(b * kBatch + n) % keys.size()]);
  return views;
}

void BM_Client_Mget100(benchmark::State& state) {
  guarded(state, [&] {
    auto client = make_client();
    std::vector<std::vector<std::string_view>> batches;
    for (std::size_t b = 0; b < kHotKeyCount / kBatch; ++b)
      batches.push_back(batch_keys(b));
    std::size_t b = 0;
    for (auto _ : state) {
      auto values = client->mget(batches[b++ % batches.size()]);
      benchmark::DoNotOptimize(values);
    }
  });
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
}
BENCHMARK(BM_Client_Mget100)->UseRealTime();

void BM_Client_Sequential100Get(benchmark::State& state) {
  guarded(state, [&] {
    auto client = make_client();
    std::vector<std::vector<std::string_view>> batches;
    for (std::size_t b = 0; b < kHotKeyCount / kBatch; ++b)
      batches.push_back(batch_keys(b));
    std::size_t b = 0;
    for (auto _ : state) {
      for (const std::string_view key : batches[b++ % batches.size()]) {
        std::optional<std::string> value = client->get(key);
        benchmark::DoNotOptimize(value);
      }
    }
  });
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
}
BENCHMARK(BM_Client_Sequential100Get)->UseRealTime();

}  // namespace
}  // namespace airport::cache::bench
