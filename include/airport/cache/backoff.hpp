// SPDX-License-Identifier: BSD-3-Clause
// Exponential backoff with full jitter ("Exponential Backoff and Jitter", AWS Architecture Blog,
// 2015): delay = uniform(0, min(cap, base * 2^attempt)). Shared by reconnects, retries and locks.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace airport::cache {

/// The ceiling of the attempt-th backoff (attempt 0 is the first retry): min(cap, base * 2^n).
[[nodiscard]] constexpr std::chrono::milliseconds backoff_ceiling(
    int attempt, std::chrono::milliseconds base, std::chrono::milliseconds cap) noexcept {
  if (base <= std::chrono::milliseconds::zero())
    return std::chrono::milliseconds::zero();
  // Stop doubling once past the cap, so the shift can never overflow.
  auto ceiling = base;
  for (int i = 0; i < attempt && ceiling < cap; ++i)
    ceiling *= 2;
  return std::min(ceiling, cap);
}

/// Full jitter: `uniform01` in [0, 1) picks the delay in [0, ceiling]. Pure, for tests.
[[nodiscard]] constexpr std::chrono::milliseconds full_jitter(int attempt,
                                                              std::chrono::milliseconds base,
                                                              std::chrono::milliseconds cap,
                                                              double uniform01) noexcept {
  const auto ceiling = backoff_ceiling(attempt, base, cap);
  return std::chrono::milliseconds{static_cast<std::chrono::milliseconds::rep>(
      static_cast<double>(ceiling.count()) * std::clamp(uniform01, 0.0, 1.0))};
}

/// full_jitter with a thread-local generator. Safe for concurrent use.
[[nodiscard]] std::chrono::milliseconds full_jitter(int attempt, std::chrono::milliseconds base,
                                                    std::chrono::milliseconds cap);

}  // namespace airport::cache
