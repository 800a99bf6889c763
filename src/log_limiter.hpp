// SPDX-License-Identifier: BSD-3-Clause
// LogLimiter: one log line per cause per interval, with the count of what it held back, so a
// fault that repeats on every call (a refused write, a refused password) cannot flood the log.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace airport::cache::detail {

/// Safe for concurrent use. Remembers at most `max_causes` causes: past that, causes quiet for
/// a whole interval are forgotten (their next line counts as a first one), and while every
/// remembered cause is still active, new causes share one more entry (one line per interval for
/// all of them), so memory stays bounded however many causes there are.
class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogLimiter(std::chrono::milliseconds interval, std::size_t max_causes = 256)
      : interval_{interval}, max_causes_{max_causes} {}

  /// Whether a line for `cause` may be written now: nullopt to stay silent, else how many
  /// occurrences were held back since the last line (0 for the first).
  [[nodiscard]] std::optional<std::size_t> admit(std::string_view cause,
                                                 Clock::time_point now = Clock::now()) {
    std::lock_guard lock{mutex_};
    auto found = causes_.find(std::string{cause});
    if (found == causes_.end() && causes_.size() >= max_causes_)
      forget_quiet(now);
    bool first = false;
    Cause* chosen = nullptr;
    if (found != causes_.end()) {
      chosen = &found->second;
    } else if (causes_.size() < max_causes_) {
      chosen = &causes_.try_emplace(std::string{cause}).first->second;
      first = true;
    } else {
      chosen = &overflow_;
      first = !overflow_used_;
      overflow_used_ = true;
    }
    Cause& state = *chosen;
    if (!first && now - state.last_line < interval_) {
      ++state.held_back;
      return std::nullopt;
    }
    state.last_line = now;
    return std::exchange(state.held_back, 0);
  }

 private:
  struct Cause {
    Clock::time_point last_line{};
    std::size_t held_back = 0;
  };

  // Causes whose interval has run out would be written at their next occurrence anyway; only
  // their held-back count is lost, and a cause whose messages vary (one per key, say) cannot
  // grow the map without bound.
  void forget_quiet(Clock::time_point now) {
    std::erase_if(causes_,
                  [&](const auto& entry) { return now - entry.second.last_line >= interval_; });
  }

  const std::chrono::milliseconds interval_;
  const std::size_t max_causes_;
  std::mutex mutex_;
  std::unordered_map<std::string, Cause> causes_;
  // Shared by the causes that find the map full of active ones.
  Cause overflow_;
  bool overflow_used_ = false;
};

}  // namespace airport::cache::detail
