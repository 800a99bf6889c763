// SPDX-License-Identifier: BSD-3-Clause
// CircuitBreaker: the closed fast path is one atomic load (inline in the header); everything
// here runs on failures, in half-open, or on transitions.
#include "airport/cache/circuit_breaker.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace airport::cache {
namespace {

constexpr std::uint64_t pack_failures(std::uint32_t generation, std::uint32_t count) noexcept {
  return (std::uint64_t{generation} << 32) | count;
}
constexpr std::uint32_t failures_generation(std::uint64_t word) noexcept {
  return static_cast<std::uint32_t>(word >> 32);
}
constexpr std::uint32_t failures_count(std::uint64_t word) noexcept {
  return static_cast<std::uint32_t>(word);
}

[[noreturn]] void invalid(std::string_view field, const std::string& value, std::string_view rule) {
  throw std::invalid_argument(fmt::format("{} = {}: {}", field, value, rule));
}

const CircuitBreakerOptions& validated(const CircuitBreakerOptions& options) {
  if (options.failure_threshold < 1) {
    invalid("CircuitBreakerOptions.failure_threshold", std::to_string(options.failure_threshold),
            "must be >= 1");
  }
  if (options.recovery_timeout <= std::chrono::milliseconds::zero()) {
    invalid("CircuitBreakerOptions.recovery_timeout",
            std::to_string(options.recovery_timeout.count()) + "ms", "must be positive");
  }
  if (options.initial_recovery_timeout <= std::chrono::milliseconds::zero()) {
    invalid("CircuitBreakerOptions.initial_recovery_timeout",
            std::to_string(options.initial_recovery_timeout.count()) + "ms", "must be positive");
  }
  if (options.failure_spacing < std::chrono::milliseconds::zero()) {
    invalid("CircuitBreakerOptions.failure_spacing",
            std::to_string(options.failure_spacing.count()) + "ms", "must not be negative");
  }
  // The probe count shares an atomic word with the state and the generation: 30 bits.
  constexpr int max_probes = (1 << 30) - 1;
  if (options.half_open_max_calls < 1 || options.half_open_max_calls > max_probes) {
    invalid("CircuitBreakerOptions.half_open_max_calls",
            std::to_string(options.half_open_max_calls),
            fmt::format("must be in [1, {}]", max_probes));
  }
  return options;
}

const CircuitBreakerRateOptions& validated(const CircuitBreakerRateOptions& rate) {
  // Written so that NaN fails too.
  if (!(rate.failure_rate_threshold >= 0.0 && rate.failure_rate_threshold <= 1.0)) {
    invalid("CircuitBreakerRateOptions.failure_rate_threshold",
            fmt::format("{}", rate.failure_rate_threshold), "must be in [0, 1]");
  }
  if (rate.window_size < 1) {
    invalid("CircuitBreakerRateOptions.window_size", std::to_string(rate.window_size),
            "must be >= 1");
  }
  if (rate.minimum_calls < 1) {
    invalid("CircuitBreakerRateOptions.minimum_calls", std::to_string(rate.minimum_calls),
            "must be >= 1");
  }
  return rate;
}

}  // namespace

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options, CircuitBreakerRateOptions rate,
                               const Clock& clock, Listener listener)
    : options_(validated(options)), rate_(validated(rate)), clock_(&clock) {
  if (rate_enabled())
    window_.assign(rate_.window_size, 0);
  if (listener)
    listener_ = std::make_shared<const Listener>(std::move(listener));
}

CircuitBreaker::Permit CircuitBreaker::try_acquire_slow(std::uint64_t word) noexcept {
  const auto max_probes = static_cast<std::uint32_t>(options_.half_open_max_calls);
  for (;;) {
    const auto generation = generation_of(word);
    switch (state_of(word)) {
      case CircuitState::Closed:
        return Permit{Permit::Kind::Allowed, generation};
      case CircuitState::Open: {
        // The acquire load of state_ made the open_until_ stored before it visible; a later
        // re-open can only have moved it further out, which rejects (safe) or fails the CAS.
        const auto until = open_until_.load(std::memory_order_relaxed);
        if (clock_->now().time_since_epoch().count() < until) {
          rejected_.fetch_add(1, std::memory_order_relaxed);
          return Permit{};
        }
        // Whoever wins this CAS makes the move and holds the period's first probe permit.
        if (state_.compare_exchange_weak(word, pack(generation + 1, 1, CircuitState::HalfOpen),
                                         std::memory_order_acq_rel, std::memory_order_acquire)) {
          half_opened_.fetch_add(1, std::memory_order_relaxed);
          notify(CircuitState::Open, CircuitState::HalfOpen);
          return Permit{Permit::Kind::Probe, generation + 1};
        }
        break;  // `word` was reloaded by the failed CAS
      }
      case CircuitState::HalfOpen: {
        // The count lives in the same word as the generation, so a grant can never land in a
        // later half-open period: at most half_open_max_calls permits per period, in total.
        if (issued_of(word) >= max_probes) {
          rejected_.fetch_add(1, std::memory_order_relaxed);
          return Permit{};
        }
        if (state_.compare_exchange_weak(word, word + (std::uint64_t{1} << kIssuedShift),
                                         std::memory_order_acq_rel, std::memory_order_acquire)) {
          return Permit{Permit::Kind::Probe, generation};
        }
        break;
      }
    }
  }
}

