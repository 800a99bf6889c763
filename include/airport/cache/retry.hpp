// SPDX-License-Identifier: BSD-3-Clause
// Retries of failed cache operations: RetryPolicy decides whether and when to retry one
// operation (bounded attempts, full-jitter backoff, a deadline, the idempotency rule), and
// RetryBudget caps retries across all operations to a share of recent traffic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "airport/cache/clock.hpp"
#include "airport/cache/config.hpp"
#include "airport/cache/errors.hpp"

namespace airport::cache {

/// Decides whether a failed attempt is retried and how long to wait first: at most
/// `max_attempts` attempts in all, exponential backoff with full jitter ("Exponential Backoff
/// and Jitter", AWS Architecture Blog, 2015: delay = uniform(0, min(max_delay, base_delay * 2^n))),
/// and never past the operation's deadline. Immutable; safe for concurrent use (as long as an
/// injected `uniform01` is).
///
/// Usage, with a RetryBudget shared by all operations:
/// ```
///   budget.record_request();                        // once per operation, not per attempt
///   for (int attempts = 1;; ++attempts) {
///     try { return run(); }
///     catch (const Error& error) {
///       auto delay = policy.next_delay(attempts, error.category(), idempotent, not_sent,
///                                      clock.now(), deadline);
///       if (!delay || !budget.try_spend()) throw;   // or degrade to the fallback
///       sleep_for(*delay);
///     }
///   }
/// ```
class RetryPolicy {
 public:
  /// `uniform01` returns values in [0, 1) and picks the jitter; by default a thread-local
  /// Mersenne Twister. Throws std::invalid_argument naming the field and the value for
  /// max_attempts below 1, a negative base_delay, or base_delay above max_delay.
  explicit RetryPolicy(RetryOptions options = {}, std::function<double()> uniform01 = {});

  /// Whether an error of `category` may be retried at all:
  /// - Pool exhaustion: always (nothing was sent).
  /// - Connection errors: when the operation is idempotent (reads such as GET, EXISTS, TTL,
  ///   MGET; writes such as SET of a full value, DEL, EXPIRE, UNLINK), or `surely_not_sent`
  ///   (the error proves the command never left, e.g. the connect failed).
  /// - Timeouts: the same, and only when `retry_on_timeout`. A timed-out INCR may have been
  ///   applied, so it is only retried when it surely was not sent.
  /// - Reply, protocol, config and serialization errors: never; retrying cannot change them.
  [[nodiscard]] bool is_retryable(ErrorCategory category, bool idempotent,
                                  bool surely_not_sent) const noexcept;

  /// The jittered delay before retry number `retry_index` (0 for the first retry), in
  /// [0, min(max_delay, base_delay * 2^retry_index)].
  [[nodiscard]] std::chrono::milliseconds backoff(int retry_index) const;

  /// Attempts per operation, the first included.
  [[nodiscard]] int max_attempts() const noexcept { return options_.max_attempts; }

  /// The next step after `attempts_made` attempts (>= 1), the last of which failed with
  /// `category`: the delay to wait before the next attempt, or nullopt to give up because the
  /// attempts are used up, the error is not retryable, or the delay would end at or past
  /// `deadline` (then no time would be left for the attempt itself).
  [[nodiscard]] std::optional<std::chrono::milliseconds> next_delay(
      int attempts_made, ErrorCategory category, bool idempotent, bool surely_not_sent,
      Clock::time_point now, Clock::time_point deadline) const;

  /// The options it was made with.
  [[nodiscard]] const RetryOptions& options() const noexcept { return options_; }

 private:
  RetryOptions options_;
  std::function<double()> uniform01_;
};

/// The settings of a RetryBudget. The defaults are Linkerd's.
struct RetryBudgetOptions {
  /// Retries allowed as a share of the requests in the window, in [0, 1]. Default 0.2:
  /// retries add at most 20% load to a struggling server.
  double retry_ratio = 0.2;
  /// Retries allowed per second on top of the ratio, so that low traffic can still retry,
  /// >= 0. Over the window this is a reserve of min_retries_per_second * window. Default 10.
  int min_retries_per_second = 10;
  /// The sliding window requests and retries are counted over, >= 1 s, in whole seconds.
  /// Default 10 s.
  std::chrono::seconds window{10};

