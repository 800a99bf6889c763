// SPDX-License-Identifier: BSD-3-Clause
// DeadlineScope's bodies. Out of line although each is a line or two: inline, their std::min
// and std::optional uses cost every file that includes the umbrella header some 270 template
// instantiations, and a call per operation costs nothing next to a round trip.
#include "airport/cache/deadline.hpp"

#include <algorithm>

namespace airport::cache {

DeadlineScope::DeadlineScope(Clock::time_point deadline) noexcept : outer_{current_} {
  current_ = outer_ ? std::min(*outer_, deadline) : deadline;
}

DeadlineScope::~DeadlineScope() {
  current_ = outer_;
}

std::optional<DeadlineScope::Clock::time_point> DeadlineScope::current() noexcept {
  return current_;
}

DeadlineScope::Clock::time_point DeadlineScope::bound(Clock::time_point now,
                                                      std::chrono::milliseconds limit) noexcept {
  const Clock::time_point own = now + limit;
  return current_ ? std::min(*current_, own) : own;
}

}  // namespace airport::cache
