// SPDX-License-Identifier: BSD-3-Clause
// Clock: the time source of the resilience logic (breaker, retry budget, fallback expiry), so
// that tests move time by hand instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>

namespace airport::cache {

/// A monotonic time source. Implementations are safe for concurrent use.
class Clock {
 public:
  /// steady_clock's, so that a ManualClock's times mix with real ones in the same code.
  using time_point = std::chrono::steady_clock::time_point;
  /// steady_clock's duration (nanoseconds).
  using duration = std::chrono::steady_clock::duration;
  virtual ~Clock() = default;
  /// The current time; never goes backwards.
  [[nodiscard]] virtual time_point now() const noexcept = 0;
};

/// std::chrono::steady_clock.
class SteadyClock final : public Clock {
 public:
  [[nodiscard]] time_point now() const noexcept override {
    return std::chrono::steady_clock::now();
  }
};

/// The process-wide steady clock, the default of every class that takes a Clock.
[[nodiscard]] inline const Clock& steady_clock() noexcept {
  static const SteadyClock clock;
  return clock;
}

/// A clock that only moves when told to. For tests. Safe for concurrent use.
class ManualClock final : public Clock {
 public:
  [[nodiscard]] time_point now() const noexcept override {
    return time_point{duration{ticks_.load(std::memory_order_acquire)}};
  }
  /// Moves the clock forward by `by` for every thread reading it.
  void advance(duration by) noexcept { ticks_.fetch_add(by.count(), std::memory_order_acq_rel); }

 private:
  // Starts well after the epoch so that "now - something" never underflows in tests.
  std::atomic<duration::rep> ticks_{
      std::chrono::duration_cast<duration>(std::chrono::hours{1}).count()};
};

}  // namespace airport::cache
