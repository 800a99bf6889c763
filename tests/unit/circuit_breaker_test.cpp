// SPDX-License-Identifier: BSD-3-Clause
// Unit tests of circuit_breaker.hpp: every state change, the half-open probe limit (also from
// concurrent threads), stale permits, the failure-rate window, the listener and validation.
// Time moves with a ManualClock: no server, no sleeps.
#include "airport/cache/circuit_breaker.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using Kind = CircuitBreaker::Permit::Kind;
using Transition = std::pair<CircuitState, CircuitState>;

static_assert(to_string(CircuitState::HalfOpen) == "half_open");

// A fixed open period of 30 s (the first one as long as the cap): most tests are about other
// things than its growth, which has tests of its own below.
constexpr CircuitBreakerOptions kOptions{.failure_threshold = 5,
                                         .recovery_timeout = 30s,
                                         .half_open_max_calls = 3,
                                         .failure_spacing = 100ms,
                                         .initial_recovery_timeout = 30s};

// Records every transition the listener reports. Safe for concurrent use.
struct TransitionLog {
  std::mutex mutex;
  std::vector<Transition> transitions;

  CircuitBreaker::Listener listener() {
    return [this](CircuitState from, CircuitState to) {
      const std::lock_guard lock(mutex);
      transitions.emplace_back(from, to);
    };
  }
  std::vector<Transition> take() {
    const std::lock_guard lock(mutex);
    return std::exchange(transitions, {});
  }
};

// Fails `times` calls, each failure_spacing after the one before (the clock moves first), so
// that each one counts toward failure_threshold.
void fail(CircuitBreaker& breaker, ManualClock& clock, int times) {
  for (int i = 0; i < times; ++i) {
    clock.advance(breaker.options().failure_spacing);
    breaker.record_failure(breaker.try_acquire());
  }
}

void succeed(CircuitBreaker& breaker, int times) {
  for (int i = 0; i < times; ++i)
    breaker.record_success(breaker.try_acquire());
}

// Opens the breaker and lets the recovery timeout pass; the next try_acquire() is a probe.
void open_and_wait(CircuitBreaker& breaker, ManualClock& clock) {
  fail(breaker, clock, breaker.options().failure_threshold);
  ASSERT_EQ(breaker.state(), CircuitState::Open);
  clock.advance(breaker.options().recovery_timeout);
}

// --- closed ------------------------------------------------------------------------------------

TEST(CircuitBreaker, StartsClosedAndAllowsCalls) {
  CircuitBreaker breaker;
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
  const auto permit = breaker.try_acquire();
  EXPECT_EQ(permit.kind(), Kind::Allowed);
  EXPECT_TRUE(permit);
  EXPECT_FALSE(permit.is_probe());
}

TEST(CircuitBreaker, StaysClosedBelowTheFailureThreshold) {
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  fail(breaker, clock, 4);
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
  EXPECT_EQ(breaker.snapshot().consecutive_failures, 4);
  EXPECT_EQ(breaker.try_acquire().kind(), Kind::Allowed);
}

TEST(CircuitBreaker, OpensAfterFiveConsecutiveFailures) {
  ManualClock clock;
  CircuitBreaker breaker({}, {}, clock);  // the default threshold is 5, 100 ms apart
  fail(breaker, clock, 5);
  EXPECT_EQ(breaker.state(), CircuitState::Open);
  const auto snapshot = breaker.snapshot();
  EXPECT_EQ(snapshot.opened, 1u);
  EXPECT_EQ(snapshot.consecutive_failures, 0);
  EXPECT_EQ(snapshot.open_for_remaining, 250ms);  // the default first open period
}

// --- failure spacing ---------------------------------------------------------------------------

TEST(CircuitBreaker, FailuresCloserThanTheSpacingCountOnce) {
  // Eight callers timing out on one stall, or a burst of calls failing in the same
  // millisecond, are one piece of evidence about the server, not eight.
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  for (int i = 0; i < 100; ++i)
    breaker.record_failure(breaker.try_acquire());
  EXPECT_EQ(breaker.snapshot().consecutive_failures, 1);
  clock.advance(99ms);
  breaker.record_failure(breaker.try_acquire());
  EXPECT_EQ(breaker.snapshot().consecutive_failures, 1);
  clock.advance(1ms);  // 100 ms after the failure that counted
  breaker.record_failure(breaker.try_acquire());
  EXPECT_EQ(breaker.snapshot().consecutive_failures, 2);
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
}

TEST(CircuitBreaker, OpensOnlyOnFailuresSpreadOverThresholdMinusOneSpacings) {
  ManualClock clock;
  CircuitBreaker breaker({}, {}, clock);  // 5 failures, 100 ms apart
  // A failure every 60 ms: every other one counts.
  for (int i = 0; i < 7; ++i) {
    breaker.record_failure(breaker.try_acquire());
    clock.advance(60ms);
  }
  EXPECT_EQ(breaker.snapshot().consecutive_failures, 4);  // at 0, 120, 240, 360 ms
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
  breaker.record_failure(breaker.try_acquire());  // at 420 ms: 60 ms after 360, no
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
  clock.advance(60ms);
  breaker.record_failure(breaker.try_acquire());  // at 480 ms: the fifth
  EXPECT_EQ(breaker.state(), CircuitState::Open);
}

