// SPDX-License-Identifier: BSD-3-Clause
// ConnectionPool: up to max_connections lazily opened connections, lent out as RAII leases.
// A connection comes back into the pool only as it was opened (RESET and the handshake again
// when a caller changed its session), and broken ones are never reused. While the server is
// unreachable, one caller at a time probes it on a full-jitter backoff schedule and every other
// caller fails fast. A refused password latches the whole pool until a handshake succeeds.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>

#include "airport/cache/config.hpp"
#include "connection.hpp"
#include "log_limiter.hpp"

namespace airport::cache::detail {

/// Safe for concurrent use. Always owned by a shared_ptr (create()): every lease holds one, so
/// a Session may outlive the client that made it.
class ConnectionPool : public std::enable_shared_from_this<ConnectionPool> {
 public:
  using Clock = std::chrono::steady_clock;

  /// A borrowed connection; gives it back (or discards it) on destruction.
  class Lease {
   public:
    Lease(std::shared_ptr<ConnectionPool> pool, std::unique_ptr<Connection> connection)
        : pool_{std::move(pool)}, connection_{std::move(connection)} {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (connection_)
        pool_->give_back(std::move(connection_));
    }
    Connection& operator*() const noexcept { return *connection_; }
    Connection* operator->() const noexcept { return connection_.get(); }

   private:
    std::shared_ptr<ConnectionPool> pool_;
    std::unique_ptr<Connection> connection_;
  };

  /// With `readonly`, every connection sends READONLY in its handshake (Connection::open()).
  [[nodiscard]] static std::shared_ptr<ConnectionPool> create(
      ValkeyConfig config, std::shared_ptr<spdlog::logger> logger, bool readonly = false);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  /// Lends a connection, opening one if allowed. Each step gets its configured timeout, cut
  /// short by the thread's DeadlineScope: the wait for a free connection (pool_timeout), the
  /// PING of a connection idle past idle_check_after (socket_timeout; one failed PING closes
  /// every idle connection), the connect and the handshake. Throws PoolExhaustedError after the
  /// wait; TimeoutError when the scope's deadline has passed; ConnectionError or TimeoutError
  /// when a connection cannot be opened; ReconnectBackoffError (a ConnectionError) at once,
  /// without a connect attempt, while the server is known to be down and not yet due a retry;
  /// RefusedError while the server refuses the handshake.
  [[nodiscard]] Lease acquire(std::string_view operation);

  /// Closes every idle connection: after one connection broke, the others likely did too (a
  /// server restart kills them all), so they are not handed out to fail one by one.
  void drop_idle();

  /// Forgets the reconnect backoff: the health check saw the server answer again.
  void reset_backoff();

  /// `hint` is called whenever the server's health may have changed: a connect failed, a
  /// connection came back broken, or a connect succeeded after failures. For the health check,
  /// so that it looks now (HealthMonitor::check_soon()); it must be cheap and must not call
  /// back into the pool. Set it before the pool is shared between threads.
  void set_health_hint(std::function<void()> hint);

  /// A handshake outside the pool (the health check's) was refused: reported like one of the
  /// pool's own, and a refusal of the credentials latches the pool.
  void note_refusal(std::string reason, bool credentials);

  /// How many times a new connection met a server process other than the one before it (its
  /// run_id changed): restarts seen, each possibly from an older snapshot.
  [[nodiscard]] std::uint64_t server_epoch() const noexcept {
    return server_epoch_.load(std::memory_order_acquire);
  }

  [[nodiscard]] std::size_t open_count() const;
  [[nodiscard]] std::size_t idle_count() const;
  /// Why the server refuses this client's handshake, with its reason; empty when it does not.
  [[nodiscard]] std::string refusal() const;
  [[nodiscard]] const ValkeyConfig& config() const noexcept { return config_; }

 private:
  struct Private {};

 public:
  ConnectionPool(Private, ValkeyConfig config, std::shared_ptr<spdlog::logger> logger,
                 bool readonly);

 private:
  using Connections = std::vector<std::unique_ptr<Connection>>;

  void give_back(std::unique_ptr<Connection> connection) noexcept;
  // Under mutex_: a connect or handshake failed; the next connect waits out a backoff, and a
  // refusal is kept (credentials: latched) for health() and the next callers.
  void note_connect_failure(const HandshakeOutcome& failure, Connections& dropped);
  // Under mutex_: the server accepted a handshake: connects work again, and a refusal of the
  // current generation is over.
  void note_handshake_accepted(const Connection& connection);
  // Under mutex_: a run_id other than the last one seen means the server restarted; bumps
  // server_epoch_.
  void note_server_run_id(const std::string& run_id);
  std::unique_ptr<Connection> open_connection(std::string_view operation,
                                              std::unique_lock<std::mutex>& lock);
  // PINGs the connection; on failure says why in `failure`.
  bool passes_idle_check(Connection& connection, std::string& failure);
  // Latches the pool as refused: idle connections go (into `dropped`, to close outside the
  // lock) and a new generation makes every lent one close on its return.
  void latch_refused(std::string reason, Connections& dropped);
  void report_refusal(const std::string& reason);

  const ValkeyConfig config_;
  const std::shared_ptr<spdlog::logger> logger_;
  const bool readonly_;
  LogLimiter refusal_log_{std::chrono::seconds{30}};
  mutable std::mutex mutex_;
  std::condition_variable available_;
  Connections idle_;         // LIFO: the warmest connection goes out first
  std::size_t open_ = 0;     // idle + lent + being opened
  std::size_t waiters_ = 0;  // callers in available_.wait_until: give_back notifies only these
  // Reconnect backoff while the server is unreachable or refuses.
  int connect_failures_ = 0;
  bool probing_ = false;
  Clock::time_point next_connect_at_{};
  std::string server_run_id_;  // of the last connection opened
  std::atomic<std::uint64_t> server_epoch_{0};
  std::string last_connect_error_;
  // Refusals: the last refused handshake's reason, cleared by a successful one. A credentials
  // refusal also bumps the generation, and a connection of an older generation is closed on
  // its return instead of pooled.
  std::string refusal_;
  std::uint64_t generation_ = 0;
  std::function<void()> health_hint_;  // see set_health_hint()
};

}  // namespace airport::cache::detail
