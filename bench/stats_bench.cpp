// SPDX-License-Identifier: BSD-3-Clause
// CacheStats: what the CacheManager pays to record one operation (its latency and a hit).
#include <airport/cache/stats.hpp>

#include <benchmark/benchmark.h>

#include <chrono>

namespace airport::cache::bench {
namespace {

// record_latency + record_hit, as CacheManager::get does after every call. Durations vary over
// a few buckets so the histogram is not one hot counter.
void BM_Stats_RecordGet(benchmark::State& state) {
  CacheStats stats;
  std::int64_t n = 0;
  for (auto _ : state) {
    stats.record_latency(Operation::Get, std::chrono::nanoseconds{25'000 + (n++ & 4095) * 8});
    stats.record_hit();
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Stats_RecordGet);

// The same with the two steady_clock reads the manager makes around each operation.
void BM_Stats_RecordGetWithClock(benchmark::State& state) {
  CacheStats stats;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    stats.record_latency(Operation::Get, std::chrono::steady_clock::now() - start);
    stats.record_hit();
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Stats_RecordGetWithClock);

// Two threads recording into one CacheStats: the hit counter's cache line is shared.
void BM_Stats_RecordGetShared(benchmark::State& state) {
  static CacheStats stats;
  std::int64_t n = state.thread_index();
  for (auto _ : state) {
    stats.record_latency(Operation::Get, std::chrono::nanoseconds{25'000 + (n++ & 4095) * 8});
    stats.record_hit();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Stats_RecordGetShared)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace airport::cache::bench