// Requires mutex_. Moves to `to` as the next generation, as long as `still_valid(word)` holds for
// the current word. Only try_acquire() changes the word without the mutex (open -> half-open, and
// probe grants), so the loop re-checks after each lost CAS. Sets `from` and counts the move.
template <class StillValid>
bool CircuitBreaker::move_locked(CircuitState to, StillValid still_valid,
                                 CircuitState& from) noexcept {
  auto word = state_.load(std::memory_order_acquire);
  while (still_valid(word)) {
    const auto next = generation_of(word) + 1;
    // Published by the release CAS below, before any permit of the new generation exists.
    if (to == CircuitState::Open) {
      open_until_.store((clock_->now() + open_period_locked()).time_since_epoch().count(),
                        std::memory_order_relaxed);
    } else if (to == CircuitState::Closed) {
      failures_.store(pack_failures(next, 0), std::memory_order_relaxed);
      clear_window_locked();
    }
    if (state_.compare_exchange_weak(word, pack(next, 0, to), std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      from = state_of(word);
      if (to == CircuitState::Open) {
        // Saturates long before the shift could overflow: 2^20 initial periods exceed any cap.
        open_streak_ = std::min(open_streak_ + 1, 20u);
      } else if (to == CircuitState::Closed) {
        open_streak_ = 0;
      }
      auto& counter = to == CircuitState::Open     ? opened_
                      : to == CircuitState::Closed ? closed_
                                                   : half_opened_;
      counter.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

void CircuitBreaker::record_success(Permit permit) noexcept {
  switch (permit.kind_) {
    case Permit::Kind::Rejected:
      return;
    case Permit::Kind::Allowed: {
      if (rate_enabled()) {
        CircuitState from{};
        bool moved = false;
        {
          const std::lock_guard lock(mutex_);
          record_allowed_locked(permit, false, from, moved);
        }
        if (moved)
          notify(from, CircuitState::Open);
        return;
      }
      // Lock-free: only write when there is something to reset, so a healthy server costs a
      // load here, not a cache-line transfer.
      auto word = failures_.load(std::memory_order_relaxed);
      while (failures_generation(word) == permit.generation_ && failures_count(word) != 0) {
        if (failures_.compare_exchange_weak(word, pack_failures(permit.generation_, 0),
                                            std::memory_order_relaxed)) {
          break;
        }
      }
      return;
    }
    case Permit::Kind::Probe: {
      CircuitState from{};
      bool moved = false;
      {
        const std::lock_guard lock(mutex_);
        const auto word = state_.load(std::memory_order_acquire);
        if (state_of(word) != CircuitState::HalfOpen || generation_of(word) != permit.generation_) {
          return;  // a late probe of an earlier period
        }
        if (probe_generation_ != permit.generation_) {
          probe_generation_ = permit.generation_;
          probe_successes_ = 0;
        }
        if (++probe_successes_ >= options_.half_open_max_calls) {
          moved = move_locked(
              CircuitState::Closed,
              [&](std::uint64_t w) {
                return state_of(w) == CircuitState::HalfOpen &&
                       generation_of(w) == permit.generation_;
              },
              from);
        }
      }
      if (moved)
        notify(from, CircuitState::Closed);
      return;
    }
  }
}

void CircuitBreaker::record_failure(Permit permit) noexcept {
  switch (permit.kind_) {
    case Permit::Kind::Rejected:
      return;
    case Permit::Kind::Allowed: {
      CircuitState from{};
      bool moved = false;
      if (rate_enabled()) {
        const std::lock_guard lock(mutex_);
        record_allowed_locked(permit, true, from, moved);
      } else {
        // Under the mutex, so that the count and the time of the last counted failure move
        // together; a success still resets the count lock-free, hence the CAS.
        const std::lock_guard lock(mutex_);
        const auto now = clock_->now();
        auto word = failures_.load(std::memory_order_relaxed);
        std::uint32_t count = 0;
        do {
          if (failures_generation(word) != permit.generation_)
            return;  // stale
          if (!counts_locked(failures_count(word), now))
            return;  // the same evidence as the last counted failure
          count = failures_count(word) + 1;
        } while (!failures_.compare_exchange_weak(word, pack_failures(permit.generation_, count),
                                                  std::memory_order_relaxed));
        last_counted_failure_ = now;
        if (count < static_cast<std::uint32_t>(options_.failure_threshold))
          return;
        moved = move_locked(
            CircuitState::Open,
            [&](std::uint64_t w) {
              return state_of(w) == CircuitState::Closed && generation_of(w) == permit.generation_;
            },
            from);
      }
      if (moved)
        notify(from, CircuitState::Open);
      return;
    }
    case Permit::Kind::Probe: {
      CircuitState from{};
      bool moved = false;
      {
        const std::lock_guard lock(mutex_);
        moved = move_locked(
            CircuitState::Open,
            [&](std::uint64_t w) {
              return state_of(w) == CircuitState::HalfOpen &&
                     generation_of(w) == permit.generation_;
            },
            from);
      }
      if (moved)
        notify(from, CircuitState::Open);
      return;
    }
  }
}

// Requires mutex_, and the rate rule enabled: every closed-period result goes through here, so
// the consecutive count, the window and the decision to open see the same order of results.
void CircuitBreaker::record_allowed_locked(Permit permit, bool failure, CircuitState& from,
                                           bool& moved) noexcept {
  const auto word = state_.load(std::memory_order_acquire);
  if (state_of(word) != CircuitState::Closed || generation_of(word) != permit.generation_)
    return;
  const auto previous = failures_.load(std::memory_order_relaxed);
  std::uint32_t count = 0;
  if (failure) {
    count = failures_count(previous);
    if (const auto now = clock_->now(); counts_locked(count, now)) {
      ++count;
      last_counted_failure_ = now;
    }
  }
  failures_.store(pack_failures(permit.generation_, count), std::memory_order_relaxed);
  record_window_locked(failure);
  if (count >= static_cast<std::uint32_t>(options_.failure_threshold) || rate_exceeded_locked()) {
    moved = move_locked(
        CircuitState::Open,
        [&](std::uint64_t w) {
          return state_of(w) == CircuitState::Closed && generation_of(w) == permit.generation_;
        },
        from);
  }
}

void CircuitBreaker::record_unanswered(Permit permit) noexcept {
  if (permit.kind_ != Permit::Kind::Probe)
    return;
  auto word = state_.load(std::memory_order_acquire);
  // Only a grant of this very half-open period can be handed back; a later period has its own.
  while (state_of(word) == CircuitState::HalfOpen && generation_of(word) == permit.generation_ &&
         issued_of(word) > 0) {
    if (state_.compare_exchange_weak(word, word - (std::uint64_t{1} << kIssuedShift),
                                     std::memory_order_acq_rel, std::memory_order_acquire)) {
      return;
    }
  }
}

void CircuitBreaker::expire_open_period() noexcept {
  const std::lock_guard lock(mutex_);
  if (state_of(state_.load(std::memory_order_acquire)) == CircuitState::Open)
    open_until_.store(std::numeric_limits<Clock::duration::rep>::min(), std::memory_order_relaxed);
}

void CircuitBreaker::force_close() noexcept {
  CircuitState from{};
  bool moved = false;
  {
    const std::lock_guard lock(mutex_);
    moved = move_locked(
        CircuitState::Closed, [](std::uint64_t w) { return state_of(w) != CircuitState::Closed; },
        from);
  }
  if (moved)
    notify(from, CircuitState::Closed);
}

CircuitState CircuitBreaker::state() const noexcept {
  return state_of(state_.load(std::memory_order_acquire));
}

CircuitBreaker::Snapshot CircuitBreaker::snapshot() const {
  const std::lock_guard lock(mutex_);
  const auto word = state_.load(std::memory_order_acquire);
  Snapshot snapshot;
  snapshot.state = state_of(word);
  const auto failures = failures_.load(std::memory_order_relaxed);
  if (snapshot.state == CircuitState::Closed &&
      failures_generation(failures) == generation_of(word)) {
    snapshot.consecutive_failures = static_cast<int>(failures_count(failures));
  }
  snapshot.opened = opened_.load(std::memory_order_relaxed);
  snapshot.half_opened = half_opened_.load(std::memory_order_relaxed);
  snapshot.closed = closed_.load(std::memory_order_relaxed);
  snapshot.rejected = rejected_.load(std::memory_order_relaxed);
  snapshot.window_calls = window_calls_;
  if (window_calls_ > 0) {
    snapshot.window_failure_rate =
        static_cast<double>(window_failures_) / static_cast<double>(window_calls_);
  }
  if (snapshot.state == CircuitState::Open) {
    // Compared before subtracting: expire_open_period() marks the period over with the
    // duration's minimum, from which `now` cannot be subtracted.
    const auto until = open_until_.load(std::memory_order_relaxed);
    const auto now = clock_->now().time_since_epoch().count();
    if (until > now) {
      snapshot.open_for_remaining =
          std::chrono::ceil<std::chrono::milliseconds>(Clock::duration{until - now});
    }
  }
  return snapshot;
}

void CircuitBreaker::set_listener(Listener listener) {
  auto replacement = listener ? std::make_shared<const Listener>(std::move(listener)) : nullptr;
  const std::lock_guard lock(listener_mutex_);
  listener_ = std::move(replacement);
}

void CircuitBreaker::reset() noexcept {
  const std::lock_guard lock(mutex_);
  auto word = state_.load(std::memory_order_acquire);
  for (;;) {
    const auto next = generation_of(word) + 1;
    failures_.store(pack_failures(next, 0), std::memory_order_relaxed);
    if (state_.compare_exchange_weak(word, pack(next, 0, CircuitState::Closed),
                                     std::memory_order_acq_rel, std::memory_order_acquire)) {
      break;
    }
  }
  clear_window_locked();
  probe_successes_ = 0;
  open_streak_ = 0;
  opened_.store(0, std::memory_order_relaxed);
  half_opened_.store(0, std::memory_order_relaxed);
  closed_.store(0, std::memory_order_relaxed);
  rejected_.store(0, std::memory_order_relaxed);
}

void CircuitBreaker::notify(CircuitState from, CircuitState to) const noexcept {
  std::shared_ptr<const Listener> listener;
  {
    const std::lock_guard lock(listener_mutex_);
    listener = listener_;
  }
  if (!listener)
    return;
  try {
    (*listener)(from, to);
  } catch (...) {
    // A listener only logs or counts; its failure must not break the caller's cache operation.
  }
}

void CircuitBreaker::record_window_locked(bool failure) noexcept {
  if (window_calls_ == window_.size()) {
    window_failures_ -= window_[window_next_];
  } else {
    ++window_calls_;
  }
  window_[window_next_] = failure ? 1 : 0;
  window_failures_ += window_[window_next_];
  window_next_ = (window_next_ + 1) % window_.size();
}

void CircuitBreaker::clear_window_locked() noexcept {
  std::fill(window_.begin(), window_.end(), std::uint8_t{0});
  window_next_ = 0;
  window_calls_ = 0;
  window_failures_ = 0;
}

// Requires mutex_. Whether a failure at `now` counts toward failure_threshold, with `count`
// failures counted so far in this closed period: the first always does, a later one only
// failure_spacing after the last one that did.
bool CircuitBreaker::counts_locked(std::uint32_t count, Clock::time_point now) const noexcept {
  return count == 0 || now - last_counted_failure_ >= options_.failure_spacing;
}

// Requires mutex_. How long the next open period lasts: initial_recovery_timeout doubled once
// per open period since the breaker last closed, capped at recovery_timeout.
Clock::duration CircuitBreaker::open_period_locked() const noexcept {
  const auto cap = Clock::duration{options_.recovery_timeout};
  const auto initial = std::min(Clock::duration{options_.initial_recovery_timeout}, cap);
  auto period = initial;
  for (unsigned i = 0; i < open_streak_ && period < cap; ++i)
    period *= 2;
  return std::min(period, cap);
}

bool CircuitBreaker::rate_exceeded_locked() const noexcept {
  if (window_calls_ < std::min(rate_.minimum_calls, rate_.window_size))
    return false;
  // A division, not failures >= threshold * calls: the correctly rounded quotient equals the
  // threshold literal exactly when the true ratio does (10 / 20 against 0.5).
  return static_cast<double>(window_failures_) / static_cast<double>(window_calls_) >=
         rate_.failure_rate_threshold;
}

}  // namespace airport::cache
