// SPDX-License-Identifier: BSD-3-Clause
// Degradation in proportion to the fault (issue 15): with default settings, a 1 s SIGSTOP under
// a service's steady write load costs about as long as the pause, not a whole recovery_timeout,
// and after a kill and restart writes and health() are back within 2 s of the server answering.
#include <gtest/gtest.h>
#include <airport/cache/manager.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <latch>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::ServerProcess;
using testing::wait_until;
using Steady = std::chrono::steady_clock;
using Milliseconds = std::chrono::milliseconds;

constexpr int kThreads = 8;
constexpr auto kInterval = 1ms;  // 1,000 sets/s per thread

// Default settings except what a test must set: where the server is.
ValkeyConfig default_config(const ServerProcess& server) {
  ValkeyConfig config;
  config.host = server.host();
  config.port = server.port();
  return config;
}

// What the writers saw, merged over every thread. Times are since the writers' start.
struct WriteLog {
  std::uint64_t writes = 0;
  std::uint64_t failed = 0;
  Steady::duration first_failed_start = Steady::duration::max();
  Steady::duration last_failed_end = Steady::duration::min();
  Steady::duration slowest{0};

  [[nodiscard]] Milliseconds failed_span() const {
    if (failed == 0)
      return Milliseconds{0};
    return std::chrono::ceil<Milliseconds>(last_failed_end - first_failed_start);
  }
  [[nodiscard]] double failed_share() const {
    return writes == 0 ? 0.0 : static_cast<double>(failed) / static_cast<double>(writes);
  }
};

// kThreads writers, each on a fixed schedule of one set per kInterval: a late call does not
// move the schedule, so the ones behind it go out back to back, as queued requests would.
class PacedWriters {
 public:
  explicit PacedWriters(CacheManager& cache) : cache_{cache} {
    for (int t = 0; t < kThreads; ++t)
      threads_.emplace_back([this, t] { run(t); });
    start_latch_.arrive_and_wait();
  }
  ~PacedWriters() { stop(); }
  PacedWriters(const PacedWriters&) = delete;
  PacedWriters& operator=(const PacedWriters&) = delete;

  [[nodiscard]] Steady::time_point start() const { return start_; }

  // Writes that begin from now on count for first_success_after_mark().
  void mark() { mark_.store((Steady::now() - start_).count()); }

  // When the first successful write that began after mark() returned, since start(); nullopt
  // while there is none.
  [[nodiscard]] std::optional<Steady::duration> first_success_after_mark() const {
    const auto first = first_success_after_mark_.load();
    if (first == Steady::duration::max().count())
      return std::nullopt;
    return Steady::duration{first};
  }

  WriteLog stop() {
    stop_.store(true);
    for (auto& thread : threads_) {
      if (thread.joinable())
        thread.join();
    }
    const std::lock_guard lock{mutex_};
    return log_;
  }

 private:
  void run(int t) {
    start_latch_.arrive_and_wait();
    WriteLog mine;
    auto next = start_;
    for (std::uint64_t i = 0; !stop_.load(std::memory_order_relaxed); ++i) {
      std::this_thread::sleep_until(next);
      next += kInterval;
      const std::string key = "pd:" + std::to_string(t) + ":" + std::to_string(i % 1000);
      const auto began = Steady::now() - start_;
      const bool ok = cache_.set(key, "value", 60s);
      const auto ended = Steady::now() - start_;
      ++mine.writes;
      mine.slowest = std::max(mine.slowest, ended - began);
      if (ok) {
        if (began.count() >= mark_.load(std::memory_order_relaxed)) {
          auto first = first_success_after_mark_.load();
          while (ended.count() < first &&
                 !first_success_after_mark_.compare_exchange_weak(first, ended.count())) {
          }
        }
      } else {
        ++mine.failed;
        mine.first_failed_start = std::min(mine.first_failed_start, began);
        mine.last_failed_end = std::max(mine.last_failed_end, ended);
      }
    }
    const std::lock_guard lock{mutex_};
    log_.writes += mine.writes;
    log_.failed += mine.failed;
    log_.first_failed_start = std::min(log_.first_failed_start, mine.first_failed_start);
    log_.last_failed_end = std::max(log_.last_failed_end, mine.last_failed_end);
    log_.slowest = std::max(log_.slowest, mine.slowest);
  }

