// Paired comparisons for the headline ratios. Every iteration runs the baseline call and the
// layer call back to back, in alternating order, and times each on its own. Both then see the
// same machine state (scheduler, CPU placement of the server, background load), which on a
// shared 2-CPU machine moves a loopback round trip between ~10 and ~30 µs from one second to the
// next; separately run benchmarks would compare different weather.
//
// Counters: base_p50_ns / layer_p50_ns (median call), ratio_p50 = base_p50 / layer_p50 (the
// layer's throughput relative to the baseline: 1.0 is parity, above 1 is faster), and the same
// for the means (base_mean_ns, layer_mean_ns, ratio_mean).
#include <airport/cache/manager.hpp>
#include <airport/cache/valkey_client.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include "bench_support.hpp"

namespace airport::cache::bench {
namespace {

using Clock = std::chrono::steady_clock;

class PairedSamples {
 public:
  explicit PairedSamples(std::size_t expected) {
    base_.reserve(expected);
    layer_.reserve(expected);
  }
  void add(Clock::duration base, Clock::duration layer) {
    base_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(base).count());
    layer_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(layer).count());
  }
  void report(benchmark::State& state) {
    if (base_.empty())
      return;
    const double base_mean = mean(base_), layer_mean = mean(layer_);
    const double base_p50 = median(base_), layer_p50 = median(layer_);
    state.counters["base_p50_ns"] = base_p50;
    state.counters["layer_p50_ns"] = layer_p50;
    state.counters["ratio_p50"] = base_p50 / layer_p50;
    state.counters["base_mean_ns"] = base_mean;
    state.counters["layer_mean_ns"] = layer_mean;
    state.counters["ratio_mean"] = base_mean / layer_mean;
  }

 private:
  static double mean(const std::vector<long long>& values) {
    return static_cast<double>(std::accumulate(values.begin(), values.end(), 0LL)) /
           static_cast<double>(values.size());
  }
  static double median(std::vector<long long>& values) {
    auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
    std::nth_element(values.begin(), middle, values.end());
    return static_cast<double>(*middle);
  }
  std::vector<long long> base_;
  std::vector<long long> layer_;
};

template <class Call>
Clock::duration timed(Call& call, std::size_t i) {
  const auto start = Clock::now();
  call(i);
  return Clock::now() - start;
}

// Runs `base(i)` and `layer(i)` once per iteration, alternating which goes first.
template <class Base, class Layer>
void run_paired(benchmark::State& state, Base base, Layer layer) {
  PairedSamples samples{static_cast<std::size_t>(state.max_iterations)};
  std::size_t i = 0;
  for (auto _ : state) {
    Clock::duration base_time{}, layer_time{};
    if (i % 2 == 0) {
      base_time = timed(base, i);
      layer_time = timed(layer, i);
    } else {
      layer_time = timed(layer, i);
      base_time = timed(base, i);
    }
    samples.add(base_time, layer_time);
    ++i;
  }
  samples.report(state);
}

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
