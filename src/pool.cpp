// SPDX-License-Identifier: BSD-3-Clause
#include "pool.hpp"

#include <array>

#include <fmt/format.h>

#include "airport/cache/backoff.hpp"
#include "airport/cache/deadline.hpp"
#include "airport/cache/errors.hpp"

namespace airport::cache::detail {

std::shared_ptr<ConnectionPool> ConnectionPool::create(ValkeyConfig config,
                                                       std::shared_ptr<spdlog::logger> logger,
                                                       bool readonly) {
  return std::make_shared<ConnectionPool>(Private{}, std::move(config), std::move(logger),
                                          readonly);
}

ConnectionPool::ConnectionPool(Private, ValkeyConfig config, std::shared_ptr<spdlog::logger> logger,
                               bool readonly)
    : config_{std::move(config)}, logger_{std::move(logger)}, readonly_{readonly} {
  idle_.reserve(config_.max_connections);
}

ConnectionPool::~ConnectionPool() = default;

ConnectionPool::Lease ConnectionPool::acquire(std::string_view operation) {
  const auto start = Clock::now();
  if (const auto deadline = DeadlineScope::current(); deadline && *deadline <= start) {
    throw TimeoutError(fmt::format("{} on {}: the operation's deadline passed before it began",
                                   operation, config_.endpoint()));
  }
  const auto wait_deadline = DeadlineScope::bound(start, config_.pool_timeout);
  std::unique_lock lock{mutex_};
  for (;;) {
    if (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      if (Clock::now() - connection->last_used() < config_.idle_check_after) {
        return Lease{shared_from_this(), std::move(connection)};
      }
      lock.unlock();
      std::string failure;
      if (passes_idle_check(*connection, failure))
        return Lease{shared_from_this(), std::move(connection)};
      std::string refusal;
      if (!connection->auth_rejection().empty()) {
        refusal = fmt::format("PING on {} was refused: {}", config_.endpoint(),
                              connection->auth_rejection());
      }
      connection.reset();
      // The other idle connections are as old and as suspect: checking each in turn would
      // spend one socket timeout per connection on a hung server.
      Connections dropped;
      lock.lock();
      --open_;
      if (!refusal.empty())
        latch_refused(refusal, dropped);
      for (auto& idle : idle_)
        dropped.push_back(std::move(idle));
      open_ -= idle_.size();
      idle_.clear();
      lock.unlock();
      dropped.clear();
      available_.notify_all();
      if (!refusal.empty())
        report_refusal(refusal);
      if (const auto deadline = DeadlineScope::current(); deadline && *deadline <= Clock::now()) {
        // Say what used the time up rather than that no time is left for the connect.
        throw TimeoutError(
            fmt::format("{} on {}: an idle connection failed its check ({}), and "
                        "the operation's deadline has passed",
                        operation, config_.endpoint(), failure));
      }
      lock.lock();
      continue;
    }
    if (open_ < config_.max_connections) {
      return Lease{shared_from_this(), open_connection(operation, lock)};
    }
    ++waiters_;
    const auto status = available_.wait_until(lock, wait_deadline);
    --waiters_;
    if (status == std::cv_status::timeout && idle_.empty() && open_ >= config_.max_connections) {
      throw PoolExhaustedError(
          fmt::format("{} on {}: no free connection within {} ms (all {} pooled connections busy)",
                      operation, config_.endpoint(),
                      std::chrono::ceil<std::chrono::milliseconds>(wait_deadline - start).count(),
                      config_.max_connections));
    }
  }
}

std::unique_ptr<Connection> ConnectionPool::open_connection(std::string_view operation,
                                                            std::unique_lock<std::mutex>& lock) {
  const bool failing = connect_failures_ > 0;
  if (failing) {
    const auto now = Clock::now();
    if (probing_ || now < next_connect_at_) {
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::max(next_connect_at_ - now, Clock::duration::zero()));
      if (!refusal_.empty()) {
        throw RefusedError(
            fmt::format("{} on {}: the server refuses this client ({}); next "
                        "attempt in {} ms",
                        operation, config_.endpoint(), refusal_, wait.count()));
      }
      throw ReconnectBackoffError(fmt::format(
          "{} on {}: server unreachable ({} failed connects, last: {}); next attempt in {} ms",
          operation, config_.endpoint(), connect_failures_, last_connect_error_, wait.count()));
    }
    probing_ = true;
  }
  ++open_;
  const std::uint64_t generation = generation_;
  lock.unlock();
  Connections dropped;  // closed after the lock is released, on every path
  try {
    // The handshake goes out with the caller's command: a new connection costs no round trip
    // of its own. Its INFO server reply tells the run_id when the connection is given back.
    auto connection = Connection::open(config_, -1, readonly_, Handshake::WithFirstCommand);
    lock.lock();
    if (failing && refusal_.empty()) {
      logger_->info("reconnected to {} after {} failed attempts", config_.endpoint(),
                    connect_failures_);
    }
    if (failing && health_hint_)
      health_hint_();
    // A handshake that began before a refusal latched the pool proves nothing about the
    // credentials now: its connection serves this call and is closed on its return.
    connection->set_generation(generation);
    // A handshake that goes out with the first command is judged when it is given back: until
    // then the failures so far still count, so that a server refusing every handshake sees
    // the backoff grow as it would for failed connects.
    if (!connection->handshake_pending())
      note_handshake_accepted(*connection);
    probing_ = false;
    return connection;
  } catch (const Error& error) {
    lock.lock();
    --open_;
    HandshakeOutcome failure{HandshakeOutcome::Kind::Unavailable, error.what()};
    if (dynamic_cast<const AuthRefusedError*>(&error) != nullptr)
      failure.kind = HandshakeOutcome::Kind::CredentialsRefused;
    else if (dynamic_cast<const RefusedError*>(&error) != nullptr)
      failure.kind = HandshakeOutcome::Kind::Refused;
    note_connect_failure(failure, dropped);
    const bool refused = failure.kind != HandshakeOutcome::Kind::Unavailable;
    lock.unlock();
    available_.notify_all();
    if (refused)
      report_refusal(error.what());
    if (health_hint_)
      health_hint_();
    dropped.clear();
    lock.lock();
    throw;
  }
}

