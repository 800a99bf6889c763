// SPDX-License-Identifier: BSD-3-Clause
// RetryPolicy and RetryBudget.
#include "airport/cache/retry.hpp"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "airport/cache/backoff.hpp"

namespace airport::cache {
namespace {

[[noreturn]] void invalid(std::string_view field, const std::string& value, std::string_view rule) {
  throw std::invalid_argument(fmt::format("{} = {}: {}", field, value, rule));
}

const RetryOptions& validated(const RetryOptions& options) {
  if (options.max_attempts < 1) {
    invalid("RetryOptions.max_attempts", std::to_string(options.max_attempts), "must be >= 1");
  }
  if (options.base_delay < std::chrono::milliseconds::zero()) {
    invalid("RetryOptions.base_delay", std::to_string(options.base_delay.count()) + "ms",
            "must not be negative");
  }
  if (options.base_delay > options.max_delay) {
    invalid(
        "RetryOptions.base_delay", std::to_string(options.base_delay.count()) + "ms",
        fmt::format("must not be above RetryOptions.max_delay = {}ms", options.max_delay.count()));
  }
  return options;
}

// Longest window accepted: the budget keeps one bucket per second and try_spend() scans them.
constexpr std::chrono::seconds kMaxBudgetWindow{3600};

const RetryBudgetOptions& validated(const RetryBudgetOptions& options) {
  // Written so that NaN fails too.
  if (!(options.retry_ratio >= 0.0 && options.retry_ratio <= 1.0)) {
    invalid("RetryBudgetOptions.retry_ratio", fmt::format("{}", options.retry_ratio),
            "must be in [0, 1]");
  }
  if (options.min_retries_per_second < 0) {
    invalid("RetryBudgetOptions.min_retries_per_second",
            std::to_string(options.min_retries_per_second), "must be >= 0");
  }
  if (options.window < std::chrono::seconds{1} || options.window > kMaxBudgetWindow) {
    invalid("RetryBudgetOptions.window", std::to_string(options.window.count()) + "s",
            fmt::format("must be in [1s, {}s]", kMaxBudgetWindow.count()));
  }
  return options;
}

constexpr std::uint64_t pack(std::uint32_t second, std::uint32_t count) noexcept {
  return (std::uint64_t{second} << 32) | count;
}
constexpr std::uint32_t second_of(std::uint64_t word) noexcept {
  return static_cast<std::uint32_t>(word >> 32);
}
constexpr std::uint32_t count_of(std::uint64_t word) noexcept {
  return static_cast<std::uint32_t>(word);
}

// Seconds of the clock, truncated to 32 bits (136 years); differences are taken modulo 2^32.
std::uint32_t second_of(Clock::time_point now) noexcept {
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
}

// Whether `second` is `now` or older (rather than newer, seen by a thread that read the clock
// before a stall), modulo 2^32.
constexpr bool not_after(std::uint32_t second, std::uint32_t now) noexcept {
  return static_cast<std::uint32_t>(now - second) < (std::uint32_t{1} << 31);
}

}  // namespace

// --- RetryPolicy -------------------------------------------------------------------------------

RetryPolicy::RetryPolicy(RetryOptions options, std::function<double()> uniform01)
    : options_(validated(options)), uniform01_(std::move(uniform01)) {}

bool RetryPolicy::is_retryable(ErrorCategory category, bool idempotent,
                               bool surely_not_sent) const noexcept {
  switch (category) {
    case ErrorCategory::Pool:
      return true;  // the command never left: waiting for a connection is what failed
    case ErrorCategory::Connection:
      // The command may have reached the server before the connection broke: only repeat what
      // is harmless to apply twice.
      return idempotent || surely_not_sent;
    case ErrorCategory::Timeout:
      return options_.retry_on_timeout && (idempotent || surely_not_sent);
    case ErrorCategory::Reply:
    case ErrorCategory::Protocol:
    case ErrorCategory::Config:
    case ErrorCategory::Serialization:
      return false;  // the same request gets the same answer
  }
  return false;
}

std::chrono::milliseconds RetryPolicy::backoff(int retry_index) const {
  const int attempt = std::max(retry_index, 0);
  // Full jitter ("Exponential Backoff and Jitter", AWS Architecture Blog): spreading retries
  // over the whole [0, ceiling] range decorrelates clients that failed together.
  if (uniform01_)
    return full_jitter(attempt, options_.base_delay, options_.max_delay, uniform01_());
  return full_jitter(attempt, options_.base_delay, options_.max_delay);
}

std::optional<std::chrono::milliseconds> RetryPolicy::next_delay(
    int attempts_made, ErrorCategory category, bool idempotent, bool surely_not_sent,
    Clock::time_point now, Clock::time_point deadline) const {
  if (attempts_made >= options_.max_attempts)
    return std::nullopt;
  if (!is_retryable(category, idempotent, surely_not_sent))
    return std::nullopt;
  const auto delay = backoff(attempts_made - 1);
  // A retry that could only start at or after the deadline would fail anyway, after adding load.
  if (now + delay >= deadline)
    return std::nullopt;
  return delay;
}

// --- RetryBudget -------------------------------------------------------------------------------

RetryBudget::RetryBudget(RetryBudgetOptions options, const Clock& clock)
    : options_(validated(options)),
      clock_(&clock),
      window_seconds_(static_cast<std::uint32_t>(options_.window.count())),
      reserve_(static_cast<std::uint64_t>(options_.min_retries_per_second) * window_seconds_),
      mask_(std::bit_ceil(window_seconds_) - 1),
      buckets_(std::make_unique<Bucket[]>(std::size_t{mask_} + 1)) {}

// Counts one event for `second` in `counter` with one CAS: +1 when the counter is already on
// `second`, a restart at 1 when it still holds an older second (the lazy reset), and nothing when
// it already holds a newer one (the caller's time is a whole bucket cycle old: the event has
// rolled off). A CAS rather than a blind fetch_add, so that no add ever lands in a second it
// does not belong to, and every event is counted exactly once.
void RetryBudget::add(std::atomic<std::uint64_t>& counter, std::uint32_t second) noexcept {
  auto word = counter.load(std::memory_order_relaxed);
  for (;;) {
    std::uint64_t next = 0;
    if (second_of(word) == second) {
      next = word + 1;
    } else if (not_after(second_of(word), second)) {
      next = pack(second, 1);
    } else {
      return;
    }
    if (counter.compare_exchange_weak(word, next, std::memory_order_relaxed))
      return;
  }
}

std::uint64_t RetryBudget::sum(std::atomic<std::uint64_t> Bucket::*counter,
                               std::uint32_t now_second) const noexcept {
  std::uint64_t total = 0;
  for (std::uint32_t age = 0; age < window_seconds_; ++age) {
    const auto second = now_second - age;
    const auto word = (bucket(second).*counter).load(std::memory_order_relaxed);
    if (second_of(word) == second)
      total += count_of(word);
  }
  return total;
}

void RetryBudget::record_request(Clock::time_point now) noexcept {
  const auto second = second_of(now);
  add(bucket(second).requests, second);
}

bool RetryBudget::try_spend(Clock::time_point now) noexcept {
  const auto second = second_of(now);
  // The mutex makes check-and-count atomic among spenders, so concurrent retries cannot
  // overshoot the cap; requests keep being recorded lock-free meanwhile.
  const std::lock_guard lock(spend_mutex_);
  const auto requests = sum(&Bucket::requests, second);
  const auto retries = sum(&Bucket::retries, second);
  // The nudge keeps 0.29 * 100 (28.999999999999996 in binary) from flooring to 28.
  const double share = options_.retry_ratio * static_cast<double>(requests);
  const auto allowed = reserve_ + static_cast<std::uint64_t>(share * (1 + 1e-12) + 1e-9);
  if (retries >= allowed) {
    exhausted_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  add(bucket(second).retries, second);
  return true;
}

RetryBudget::Snapshot RetryBudget::snapshot() const noexcept {
  const auto second = second_of(clock_->now());
  Snapshot snapshot;
  snapshot.requests_in_window = sum(&Bucket::requests, second);
  snapshot.retries_in_window = sum(&Bucket::retries, second);
  snapshot.exhausted_count = exhausted_.load(std::memory_order_relaxed);
  return snapshot;
}

}  // namespace airport::cache
