// SPDX-License-Identifier: BSD-3-Clause
// Unit tests of retry.hpp: RetryPolicy (backoff, jitter, the idempotency rule, attempts and the
// deadline) and RetryBudget (ratio, floor, sliding window, exact concurrent counting).
// Time moves with a ManualClock and the jitter comes from a fixed source: no sleeps.
#include "airport/cache/retry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <latch>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "airport/cache/backoff.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

// A random source that always returns `value`: 1.0 gives the ceiling itself.
std::function<double()> fixed(double value) {
  return [value] { return value; };
}

constexpr RetryOptions kRetry{
    .max_attempts = 3, .base_delay = 50ms, .max_delay = 1000ms, .retry_on_timeout = true};

// --- RetryPolicy: backoff ----------------------------------------------------------------------

TEST(RetryPolicy, BackoffCeilingsDoubleAndAreCapped) {
  const RetryPolicy policy(kRetry, fixed(1.0));
  EXPECT_EQ(policy.backoff(0), 50ms);
  EXPECT_EQ(policy.backoff(1), 100ms);
  EXPECT_EQ(policy.backoff(2), 200ms);
  EXPECT_EQ(policy.backoff(3), 400ms);
  EXPECT_EQ(policy.backoff(4), 800ms);
  EXPECT_EQ(policy.backoff(5), 1000ms);
  EXPECT_EQ(policy.backoff(30), 1000ms);
  EXPECT_EQ(policy.backoff(1'000'000), 1000ms);
}

TEST(RetryPolicy, BackoffScalesTheCeilingByTheRandomDraw) {
  const RetryPolicy half(kRetry, fixed(0.5));
  EXPECT_EQ(half.backoff(0), 25ms);
  EXPECT_EQ(half.backoff(2), 100ms);
  EXPECT_EQ(half.backoff(9), 500ms);
  const RetryPolicy zero(kRetry, fixed(0.0));
  EXPECT_EQ(zero.backoff(4), 0ms);
}

TEST(RetryPolicy, JitterStaysWithinZeroAndTheCeilingAndSpreadsOverIt) {
  const RetryPolicy policy(kRetry);  // the default thread-local generator
  for (int retry = 0; retry < 8; ++retry) {
    const auto ceiling = backoff_ceiling(retry, kRetry.base_delay, kRetry.max_delay);
    auto lowest = ceiling;
    auto highest = 0ms;
    for (int i = 0; i < 2000; ++i) {
      const auto delay = policy.backoff(retry);
      ASSERT_GE(delay, 0ms);
      ASSERT_LE(delay, ceiling);
      lowest = std::min(lowest, delay);
      highest = std::max(highest, delay);
    }
    EXPECT_LT(lowest, ceiling / 4) << "retry " << retry;
    EXPECT_GT(highest, ceiling * 3 / 4) << "retry " << retry;
  }
}

// --- RetryPolicy: what is retryable ------------------------------------------------------------

TEST(RetryPolicy, NeverRetriesReplyProtocolConfigOrSerializationErrors) {
  const RetryPolicy policy(kRetry);
  for (const auto category : {ErrorCategory::Reply, ErrorCategory::Protocol, ErrorCategory::Config,
                              ErrorCategory::Serialization}) {
    for (const bool idempotent : {false, true}) {
      for (const bool not_sent : {false, true}) {
        EXPECT_FALSE(policy.is_retryable(category, idempotent, not_sent)) << to_string(category);
      }
    }
  }
}

TEST(RetryPolicy, RetriesPoolExhaustionEvenForNonIdempotentCommands) {
  const RetryPolicy policy(kRetry);
  EXPECT_TRUE(policy.is_retryable(ErrorCategory::Pool, false, false));
  EXPECT_TRUE(policy.is_retryable(ErrorCategory::Pool, true, false));
}

