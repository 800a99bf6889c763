// SPDX-License-Identifier: BSD-3-Clause
// What a FallbackCache really costs in memory against what it accounts for: fills a fresh cache
// in a fresh process and compares the resident-set growth (/proc/self/statm) with bytes().
// Prints one JSON object. Run once per configuration; a second fill in the same process would
// reuse freed heap and understate the growth.
//   airport_cache_bench_memory [entries=100000] [value_bytes=100]
#include <airport/cache/fallback_cache.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

namespace {

// Resident bytes of this process: statm's second field, in pages.
long long resident_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  long long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace airport::cache;
  const std::size_t entries = argc > 1 ? std::stoul(argv[1]) : 100'000;
  const std::size_t value_bytes = argc > 2 ? std::stoul(argv[2]) : 100;

  const std::string value(value_bytes, 'v');
  std::string key;
  key.reserve(64);  // one buffer for every key: the loop itself allocates nothing

  // Generous bounds, so that every entry stays and nothing is evicted.
  FallbackCache cache{
      FallbackOptions{.max_entries = 2 * entries, .max_bytes = std::size_t{1} << 34}};
  const long long before = resident_bytes();
  std::size_t key_bytes = 0;
  for (std::size_t i = 0; i < entries; ++i) {
    key.assign("flight:search:LAX:JFK:2024-01-15:");
    key.append(std::to_string(i));
    key_bytes += key.size();
    cache.set(key, value, std::chrono::hours{1});
  }
  const long long after = resident_bytes();
  const long long delta = after - before;
  const std::size_t accounted = cache.bytes();

  std::cout << "{\"entries\": " << cache.size() << ", \"value_bytes\": " << value_bytes
            << ", \"key_bytes_avg\": "
            << static_cast<double>(key_bytes) / static_cast<double>(entries)
            << ", \"rss_before\": " << before << ", \"rss_after\": " << after
            << ", \"rss_delta\": " << delta << ", \"accounted_bytes\": " << accounted
            << ", \"accounted_over_rss\": "
            << (delta > 0 ? static_cast<double>(accounted) / static_cast<double>(delta) : 0.0)
            << "}\n";
  return cache.size() == entries ? 0 : 1;
}
