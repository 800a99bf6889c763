// SPDX-License-Identifier: BSD-3-Clause
// CircuitBreaker: stops calls to a server that keeps failing, lets a bounded number of probes
// through after an open period that grows with the outage, and closes again when they succeed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "airport/cache/clock.hpp"
#include "airport/cache/config.hpp"

namespace airport::cache {

// clang-format off
/// closed: calls go out; open: no call touches the network; half-open: a bounded number of probes.
enum class CircuitState { Closed, Open, HalfOpen };

/// "closed", "open" or "half_open".
[[nodiscard]] constexpr std::string_view to_string(CircuitState state) noexcept {
  switch (state) {
    case CircuitState::Closed: return "closed";
    case CircuitState::Open: return "open";
    case CircuitState::HalfOpen: return "half_open";
  }
  return "unknown";
}
// clang-format on

/// The breaker's optional second rule, after resilience4j's count-based sliding window: it also
/// opens when the failure rate of the last `window_size` calls made while closed reaches
/// `failure_rate_threshold`, once the window holds at least `minimum_calls` calls. The window
/// starts empty each time the breaker closes.
struct CircuitBreakerRateOptions {
  /// Failure rate in [0, 1] that opens the breaker (reaching it is enough), e.g. 0.5.
  /// 0 disables the rule, and with it the rule's mutex on every result. Default 0 (disabled).
  double failure_rate_threshold = 0.0;
  /// How many of the most recent calls the rate is computed over, >= 1. Default 100.
  std::size_t window_size = 100;
  /// Calls the window must hold before the rate counts, >= 1; a value above `window_size`
  /// acts as `window_size` (as in resilience4j). Default 20.
  std::size_t minimum_calls = 20;

  friend bool operator==(const CircuitBreakerRateOptions&,
                         const CircuitBreakerRateOptions&) = default;
};

/// A circuit breaker over availability failures that reached the server (connection, timeout,
/// a refused handshake).
/// Safe for concurrent use.
///
/// Closed: every call is allowed; `failure_threshold` consecutive failures, each at least
/// `failure_spacing` after the last one counted (or the optional failure rate), open it: a burst
/// of failures within a few milliseconds is one piece of evidence, so opening takes failures
/// spread over time. Open: every call is rejected, with no network call, for the open period:
/// `initial_recovery_timeout` the first time, doubled on each failed probe up to
/// `recovery_timeout`. Then the first try_acquire() moves it to half-open, where exactly
/// `half_open_max_calls` probe permits are handed out in total and everything else is rejected.
/// When all of them have succeeded it closes, and the next open period starts from
/// `initial_recovery_timeout` again; any probe failure re-opens it for a doubled period.
/// force_close() closes it from anywhere (the health check's PING came back).
///
/// Usage: every granted permit is passed back exactly once, to record_success() or
/// record_failure():
/// ```
///   auto permit = breaker.try_acquire();
///   if (!permit) return fallback();               // no network call while open
///   try { auto value = call(); breaker.record_success(permit); return value; }
///   catch (const ReplyError&) { breaker.record_success(permit); throw; }   // server is up
///   catch (const Error&) { breaker.record_failure(permit); return fallback(); }
/// ```
/// A permit remembers the period (generation) it was issued in, and a result recorded after the
/// breaker has moved on is ignored: an old call finishing late can neither close an open breaker
/// nor count toward a later period. A probe permit that is never passed back keeps its slot, so
/// the breaker stays half-open until force_close() (the health check) or another probe fails.
class CircuitBreaker {
 public:
  /// What try_acquire() granted. Cheap to copy; a default-constructed Permit is Rejected.
  class Permit {
   public:
    /// What the caller may do.
    enum class Kind : std::uint8_t {
      Rejected,  ///< Do not call the server; use the fallback.
      Allowed,   ///< A normal call while closed.
      Probe,     ///< One of the half-open probe calls.
    };
    constexpr Permit() noexcept = default;
    /// What was granted.
    [[nodiscard]] constexpr Kind kind() const noexcept { return kind_; }
    /// Whether the call may go out (Allowed or Probe).
    [[nodiscard]] constexpr bool granted() const noexcept { return kind_ != Kind::Rejected; }
    /// Whether the call is a half-open probe, whose outcome decides between closed and open.
    [[nodiscard]] constexpr bool is_probe() const noexcept { return kind_ == Kind::Probe; }
    /// granted().
    constexpr explicit operator bool() const noexcept { return granted(); }