TEST(RetryPolicy, RetriesConnectionErrorsOfIdempotentCommands) {
  const RetryPolicy policy(kRetry);
  // GET, EXISTS, TTL, MGET, SET of a full value, DEL, EXPIRE, UNLINK.
  EXPECT_TRUE(policy.is_retryable(ErrorCategory::Connection, true, false));
  EXPECT_TRUE(policy.is_retryable(ErrorCategory::Timeout, true, false));
}

TEST(RetryPolicy, RetriesANonIdempotentCommandOnlyWhenItSurelyWasNotSent) {
  const RetryPolicy policy(kRetry);
  // INCR after a broken connection may have been applied: retrying could count twice.
  EXPECT_FALSE(policy.is_retryable(ErrorCategory::Connection, false, false));
  EXPECT_FALSE(policy.is_retryable(ErrorCategory::Timeout, false, false));
  // The connect failed, so nothing was sent.
  EXPECT_TRUE(policy.is_retryable(ErrorCategory::Connection, false, true));
  EXPECT_TRUE(policy.is_retryable(ErrorCategory::Timeout, false, true));
}

TEST(RetryPolicy, DoesNotRetryTimeoutsWhenRetryOnTimeoutIsFalse) {
  auto options = kRetry;
  options.retry_on_timeout = false;
  const RetryPolicy policy(options);
  EXPECT_FALSE(policy.is_retryable(ErrorCategory::Timeout, true, false));
  EXPECT_FALSE(policy.is_retryable(ErrorCategory::Timeout, true, true));
  EXPECT_TRUE(policy.is_retryable(ErrorCategory::Connection, true, false));
}

// --- RetryPolicy: next_delay -------------------------------------------------------------------

TEST(RetryPolicy, NextDelayIsTheBackoffOfTheComingRetry) {
  const RetryPolicy policy(kRetry, fixed(1.0));
  const ManualClock clock;
  const auto now = clock.now();
  EXPECT_EQ(policy.next_delay(1, ErrorCategory::Connection, true, false, now, now + 10s), 50ms);
  EXPECT_EQ(policy.next_delay(2, ErrorCategory::Connection, true, false, now, now + 10s), 100ms);
}

TEST(RetryPolicy, NextDelayGivesUpWhenTheAttemptsAreUsedUp) {
  const RetryPolicy policy(kRetry, fixed(1.0));
  const ManualClock clock;
  const auto now = clock.now();
  EXPECT_EQ(policy.max_attempts(), 3);
  EXPECT_EQ(policy.next_delay(3, ErrorCategory::Connection, true, false, now, now + 10s),
            std::nullopt);
  EXPECT_EQ(policy.next_delay(4, ErrorCategory::Connection, true, false, now, now + 10s),
            std::nullopt);
}

TEST(RetryPolicy, MaxAttemptsOfOneDisablesRetries) {
  const RetryPolicy policy({.max_attempts = 1}, fixed(1.0));
  const ManualClock clock;
  EXPECT_EQ(policy.next_delay(1, ErrorCategory::Pool, true, true, clock.now(), clock.now() + 1h),
            std::nullopt);
}

TEST(RetryPolicy, NextDelayGivesUpForErrorsThatAreNotRetryable) {
  const RetryPolicy policy(kRetry, fixed(1.0));
  const ManualClock clock;
  const auto now = clock.now();
  EXPECT_EQ(policy.next_delay(1, ErrorCategory::Reply, true, true, now, now + 10s), std::nullopt);
  EXPECT_EQ(policy.next_delay(1, ErrorCategory::Connection, false, false, now, now + 10s),
            std::nullopt);
}

TEST(RetryPolicy, NextDelayGivesUpWhenTheBackoffWouldEndAtOrPastTheDeadline) {
  const RetryPolicy policy(kRetry, fixed(1.0));
  const ManualClock clock;
  const auto now = clock.now();
  EXPECT_EQ(policy.next_delay(1, ErrorCategory::Timeout, true, false, now, now + 51ms), 50ms);
  EXPECT_EQ(policy.next_delay(1, ErrorCategory::Timeout, true, false, now, now + 50ms),
            std::nullopt);
  EXPECT_EQ(policy.next_delay(1, ErrorCategory::Timeout, true, false, now, now - 1ms),
            std::nullopt);
}

