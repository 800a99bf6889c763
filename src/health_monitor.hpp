// SPDX-License-Identifier: BSD-3-Clause
// HealthMonitor: a background thread that PINGs the server every health_check_interval over its
// own connection (so an exhausted pool cannot starve it) and keeps the latest HealthStatus.
// The thread starts with start() or check_soon(), not with the monitor: a client's first command
// must not share the CPU and the server with the monitor's connect, INFO and PING.
// While the server is down it looks again on the reconnect backoff schedule (at most 500 ms
// apart), and check_soon() (the pool saw trouble or a reconnect) makes it look now.
// It stops within milliseconds of destruction, even in the middle of a connect, a handshake or
// a PING: every wait of its connection polls the cancel eventfd too.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include <spdlog/logger.h>

#include "airport/cache/config.hpp"
#include "airport/cache/health.hpp"
#include "connection.hpp"

namespace airport::cache::detail {

/// Safe for concurrent use.
class HealthMonitor {
 public:
  /// Called on the monitor thread after every check; `changed` is true when up/down flipped.
  using Listener = std::function<void(const HealthStatus& status, bool changed)>;
  /// Called on the monitor thread when the server refused the check's handshake, with the
  /// reason and whether it refused the credentials (AuthRefusedError).
  using RefusalListener = std::function<void(const std::string& reason, bool credentials)>;

  HealthMonitor(ValkeyConfig config, std::shared_ptr<spdlog::logger> logger, Listener listener,
                RefusalListener on_refused = {});
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  [[nodiscard]] HealthStatus status() const;

  /// Starts the checks (the first one at once) unless they run already or the monitor is being
  /// destroyed. Cheap once started: a lock and a test.
  void start();

  /// Asks for a check now instead of at the next interval, at most one per
  /// reconnect_base_delay however many callers ask. Cheap: a flag and a notify.
  void check_soon();

 private:
  void run();
  // One check; returns whether the server answered.
  bool check();
  // Connects if needed, learns the server once, PINGs; fills `next` or throws.
  void probe(HealthStatus& next);
  void read_server_info(Connection& connection, HealthStatus& status);

  const ValkeyConfig config_;
  const std::shared_ptr<spdlog::logger> logger_;
  const Listener listener_;
  const RefusalListener on_refused_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool nudged_ = false;  // check_soon() was called since the last check began
  // eventfd, readable once stopping: aborts the connect, handshake or PING in progress. Never
  // a socket of the connection, which may be closed and its number reused meanwhile.
  int cancel_fd_ = -1;
  HealthStatus status_;
  std::unique_ptr<Connection> connection_;  // touched only by the monitor thread
  std::thread thread_;                      // not joinable until start()
};

}  // namespace airport::cache::detail
