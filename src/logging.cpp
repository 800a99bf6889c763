// SPDX-License-Identifier: BSD-3-Clause
#include "airport/cache/logging.hpp"

#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <cstdlib>

namespace airport::cache {
namespace {

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::Trace:
      return spdlog::level::trace;
    case LogLevel::Debug:
      return spdlog::level::debug;
    case LogLevel::Info:
      return spdlog::level::info;
    case LogLevel::Warn:
      return spdlog::level::warn;
    case LogLevel::Error:
      return spdlog::level::err;
    case LogLevel::Critical:
      return spdlog::level::critical;
    case LogLevel::Off:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

// Colour only for a person at a terminal. NO_COLOR, set and not empty, turns it off
// (no-color.org); spdlog 1.10 does not read it. A pipe or a file gets no escapes either: said
// here rather than left to color_mode::automatic, which checks the same isatty() and then
// whether TERM names a colour terminal, so that TERM=dumb still gets none.
spdlog::color_mode stderr_color_mode() {
  if (const char* no_color = std::getenv("NO_COLOR"); no_color != nullptr && *no_color != '\0')
    return spdlog::color_mode::never;
  if (::isatty(STDERR_FILENO) == 0)
    return spdlog::color_mode::never;
  return spdlog::color_mode::automatic;
}

}  // namespace

std::shared_ptr<spdlog::logger> resolve_logger(std::shared_ptr<spdlog::logger> injected,
                                               LogLevel level) {
  if (injected)
    return injected;
  if (auto registered = spdlog::get(std::string{logger_name}))
    return registered;
  // Constructed directly, not through spdlog::stderr_color_mt, which would register the name.
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>(stderr_color_mode());
  auto logger = std::make_shared<spdlog::logger>(std::string{logger_name}, std::move(sink));
  logger->set_level(to_spdlog(level));
  return logger;
}

}  // namespace airport::cache