TEST(CircuitBreaker, ASuccessBetweenSpacedFailuresStartsTheCountAgain) {
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  fail(breaker, clock, 4);
  succeed(breaker, 1);
  // The first failure after a success always counts, however close to the last one.
  breaker.record_failure(breaker.try_acquire());
  EXPECT_EQ(breaker.snapshot().consecutive_failures, 1);
}

TEST(CircuitBreaker, ASpacingOfZeroCountsEveryFailure) {
  ManualClock clock;
  CircuitBreaker breaker({.failure_spacing = 0ms}, {}, clock);
  for (int i = 0; i < 5; ++i)
    breaker.record_failure(breaker.try_acquire());
  EXPECT_EQ(breaker.state(), CircuitState::Open);
}

TEST(CircuitBreaker, TheSpacingAppliesWithTheRateRuleToo) {
  ManualClock clock;
  CircuitBreaker breaker(
      kOptions, {.failure_rate_threshold = 0.9, .window_size = 100, .minimum_calls = 100}, clock);
  for (int i = 0; i < 50; ++i)
    breaker.record_failure(breaker.try_acquire());
  EXPECT_EQ(breaker.snapshot().consecutive_failures, 1);
  EXPECT_EQ(breaker.snapshot().window_calls, 50u);  // the window counts every result
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
}

TEST(CircuitBreaker, ASuccessResetsTheConsecutiveFailureCount) {
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  fail(breaker, clock, 4);
  succeed(breaker, 1);
  EXPECT_EQ(breaker.snapshot().consecutive_failures, 0);
  fail(breaker, clock, 4);
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
  fail(breaker, clock, 1);
  EXPECT_EQ(breaker.state(), CircuitState::Open);
}

TEST(CircuitBreaker, AThresholdOfOneOpensOnTheFirstFailure) {
  ManualClock clock;
  CircuitBreaker breaker({.failure_threshold = 1}, {}, clock);
  fail(breaker, clock, 1);
  EXPECT_EQ(breaker.state(), CircuitState::Open);
}

// --- open --------------------------------------------------------------------------------------

TEST(CircuitBreaker, RejectsEveryCallWhileOpen) {
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  fail(breaker, clock, 5);
  for (int i = 0; i < 100; ++i) {
    const auto permit = breaker.try_acquire();
    EXPECT_EQ(permit.kind(), Kind::Rejected);
    EXPECT_FALSE(permit);
    clock.advance(100ms);
  }
  EXPECT_EQ(breaker.state(), CircuitState::Open);
  EXPECT_EQ(breaker.snapshot().rejected, 100u);
  EXPECT_EQ(breaker.snapshot().open_for_remaining, 20s);
}

TEST(CircuitBreaker, MovesToHalfOpenExactlyAfterTheRecoveryTimeout) {
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  fail(breaker, clock, 5);
  clock.advance(30s - 1ms);
  EXPECT_EQ(breaker.try_acquire().kind(), Kind::Rejected);
  EXPECT_EQ(breaker.state(), CircuitState::Open);
  EXPECT_EQ(breaker.snapshot().open_for_remaining, 1ms);
  clock.advance(1ms);
  // state() does not move it; the next try_acquire() does, and is the first probe.
  EXPECT_EQ(breaker.state(), CircuitState::Open);
  EXPECT_EQ(breaker.snapshot().open_for_remaining, 0ms);
  const auto permit = breaker.try_acquire();
  EXPECT_EQ(permit.kind(), Kind::Probe);
  EXPECT_TRUE(permit.is_probe());
  EXPECT_EQ(breaker.state(), CircuitState::HalfOpen);
  EXPECT_EQ(breaker.snapshot().half_opened, 1u);
}

// --- half-open ---------------------------------------------------------------------------------

TEST(CircuitBreaker, PermitsOnlyHalfOpenMaxCallsProbesToManyCallers) {
  // The original Python breaker let all traffic through while half-open.
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  open_and_wait(breaker, clock);
  std::vector<CircuitBreaker::Permit> probes;
  for (int caller = 0; caller < 1000; ++caller) {
    if (const auto permit = breaker.try_acquire()) {
      EXPECT_TRUE(permit.is_probe());
      probes.push_back(permit);
    }
  }
  EXPECT_EQ(probes.size(), 3u);
  EXPECT_EQ(breaker.state(), CircuitState::HalfOpen);
  EXPECT_EQ(breaker.snapshot().rejected, 997u);
}

