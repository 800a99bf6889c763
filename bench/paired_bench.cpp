// SPDX-License-Identifier: BSD-3-Clause
// Paired comparisons for the headline ratios. Every iteration runs the baseline call and the
// layer call back to back, in alternating order, and times each on its own. Both then see the
// same machine state (scheduler, CPU placement of the server, background load), which on a
// shared 2-CPU machine moves a loopback round trip between ~10 and ~30 µs from one second to the
// next; separately run benchmarks would compare different weather.
//
// The sampling and its counters are in paired.hpp.
#include <airport/cache/manager.hpp>
#include <airport/cache/valkey_client.hpp>

#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_support.hpp"
#include "paired.hpp"

namespace airport::cache::bench {
namespace {

std::unique_ptr<ValkeyClient> make_client() {
  auto client =
      std::make_unique<ValkeyClient>(quiet_config(), ClientOptions{.logger = quiet_logger()});
  (void)client->get(hot_keys().front());
  return client;
}

std::unique_ptr<CacheManager> make_manager() {
  auto manager =
      std::make_unique<CacheManager>(quiet_config(), CacheManagerOptions{.logger = quiet_logger()});
  (void)manager->get(hot_keys().front());
  return manager;
}

const std::string& key_at(std::size_t i) {
  return hot_keys()[i % kHotKeyCount];
}

void BM_Paired_ClientGet(benchmark::State& state) {
  guarded(state, [&] {
    RawConnection raw;
    auto client = make_client();
    run_paired(
        state, [&](std::size_t i) { benchmark::DoNotOptimize(raw.get(key_at(i))); },
        [&](std::size_t i) { benchmark::DoNotOptimize(client->get(key_at(i))); });
  });
}
BENCHMARK(BM_Paired_ClientGet)->UseRealTime();

void BM_Paired_ClientSet(benchmark::State& state) {
  guarded(state, [&] {
    RawConnection raw;
    auto client = make_client();
    run_paired(
        state, [&](std::size_t i) { raw.set(key_at(i), value_100()); },
        [&](std::size_t i) { benchmark::DoNotOptimize(client->set(key_at(i), value_100())); });
  });
}
BENCHMARK(BM_Paired_ClientSet)->UseRealTime();

void BM_Paired_ClientPipeline100Set(benchmark::State& state) {
  constexpr std::size_t batch = 100;
  guarded(state, [&] {
    RawConnection raw;
    auto client = make_client();
    Pipeline pipeline;
    run_paired(
        state, [&](std::size_t i) { raw.pipeline_set(i * batch, batch); },
        [&](std::size_t i) {
          pipeline.clear();
          for (std::size_t n = 0; n < batch; ++n)
            pipeline.add("SET", key_at(i * batch + n), value_100());
          benchmark::DoNotOptimize(client->execute(pipeline));
        });
  });
}
BENCHMARK(BM_Paired_ClientPipeline100Set)->UseRealTime();

// Baseline: the same 100 keys as 100 sequential GETs through the same client.
void BM_Paired_Mget100(benchmark::State& state) {
  constexpr std::size_t batch = 100;
  guarded(state, [&] {
    auto client = make_client();
    std::vector<std::string_view> keys(batch);
    const auto fill = [&](std::size_t i) {
      for (std::size_t n = 0; n < batch; ++n)
        keys[n] = key_at(i * batch + n);
    };
    run_paired(
        state,
        [&](std::size_t i) {
          fill(i);
          for (const std::string_view key : keys)
            benchmark::DoNotOptimize(client->get(key));
        },
        [&](std::size_t i) {
          fill(i);
          benchmark::DoNotOptimize(client->mget(keys));
        });
  });
}
BENCHMARK(BM_Paired_Mget100)->UseRealTime();

void BM_Paired_ManagerGetHit(benchmark::State& state) {
  guarded(state, [&] {
    RawConnection raw;
    auto manager = make_manager();
    run_paired(
        state, [&](std::size_t i) { benchmark::DoNotOptimize(raw.get(key_at(i))); },
        [&](std::size_t i) { benchmark::DoNotOptimize(manager->get(key_at(i))); });
  });
}
BENCHMARK(BM_Paired_ManagerGetHit)->UseRealTime();

void BM_Paired_ManagerSet(benchmark::State& state) {
  guarded(state, [&] {
    RawConnection raw;
    auto manager = make_manager();
    run_paired(
        state, [&](std::size_t i) { raw.set(key_at(i), value_100()); },
        [&](std::size_t i) {
          benchmark::DoNotOptimize(manager->set(key_at(i), value_100(), TTLPreset::SearchResults));
        });
  });
}
BENCHMARK(BM_Paired_ManagerSet)->UseRealTime();

// Baseline: a plain CacheManager GET hit (not raw hiredis).
void BM_Paired_GetOrComputeHit(benchmark::State& state) {
  guarded(state, [&] {
    auto manager = make_manager();
    std::size_t loads = 0;
    run_paired(
        state, [&](std::size_t i) { benchmark::DoNotOptimize(manager->get(key_at(i))); },
        [&](std::size_t i) {
          benchmark::DoNotOptimize(
              manager->get_or_compute(key_at(i), TTLPreset::SearchResults, [&] {
                ++loads;
                return value_100();
              }));
        });
    if (loads != 0)
      state.SkipWithError("get_or_compute ran the loader on a pre-filled key");
  });
}
BENCHMARK(BM_Paired_GetOrComputeHit)->UseRealTime();

}  // namespace
}  // namespace airport::cache::bench
