// SPDX-License-Identifier: BSD-3-Clause
// The connection pool: a bounded wait when exhausted, and many threads sharing few connections.
#include <gtest/gtest.h>
#include <airport/cache/errors.hpp>
#include <airport/cache/valkey_client.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "support/server.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::ServerProcess;

TEST(ClientPool, ExhaustionThrowsPoolExhaustedErrorAfterTheWaitTimeout) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.max_connections = 2;
  config.pool_timeout = 200ms;
  ValkeyClient client{config, {.health_check = false}};
  auto first = client.session();
  auto second = client.session();
  const auto start = std::chrono::steady_clock::now();
  try {
    (void)client.get("k");
    FAIL() << "a third borrower got a connection from a pool of 2";
  } catch (const PoolExhaustedError& error) {
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_GE(waited, 190ms);
    EXPECT_LT(waited, 2s);
    EXPECT_NE(std::string{error.what()}.find("GET"), std::string::npos) << error.what();
    EXPECT_NE(std::string{error.what()}.find(config.endpoint()), std::string::npos);
  }
  second.reset();  // a returned connection is lent again at once
  EXPECT_EQ(client.get("k"), std::nullopt);
}

TEST(ClientPool, AWaitingBorrowerGetsTheConnectionReturnedMeanwhile) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.max_connections = 1;
  config.pool_timeout = 2s;
  ValkeyClient client{config, {.health_check = false}};
  auto held = client.session();
  std::thread releaser{[&] {
    std::this_thread::sleep_for(50ms);  // let the main thread start waiting
    held.reset();
  }};
  EXPECT_NO_THROW((void)client.get("k"));
  releaser.join();
}

TEST(ClientPool, EightThreadsShareFourConnectionsCorrectly) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.max_connections = 4;
  config.pool_timeout = 5s;
  ValkeyClient client{config, {.health_check = false}};
  constexpr int threads = 8, operations = 300;
  std::vector<std::thread> workers;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < operations; ++i) {
        const std::string key = "t" + std::to_string(t) + ":" + std::to_string(i % 10);
        const std::string value = std::to_string(t * 100000 + i);
        client.set(key, value);
        if (client.get(key) != value)
          ++mismatches;
        client.incr("total");
      }
    });
  }
  for (auto& worker : workers)
    worker.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(server.client().get("total"), std::to_string(threads * operations));
  EXPECT_LE(client.health().pool_open, 4u);
  EXPECT_GE(client.health().pool_open, 1u);
  // The server agrees: at most 4 connections of ours (plus the admin one asking).
  const std::string list = server.client().command({"CLIENT", "LIST"});
  const auto ours = std::count_if(list.begin(), list.end(), [](char c) { return c == '\n'; });
  EXPECT_LE(ours, 5) << list;
}

// Guards give_back's notify, which fires only when someone waits. A waiter whose wake-up was
// lost still gets a connection, but only when its pool_timeout runs out (it then finds one idle):
// its call takes pool_timeout instead of the milliseconds a fair turn takes among 32 callers.
TEST(ClientPool, ThirtyTwoThreadsOnTwoConnectionsAllCompleteWithoutALostWakeup) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.max_connections = 2;
  config.pool_timeout = 10s;
  ValkeyClient client{config, {.health_check = false}};
  constexpr int threads = 32, operations = 500;
  std::vector<std::thread> workers;
  std::atomic<int> failures{0};
  std::mutex slowest_mutex;
  std::chrono::steady_clock::duration slowest{};
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      std::chrono::steady_clock::duration longest{};
      for (int i = 0; i < operations; ++i) {
        const auto start = std::chrono::steady_clock::now();
        try {
          client.incr("total");
        } catch (const Error&) {
          ++failures;
        }
        longest = std::max(longest, std::chrono::steady_clock::now() - start);
      }
      const std::lock_guard lock{slowest_mutex};
      slowest = std::max(slowest, longest);
    });
  }
  for (auto& worker : workers)
    worker.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(server.client().get("total"), std::to_string(threads * operations));
  EXPECT_LT(slowest, config.pool_timeout / 2)
      << "a call waited " << std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count()
      << " ms: a waiter slept until its pool_timeout";
  EXPECT_LE(client.health().pool_open, 2u);
}

}  // namespace
}  // namespace airport::cache
