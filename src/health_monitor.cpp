// SPDX-License-Identifier: BSD-3-Clause
#include "health_monitor.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>

#include "airport/cache/backoff.hpp"
#include "airport/cache/errors.hpp"

namespace airport::cache::detail {
namespace {

// The longest wait between two checks while the server is down: health() (and the breaker's
// open period, which a check that sees the server answer ends) lags a recovery by at most this
// much, for two connect attempts a second to a server that is down.
constexpr std::chrono::milliseconds down_check_cap{500};

}  // namespace

HealthMonitor::HealthMonitor(ValkeyConfig config, std::shared_ptr<spdlog::logger> logger,
                             Listener listener, RefusalListener on_refused)
    : config_{std::move(config)},
      logger_{std::move(logger)},
      listener_{std::move(listener)},
      on_refused_{std::move(on_refused)},
      cancel_fd_{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)} {}

void HealthMonitor::start() {
  std::lock_guard lock{mutex_};
  if (thread_.joinable() || stopping_)
    return;
  thread_ = std::thread{[this] { run(); }};
}

HealthMonitor::~HealthMonitor() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
    const std::uint64_t one = 1;
    if (cancel_fd_ >= 0)
      (void)!::write(cancel_fd_, &one, sizeof one);
  }
  wake_.notify_all();
  // start() runs under the same mutex and refuses once stopping_ is set.
  if (thread_.joinable())
    thread_.join();
  if (cancel_fd_ >= 0)
    ::close(cancel_fd_);
}

HealthStatus HealthMonitor::status() const {
  std::lock_guard lock{mutex_};
  return status_;
}

void HealthMonitor::check_soon() {
  {
    std::lock_guard lock{mutex_};
    if (nudged_ || stopping_)
      return;
    nudged_ = true;
  }
  start();
  wake_.notify_all();
}

void HealthMonitor::run() {
  std::unique_lock lock{mutex_};
  int failed_in_a_row = 0;
  while (!stopping_) {
    nudged_ = false;
    const auto started = std::chrono::steady_clock::now();
    lock.unlock();
    const bool up = check();
    const auto ended = std::chrono::steady_clock::now();
    lock.lock();
    failed_in_a_row = up ? 0 : failed_in_a_row + 1;
    // While the server is down, look again on the reconnect schedule, capped at
    // down_check_cap, rather than a whole interval later: health() should say what the server
    // does now.
    auto wait = config_.health_check_interval;
    if (!up) {
      wait = std::min(wait, backoff_ceiling(failed_in_a_row - 1, config_.reconnect_base_delay,
                                            std::min(config_.reconnect_max_delay, down_check_cap)));
    }
    wake_.wait_until(lock, ended + wait, [this] { return stopping_ || nudged_; });
    // Many callers may report the same trouble at once: one check per reconnect_base_delay
    // (or per interval, when that is shorter).
    wake_.wait_until(
        lock, started + std::min(config_.reconnect_base_delay, config_.health_check_interval),
        [this] { return stopping_; });
  }
}

void HealthMonitor::probe(HealthStatus& next) {
  static constexpr std::array<std::string_view, 1> ping{"PING"};
  if (!connection_)
    connection_ = Connection::open(config_, cancel_fd_, false, Handshake::WithFirstCommand);
  if (next.server_version.empty())
    read_server_info(*connection_, next);
  const auto start = std::chrono::steady_clock::now();
  const Reply pong = connection_->execute(ping);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  if (pong.is_error())
    throw ReplyError("PING on " + config_.endpoint() + ": " + pong.text());
  next.up = true;
  next.round_trip = std::chrono::duration_cast<std::chrono::microseconds>(elapsed);
  next.last_error.clear();
}

bool HealthMonitor::check() {
  HealthStatus next = status();
  std::string refusal;
  bool credentials_refused = false;
  try {
    const bool reused = connection_ != nullptr;
    try {
      probe(next);
    } catch (const ConnectionError&) {
      // The connection of earlier checks died since (a restart, say): that says what the
      // server did then, not what it does now, so a fresh connection gets asked at once. A
      // timeout is not retried: the server hangs, and asking again costs another timeout.
      connection_.reset();
      if (!reused)
        throw;
      next.server_version.clear();
      probe(next);
    }
  } catch (const Error& error) {
    if (const auto* refused = dynamic_cast<const RefusedError*>(&error)) {
      refusal = refused->what();
      credentials_refused = dynamic_cast<const AuthRefusedError*>(&error) != nullptr;
    }
    next.up = false;
    next.last_error = error.what();
    ++next.failed_checks;
    // A new server may be a different version or role; learn it again after reconnecting.
    next.server_version.clear();
    connection_.reset();
  }
  ++next.checks;
  next.last_check = std::chrono::system_clock::now();
  bool changed = false;
  {
    std::lock_guard lock{mutex_};
    if (stopping_)
      return next.up;
    changed = next.up != status_.up || status_.checks == 0;
    status_ = next;
  }
  if (changed) {
    if (next.up) {
      logger_->info("health check: {} is up ({} {}, role {})", config_.endpoint(), next.server_name,
                    next.server_version, next.role);
    } else {
      logger_->warn("health check: {} is down: {}", config_.endpoint(), next.last_error);
    }
  }
  // The check's handshake is one more handshake of this client: a refused password here is
  // as much a refusal of the pool's connections.
  if (!refusal.empty() && on_refused_)
    on_refused_(refusal, credentials_refused);
  if (listener_)
    listener_(next, changed);
  return next.up;
}

void HealthMonitor::read_server_info(Connection& connection, HealthStatus& status) {
  static constexpr std::array<std::string_view, 2> server{"INFO", "server"};
  static constexpr std::array<std::string_view, 2> replication{"INFO", "replication"};
  const Reply server_info = connection.execute(server);
  const Reply replication_info = connection.execute(replication);
  if (server_info.is_error() || replication_info.is_error())
    return;
  // Valkey reports redis_version:7.2.4 for compatibility; its own version is valkey_version.
  const std::string& text = server_info.text();
  status.server_version = info_field(text, "valkey_version");
  if (!status.server_version.empty()) {
    status.server_name = "valkey";
  } else {
    status.server_version = info_field(text, "redis_version");
    status.server_name = "redis";
  }
  status.role = info_field(replication_info.text(), "role");
}

}  // namespace airport::cache::detail
