// SPDX-License-Identifier: BSD-3-Clause
// DeadlineScope: the one time limit of an operation, handed down to every step beneath it (pool
// wait, connect, handshake, write, the whole reply, retries) without widening the Client
// interface. The CacheManager opens one per call; the client reads what is left of it.
#pragma once

#include <chrono>
#include <optional>

namespace airport::cache {

/// Sets the deadline of everything this thread does until the scope ends. Scopes nest, and an
/// inner scope can only tighten the outer one, never extend it. One thread at a time (it is
/// per thread by design).
class DeadlineScope {
 public:
  /// Deadlines are steady_clock times: wall-clock jumps cannot move them.
  using Clock = std::chrono::steady_clock;

  /// Makes `deadline` (or the outer scope's, if that is earlier) this thread's deadline; the
  /// destructor restores the outer one.
  explicit DeadlineScope(Clock::time_point deadline) noexcept;
  ~DeadlineScope();
  DeadlineScope(const DeadlineScope&) = delete;
  DeadlineScope& operator=(const DeadlineScope&) = delete;

  /// The innermost deadline of this thread, or nullopt outside every scope.
  [[nodiscard]] static std::optional<Clock::time_point> current() noexcept;

  /// The earlier of `now + limit` and the current deadline: what one step may spend.
  [[nodiscard]] static Clock::time_point bound(Clock::time_point now,
                                               std::chrono::milliseconds limit) noexcept;

 private:
  static inline thread_local std::optional<Clock::time_point> current_{};
  std::optional<Clock::time_point> outer_;
};

}  // namespace airport::cache
