// SPDX-License-Identifier: BSD-3-Clause
#include "airport/cache/valkey_client.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>

#include <fmt/format.h>

#include "airport/cache/deadline.hpp"
#include "airport/cache/errors.hpp"
#include "airport/cache/logging.hpp"
#include "health_monitor.hpp"
#include "pool.hpp"

namespace airport::cache {
namespace {

// Commands that only read, so a second attempt after a lost reply cannot change anything.
bool is_read_only(std::string_view command) {
  static constexpr std::array<std::string_view, 24> read_only{
      "GET",      "MGET",    "EXISTS",    "TTL",      "PTTL",      "TYPE",     "STRLEN", "HGET",
      "HMGET",    "HGETALL", "HEXISTS",   "SMEMBERS", "SISMEMBER", "SCARD",    "ZSCORE", "ZRANK",
      "ZREVRANK", "ZRANGE",  "ZREVRANGE", "ZCARD",    "GETBIT",    "BITCOUNT", "PING",   "SCAN"};
  return std::any_of(read_only.begin(), read_only.end(), [&](std::string_view name) {
    return name.size() == command.size() &&
           std::equal(name.begin(), name.end(), command.begin(), [](char a, char b) {
             return a == (b >= 'a' && b <= 'z' ? static_cast<char>(b - 32) : b);
           });
  });
}

bool is_availability_error(const Error& error) {
  return error.category() == ErrorCategory::Connection ||
         error.category() == ErrorCategory::Timeout;
}

bool deadline_passed() {
  const auto deadline = DeadlineScope::current();
  return deadline && *deadline <= DeadlineScope::Clock::now();
}

// SUBSCRIBE and MONITOR anywhere in a pipeline would leave its connection in a mode in which
// the replies no longer match the commands.
void refuse_own_connection_commands(std::string_view caller, const Pipeline& pipeline) {
  detail::for_each_command(pipeline.encoded(), [&](std::string_view name, std::string_view) {
    detail::refuse_own_connection_command(caller, name);
  });
}

// The lease holds the pool alive, so the session stays usable after its client is destroyed.
class PooledSession final : public Session {
 public:
  explicit PooledSession(detail::ConnectionPool::Lease lease) : lease_{std::move(lease)} {}
  Reply execute(CommandArgs argv) override {
    if (argv.empty())
      throw std::invalid_argument("Session::execute: empty command");
    detail::refuse_own_connection_command("Session::execute", argv[0]);
    return lease_->execute(argv);
  }

 private:
  detail::ConnectionPool::Lease lease_;
};

// Lets the pool ask the health monitor for a check (ConnectionPool::set_health_hint()) without
// outliving it: a Session's lease keeps the pool alive after the client and its monitor are gone.
struct MonitorLink {
  std::mutex mutex;
  detail::HealthMonitor* monitor = nullptr;

  void check_soon() {
    const std::lock_guard lock{mutex};
    if (monitor != nullptr)
      monitor->check_soon();
  }
  void detach() {
    const std::lock_guard lock{mutex};
    monitor = nullptr;
  }
};

}  // namespace

struct ValkeyClient::Impl {
  Impl(ValkeyConfig config, ClientOptions client_options)
      : options{std::move(client_options)},
        logger{resolve_logger(options.logger, config.log_level)},
        pool{detail::ConnectionPool::create(std::move(config), logger, options.readonly)} {
    detail::warn_if_tls_unverified(pool->config(), *logger);
    if (options.health_check) {
      monitor = std::make_unique<detail::HealthMonitor>(
          pool->config(), logger,
          [this](const HealthStatus& status, bool changed) {
            if (options.on_health_check) {
              HealthStatus named = status;
              named.endpoint = pool->config().endpoint();
              options.on_health_check(named);
            }
            if (!changed)
              return;
            // Down: every idle connection is suspect. Up (the first check, or a recovery):
            // reconnect without waiting out backoff, and keep what is idle, which was opened
            // or checked since.
            if (status.up)
              pool->reset_backoff();
            else
              pool->drop_idle();
            if (options.on_health_change)
              options.on_health_change(status);
          },
          [this](const std::string& reason, bool credentials) {
            pool->note_refusal(reason, credentials);
          });
      monitor_link->monitor = monitor.get();
      pool->set_health_hint([link = monitor_link] { link->check_soon(); });
    }
  }

