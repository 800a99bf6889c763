// SPDX-License-Identifier: BSD-3-Clause
// wait_until: tests wait on a condition with a deadline instead of sleeping a guessed amount,
// so they are fast when things go well and fail clearly when they do not.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

namespace airport::cache::testing {

/// Polls `condition` every `poll` until it returns true or `deadline` has passed. The condition
/// is always checked at least once, and once more at the deadline.
/// Returns whether the condition became true. Exceptions from the condition propagate.
inline bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds deadline,
                       std::chrono::milliseconds poll = std::chrono::milliseconds{5}) {
  const auto give_up_at = std::chrono::steady_clock::now() + deadline;
  while (true) {
    if (condition()) {
      return true;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= give_up_at) {
      return false;
    }
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(poll, give_up_at - now));
  }
}

/// Whole milliseconds from `start` to now: what a fault test records of its slowest call.
inline long long ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

}  // namespace airport::cache::testing