TEST(CircuitBreaker, PermitsOnlyHalfOpenMaxCallsProbesInTotalEvenWhenTheyFinishOneByOne) {
  ManualClock clock;
  CircuitBreaker breaker({.failure_threshold = 1, .recovery_timeout = 1s, .half_open_max_calls = 3},
                         {}, clock);
  open_and_wait(breaker, clock);
  const auto first = breaker.try_acquire();
  const auto second = breaker.try_acquire();
  ASSERT_TRUE(first.is_probe());
  ASSERT_TRUE(second.is_probe());
  breaker.record_success(first);
  breaker.record_success(second);
  const auto third = breaker.try_acquire();
  ASSERT_TRUE(third.is_probe());
  // Three permits are out; the third has not reported yet, so a fourth caller is rejected.
  EXPECT_EQ(breaker.try_acquire().kind(), Kind::Rejected);
  EXPECT_EQ(breaker.state(), CircuitState::HalfOpen);
}

TEST(CircuitBreaker, GrantsExactlyHalfOpenMaxCallsProbesToEightConcurrentThreads) {
  constexpr int kThreads = 8;
  ManualClock clock;
  CircuitBreaker breaker({.failure_threshold = 1, .recovery_timeout = 1s, .half_open_max_calls = 3},
                         {}, clock);
  for (int round = 0; round < 50; ++round) {
    fail(breaker, clock, 1);
    ASSERT_EQ(breaker.state(), CircuitState::Open);
    clock.advance(1s);
    std::atomic<int> probes{0};
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        start.arrive_and_wait();
        for (int i = 0; i < 200; ++i) {
          if (breaker.try_acquire().is_probe())
            probes.fetch_add(1);
        }
      });
    }
    for (auto& thread : threads)
      thread.join();
    ASSERT_EQ(probes.load(), 3) << "round " << round;
    ASSERT_EQ(breaker.state(), CircuitState::HalfOpen);
    breaker.force_close();
  }
  EXPECT_EQ(breaker.snapshot().half_opened, 50u);
}

TEST(CircuitBreaker, ClosesAfterHalfOpenMaxCallsProbeSuccesses) {
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  open_and_wait(breaker, clock);
  const auto a = breaker.try_acquire();
  const auto b = breaker.try_acquire();
  const auto c = breaker.try_acquire();
  breaker.record_success(a);
  breaker.record_success(b);
  EXPECT_EQ(breaker.state(), CircuitState::HalfOpen);
  breaker.record_success(c);
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
  EXPECT_EQ(breaker.snapshot().closed, 1u);
  EXPECT_EQ(breaker.try_acquire().kind(), Kind::Allowed);
  // A fresh closed period: it takes the full threshold to open again.
  fail(breaker, clock, 4);
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
}

TEST(CircuitBreaker, ReopensOnAProbeFailureWithAFreshRecoveryTimeout) {
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  open_and_wait(breaker, clock);
  const auto a = breaker.try_acquire();
  const auto b = breaker.try_acquire();
  breaker.record_success(a);
  clock.advance(10s);
  breaker.record_failure(b);
  EXPECT_EQ(breaker.state(), CircuitState::Open);
  EXPECT_EQ(breaker.snapshot().opened, 2u);
  EXPECT_EQ(breaker.snapshot().open_for_remaining, 30s);
  clock.advance(30s - 1ms);
  EXPECT_EQ(breaker.try_acquire().kind(), Kind::Rejected);
  clock.advance(1ms);
  EXPECT_EQ(breaker.try_acquire().kind(), Kind::Probe);
  // The new half-open period starts with no successes: the earlier one's success is gone.
  breaker.record_success(breaker.try_acquire());
  EXPECT_EQ(breaker.state(), CircuitState::HalfOpen);
}

TEST(CircuitBreaker, AHalfOpenMaxCallsOfOneClosesOnTheFirstProbeSuccess) {
  ManualClock clock;
  CircuitBreaker breaker({.failure_threshold = 1, .recovery_timeout = 1s, .half_open_max_calls = 1},
                         {}, clock);
  open_and_wait(breaker, clock);
  const auto probe = breaker.try_acquire();
  EXPECT_EQ(breaker.try_acquire().kind(), Kind::Rejected);
  breaker.record_success(probe);
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
}

// --- open period growth ------------------------------------------------------------------------

// Fails the probe that the end of the current open period lets through.
void fail_the_probe(CircuitBreaker& breaker, ManualClock& clock) {
  clock.advance(breaker.snapshot().open_for_remaining);
  const auto probe = breaker.try_acquire();
  ASSERT_TRUE(probe.is_probe());
  breaker.record_failure(probe);
  ASSERT_EQ(breaker.state(), CircuitState::Open);
}

