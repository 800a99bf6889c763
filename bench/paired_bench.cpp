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

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
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

// What a CacheManager sends for TTLPreset::SearchResults (1 h; its jitter keeps the digits):
// the baselines of the manager's writes carry it too, so that the server's work is the same.
constexpr std::string_view kSearchResultsPx = "3600000";

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
        state, [&](std::size_t i) { raw.set(key_at(i), value_100(), kSearchResultsPx); },
        [&](std::size_t i) {
          benchmark::DoNotOptimize(manager->set(key_at(i), value_100(), TTLPreset::SearchResults));
        });
  });
}
BENCHMARK(BM_Paired_ManagerSet)->UseRealTime();

// mset of 100 items with the fallback on (the default: each item is also written through to
// it) and off, against the same 100 SET ... PX pipelined on one raw hiredis connection.
void manager_mset100(benchmark::State& state, bool fallback) {
  constexpr std::size_t batch = 100;
  guarded(state, [&] {
    RawConnection raw;
    ValkeyConfig config = quiet_config();
    config.fallback.enabled = fallback;
    CacheManager manager{config, CacheManagerOptions{.logger = quiet_logger()}};
    (void)manager.get(hot_keys().front());
    std::vector<std::pair<std::string_view, std::string_view>> items(batch);
    run_paired(
        state, [&](std::size_t i) { raw.pipeline_set(i * batch, batch, kSearchResultsPx); },
        [&](std::size_t i) {
          for (std::size_t n = 0; n < batch; ++n)
            items[n] = {key_at(i * batch + n), value_100()};
          benchmark::DoNotOptimize(manager.mset(items, TTLPreset::SearchResults));
        });
  });
}

void BM_Paired_ManagerMset100(benchmark::State& state) {
  manager_mset100(state, true);
}
BENCHMARK(BM_Paired_ManagerMset100)->UseRealTime();

void BM_Paired_ManagerMset100NoFallback(benchmark::State& state) {
  manager_mset100(state, false);
}
BENCHMARK(BM_Paired_ManagerMset100NoFallback)->UseRealTime();

// --- many callers: CacheManager with default settings against a pool of 16 raw connections ----
//
// The baseline is what redis-plus-plus's ConnectionPool does (not packaged here): a fixed set of
// hiredis connections behind a mutex and a condition variable, notified on every give-back.
// Paired by phases (PairedPhases, paired.hpp): all threads GET through the raw pool, then all
// through the CacheManager, alternating, so ratio_p50 is the manager's total GET throughput ÷
// the raw pool's. The manager keeps ValkeyConfig's default max_connections.

class RawPool {
 public:
  explicit RawPool(std::size_t size) {
    for (std::size_t n = 0; n < size; ++n)
      idle_.push_back(std::make_unique<RawConnection>());
  }
  /// GET on a free connection, waiting for one when all are lent.
  long long get(const std::string& key) {
    std::unique_ptr<RawConnection> connection;
    {
      std::unique_lock lock{mutex_};
      available_.wait(lock, [&] { return !idle_.empty(); });
      connection = std::move(idle_.back());
      idle_.pop_back();
    }
    long long length = -1;
    try {
      length = connection->get(key);
    } catch (...) {
      give_back(std::move(connection));
      throw;
    }
    give_back(std::move(connection));
    return length;
  }

 private:
  void give_back(std::unique_ptr<RawConnection> connection) {
    {
      const std::lock_guard lock{mutex_};
      idle_.push_back(std::move(connection));
    }
    available_.notify_one();
  }

  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<RawConnection>> idle_;
};

constexpr std::size_t kRawPoolSize = 16;
constexpr std::size_t kCallersBatch = 16;  // GETs per thread per phase

struct CallersRun {
  std::string error;  // why the run cannot start; empty when it can
  std::unique_ptr<RawPool> raw;
  std::unique_ptr<CacheManager> manager;
  std::unique_ptr<PairedPhases> phases;
};
std::unique_ptr<CallersRun> callers_run;

void open_callers_run(const benchmark::State& state) {
  callers_run = std::make_unique<CallersRun>();
  try {
    callers_run->raw = std::make_unique<RawPool>(kRawPoolSize);
    callers_run->manager = make_manager();
    callers_run->phases = std::make_unique<PairedPhases>(state.threads(), kCallersBatch);
  } catch (const std::exception& error) {
    callers_run->error = error.what();
  }
}

void close_callers_run(const benchmark::State&) {
  callers_run.reset();
}

void BM_Paired_ManagerDefaultsVsRawPool16(benchmark::State& state) {
  CallersRun& run = *callers_run;
  if (!run.error.empty()) {
    state.SkipWithError(run.error.c_str());
    return;
  }
  const auto key = [&](int thread, std::size_t i) -> const std::string& {
    return hot_key_of_thread(thread, state.threads(), i);
  };
  run.phases->run(
      state,
      [&](int thread, std::size_t i) { benchmark::DoNotOptimize(run.raw->get(key(thread, i))); },
      [&](int thread, std::size_t i) {
        benchmark::DoNotOptimize(run.manager->get(key(thread, i)));
      });
}
BENCHMARK(BM_Paired_ManagerDefaultsVsRawPool16)
    ->Setup(open_callers_run)
    ->Teardown(close_callers_run)
    ->Threads(16)
    ->Threads(64)
    ->UseRealTime();

// Cold start: constructing a CacheManager with default settings (health check on, CLIENT
// SETNAME) and its first completed GET, against a raw hiredis connect and one GET. Each side's
// teardown (redisFree; the manager's destructor) runs outside the timed part, which is what a
// service pays before its first answer. `mode` Auto (the default) asks the server whether it is
// a cluster before the first command can be routed; Off (VALKEY_CLUSTER=false) does not.
void cold_start_first_get(benchmark::State& state, ClusterMode mode) {
  guarded(state, [&] {
    ValkeyConfig config = server().config();
    config.log_level = LogLevel::Off;
    config.cluster.mode = mode;
    using Clock = PairedSamples::Clock;
    PairedSamples samples{static_cast<std::size_t>(state.max_iterations)};
    std::size_t i = 0;
    const auto raw_side = [&] {
      const auto start = Clock::now();
      auto raw = std::make_unique<RawConnection>();
      benchmark::DoNotOptimize(raw->get(key_at(i)));
      return std::pair{Clock::now() - start, std::move(raw)};
    };
    const auto manager_side = [&] {
      const auto start = Clock::now();
      auto manager =
          std::make_unique<CacheManager>(config, CacheManagerOptions{.logger = quiet_logger()});
      benchmark::DoNotOptimize(manager->get(key_at(i)));
      return std::pair{Clock::now() - start, std::move(manager)};
    };
    for (auto _ : state) {
      Clock::duration base_time{}, layer_time{};
      if (i % 2 == 0) {
        auto base = raw_side();
        auto layer = manager_side();
        base_time = base.first;
        layer_time = layer.first;
      } else {
        auto layer = manager_side();
        auto base = raw_side();
        base_time = base.first;
        layer_time = layer.first;
      }
      samples.add(base_time, layer_time);
      ++i;
    }
    samples.report(state);
  });
}

void BM_Paired_ColdStartFirstGet(benchmark::State& state) {
  cold_start_first_get(state, ClusterMode::Auto);
}
BENCHMARK(BM_Paired_ColdStartFirstGet)->UseRealTime();

void BM_Paired_ColdStartFirstGetStandalone(benchmark::State& state) {
  cold_start_first_get(state, ClusterMode::Off);
}
BENCHMARK(BM_Paired_ColdStartFirstGetStandalone)->UseRealTime();

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
