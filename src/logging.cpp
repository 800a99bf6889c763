// SPDX-License-Identifier: BSD-3-Clause
#include "airport/cache/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

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

}  // namespace

std::shared_ptr<spdlog::logger> resolve_logger(std::shared_ptr<spdlog::logger> injected,
                                               LogLevel level) {
  if (injected)
    return injected;
  if (auto registered = spdlog::get(std::string{logger_name}))
    return registered;
  // Constructed directly, not through spdlog::stderr_color_mt, which would register the name.
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(std::string{logger_name}, std::move(sink));
  logger->set_level(to_spdlog(level));
  return logger;
}

}  // namespace airport::cache