TEST(CircuitBreaker, TheOpenPeriodDoublesOnEachFailedProbeUpToRecoveryTimeout) {
  ManualClock clock;
  CircuitBreaker breaker({.failure_threshold = 1, .recovery_timeout = 2500ms}, {}, clock);
  fail(breaker, clock, 1);
  EXPECT_EQ(breaker.snapshot().open_for_remaining, 250ms);
  for (const auto expected : {500ms, 1000ms, 2000ms, 2500ms, 2500ms}) {
    fail_the_probe(breaker, clock);
    EXPECT_EQ(breaker.snapshot().open_for_remaining, expected);
  }
}

TEST(CircuitBreaker, ClosingStartsTheOpenPeriodAgainFromTheInitialOne) {
  ManualClock clock;
  CircuitBreaker breaker({.failure_threshold = 1, .half_open_max_calls = 1}, {}, clock);
  fail(breaker, clock, 1);
  fail_the_probe(breaker, clock);
  fail_the_probe(breaker, clock);
  ASSERT_EQ(breaker.snapshot().open_for_remaining, 1s);
  clock.advance(1s);
  breaker.record_success(breaker.try_acquire());  // the probe succeeds: closed
  ASSERT_EQ(breaker.state(), CircuitState::Closed);
  fail(breaker, clock, 1);
  EXPECT_EQ(breaker.snapshot().open_for_remaining, 250ms);
  fail_the_probe(breaker, clock);
  breaker.force_close();  // the health check's way of closing resets it too
  fail(breaker, clock, 1);
  EXPECT_EQ(breaker.snapshot().open_for_remaining, 250ms);
}

TEST(CircuitBreaker, AnUnansweredProbeDoesNotLengthenTheOpenPeriod) {
  ManualClock clock;
  CircuitBreaker breaker({.failure_threshold = 1, .half_open_max_calls = 1}, {}, clock);
  fail(breaker, clock, 1);
  clock.advance(250ms);
  breaker.record_unanswered(breaker.try_acquire());  // e.g. the pool's reconnect backoff
  fail_the_probe(breaker, clock);
  EXPECT_EQ(breaker.snapshot().open_for_remaining, 500ms);
}

TEST(CircuitBreaker, AnInitialRecoveryTimeoutAboveRecoveryTimeoutIsCappedByIt) {
  ManualClock clock;
  CircuitBreaker breaker(
      {.failure_threshold = 1, .recovery_timeout = 100ms, .initial_recovery_timeout = 1min}, {},
      clock);
  fail(breaker, clock, 1);
  EXPECT_EQ(breaker.snapshot().open_for_remaining, 100ms);
}

// --- force_close -------------------------------------------------------------------------------

TEST(CircuitBreaker, ForceCloseClosesAnOpenBreaker) {
  ManualClock clock;
  TransitionLog log;
  CircuitBreaker breaker(kOptions, {}, clock, log.listener());
  fail(breaker, clock, 5);
  breaker.force_close();
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
  EXPECT_EQ(breaker.try_acquire().kind(), Kind::Allowed);
  EXPECT_EQ(breaker.snapshot().closed, 1u);
  EXPECT_EQ(log.take(), (std::vector<Transition>{{CircuitState::Closed, CircuitState::Open},
                                                 {CircuitState::Open, CircuitState::Closed}}));
}

TEST(CircuitBreaker, ForceCloseClosesAHalfOpenBreaker) {
  ManualClock clock;
  TransitionLog log;
  CircuitBreaker breaker(kOptions, {}, clock, log.listener());
  open_and_wait(breaker, clock);
  const auto probe = breaker.try_acquire();
  log.take();
  breaker.force_close();
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
  EXPECT_EQ(log.take(), (std::vector<Transition>{{CircuitState::HalfOpen, CircuitState::Closed}}));
  // The probe outstanding when it was closed reports late: it must not re-open it.
  breaker.record_failure(probe);
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
}

TEST(CircuitBreaker, ForceCloseOfAClosedBreakerIsNotATransition) {
  ManualClock clock;
  TransitionLog log;
  CircuitBreaker breaker(kOptions, {}, clock, log.listener());
  fail(breaker, clock, 3);
  breaker.force_close();
  EXPECT_TRUE(log.take().empty());
  EXPECT_EQ(breaker.snapshot().closed, 0u);
  EXPECT_EQ(breaker.snapshot().consecutive_failures, 3);
}

// --- listener ----------------------------------------------------------------------------------

TEST(CircuitBreaker, ExpiringTheOpenPeriodMovesToHalfOpenWithTheProbeLimit) {
  ManualClock clock;
  CircuitBreaker breaker{kOptions, {}, clock};
  fail(breaker, clock, 5);
  ASSERT_EQ(breaker.state(), CircuitState::Open);
  breaker.expire_open_period();
  // Not closed: the probes still decide, and only half_open_max_calls of them go out.
  EXPECT_EQ(breaker.state(), CircuitState::Open);
  // Nothing left of the open period. (UBSan found snapshot() subtracting now from the
  // "expired" marker, the duration's minimum: an overflow, read as a huge remaining time.)
  EXPECT_EQ(breaker.snapshot().open_for_remaining, 0ms);
  std::vector<CircuitBreaker::Permit> probes;
  for (int i = 0; i < 10; ++i)
    probes.push_back(breaker.try_acquire());
  int granted = 0;
  for (const auto& permit : probes)
    granted += permit.kind() == Kind::Probe ? 1 : 0;
  EXPECT_EQ(granted, kOptions.half_open_max_calls);
  EXPECT_EQ(breaker.state(), CircuitState::HalfOpen);
}