  CacheManager& cache_;
  // The main thread arrives too, so that start_ is set before anyone reads it.
  std::latch start_latch_{kThreads + 1};
  const Steady::time_point start_ = Steady::now() + 50ms;
  std::atomic<bool> stop_{false};
  std::atomic<Steady::duration::rep> mark_{Steady::duration::max().count()};
  std::atomic<Steady::duration::rep> first_success_after_mark_{Steady::duration::max().count()};
  std::mutex mutex_;
  WriteLog log_;
  std::vector<std::thread> threads_;
};

Milliseconds ms(Steady::duration duration) {
  return std::chrono::duration_cast<Milliseconds>(duration);
}

TEST(ProportionalDegradation, AOneSecondPauseCostsAtMostTwoSecondsOfFailedWrites) {
  ServerProcess server;
  const ValkeyConfig config = default_config(server);
  CacheManager cache{config};
  ASSERT_TRUE(cache.set("warm", "up", 60s));

  PacedWriters writers{cache};
  std::this_thread::sleep_until(writers.start() + 3s);
  server.pause();
  const auto paused_at = Steady::now() - writers.start();
  std::this_thread::sleep_for(1s);
  server.resume();
  const auto resumed_at = Steady::now() - writers.start();
  std::this_thread::sleep_until(writers.start() + 10s);
  const WriteLog log = writers.stop();
  const StatsSnapshot stats = cache.stats();

  std::cout << "[ measure  ] paused " << ms(paused_at).count() << "-" << ms(resumed_at).count()
            << " ms: " << log.failed << " of " << log.writes << " sets failed ("
            << 100.0 * log.failed_share() << "%), failed from "
            << (log.failed ? ms(log.first_failed_start).count() : 0) << " to "
            << (log.failed ? ms(log.last_failed_end).count() : 0) << " ms (span "
            << log.failed_span().count() << " ms), slowest set " << ms(log.slowest).count()
            << " ms; breaker opened " << stats.circuit.opened << "x, closed "
            << stats.circuit.closed << "x, now " << to_string(stats.circuit.state) << "\n";
  EXPECT_LE(log.failed_span(), 2s);
  EXPECT_LE(log.failed_share(), 0.25);
  // One set never takes much longer than its deadline: a paused server costs each caller at
  // most the operation timeout (500 ms by default), retries included.
  EXPECT_LE(log.slowest, config.operation_timeout + 500ms);
  EXPECT_GT(log.writes, 8u * 9'000u) << "the writers could not keep their schedule";
}

TEST(ProportionalDegradation, AfterAKillAndRestartWritesAndHealthAreBackWithinTwoSeconds) {
  ServerProcess server;
  CacheManager cache{default_config(server)};
  ASSERT_TRUE(cache.set("warm", "up", 60s));

  PacedWriters writers{cache};
  std::this_thread::sleep_until(writers.start() + 1s);
  server.kill();
  std::this_thread::sleep_for(2s);
  server.restart();  // returns once the server answers PING
  const auto answered = Steady::now();
  writers.mark();
  // The waits are long enough to measure a slow recovery too; a passing run takes < 2 s.
  const bool writes_back =
      wait_until([&] { return writers.first_success_after_mark().has_value(); }, 60s, 1ms);
  const bool healthy =
      wait_until([&] { return cache.health().level == HealthLevel::Healthy; }, 60s, 1ms);
  const auto healthy_after = Steady::now() - answered;
  const WriteLog log = writers.stop();
  const auto answered_since_start = answered - writers.start();
  const auto writes_back_after = writes_back
                                     ? *writers.first_success_after_mark() - answered_since_start
                                     : Steady::duration::max();
  const CacheHealth health = cache.health();
  std::cout << "[ measure  ] after the restart: writes back in "
            << (writes_back ? ms(writes_back_after).count() : -1) << " ms, health() healthy in "
            << (healthy ? ms(healthy_after).count() : -1) << " ms (now " << to_string(health.level)
            << ", circuit " << to_string(health.circuit) << ", server_up " << health.server.up
            << ", journal " << health.journal_pending << "); " << log.failed << " of " << log.writes
            << " sets failed\n";
  EXPECT_TRUE(writes_back);
  EXPECT_LE(writes_back_after, 2s);
  EXPECT_TRUE(healthy);
  EXPECT_LE(healthy_after, 2s);
}

}  // namespace
}  // namespace airport::cache