// A whole operation against a server that always times out: the deadline, not max_attempts,
// ends it, and the time spent stays within the deadline.
TEST(RetryPolicy, TheDeadlineStopsRetriesBeforeTheAttemptsRunOut) {
  const RetryPolicy policy({.max_attempts = 10, .base_delay = 50ms, .max_delay = 1s}, fixed(1.0));
  ManualClock clock;
  const auto start = clock.now();
  const auto deadline = start + 300ms;
  int attempts = 0;
  for (;;) {
    ++attempts;
    clock.advance(5ms);  // the attempt itself, timing out
    const auto delay =
        policy.next_delay(attempts, ErrorCategory::Timeout, true, false, clock.now(), deadline);
    if (!delay)
      break;
    clock.advance(*delay);
  }
  // 5 + 50 + 5 + 100 + 5 = 165 ms; a 200 ms backoff would end at 365 ms.
  EXPECT_EQ(attempts, 3);
  EXPECT_LE(clock.now() - start, 300ms);
}

TEST(RetryPolicy, AttemptsAreBoundedByMaxAttempts) {
  const RetryPolicy policy({.max_attempts = 4, .base_delay = 1ms, .max_delay = 1ms}, fixed(1.0));
  ManualClock clock;
  int attempts = 0;
  for (;;) {
    ++attempts;
    const auto delay = policy.next_delay(attempts, ErrorCategory::Connection, true, false,
                                         clock.now(), clock.now() + 1h);
    if (!delay)
      break;
    clock.advance(*delay);
  }
  EXPECT_EQ(attempts, 4);
}

TEST(RetryPolicy, RejectsInvalidOptionsNamingTheFieldAndValue) {
  struct Case {
    RetryOptions options;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{.max_attempts = 0}, "RetryOptions.max_attempts = 0: must be >= 1"},
      {{.base_delay = -1ms}, "RetryOptions.base_delay = -1ms: must not be negative"},
      {{.base_delay = 2s, .max_delay = 1s},
       "RetryOptions.base_delay = 2000ms: must not be above RetryOptions.max_delay = 1000ms"},
  };
  for (const auto& c : cases) {
    try {
      const RetryPolicy policy(c.options);
      ADD_FAILURE() << "no exception for: " << c.message;
    } catch (const std::invalid_argument& error) {
      EXPECT_EQ(std::string(error.what()), c.message);
    }
  }
}

// --- RetryBudget -------------------------------------------------------------------------------

TEST(RetryBudget, TheFloorAllowsTenRetriesPerSecondWithNoTraffic) {
  ManualClock clock;
  RetryBudget budget({}, clock);
  for (int second = 0; second < 60; ++second) {
    for (int i = 0; i < 10; ++i)
      ASSERT_TRUE(budget.try_spend()) << "second " << second;
    clock.advance(1s);
  }
  EXPECT_EQ(budget.snapshot().exhausted_count, 0u);
}

TEST(RetryBudget, TheFloorIsAReserveOfTheWholeWindow) {
  // Linkerd's min_retries_per_second over a 10 s window: 100 retries, even in one burst.
  ManualClock clock;
  RetryBudget budget({}, clock);
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(budget.try_spend());
  EXPECT_FALSE(budget.try_spend());
  EXPECT_EQ(budget.snapshot().exhausted_count, 1u);
}