bool ConnectionPool::passes_idle_check(Connection& connection, std::string& failure) {
  static constexpr std::array<std::string_view, 1> ping{"PING"};
  try {
    const Reply pong = connection.execute(ping);
    if (!pong.is_error())
      return true;
    failure = fmt::format("PING on {}: {}", config_.endpoint(), pong.text());
  } catch (const Error& error) {
    failure = error.what();
  }
  logger_->debug("idle connection to {} failed its check: {}", config_.endpoint(), failure);
  return false;
}

void ConnectionPool::note_connect_failure(const HandshakeOutcome& failure, Connections& dropped) {
  probing_ = false;
  const auto delay =
      full_jitter(connect_failures_, config_.reconnect_base_delay, config_.reconnect_max_delay);
  ++connect_failures_;
  next_connect_at_ = Clock::now() + delay;
  last_connect_error_ = failure.error;
  switch (failure.kind) {
    case HandshakeOutcome::Kind::CredentialsRefused:
      latch_refused(failure.error, dropped);
      break;
    case HandshakeOutcome::Kind::Refused:
      refusal_ = failure.error;
      break;
    default:
      // The latest attempt decides: a server that refused and is now unreachable is down.
      refusal_.clear();
      if (connect_failures_ == 1)
        logger_->warn("cannot connect to {}: {}", config_.endpoint(), failure.error);
  }
}

void ConnectionPool::note_handshake_accepted(const Connection& connection) {
  connect_failures_ = 0;
  if (connection.generation() == generation_ && !refusal_.empty()) {
    logger_->info("{} accepts this client's handshake again", config_.endpoint());
    refusal_.clear();
  }
}

void ConnectionPool::note_server_run_id(const std::string& run_id) {
  if (run_id.empty())
    return;
  if (!server_run_id_.empty() && run_id != server_run_id_) {
    server_epoch_.fetch_add(1, std::memory_order_acq_rel);
    logger_->warn(
        "{} restarted (run_id {} -> {}): what it held may be older than what it acknowledged",
        config_.endpoint(), server_run_id_, run_id);
  }
  server_run_id_ = run_id;
}