   private:
    friend class CircuitBreaker;
    constexpr Permit(Kind kind, std::uint32_t generation) noexcept
        : kind_(kind), generation_(generation) {}
    Kind kind_ = Kind::Rejected;
    std::uint32_t generation_ = 0;
  };

  /// Called once per transition, after it happened, on the thread that caused it and outside
  /// every internal lock (so it may call back into the breaker). Two transitions racing on
  /// different threads may be reported in either order. Exceptions it throws are swallowed.
  using Listener = std::function<void(CircuitState from, CircuitState to)>;

  /// What the breaker looks like right now, for stats and health endpoints.
  struct Snapshot {
    /// The state at the time of the snapshot (an expired open period still reads Open).
    CircuitState state = CircuitState::Closed;
    /// Consecutive failures counted in the current closed period (those at least
    /// failure_spacing apart); 0 unless closed.
    int consecutive_failures = 0;
    /// Transitions so far, per target state (force_close() counts as one to closed).
    std::uint64_t opened = 0;
    /// Transitions to half-open.
    std::uint64_t half_opened = 0;
    /// Transitions to closed, force_close() included.
    std::uint64_t closed = 0;
    /// Calls rejected (open, or half-open with every probe permit handed out).
    std::uint64_t rejected = 0;
    /// Failure rate of the rate window (that of the last closed period while open or
    /// half-open); 0 when the window is empty or the rate rule is disabled.
    double window_failure_rate = 0.0;
    /// Calls in the rate window; 0 when the rate rule is disabled.
    std::size_t window_calls = 0;
    /// Time left before the next try_acquire() moves an open breaker to half-open; 0 unless open.
    std::chrono::milliseconds open_for_remaining{0};
  };

  /// Throws std::invalid_argument naming the field and the value for a failure_threshold or
  /// half_open_max_calls below 1, a recovery_timeout or initial_recovery_timeout that is not
  /// positive, a negative failure_spacing, a failure_rate_threshold outside [0, 1], or a
  /// window_size or minimum_calls below 1.
  /// `clock` must outlive the breaker.
  explicit CircuitBreaker(CircuitBreakerOptions options = {}, CircuitBreakerRateOptions rate = {},
                          const Clock& clock = steady_clock(), Listener listener = {});

  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  /// Asks to make a call. Closed: one atomic load. Open: an atomic load and a clock read, plus
  /// the move to half-open once `recovery_timeout` has passed (then this call is the first
  /// probe). Half-open: a compare-and-swap per granted probe.
  [[nodiscard]] Permit try_acquire() noexcept;

  /// The call succeeded, or the server answered with an error reply (it is up). Resets the
  /// consecutive failure count; the last of `half_open_max_calls` probe successes closes the
  /// breaker. No-op for a Rejected or stale permit.
  void record_success(Permit permit) noexcept;

  /// The call reached the server and failed for availability: connection or timeout. May open
  /// the breaker (threshold, rate, or any probe failure, which also doubles the open period).
  /// Takes the breaker's mutex while closed: failures are the slow path. No-op for a Rejected
  /// or stale permit.
  void record_failure(Permit permit) noexcept;

  /// The call never reached the server for a reason of our own making (an empty pool, a
  /// reconnect backoff): neither a success nor a failure. A probe hands its slot back so the
  /// half-open period is not left waiting for a verdict that never comes; otherwise a no-op.
  void record_unanswered(Permit permit) noexcept;

  /// Ends an open period now: the next try_acquire() moves to half-open and its probes decide,
  /// with the usual half_open_max_calls limit (a failed one still doubles the next open
  /// period). For a health check that sees the server answer again; unlike force_close() it
  /// cannot let a flood of calls at a server that still fails. No-op unless open.
  void expire_open_period() noexcept;

  /// Closes the breaker now from open or half-open, e.g. when the background PING succeeds
  /// again. Counted and reported as a transition; no-op when already closed.
  void force_close() noexcept;

  /// The current state, without moving an expired open breaker to half-open.
  [[nodiscard]] CircuitState state() const noexcept;

  /// State and counters, read together under the breaker's lock.
  [[nodiscard]] Snapshot snapshot() const;

  /// Replaces the listener (an empty function removes it). Transitions already under way may
  /// still report to the old one.
  void set_listener(Listener listener);

  /// Back to closed with every counter at zero and an empty rate window, without calling the
  /// listener. For tests and demos; permits issued before are stale afterwards.
  void reset() noexcept;

