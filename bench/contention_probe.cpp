// SPDX-License-Identifier: BSD-3-Clause
// Whether two threads sharing one FallbackCache are slower than one, measured only while the
// machine really runs two threads at once. On a shared VM the second CPU comes and goes; two
// threads that take turns on one CPU never contend, and would make any cache look fine.
//
// Each round: a capacity check (two independent ALU threads against one), then gets from one
// thread and from two threads on a hot set (1k keys) and uniformly over 100k keys, then the
// capacity check again. Rounds where either check is below 1.8x are dropped. Prints one JSON
// object with every kept round.
//   airport_cache_bench_contention [seconds=30] [rounds=5]
#include <airport/cache/fallback_cache.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using airport::cache::FallbackCache;
using airport::cache::FallbackOptions;

constexpr std::size_t kEntries = 100'000;
constexpr std::string_view kKeyHead = "flight:search:LAX:JFK:2024-01-15:";

std::atomic<std::uint64_t> sink{0};

// Runs body(thread) on `threads` threads at once and returns the wall time.
template <class Body>
double run_threads(int threads, Body body) {
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  for (int t = 1; t < threads; ++t)
    workers.emplace_back(body, t);
  body(0);
  for (auto& worker : workers)
    worker.join();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Throughput of two independent register-only threads relative to one: ~2 when two CPUs are
// free, ~1 when the threads take turns.
double capacity() {
  const auto work = [](int thread) {
    std::uint64_t x = static_cast<std::uint64_t>(thread) + 1;
    for (int i = 0; i < 20'000'000; ++i)
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    sink += x;
  };
  const double one = run_threads(1, work);
  const double two = run_threads(2, work);
  return 2 * one / two;
}

// Total gets per second of `threads` threads sharing `cache` for `duration`.
double gets_per_second(FallbackCache& cache, std::size_t span, int threads,
                       Clock::duration duration) {
  std::atomic<std::uint64_t> total{0};
  const double seconds = run_threads(threads, [&](int thread) {
    std::uint64_t state = 0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(thread + 1);
    std::string key;
    key.reserve(64);
    std::uint64_t done = 0;
    const auto stop = Clock::now() + duration;
    while (Clock::now() < stop) {
      for (int n = 0; n < 1000; ++n) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        const std::size_t i = static_cast<std::size_t>(state >> 33) % span;
        key.assign(kKeyHead);
        std::array<char, 24> digits{};
        key.append(digits.data(),
                   std::to_chars(digits.data(), digits.data() + digits.size(), i).ptr);
        done += cache.get(key) ? 1 : 0;
      }
    }
    total += done;
  });
  return static_cast<double>(total.load()) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const double budget_seconds = argc > 1 ? std::stod(argv[1]) : 30.0;
  const int wanted_rounds = argc > 2 ? std::stoi(argv[2]) : 5;

  FallbackCache cache{FallbackOptions{.max_entries = 2 * kEntries, .max_bytes = 512u << 20}};
  const std::string value(100, 'v');
  for (std::size_t i = 0; i < kEntries; ++i)
    cache.set(std::string{kKeyHead} + std::to_string(i), value, 1h);

  const auto give_up = Clock::now() + std::chrono::duration<double>(budget_seconds);
  int tried = 0, kept = 0;
  std::cout << "{\"rounds\": [";
  while (kept < wanted_rounds && Clock::now() < give_up) {
    ++tried;
    const double before = capacity();
    if (before < 1.8)
      continue;
    const double hot_one = gets_per_second(cache, 1000, 1, 150ms);
    const double hot_two = gets_per_second(cache, 1000, 2, 150ms);
    const double uniform_one = gets_per_second(cache, kEntries, 1, 150ms);
    const double uniform_two = gets_per_second(cache, kEntries, 2, 150ms);
    const double after = capacity();
    if (after < 1.8)
      continue;
    std::cout << (kept++ > 0 ? ", " : "") << "{\"capacity_before\": " << before
              << ", \"capacity_after\": " << after << ", \"hot_one\": " << hot_one
              << ", \"hot_two\": " << hot_two << ", \"uniform_one\": " << uniform_one
              << ", \"uniform_two\": " << uniform_two << "}";
  }
  std::cout << "], \"rounds_tried\": " << tried << ", \"budget_seconds\": " << budget_seconds
            << "}\n";
  return 0;
}