void ConnectionPool::give_back(std::unique_ptr<Connection> connection) noexcept {
  std::string refusal;
  bool keep = !connection->broken();
  if (keep && !connection->auth_rejection().empty()) {
    refusal = fmt::format("a command on {} was refused: {}", config_.endpoint(),
                          connection->auth_rejection());
    keep = false;
  }
  if (keep && !connection->session_state().clean()) {
    // A caller left MULTI, WATCH, another database or another name behind: undo it, or close
    // the connection, but never lend it to the next caller like this.
    try {
      connection->reset_session(config_);
    } catch (const AuthRefusedError& error) {
      refusal = error.what();
      keep = false;
    } catch (const std::exception& error) {
      logger_->debug("closing a connection to {} that could not be reset: {}", config_.endpoint(),
                     error.what());
      keep = false;
    }
  }
  const bool broken = connection->broken();
  Connections dropped;
  bool waiting = false;
  std::string handshake_refusal;
  {
    std::lock_guard lock{mutex_};
    // Read under the lock: a caller counts itself in before it waits, under the same lock, and
    // looks at idle_ first, so a give-back that sees no waiter cannot strand one. Without
    // waiters the notify is a futex call for nothing, on every command.
    waiting = waiters_ > 0;
    // A new connection learnt its server's run_id with the caller's first command. Bumped before
    // the caller's operation returns, so that it can tell its reply came from a restarted server.
    note_server_run_id(connection->take_new_server_run_id());
    // The handshake went out with the caller's first command: judged now as open_connection()
    // judges one of its own.
    if (const auto outcome = connection->take_handshake_outcome()) {
      if (outcome->kind == HandshakeOutcome::Kind::Accepted) {
        note_handshake_accepted(*connection);
      } else {
        note_connect_failure(*outcome, dropped);
        if (outcome->kind != HandshakeOutcome::Kind::Unavailable)
          handshake_refusal = outcome->error;
      }
    }
    if (!refusal.empty())
      latch_refused(refusal, dropped);
    if (keep && connection->generation() != generation_)
      keep = false;
    if (keep) {
      idle_.push_back(std::move(connection));
    } else {
      --open_;
      if (broken) {
        for (auto& idle : idle_)
          dropped.push_back(std::move(idle));
        open_ -= idle_.size();
        idle_.clear();
      }
    }
  }
  if (waiting && keep) {
    available_.notify_one();
  } else if (waiting) {
    available_.notify_all();
  }
  if (!refusal.empty())
    report_refusal(refusal);
  if (!handshake_refusal.empty())
    report_refusal(handshake_refusal);
  if (broken && health_hint_)
    health_hint_();
  // Sockets close here, outside the lock.
}

void ConnectionPool::latch_refused(std::string reason, Connections& dropped) {
  refusal_ = std::move(reason);
  ++generation_;
  for (auto& idle : idle_)
    dropped.push_back(std::move(idle));
  open_ -= idle_.size();
  idle_.clear();
}

void ConnectionPool::report_refusal(const std::string& reason) {
  // A refusal repeats on every connect until someone fixes the configuration or the server:
  // one line per interval, with the count of what was held back, says as much as all of them.
  if (const auto held_back = refusal_log_.admit(reason)) {
    if (*held_back == 0) {
      logger_->error("the server refuses this client: {}", reason);
    } else {
      logger_->error("the server refuses this client: {} ({} more times since the last report)",
                     reason, *held_back);
    }
  }
}

void ConnectionPool::note_refusal(std::string reason, bool credentials) {
  Connections dropped;
  {
    std::lock_guard lock{mutex_};
    if (credentials)
      latch_refused(reason, dropped);
    else
      refusal_ = reason;
  }
  available_.notify_all();
  report_refusal(reason);
}

void ConnectionPool::drop_idle() {
  Connections dropped;
  {
    std::lock_guard lock{mutex_};
    dropped.swap(idle_);
    open_ -= dropped.size();
  }
  available_.notify_all();
}

void ConnectionPool::set_health_hint(std::function<void()> hint) {
  health_hint_ = std::move(hint);
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

std::string ConnectionPool::refusal() const {
  std::lock_guard lock{mutex_};
  return refusal_;
}

}  // namespace airport::cache::detail
