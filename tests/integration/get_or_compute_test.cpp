// SPDX-License-Identifier: BSD-3-Clause
// get_or_compute: single flight in one process, the rebuild lock across processes, loader errors,
// negative caching and XFetch early refresh, against a real server.
#include <gtest/gtest.h>
#include <airport/cache/manager.hpp>

#include <thread>

#include "support/server.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::ServerProcess;

TEST(GetOrCompute, ThirtyTwoThreadsOnOneColdKeyRunTheLoaderOnce) {
  ServerProcess server;
  CacheManager cache{server.config()};
  std::atomic<int> loads{0};
  std::vector<std::thread> threads;
  std::vector<std::string> results(32);
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&, i] {
      results[i] = cache.get_or_compute("search:LAX:JFK", 60s, [&] {
        ++loads;
        std::this_thread::sleep_for(100ms);  // a slow database query
        return std::string{"flights"};
      });
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(loads.load(), 1);
  for (const auto& result : results)
    EXPECT_EQ(result, "flights");
  EXPECT_EQ(server.client().get("search:LAX:JFK"), "flights");
}

TEST(GetOrCompute, TwoManagersWithTheRebuildLockRunTheLoaderOnceAcrossBoth) {
  ServerProcess server;
  CacheManager first{server.config()}, second{server.config()};
  std::atomic<int> loads{0};
  const ComputeOptions options{.rebuild_lock = true, .lock_ttl = 5s, .lock_wait = 5s};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    CacheManager& cache = i % 2 == 0 ? first : second;
    threads.emplace_back([&] {
      const int value = cache.get_or_compute(
          "report", 60s,
          [&] {
            ++loads;
            std::this_thread::sleep_for(200ms);
            return 42;
          },
          options);
      EXPECT_EQ(value, 42);
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(loads.load(), 1);
  EXPECT_EQ(server.client().get("report:rebuild-lock"), std::nullopt) << "the lock is released";
}

TEST(GetOrCompute, ALoaderExceptionReachesEveryWaiterAndNothingIsCached) {
  ServerProcess server;
  CacheManager cache{server.config()};
  std::atomic<int> loads{0}, caught{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      try {
        cache.get_or_compute("k", 60s, [&]() -> std::string {
          ++loads;
          std::this_thread::sleep_for(100ms);
          throw std::runtime_error("database down");
        });
      } catch (const std::runtime_error& error) {
        if (std::string{error.what()} == "database down")
          ++caught;
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(loads.load(), 1);
  EXPECT_EQ(caught.load(), 8);
  EXPECT_EQ(server.client().get("k"), std::nullopt);
  EXPECT_EQ(cache.get_or_compute("k", 60s, [] { return std::string{"ok"}; }), "ok");
}

TEST(GetOrCompute, NotFoundIsCachedOnlyWhenNegativeCachingIsOn) {
  ServerProcess server;
  CacheManager cache{server.config()};
  int loads = 0;
  const auto missing = [&]() -> std::optional<int> {
    ++loads;
    return std::nullopt;
  };
  EXPECT_EQ(cache.get_or_compute("gone", 60s, missing), std::nullopt);
  EXPECT_EQ(cache.get_or_compute("gone", 60s, missing), std::nullopt);
  EXPECT_EQ(loads, 2);
  const ComputeOptions negative{.negative_ttl = 30s};
  EXPECT_EQ(cache.get_or_compute("gone", 60s, missing, negative), std::nullopt);
  EXPECT_EQ(cache.get_or_compute("gone", 60s, missing, negative), std::nullopt);
  EXPECT_EQ(loads, 3);
  // The "not found" lives beside the value, never in it: get() and exists() do not see it.
  const auto marker_ttl = cache.ttl("gone:not-found");
  ASSERT_TRUE(marker_ttl.has_value());
  EXPECT_LE(*marker_ttl, 30s);
  EXPECT_EQ(cache.get("gone"), std::nullopt);
  EXPECT_FALSE(cache.exists("gone"));
  EXPECT_EQ(server.client().get("gone"), std::nullopt);
}

TEST(GetOrCompute, XFetchRefreshesAHotKeyBeforeItExpires) {
  ServerProcess server;
  CacheManager cache{server.config()};
  int loads = 0;
  const auto loader = [&] {
    ++loads;
    std::this_thread::sleep_for(5ms);
    return loads;
  };
  EXPECT_EQ(cache.get_or_compute("hot", 60s, loader), 1);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(cache.get_or_compute("hot", 60s, loader), 1);
  EXPECT_EQ(loads, 1) << "without early refresh a cached key is served until it expires";
  // A huge beta makes the XFetch draw refresh on every read (delta * beta >> remaining TTL).
  const ComputeOptions eager{.early_refresh_beta = 1e9};
  EXPECT_EQ(cache.get_or_compute("hot", 60s, loader, eager), 2);
  EXPECT_EQ(loads, 2);
  EXPECT_EQ(cache.get<int>("hot"), 2);
}

}  // namespace
}  // namespace airport::cache
