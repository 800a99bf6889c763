// ConnectionPool: up to max_connections lazily opened connections, lent out as RAII leases.
// Broken connections are never reused. While the server is unreachable, one caller at a time
// probes it on a full-jitter backoff schedule and every other caller fails fast.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>

#include "airport/cache/config.hpp"
#include "connection.hpp"

namespace airport::cache::detail {

/// Safe for concurrent use.
class ConnectionPool {
 public:
  using Clock = std::chrono::steady_clock;

  /// A borrowed connection; gives it back (or discards it when broken) on destruction.
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> connection)
        : pool_{pool}, connection_{std::move(connection)} {}
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
    ConnectionPool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  ConnectionPool(ValkeyConfig config, std::shared_ptr<spdlog::logger> logger);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  /// Lends a connection, opening one if allowed. Throws PoolExhaustedError after the pool
  /// timeout, or ConnectionError / TimeoutError when a connection cannot be opened (at once,
  /// without a connect attempt, while the server is known to be down and not yet due a retry).
  [[nodiscard]] Lease acquire(std::string_view operation);

  /// Closes every idle connection: after one connection broke, the others likely did too (a
  /// server restart kills them all), so they are not handed out to fail one by one.
  void drop_idle();

  /// Forgets the reconnect backoff: the health check saw the server answer again.
  void reset_backoff();

  [[nodiscard]] std::size_t open_count() const;
  [[nodiscard]] std::size_t idle_count() const;
  [[nodiscard]] const ValkeyConfig& config() const noexcept { return config_; }

 private:
  void give_back(std::unique_ptr<Connection> connection);
  std::unique_ptr<Connection> open_connection(std::string_view operation,
                                              std::unique_lock<std::mutex>& lock);
  bool passes_idle_check(Connection& connection);

  const ValkeyConfig config_;
  const std::shared_ptr<spdlog::logger> logger_;
  mutable std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;  // LIFO: the warmest connection goes out first
  std::size_t open_ = 0;                           // idle + lent + being opened
  // Reconnect backoff while the server is unreachable.
  int connect_failures_ = 0;
  bool probing_ = false;
  Clock::time_point next_connect_at_{};
  std::string last_connect_error_;
};

}  // namespace airport::cache::detail
