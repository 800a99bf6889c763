// SPDX-License-Identifier: BSD-3-Clause
// How the library finds its logger without owning the application's logging: an injected
// logger, else one the application registered as "airport_cache", else a private one that is
// never registered (spdlog 1.10 throws on a second registration of a name).
#pragma once

#include <memory>
#include <string_view>

// Declared only: <spdlog/logger.h> brings fmt and most of spdlog, which more than doubled what
// <airport/cache.hpp> costs every file that includes it. Include it to call a logger's methods.
#include <spdlog/fwd.h>

#include "airport/cache/config.hpp"

namespace airport::cache {

/// The name under which an application may register a logger for this library.
inline constexpr std::string_view logger_name = "airport_cache";

/// Returns `injected` when set; else spdlog::get("airport_cache") when the application
/// registered it; else a private stderr logger at `level`, never registered globally, whose
/// lines are coloured only when stderr is a terminal and NO_COLOR is unset or empty
/// (no-color.org). Calls no global spdlog setter.
[[nodiscard]] std::shared_ptr<spdlog::logger> resolve_logger(
    std::shared_ptr<spdlog::logger> injected, LogLevel level);

}  // namespace airport::cache