  ~Impl() { monitor_link->detach(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  template <class Operation>
  auto with_retries(std::string_view operation, Operation&& run) {
    for (int attempt = 0;; ++attempt) {
      bool sent = false;
      try {
        auto lease = pool->acquire(operation);
        sent = true;
        try {
          return run(*lease);
        } catch (const Error&) {
          sent = !lease->last_flush_sent_nothing();
          throw;
        }
      } catch (const Error& error) {
        // A reconnect backoff fails fast until its attempt is due: trying again now only fails
        // the same way.
        const bool retryable = is_availability_error(error) && (!sent || is_read_only(operation)) &&
                               dynamic_cast<const ReconnectBackoffError*>(&error) == nullptr;
        // Retries share the operation's deadline: each gets only what the earlier ones left.
        if (attempt >= options.retries || !retryable || deadline_passed())
          throw;
        logger->debug("retrying {} after: {}", operation, error.what());
      }
    }
  }

  // The health checks start with the second command (or health(), or the pool's first
  // trouble): the first command then has the CPU and the server to itself, and creating the
  // thread costs one command its time once. A relaxed load per command after that.
  void start_monitor_after_first_command() {
    if (monitor_started.load(std::memory_order_relaxed))
      return;
    if (first_command_seen.exchange(true, std::memory_order_relaxed)) {
      monitor->start();
      monitor_started.store(true, std::memory_order_relaxed);
    }
  }

  template <class Operation>
  auto observed(std::string_view operation, Operation&& run) {
    start_monitor_after_first_command();
    if (!options.observer)
      return with_retries(operation, run);
    const auto start = std::chrono::steady_clock::now();
    try {
      auto result = with_retries(operation, run);
      options.observer({operation, std::chrono::steady_clock::now() - start,
                        failed(result) ? std::optional{ErrorCategory::Reply} : std::nullopt});
      return result;
    } catch (const Error& error) {
      options.observer({operation, std::chrono::steady_clock::now() - start, error.category()});
      throw;
    }
  }

  static bool failed(const Reply& reply) { return reply.is_error(); }
  static bool failed(const std::vector<Reply>&) { return false; }
  static bool failed(const std::optional<std::vector<Reply>>&) { return false; }

  ClientOptions options;
  std::shared_ptr<spdlog::logger> logger;
  std::shared_ptr<detail::ConnectionPool> pool;  // shared with every Session's lease
  // The pool's way to the monitor, which a lease outliving this client must not reach.
  std::shared_ptr<MonitorLink> monitor_link = std::make_shared<MonitorLink>();
  std::unique_ptr<detail::HealthMonitor> monitor;
  // True without a monitor: nothing to start.
  std::atomic<bool> monitor_started{!options.health_check};
  std::atomic<bool> first_command_seen{false};
};

namespace {
ValkeyConfig validated(ValkeyConfig config) {
  config.validate();
  return config;
}
}  // namespace

ValkeyClient::ValkeyClient(ValkeyConfig config, ClientOptions options)
    : impl_{std::make_unique<Impl>(validated(std::move(config)), std::move(options))} {}

ValkeyClient::~ValkeyClient() = default;

Reply ValkeyClient::execute(CommandArgs argv) {
  if (argv.empty())
    throw std::invalid_argument("ValkeyClient::execute: empty command");
  detail::refuse_own_connection_command("ValkeyClient::execute", argv[0]);
  return impl_->observed(argv[0],
                         [&](detail::Connection& connection) { return connection.execute(argv); });
}

Reply ValkeyClient::execute_unobserved(CommandArgs argv) {
  return impl_->with_retries(
      argv[0], [&](detail::Connection& connection) { return connection.execute(argv); });
}

std::vector<Reply> ValkeyClient::execute(const Pipeline& pipeline) {
  return execute_overlapping(pipeline, {});
}

std::vector<Reply> ValkeyClient::execute_overlapping(const Pipeline& pipeline,
                                                     const std::function<void()>& while_waiting) {
  std::vector<Reply> replies;
  if (pipeline.empty()) {
    if (while_waiting)
      while_waiting();
    return replies;
  }
  refuse_own_connection_commands("ValkeyClient::execute(pipeline)", pipeline);
  bool ran = !while_waiting;
  return impl_->observed("PIPELINE", [&](detail::Connection& connection) {
    replies.clear();
    replies.reserve(pipeline.size());
    connection.append_encoded(pipeline.encoded());
    connection.flush("PIPELINE");
    // Once, however many attempts: a retry sends the commands again, not the caller's work.
    if (!ran) {
      ran = true;
      try {
        while_waiting();
      } catch (...) {
        // Its replies are still on the way: the connection must not serve another caller.
        connection.mark_broken();
        throw;
      }
    }
    for (std::size_t i = 0; i < pipeline.size(); ++i) {
      replies.push_back(connection.read_reply("PIPELINE"));
    }
    return std::move(replies);
  });
}

std::optional<std::vector<Reply>> ValkeyClient::transaction(const Pipeline& pipeline) {
  refuse_own_connection_commands("ValkeyClient::transaction", pipeline);
  return impl_->observed(
      "EXEC", [&](detail::Connection& connection) -> std::optional<std::vector<Reply>> {
        static constexpr std::array<std::string_view, 1> multi{"MULTI"};
        static constexpr std::array<std::string_view, 1> exec{"EXEC"};
        connection.append(multi);
        connection.append_encoded(pipeline.encoded());
        connection.append(exec);
        connection.flush("MULTI");
        // MULTI's OK, then QUEUED (or a queuing error) per command, then EXEC's array.
        Reply queued_error;
        for (std::size_t i = 0; i < pipeline.size() + 1; ++i) {
          Reply reply = connection.read_reply("MULTI");
          if (reply.is_error() && queued_error.is_nil())
            queued_error = std::move(reply);
        }
        Reply result = connection.read_reply("EXEC");
        if (result.is_error()) {
          const std::string& detail = queued_error.is_nil() ? result.text() : queued_error.text();
          throw ReplyError(fmt::format("EXEC on {}: {}", connection.endpoint(), detail));
        }
        if (result.is_nil())
          return std::nullopt;
        return std::move(result.elements());
      });
}

std::unique_ptr<Session> ValkeyClient::session() {
  return std::make_unique<PooledSession>(impl_->pool->acquire("session"));
}

HealthStatus ValkeyClient::health() const {
  HealthStatus status;
  if (impl_->monitor) {
    // Asked before the second command: the checks start now, and say nothing yet (checks 0).
    impl_->monitor->start();
    status = impl_->monitor->status();
  }
  status.endpoint = impl_->pool->config().endpoint();
  status.refusal = impl_->pool->refusal();
  status.pool_open = impl_->pool->open_count();
  status.pool_idle = impl_->pool->idle_count();
  return status;
}

std::uint64_t ValkeyClient::server_epoch() const noexcept {
  return impl_->pool->server_epoch();
}

std::string ValkeyClient::endpoint() const {
  return impl_->pool->config().endpoint();
}

const ValkeyConfig& ValkeyClient::config() const noexcept {
  return impl_->pool->config();
}

}  // namespace airport::cache