TEST(RetryBudget, AllowsTwentyPercentOfRequestsPlusTheFloor) {
  ManualClock clock;
  RetryBudget budget({}, clock);
  for (int i = 0; i < 1000; ++i)
    budget.record_request();
  int granted = 0;
  while (budget.try_spend())
    ++granted;
  EXPECT_EQ(granted, 200 + 100);
  const auto snapshot = budget.snapshot();
  EXPECT_EQ(snapshot.requests_in_window, 1000u);
  EXPECT_EQ(snapshot.retries_in_window, 300u);
  EXPECT_EQ(snapshot.exhausted_count, 1u);
}

TEST(RetryBudget, WithoutAFloorAllowsExactlyTheRatio) {
  ManualClock clock;
  RetryBudget budget({.retry_ratio = 0.29, .min_retries_per_second = 0}, clock);
  EXPECT_FALSE(budget.try_spend());
  for (int i = 0; i < 100; ++i)
    budget.record_request();
  int granted = 0;
  while (budget.try_spend())
    ++granted;
  EXPECT_EQ(granted, 29);  // not 28: 0.29 * 100 is 28.999999999999996 in binary
}

TEST(RetryBudget, RequestsOfEarlierSecondsCountWhileInTheWindow) {
  ManualClock clock;
  RetryBudget budget({.retry_ratio = 0.5, .min_retries_per_second = 0, .window = 10s}, clock);
  for (int second = 0; second < 10; ++second) {
    for (int i = 0; i < 10; ++i)
      budget.record_request();
    clock.advance(1s);
  }
  // Now in second 10: seconds 1..9 are in the window (90 requests), second 0 rolled off.
  EXPECT_EQ(budget.snapshot().requests_in_window, 90u);
  int granted = 0;
  while (budget.try_spend())
    ++granted;
  EXPECT_EQ(granted, 45);
}

TEST(RetryBudget, OldSecondsRollOffAfterTheWindow) {
  ManualClock clock;
  RetryBudget budget({}, clock);
  for (int i = 0; i < 1000; ++i)
    budget.record_request();
  while (budget.try_spend()) {
  }
  clock.advance(9s + 999ms);  // still inside the 10 s window
  EXPECT_FALSE(budget.try_spend());
  EXPECT_EQ(budget.snapshot().requests_in_window, 1000u);
  clock.advance(1ms);
  const auto snapshot = budget.snapshot();
  EXPECT_EQ(snapshot.requests_in_window, 0u);
  EXPECT_EQ(snapshot.retries_in_window, 0u);
  EXPECT_EQ(snapshot.exhausted_count, 2u);
  int granted = 0;
  while (budget.try_spend())
    ++granted;
  EXPECT_EQ(granted, 100);  // only the floor is left
}

TEST(RetryBudget, BucketsAreReusedWhenTheirSecondComesRoundAgain) {
  ManualClock clock;
  RetryBudget budget({.retry_ratio = 1.0, .min_retries_per_second = 0, .window = 3s}, clock);
  for (int second = 0; second < 50; ++second) {
    for (int i = 0; i <= second % 5; ++i)
      budget.record_request();
    ASSERT_TRUE(budget.try_spend());
    // The last three seconds' requests: (s % 5 + 1) + ((s-1) % 5 + 1) + ((s-2) % 5 + 1).
    std::uint64_t expected = 0;
    for (int s = std::max(0, second - 2); s <= second; ++s)
      expected += s % 5 + 1;
    ASSERT_EQ(budget.snapshot().requests_in_window, expected) << "second " << second;
    ASSERT_EQ(budget.snapshot().retries_in_window,
              static_cast<std::uint64_t>(std::min(second + 1, 3)));
    clock.advance(1s);
  }
}

TEST(RetryBudget, ZeroRatioAndZeroFloorAllowNoRetries) {
  ManualClock clock;
  RetryBudget budget({.retry_ratio = 0.0, .min_retries_per_second = 0}, clock);
  for (int i = 0; i < 1000; ++i)
    budget.record_request();
  EXPECT_FALSE(budget.try_spend());
}

