// SPDX-License-Identifier: BSD-3-Clause
// CommandObserver: the hook every command reports to (operation, duration, outcome), so stats
// and user metrics plug in without the client knowing them. Nothing is timed when nobody listens.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string_view>

#include "airport/cache/errors.hpp"

namespace airport::cache {

/// One finished command. `operation` is the command name (argv[0]) and is valid only during the
/// call. `error` is empty on success; an error reply counts as ErrorCategory::Reply.
struct CommandEvent {
  std::string_view operation;            ///< e.g. "GET"; copy it to keep it past the call
  std::chrono::nanoseconds duration{0};  ///< the whole call: pool wait and retries included
  std::optional<ErrorCategory> error;    ///< why it finally failed (after retries)
};

/// Called on the calling thread after every command; must be cheap and must not throw.
using CommandObserver = std::function<void(const CommandEvent&)>;

}  // namespace airport::cache