  friend bool operator==(const RetryBudgetOptions&, const RetryBudgetOptions&) = default;
};

/// Caps retries across every operation, after Linkerd's retry budgets (and Finagle's
/// RetryBudget, which the AWS SDKs' retry quotas resemble): within the sliding window,
/// retries <= retry_ratio * requests + min_retries_per_second * window. Without it, N attempts
/// per operation multiply the load on a server that is already failing by up to N.
/// Safe for concurrent use.
///
/// record_request() is lock-free, on the path of every operation: a clock read and one CAS on a
/// per-second bucket, which also resets the bucket lazily when its second comes round again.
/// try_spend() runs only when a retry is wanted; it scans the window and takes a mutex so that the
/// cap is exact.
class RetryBudget {
 public:
  /// The budget's counters right now, for stats.
  struct Snapshot {
    /// Operations recorded within the sliding window.
    std::uint64_t requests_in_window = 0;
    /// Retries granted within the sliding window.
    std::uint64_t retries_in_window = 0;
    /// Retries refused since construction.
    std::uint64_t exhausted_count = 0;
  };

  /// Throws std::invalid_argument naming the field and the value for a retry_ratio outside
  /// [0, 1], a negative min_retries_per_second, or a window shorter than 1 s.
  /// `clock` must outlive the budget.
  explicit RetryBudget(RetryBudgetOptions options = {}, const Clock& clock = steady_clock());

  RetryBudget(const RetryBudget&) = delete;
  RetryBudget& operator=(const RetryBudget&) = delete;

  /// Counts one operation (call it once per operation, not per attempt). The overload taking
  /// `now` saves the clock read when the caller has one.
  void record_request() noexcept { record_request(clock_->now()); }
  /// record_request() at `now`, a time read from the budget's clock.
  void record_request(Clock::time_point now) noexcept;

  /// Asks for one retry: true (and the retry is counted) while the window's retries are below
  /// floor(retry_ratio * requests) + min_retries_per_second * window; false (counted as
  /// exhausted) otherwise.
  [[nodiscard]] bool try_spend() noexcept { return try_spend(clock_->now()); }
  /// try_spend() at `now`, a time read from the budget's clock.
  [[nodiscard]] bool try_spend(Clock::time_point now) noexcept;

  /// The window's counts as of the clock's now, and the retries refused so far.
  [[nodiscard]] Snapshot snapshot() const noexcept;

  /// The options it was made with.
  [[nodiscard]] const RetryBudgetOptions& options() const noexcept { return options_; }

 private:
  // Each counter packs second << 32 | count: the second (truncated to 32 bits) it counts for,
  // so that a bucket is reset lazily, and exactly, by one CAS when its second comes round again.
  struct alignas(64) Bucket {
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> retries{0};
  };

  static void add(std::atomic<std::uint64_t>& counter, std::uint32_t second) noexcept;
  [[nodiscard]] std::uint64_t sum(std::atomic<std::uint64_t> Bucket::*counter,
                                  std::uint32_t now_second) const noexcept;
  [[nodiscard]] Bucket& bucket(std::uint32_t second) const noexcept {
    return buckets_[second & mask_];
  }

  const RetryBudgetOptions options_;
  const Clock* clock_;
  std::uint32_t window_seconds_;
  std::uint64_t reserve_;  // min_retries_per_second * window
  std::uint32_t mask_;     // bucket count (a power of two >= the window) - 1
  std::unique_ptr<Bucket[]> buckets_;
  std::mutex spend_mutex_;
  std::atomic<std::uint64_t> exhausted_{0};
};

}  // namespace airport::cache
