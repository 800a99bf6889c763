#include "pool.hpp"

#include <array>

#include <fmt/format.h>

#include "airport/cache/backoff.hpp"
#include "airport/cache/errors.hpp"

namespace airport::cache::detail {

ConnectionPool::ConnectionPool(ValkeyConfig config, std::shared_ptr<spdlog::logger> logger)
    : config_{std::move(config)}, logger_{std::move(logger)} {
  idle_.reserve(config_.max_connections);
}

ConnectionPool::~ConnectionPool() = default;

ConnectionPool::Lease ConnectionPool::acquire(std::string_view operation) {
  std::unique_lock lock{mutex_};
  const auto deadline = Clock::now() + config_.pool_timeout;
  for (;;) {
    if (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      if (Clock::now() - connection->last_used() < config_.idle_check_after) {
        return Lease{this, std::move(connection)};
      }
      lock.unlock();
      const bool alive = passes_idle_check(*connection);
      if (alive)
        return Lease{this, std::move(connection)};
      connection.reset();
      lock.lock();
      --open_;
      continue;
    }
    if (open_ < config_.max_connections) {
      return Lease{this, open_connection(operation, lock)};
    }
    if (available_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= config_.max_connections) {
      throw PoolExhaustedError(fmt::format(
          "{} on {}: no free connection within {} ms (all {} pooled connections busy)", operation,
          config_.endpoint(), config_.pool_timeout.count(), config_.max_connections));
    }
  }
}

std::unique_ptr<Connection> ConnectionPool::open_connection(std::string_view operation,
                                                            std::unique_lock<std::mutex>& lock) {
  const bool server_down = connect_failures_ > 0;
  if (server_down) {
    const auto now = Clock::now();
    if (probing_ || now < next_connect_at_) {
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::max(next_connect_at_ - now, Clock::duration::zero()));
      throw ConnectionError(fmt::format(
          "{} on {}: server unreachable ({} failed connects, last: {}); next attempt in {} ms",
          operation, config_.endpoint(), connect_failures_, last_connect_error_, wait.count()));
    }
    probing_ = true;
  }
  ++open_;
  lock.unlock();
  try {
    auto connection = Connection::open(config_);
    lock.lock();
    if (server_down) {
      logger_->info("reconnected to {} after {} failed attempts", config_.endpoint(),
                    connect_failures_);
    }
    connect_failures_ = 0;
    probing_ = false;
    return connection;
  } catch (const Error& error) {
    lock.lock();
    --open_;
    probing_ = false;
    const auto delay =
        full_jitter(connect_failures_, config_.reconnect_base_delay, config_.reconnect_max_delay);
    ++connect_failures_;
    next_connect_at_ = Clock::now() + delay;
    last_connect_error_ = error.what();
    if (connect_failures_ == 1) {
      logger_->warn("cannot connect to {}: {}", config_.endpoint(), error.what());
    }
    available_.notify_one();
    throw;
  }
}

bool ConnectionPool::passes_idle_check(Connection& connection) {
  static constexpr std::array<std::string_view, 1> ping{"PING"};
  try {
    return !connection.execute(ping).is_error();
  } catch (const Error& error) {
    logger_->debug("idle connection to {} failed its PING: {}", config_.endpoint(), error.what());
    return false;
  }
}

void ConnectionPool::give_back(std::unique_ptr<Connection> connection) {
  const bool broken = connection->broken();
  std::vector<std::unique_ptr<Connection>> dropped;
  {
    std::lock_guard lock{mutex_};
    if (broken) {
      --open_;
      dropped.swap(idle_);
      open_ -= dropped.size();
    } else {
      idle_.push_back(std::move(connection));
    }
  }
  if (broken) {
    available_.notify_all();
  } else {
    available_.notify_one();
  }
  // Sockets close here, outside the lock.
}

void ConnectionPool::drop_idle() {
  std::vector<std::unique_ptr<Connection>> dropped;
  {
    std::lock_guard lock{mutex_};
    dropped.swap(idle_);
    open_ -= dropped.size();
  }
  available_.notify_all();
}

void ConnectionPool::reset_backoff() {
  std::lock_guard lock{mutex_};
  connect_failures_ = 0;
  next_connect_at_ = {};
}

std::size_t ConnectionPool::open_count() const {
  std::lock_guard lock{mutex_};
  return open_;
}

std::size_t ConnectionPool::idle_count() const {
  std::lock_guard lock{mutex_};
  return idle_.size();
}

}  // namespace airport::cache::detail