TEST(CircuitBreaker, ExpiringTheOpenPeriodOfAClosedBreakerDoesNothing) {
  ManualClock clock;
  CircuitBreaker breaker{kOptions, {}, clock};
  breaker.expire_open_period();
  fail(breaker, clock, 5);
  EXPECT_EQ(breaker.state(), CircuitState::Open);
  EXPECT_EQ(breaker.try_acquire().kind(), Kind::Rejected);
}

TEST(CircuitBreaker, AnUnansweredProbeHandsItsSlotBack) {
  ManualClock clock;
  CircuitBreaker breaker{kOptions, {}, clock};
  fail(breaker, clock, 5);
  clock.advance(kOptions.recovery_timeout);
  const auto first = breaker.try_acquire();
  const auto second = breaker.try_acquire();
  const auto third = breaker.try_acquire();
  ASSERT_EQ(third.kind(), Kind::Probe);
  ASSERT_EQ(breaker.try_acquire().kind(), Kind::Rejected);
  breaker.record_unanswered(third);
  const auto again = breaker.try_acquire();
  EXPECT_EQ(again.kind(), Kind::Probe);
  EXPECT_EQ(breaker.state(), CircuitState::HalfOpen);
  breaker.record_success(first);
  breaker.record_success(second);
  breaker.record_success(again);
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
}

TEST(CircuitBreaker, AnUnansweredCallWhileClosedCountsNeitherWay) {
  ManualClock clock;
  CircuitBreaker breaker{kOptions, {}, clock};
  fail(breaker, clock, 4);
  for (int i = 0; i < 100; ++i)
    breaker.record_unanswered(breaker.try_acquire());
  EXPECT_EQ(breaker.snapshot().consecutive_failures, 4);
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
}

TEST(CircuitBreaker, CallsTheListenerExactlyOncePerTransitionWithFromAndTo) {
  ManualClock clock;
  TransitionLog log;
  CircuitBreaker breaker(kOptions, {}, clock);
  breaker.set_listener(log.listener());
  open_and_wait(breaker, clock);                  // closed -> open
  breaker.record_failure(breaker.try_acquire());  // open -> half_open -> open
  clock.advance(30s);
  succeed(breaker, 3);      // open -> half_open -> closed
  fail(breaker, clock, 5);  // closed -> open
  for (int i = 0; i < 10; ++i)
    (void)breaker.try_acquire();  // rejections: no transition
  breaker.force_close();          // open -> closed
  using S = CircuitState;
  EXPECT_EQ(log.take(), (std::vector<Transition>{{S::Closed, S::Open},
                                                 {S::Open, S::HalfOpen},
                                                 {S::HalfOpen, S::Open},
                                                 {S::Open, S::HalfOpen},
                                                 {S::HalfOpen, S::Closed},
                                                 {S::Closed, S::Open},
                                                 {S::Open, S::Closed}}));
  const auto snapshot = breaker.snapshot();
  EXPECT_EQ(snapshot.opened, 3u);
  EXPECT_EQ(snapshot.half_opened, 2u);
  EXPECT_EQ(snapshot.closed, 2u);
}

TEST(CircuitBreaker, CallsTheListenerOutsideItsLocksSoItMayCallBack) {
  ManualClock clock;
  std::vector<CircuitState> seen;
  CircuitBreaker breaker(kOptions, {}, clock);
  breaker.set_listener([&](CircuitState, CircuitState) {
    seen.push_back(breaker.snapshot().state);  // would deadlock under the breaker's mutex
  });
  fail(breaker, clock, 5);
  breaker.force_close();
  EXPECT_EQ(seen, (std::vector<CircuitState>{CircuitState::Open, CircuitState::Closed}));
}

TEST(CircuitBreaker, SwallowsExceptionsFromTheListener) {
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock, [](CircuitState, CircuitState) {
    throw std::runtime_error("log failed");
  });
  fail(breaker, clock, 5);
  EXPECT_EQ(breaker.state(), CircuitState::Open);
}

TEST(CircuitBreaker, AnEmptyListenerRemovesTheListener) {
  ManualClock clock;
  TransitionLog log;
  CircuitBreaker breaker(kOptions, {}, clock, log.listener());
  breaker.set_listener({});
  fail(breaker, clock, 5);
  EXPECT_TRUE(log.take().empty());
}

// --- stale permits -----------------------------------------------------------------------------

