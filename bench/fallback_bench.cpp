// SPDX-License-Identifier: BSD-3-Clause
// FallbackCache on its own: get and set with 100k entries of 100-byte values, on 1 and 2
// threads sharing one cache, against a hot set and uniformly; plus 2 threads with a cache each
// as the control for what sharing costs.
#include <airport/cache/fallback_cache.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "bench_support.hpp"

namespace airport::cache::bench {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kEntries = 100'000;

// Room for every entry, so the benchmark measures lookups, not evictions.
std::unique_ptr<FallbackCache> filled_cache() {
  auto cache = std::make_unique<FallbackCache>(
      FallbackOptions{.max_entries = 2 * kEntries, .max_bytes = 512 * 1024 * 1024});
  for (std::size_t i = 0; i < kEntries; ++i)
    cache->set(search_key(i), value_100(), 1h);
  return cache;
}

std::unique_ptr<FallbackCache> shared_cache;

void fill_shared_cache(const benchmark::State&) {
  shared_cache = filled_cache();
}
void drop_shared_cache(const benchmark::State&) {
  shared_cache.reset();
}

// A cheap per-thread pseudo-random walk over the entries (an LCG), so lookups land anywhere in
// the 100k entries instead of streaming through memory in order. `span` limits the walk to the
// first `span` entries: a hot set.
struct KeyWalk {
  KeyWalk(int thread, std::size_t walk_span)
      : state{0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(thread + 1)}, span{walk_span} {
    key.reserve(64);
  }
  // The key of the next entry, built in place as a caller builds its key: the bytes are hot in
  // L1, not one more cache miss on a 100k-string table.
  std::string_view next() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const std::size_t i = static_cast<std::size_t>(state >> 33) % span;
    key.assign(kKeyHead);
    std::array<char, 24> digits{};
    const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), i).ptr;
    key.append(digits.data(), end);
    return key;
  }
  static constexpr std::string_view kKeyHead = "flight:search:LAX:JFK:2024-01-15:";
  std::uint64_t state;
  std::size_t span;
  std::string key;
};

// Looks up pre-filled keys; every lookup must hit. range(0) is the size of the key set walked.
void BM_Fallback_Get(benchmark::State& state) {
  FallbackCache& cache = *shared_cache;
  KeyWalk walk{state.thread_index(), static_cast<std::size_t>(state.range(0))};
  std::size_t misses = 0;
  for (auto _ : state) {
    std::optional<std::string> value = cache.get(walk.next());
    misses += value ? 0 : 1;
    benchmark::DoNotOptimize(value);
  }
  if (misses != 0)
    state.SkipWithError("a pre-filled key missed");
  state.SetItemsProcessed(state.iterations());
}
// Uniform over all 100k entries (~23 MB: every get misses the CPU caches), and over a hot set
// of 1,000 of them (cache-resident, as skewed real traffic mostly is).
BENCHMARK(BM_Fallback_Get)
    ->Setup(fill_shared_cache)
    ->Teardown(drop_shared_cache)
    ->ArgName("keys")
    ->Arg(static_cast<std::int64_t>(kEntries))
    ->Arg(1000)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

// The control for the 2-thread rows above: each thread gets a cache of its own, filled the same
// way, so nothing is shared. Shared ÷ unshared throughput is the cost of sharing one cache; the
// unshared row is the most two threads can do on this machine.
std::unique_ptr<FallbackCache> unshared_caches[2];

void fill_unshared_caches(const benchmark::State&) {
  for (auto& cache : unshared_caches)
    cache = filled_cache();
}
void drop_unshared_caches(const benchmark::State&) {
  for (auto& cache : unshared_caches)
    cache.reset();
}

void BM_Fallback_GetUnshared(benchmark::State& state) {
  FallbackCache& cache = *unshared_caches[state.thread_index() % 2];
  KeyWalk walk{state.thread_index(), static_cast<std::size_t>(state.range(0))};
  for (auto _ : state) {
    std::optional<std::string> value = cache.get(walk.next());
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Fallback_GetUnshared)
    ->Setup(fill_unshared_caches)
    ->Teardown(drop_unshared_caches)
    ->ArgName("keys")
    ->Arg(static_cast<std::int64_t>(kEntries))
    ->Arg(1000)
    ->Threads(2)
    ->UseRealTime();

// Replaces existing entries with a fresh 100-byte value and a TTL, uniformly over all of them.
void BM_Fallback_Set(benchmark::State& state) {
  FallbackCache& cache = *shared_cache;
  const std::string& value = value_100();
  KeyWalk walk{state.thread_index(), kEntries};
  for (auto _ : state) {
    bool stored = cache.set(walk.next(), value, 1h);
    benchmark::DoNotOptimize(stored);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Fallback_Set)
    ->Setup(fill_shared_cache)
    ->Teardown(drop_shared_cache)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

}  // namespace
}  // namespace airport::cache::bench