TEST(RetryBudget, TheOverloadsTakingNowUseTheGivenTime) {
  ManualClock clock;
  RetryBudget budget({.retry_ratio = 1.0, .min_retries_per_second = 0, .window = 1s}, clock);
  budget.record_request(clock.now() - 1s);  // an earlier second: outside a 1 s window
  EXPECT_EQ(budget.snapshot().requests_in_window, 0u);
  budget.record_request(clock.now());
  EXPECT_TRUE(budget.try_spend(clock.now()));
  EXPECT_FALSE(budget.try_spend(clock.now()));
}

TEST(RetryBudget, CountsConcurrentRequestsFromFourThreadsExactly) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100'000;
  ManualClock clock;
  RetryBudget budget({}, clock);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i)
        budget.record_request();
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(budget.snapshot().requests_in_window, std::uint64_t{kThreads} * kPerThread);
}

TEST(RetryBudget, CountsConcurrentRequestsExactlyWhileBucketsRollOver) {
  // A 2 s window has two buckets, so every new second resets one: threads race on the reset.
  constexpr int kThreads = 4;
  constexpr int kSeconds = 200;
  constexpr int kPerSecond = 500;
  ManualClock clock;
  RetryBudget budget({.window = 2s}, clock);
  const auto start_time = clock.now();
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int second = 0; second < kSeconds; ++second) {
        const auto now = start_time + std::chrono::seconds{second};
        for (int i = 0; i < kPerSecond; ++i)
          budget.record_request(now);
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  clock.advance(std::chrono::seconds{kSeconds - 1});
  // Nobody recorded past the last second, so both seconds in the window must be exact.
  EXPECT_EQ(budget.snapshot().requests_in_window, std::uint64_t{2} * kThreads * kPerSecond);
}

TEST(RetryBudget, ConcurrentSpendersNeverOvershootTheCap) {
  constexpr int kThreads = 4;
  ManualClock clock;
  RetryBudget budget({}, clock);
  for (int i = 0; i < 1000; ++i)
    budget.record_request();
  std::atomic<int> granted{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < 200; ++i) {
        if (budget.try_spend())
          granted.fetch_add(1);
        budget.record_request();
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  // 1800 requests in all; the cap grows with them, but the grants can never pass it.
  EXPECT_LE(granted.load(), 100 + 360);
  EXPECT_GE(granted.load(), 300);
  EXPECT_EQ(budget.snapshot().retries_in_window, static_cast<std::uint64_t>(granted.load()));
  EXPECT_EQ(budget.snapshot().exhausted_count + static_cast<std::uint64_t>(granted.load()), 800u);
}

TEST(RetryBudget, RejectsInvalidOptionsNamingTheFieldAndValue) {
  struct Case {
    RetryBudgetOptions options;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{.retry_ratio = 1.5}, "RetryBudgetOptions.retry_ratio = 1.5: must be in [0, 1]"},
      {{.retry_ratio = -0.2}, "RetryBudgetOptions.retry_ratio = -0.2: must be in [0, 1]"},
      {{.min_retries_per_second = -1},
       "RetryBudgetOptions.min_retries_per_second = -1: must be >= 0"},
      {{.window = 0s}, "RetryBudgetOptions.window = 0s: must be in [1s, 3600s]"},
      {{.window = 3601s}, "RetryBudgetOptions.window = 3601s: must be in [1s, 3600s]"},
  };
  for (const auto& c : cases) {
    try {
      const RetryBudget budget(c.options);
      ADD_FAILURE() << "no exception for: " << c.message;
    } catch (const std::invalid_argument& error) {
      EXPECT_EQ(std::string(error.what()), c.message);
    }
  }
  EXPECT_THROW(RetryBudget({.retry_ratio = std::nan("")}), std::invalid_argument);
  EXPECT_NO_THROW(RetryBudget({.retry_ratio = 0.0, .min_retries_per_second = 0, .window = 1s}));
}

}  // namespace
}  // namespace airport::cache