TEST(CircuitBreaker, ALateSuccessWhileOpenDoesNotCloseIt) {
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  const auto slow_call = breaker.try_acquire();
  fail(breaker, clock, 5);
  breaker.record_success(slow_call);
  EXPECT_EQ(breaker.state(), CircuitState::Open);
  EXPECT_EQ(breaker.snapshot().closed, 0u);
}

TEST(CircuitBreaker, ALateFailureWhileOpenDoesNothing) {
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  std::vector<CircuitBreaker::Permit> slow_calls;
  for (int i = 0; i < 5; ++i)
    slow_calls.push_back(breaker.try_acquire());
  fail(breaker, clock, 5);
  clock.advance(10s);
  for (const auto permit : slow_calls)
    breaker.record_failure(permit);
  const auto snapshot = breaker.snapshot();
  EXPECT_EQ(snapshot.state, CircuitState::Open);
  EXPECT_EQ(snapshot.opened, 1u);
  EXPECT_EQ(snapshot.open_for_remaining, 20s);  // the timeout was not restarted
}

TEST(CircuitBreaker, AnAllowedResultDuringHalfOpenIsNotAProbeResult) {
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  const auto slow_success = breaker.try_acquire();
  const auto slow_failure = breaker.try_acquire();
  open_and_wait(breaker, clock);
  const auto probe = breaker.try_acquire();
  ASSERT_TRUE(probe.is_probe());
  breaker.record_failure(slow_failure);  // must not re-open it
  EXPECT_EQ(breaker.state(), CircuitState::HalfOpen);
  breaker.record_success(slow_success);  // must not count as a probe success
  breaker.record_success(probe);
  breaker.record_success(breaker.try_acquire());
  EXPECT_EQ(breaker.state(), CircuitState::HalfOpen);
  breaker.record_success(breaker.try_acquire());
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
}

TEST(CircuitBreaker, ALateProbeFromAnEarlierHalfOpenPeriodIsIgnored) {
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  open_and_wait(breaker, clock);
  const auto old_a = breaker.try_acquire();
  const auto old_b = breaker.try_acquire();
  const auto old_c = breaker.try_acquire();
  breaker.record_failure(old_a);  // half-open -> open
  clock.advance(30s);
  const auto a = breaker.try_acquire();
  const auto b = breaker.try_acquire();
  const auto c = breaker.try_acquire();
  ASSERT_TRUE(a.is_probe() && b.is_probe() && c.is_probe());
  breaker.record_success(old_b);
  breaker.record_success(old_c);
  breaker.record_success(a);
  breaker.record_success(b);
  EXPECT_EQ(breaker.state(), CircuitState::HalfOpen);
  breaker.record_success(c);
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
  // And a late probe failure of the earlier period does not re-open the closed breaker.
  breaker.record_failure(old_b);
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
}

TEST(CircuitBreaker, AFailureFromAnEarlierClosedPeriodDoesNotCountInTheNextOne) {
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  std::vector<CircuitBreaker::Permit> slow_calls;
  for (int i = 0; i < 4; ++i)
    slow_calls.push_back(breaker.try_acquire());
  fail(breaker, clock, 5);
  breaker.force_close();
  for (const auto permit : slow_calls)
    breaker.record_failure(permit);
  EXPECT_EQ(breaker.snapshot().consecutive_failures, 0);
  fail(breaker, clock, 4);
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
}

TEST(CircuitBreaker, IgnoresResultsOfRejectedPermits) {
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  fail(breaker, clock, 4);
  breaker.record_success(CircuitBreaker::Permit{});
  EXPECT_EQ(breaker.snapshot().consecutive_failures, 4);
  for (int i = 0; i < 10; ++i)
    breaker.record_failure(CircuitBreaker::Permit{});
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
}

// --- failure-rate window -----------------------------------------------------------------------

// A threshold so high that only the rate rule can open the breaker.
constexpr CircuitBreakerOptions kRateOnly{
    .failure_threshold = 1000, .recovery_timeout = 30s, .half_open_max_calls = 3};

TEST(CircuitBreaker, OpensWhenTheFailureRateReachesTheThreshold) {
  ManualClock clock;
  CircuitBreaker breaker(
      kRateOnly, {.failure_rate_threshold = 0.5, .window_size = 10, .minimum_calls = 10}, clock);
  for (int i = 0; i < 9; ++i) {
    if (i % 2 == 0) {
      succeed(breaker, 1);
    } else {
      fail(breaker, clock, 1);
    }
  }
  EXPECT_EQ(breaker.state(), CircuitState::Closed);  // 4 of 9
  EXPECT_NEAR(breaker.snapshot().window_failure_rate, 4.0 / 9.0, 1e-12);
  fail(breaker, clock, 1);  // 5 of 10 = 50%
  EXPECT_EQ(breaker.state(), CircuitState::Open);
  EXPECT_EQ(breaker.snapshot().window_calls, 10u);
  EXPECT_DOUBLE_EQ(breaker.snapshot().window_failure_rate, 0.5);
}