  /// The options it was made with.
  [[nodiscard]] const CircuitBreakerOptions& options() const noexcept { return options_; }
  /// The failure-rate options it was made with.
  [[nodiscard]] const CircuitBreakerRateOptions& rate_options() const noexcept { return rate_; }

 private:
  // state_ packs, so that one atomic load or CAS sees them together:
  //   bits 0-1   CircuitState
  //   bits 2-31  probe permits handed out in this half-open period
  //   bits 32-63 generation, +1 on every transition (what makes a permit stale)
  static constexpr std::uint64_t kStateMask = 0x3;
  static constexpr unsigned kIssuedShift = 2;
  static constexpr std::uint64_t kIssuedMask = (std::uint64_t{1} << 30) - 1;
  static constexpr unsigned kGenerationShift = 32;

  [[nodiscard]] static constexpr CircuitState state_of(std::uint64_t word) noexcept {
    return static_cast<CircuitState>(word & kStateMask);
  }
  [[nodiscard]] static constexpr std::uint32_t generation_of(std::uint64_t word) noexcept {
    return static_cast<std::uint32_t>(word >> kGenerationShift);
  }
  [[nodiscard]] static constexpr std::uint32_t issued_of(std::uint64_t word) noexcept {
    return static_cast<std::uint32_t>((word >> kIssuedShift) & kIssuedMask);
  }
  [[nodiscard]] static constexpr std::uint64_t pack(std::uint32_t generation, std::uint32_t issued,
                                                    CircuitState state) noexcept {
    return (std::uint64_t{generation} << kGenerationShift) |
           ((std::uint64_t{issued} & kIssuedMask) << kIssuedShift) |
           static_cast<std::uint64_t>(state);
  }

  [[nodiscard]] Permit try_acquire_slow(std::uint64_t word) noexcept;
  void record_allowed_locked(Permit permit, bool failure, CircuitState& from, bool& moved) noexcept;
  template <class StillValid>
  bool move_locked(CircuitState to, StillValid still_valid, CircuitState& from) noexcept;
  [[nodiscard]] bool counts_locked(std::uint32_t count, Clock::time_point now) const noexcept;
  [[nodiscard]] Clock::duration open_period_locked() const noexcept;
  void notify(CircuitState from, CircuitState to) const noexcept;
  void record_window_locked(bool failure) noexcept;
  void clear_window_locked() noexcept;
  [[nodiscard]] bool rate_exceeded_locked() const noexcept;
  [[nodiscard]] bool rate_enabled() const noexcept { return rate_.failure_rate_threshold > 0.0; }

  const CircuitBreakerOptions options_;
  const CircuitBreakerRateOptions rate_;
  const Clock* clock_;

  // Read by every try_acquire(); written only on transitions and half-open probe grants.
  alignas(64) std::atomic<std::uint64_t> state_{pack(0, 0, CircuitState::Closed)};
  // When an open breaker may go half-open, as Clock::duration ticks since the clock's epoch.
  std::atomic<Clock::duration::rep> open_until_{0};
  // Consecutive failures while closed: generation << 32 | count, so a stale failure can never
  // count toward a later closed period.
  alignas(64) std::atomic<std::uint64_t> failures_{0};
  // Bumped by rejected calls, kept off the lines the fast path reads.
  alignas(64) std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> opened_{0};
  std::atomic<std::uint64_t> half_opened_{0};
  std::atomic<std::uint64_t> closed_{0};

  // Guards transitions other than open -> half-open, probe results, and the rate window.
  mutable std::mutex mutex_;
  std::uint32_t probe_generation_ = 0;  // the half-open period probe_successes_ belongs to
  int probe_successes_ = 0;
  // When the last failure that counted toward failure_threshold happened (see failure_spacing).
  Clock::time_point last_counted_failure_{};
  // Open periods since the breaker last closed: the next one lasts
  // initial_recovery_timeout * 2^open_streak_, capped at recovery_timeout.
  unsigned open_streak_ = 0;
  std::vector<std::uint8_t> window_;  // 1 = failure; a ring of window_size calls
  std::size_t window_next_ = 0;
  std::size_t window_calls_ = 0;
  std::size_t window_failures_ = 0;

  mutable std::mutex listener_mutex_;
  std::shared_ptr<const Listener> listener_;
};

inline CircuitBreaker::Permit CircuitBreaker::try_acquire() noexcept {
  const auto word = state_.load(std::memory_order_acquire);
  if (state_of(word) == CircuitState::Closed) {
    return Permit{Permit::Kind::Allowed, generation_of(word)};
  }
  return try_acquire_slow(word);
}

}  // namespace airport::cache
