// SPDX-License-Identifier: BSD-3-Clause
// Calibration of the machine the numbers come from, measured in the same run: how much a second
// thread adds to independent CPU work, what one random memory load costs and what one read of
// the steady clock costs. They explain the thread-scaling, cold-cache and TTL-check costs of the
// library benchmarks.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace airport::cache::bench {
namespace {

// Per thread: a chain of 64 dependent multiply-adds in registers, nothing shared, no memory
// traffic. On a machine with N free CPUs, N threads give N times the ops/s; below that, the
// second thread only gets what the host and the other processes leave.
void BM_Machine_IndependentWork(benchmark::State& state) {
  std::uint64_t x = static_cast<std::uint64_t>(state.thread_index()) + 1;
  for (auto _ : state) {
    for (int step = 0; step < 64; ++step)
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    benchmark::DoNotOptimize(x);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Machine_IndependentWork)->Threads(1)->Threads(2)->UseRealTime();

// One dependent load at a random place in a 32 MiB table (pointer chase): the price of a cache
// and TLB miss, the floor of any lookup in a cold 100k-entry cache.
void BM_Machine_RandomLoad32MiB(benchmark::State& state) {
  struct alignas(64) Line {
    std::uint32_t next = 0;
  };
  constexpr std::size_t lines = (32u << 20) / sizeof(Line);
  std::vector<std::uint32_t> order(lines);
  std::iota(order.begin(), order.end(), 0u);
  std::shuffle(order.begin(), order.end(), std::mt19937_64{42});
  std::vector<Line> table(lines);
  for (std::size_t i = 0; i < lines; ++i)
    table[order[i]].next = order[(i + 1) % lines];
  std::uint32_t at = order[0];
  for (auto _ : state) {
    at = table[at].next;
    benchmark::DoNotOptimize(at);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Machine_RandomLoad32MiB);

// One std::chrono::steady_clock::now(): what a TTL check costs on top of the lookup (the
// fallback reads it on every get of an entry that has a TTL) and what timing one call costs.
void BM_Machine_SteadyClockNow(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(std::chrono::steady_clock::now());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Machine_SteadyClockNow);

}  // namespace
}  // namespace airport::cache::bench