TEST(CircuitBreaker, IgnoresTheFailureRateBelowMinimumCalls) {
  ManualClock clock;
  CircuitBreaker breaker(
      kRateOnly, {.failure_rate_threshold = 0.5, .window_size = 100, .minimum_calls = 20}, clock);
  fail(breaker, clock, 19);  // 100% failures, but too few calls to judge
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
  fail(breaker, clock, 1);
  EXPECT_EQ(breaker.state(), CircuitState::Open);
}

TEST(CircuitBreaker, ASuccessCanBringTheWindowToMinimumCallsAndOpenIt) {
  ManualClock clock;
  CircuitBreaker breaker(
      kRateOnly, {.failure_rate_threshold = 0.5, .window_size = 10, .minimum_calls = 10}, clock);
  fail(breaker, clock, 5);
  succeed(breaker, 4);
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
  succeed(breaker, 1);  // 5 of 10
  EXPECT_EQ(breaker.state(), CircuitState::Open);
}

TEST(CircuitBreaker, TheRateWindowHoldsOnlyTheLastWindowSizeCalls) {
  ManualClock clock;
  CircuitBreaker breaker(
      kRateOnly, {.failure_rate_threshold = 0.5, .window_size = 10, .minimum_calls = 10}, clock);
  fail(breaker, clock, 4);
  succeed(breaker, 6);
  EXPECT_DOUBLE_EQ(breaker.snapshot().window_failure_rate, 0.4);
  succeed(breaker, 4);  // the four failures slide out
  EXPECT_DOUBLE_EQ(breaker.snapshot().window_failure_rate, 0.0);
  EXPECT_EQ(breaker.snapshot().window_calls, 10u);
  fail(breaker, clock, 4);
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
  fail(breaker, clock, 1);
  EXPECT_EQ(breaker.state(), CircuitState::Open);
}

TEST(CircuitBreaker, TheRateWindowStartsEmptyEachTimeTheBreakerCloses) {
  ManualClock clock;
  CircuitBreaker breaker(
      kRateOnly, {.failure_rate_threshold = 0.5, .window_size = 10, .minimum_calls = 4}, clock);
  fail(breaker, clock, 4);
  ASSERT_EQ(breaker.state(), CircuitState::Open);
  breaker.force_close();
  EXPECT_EQ(breaker.snapshot().window_calls, 0u);
  fail(breaker, clock, 3);
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
}

TEST(CircuitBreaker, MinimumCallsAboveWindowSizeActsAsWindowSize) {
  ManualClock clock;
  CircuitBreaker breaker(
      kRateOnly, {.failure_rate_threshold = 1.0, .window_size = 5, .minimum_calls = 50}, clock);
  fail(breaker, clock, 5);
  EXPECT_EQ(breaker.state(), CircuitState::Open);
}

TEST(CircuitBreaker, TheConsecutiveRuleStillAppliesWithTheRateRule) {
  ManualClock clock;
  CircuitBreaker breaker(
      kOptions, {.failure_rate_threshold = 0.9, .window_size = 100, .minimum_calls = 100}, clock);
  succeed(breaker, 50);
  fail(breaker, clock, 5);
  EXPECT_EQ(breaker.state(), CircuitState::Open);
}

TEST(CircuitBreaker, NeverOpensOnTheRateWhenTheRateRuleIsDisabled) {
  ManualClock clock;
  CircuitBreaker breaker(kOptions, {}, clock);
  for (int i = 0; i < 1000; ++i) {
    fail(breaker, clock, 4);
    succeed(breaker, 1);
  }
  EXPECT_EQ(breaker.state(), CircuitState::Closed);
  EXPECT_EQ(breaker.snapshot().window_calls, 0u);
}

// --- validation, reset -------------------------------------------------------------------------

TEST(CircuitBreaker, RejectsInvalidOptionsNamingTheFieldAndValue) {
  struct Case {
    CircuitBreakerOptions options;
    CircuitBreakerRateOptions rate;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{.failure_threshold = 0}, {}, "CircuitBreakerOptions.failure_threshold = 0: must be >= 1"},
      {{.recovery_timeout = 0ms},
       {},
       "CircuitBreakerOptions.recovery_timeout = 0ms: must be positive"},
      {{.recovery_timeout = -5ms},
       {},
       "CircuitBreakerOptions.recovery_timeout = -5ms: must be positive"},
      {{.half_open_max_calls = 0},
       {},
       "CircuitBreakerOptions.half_open_max_calls = 0: must be in [1, 1073741823]"},
      {{.failure_spacing = -1ms},
       {},
       "CircuitBreakerOptions.failure_spacing = -1ms: must not be negative"},
      {{.initial_recovery_timeout = 0ms},
       {},
       "CircuitBreakerOptions.initial_recovery_timeout = 0ms: must be positive"},
      {{},
       {.failure_rate_threshold = 1.5},
       "CircuitBreakerRateOptions.failure_rate_threshold = 1.5: must be in [0, 1]"},
      {{},
       {.failure_rate_threshold = -0.1},
       "CircuitBreakerRateOptions.failure_rate_threshold = -0.1: must be in [0, 1]"},
      {{}, {.window_size = 0}, "CircuitBreakerRateOptions.window_size = 0: must be >= 1"},
      {{}, {.minimum_calls = 0}, "CircuitBreakerRateOptions.minimum_calls = 0: must be >= 1"},
  };
  for (const auto& c : cases) {
    try {
      CircuitBreaker breaker(c.options, c.rate);
      ADD_FAILURE() << "no exception for: " << c.message;
    } catch (const std::invalid_argument& error) {
      EXPECT_EQ(std::string(error.what()), c.message);
    }
  }
  EXPECT_THROW(CircuitBreaker({}, {.failure_rate_threshold = std::nan("")}), std::invalid_argument);
}

TEST(CircuitBreaker, ResetReturnsToClosedWithEveryCounterAtZero) {
  ManualClock clock;
  TransitionLog log;
  CircuitBreaker breaker(kOptions,
                         {.failure_rate_threshold = 0.5, .window_size = 10, .minimum_calls = 10},
                         clock, log.listener());
  fail(breaker, clock, 5);
  const auto stale = breaker.try_acquire();
  (void)breaker.try_acquire();
  log.take();
  breaker.reset();
  EXPECT_TRUE(log.take().empty());
  const auto snapshot = breaker.snapshot();
  EXPECT_EQ(snapshot.state, CircuitState::Closed);
  EXPECT_EQ(snapshot.opened, 0u);
  EXPECT_EQ(snapshot.rejected, 0u);
  EXPECT_EQ(snapshot.window_calls, 0u);
  EXPECT_EQ(snapshot.consecutive_failures, 0);
  breaker.record_failure(stale);
  EXPECT_EQ(breaker.snapshot().consecutive_failures, 0);
}

// --- concurrency (run under TSan) --------------------------------------------------------------

// Threads acquire and report while time moves and the health check force-closes: every
// reported transition is a legal edge and the listener sees each counted transition once.
TEST(CircuitBreaker, StaysConsistentUnderConcurrentUse) {
  constexpr int kThreads = 4;
  constexpr int kCalls = 20'000;
  for (const bool with_rate : {false, true}) {
    ManualClock clock;
    TransitionLog log;
    CircuitBreakerRateOptions rate;
    if (with_rate)
      rate = {.failure_rate_threshold = 0.5, .window_size = 20, .minimum_calls = 10};
    // Every failure counts (no spacing): the threads' failure bursts overlap other threads'
    // successes, so with spacing the breaker would open only on lucky scheduling. The spacing
    // code runs all the same (under the mutex, beside lock-free successes).
    CircuitBreaker breaker({.failure_threshold = 3,
                            .recovery_timeout = 5ms,
                            .half_open_max_calls = 2,
                            .failure_spacing = 0ms},
                           rate, clock, log.listener());
    std::latch start(kThreads + 1);
    std::atomic<bool> done{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        for (int i = 0; i < kCalls; ++i) {
          const auto permit = breaker.try_acquire();
          if ((i / 50 + t) % 3 == 0) {  // bursts of 50 failures
            breaker.record_failure(permit);
          } else {
            breaker.record_success(permit);
          }
          // Time moves with the calls, so the test does not depend on thread scheduling.
          if (i % 64 == 0)
            clock.advance(1ms);
          if (t == 0 && i % 997 == 0)
            breaker.force_close();  // the health check
        }
      });
    }
    std::thread reader([&] {
      start.arrive_and_wait();
      while (!done.load()) {
        (void)breaker.snapshot();
        (void)breaker.state();
        std::this_thread::yield();
      }
    });
    for (auto& thread : threads)
      thread.join();
    done.store(true);
    reader.join();

    const auto transitions = log.take();
    const auto snapshot = breaker.snapshot();
    std::uint64_t opened = 0, half_opened = 0, closed = 0;
    for (const auto& [from, to] : transitions) {
      ASSERT_NE(from, to);
      if (to == CircuitState::Open)
        ++opened;
      if (to == CircuitState::HalfOpen) {
        ASSERT_EQ(from, CircuitState::Open);
        ++half_opened;
      }
      if (to == CircuitState::Closed)
        ++closed;
      if (from == CircuitState::Closed) {
        ASSERT_EQ(to, CircuitState::Open);
      }
    }
    EXPECT_EQ(snapshot.opened, opened);
    EXPECT_EQ(snapshot.half_opened, half_opened);
    EXPECT_EQ(snapshot.closed, closed);
    EXPECT_GT(opened, 0u);
    EXPECT_GT(half_opened, 0u);
    EXPECT_GT(closed, 0u);
  }
}

}  // namespace
}  // namespace airport::cache
