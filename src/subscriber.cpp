// SPDX-License-Identifier: BSD-3-Clause
#include "airport/cache/subscriber.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/logger.h>

#include "airport/cache/backoff.hpp"
#include "airport/cache/errors.hpp"
#include "airport/cache/logging.hpp"
#include "connection.hpp"
#include "seed_nodes.hpp"

namespace airport::cache {

struct Subscriber::Impl {
  using Handlers = std::map<std::string, MessageHandler, std::less<>>;
  using SteadyTime = std::chrono::steady_clock::time_point;

  Impl(ValkeyConfig valkey_config, std::shared_ptr<spdlog::logger> injected)
      : config{std::move(valkey_config)},
        logger{resolve_logger(std::move(injected), config.log_level)},
        wake_fd{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)},
        stop_fd{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)} {
    if (wake_fd < 0 || stop_fd < 0) {
      throw std::system_error(errno, std::generic_category(), "eventfd");
    }
    detail::warn_if_tls_unverified(config, *logger);
    thread = std::thread{[this] { run(); }};
  }

  ~Impl() {
    {
      std::lock_guard lock{mutex};
      stopping = true;
    }
    const std::uint64_t one = 1;
    (void)!::write(stop_fd, &one, sizeof one);
    wake();
    thread.join();
    ::close(wake_fd);
    ::close(stop_fd);
  }

  void wake() const {
    const std::uint64_t one = 1;
    (void)!::write(wake_fd, &one, sizeof one);
  }

  void request(std::vector<std::string> command) {
    {
      std::lock_guard lock{mutex};
      pending.push_back(std::move(command));
    }
    wake();
  }

  void run() {
    int failures = 0;
    bool ever_connected = false;
    for (;;) {
      {
        std::lock_guard lock{mutex};
        if (stopping)
          break;
      }
      if (!connection) {
        if (!connect(failures, ever_connected)) {
          const auto delay =
              full_jitter(failures - 1, config.reconnect_base_delay, config.reconnect_max_delay);
          wait_for_wake(delay);
        }
        continue;
      }
      try {
        pump();
      } catch (const Error& error) {
        if (!is_stopping())
          logger->warn("subscriber lost its connection to {}: {}", config.endpoint(), error.what());
        drop_connection();
      }
    }
    drop_connection();
  }

  bool is_stopping() const {
    std::lock_guard lock{mutex};
    return stopping;
  }

  // Connects and re-subscribes to everything. Returns false (and counts a failure) when it could
  // not.
  bool connect(int& failures, bool& ever_connected) {
    try {
      // Only stopping cancels a connect, a handshake or a read of the connection; a subscribe()
      // meanwhile is picked up once connected.
      // After a failure, the next endpoint: on a cluster, the node it listened on may be gone
      // for good (a failover), and any node delivers every PUBLISH.
      ValkeyConfig target = config;
      const auto endpoints = detail::dialable_endpoints(config);
      const auto& endpoint = endpoints[static_cast<std::size_t>(failures) % endpoints.size()];
      target.host = endpoint.host;
      target.port = endpoint.port;
      auto fresh = detail::Connection::open(target, stop_fd);
      std::vector<std::string> channels, patterns;
      {
        std::lock_guard lock{mutex};
        if (stopping)
          return true;
        for (const auto& [name, handler] : channel_handlers)
          channels.push_back(name);
        for (const auto& [name, handler] : pattern_handlers)
          patterns.push_back(name);
        // Everything asked for so far is in the maps; queued commands are replaced by this.
        pending.clear();
        confirmed.clear();
        connection = std::move(fresh);
        if (ever_connected)
          ++reconnect_count;
        ever_connected = true;
      }
      if (!channels.empty())
        send_all("SUBSCRIBE", channels);
      if (!patterns.empty())
        send_all("PSUBSCRIBE", patterns);
      heard_from_server();
      if (failures > 0) {
        logger->info("subscriber reconnected to {} and resubscribed to {} channels, {} patterns",
                     config.endpoint(), channels.size(), patterns.size());
      }
      failures = 0;
      changed.notify_all();
      return true;
    } catch (const Error& error) {
      if (failures == 0 && !is_stopping()) {
        logger->warn("subscriber cannot connect to {}: {}", config.endpoint(), error.what());
      }
      ++failures;
      drop_connection();
      return false;
    }
  }

  void send_all(std::string_view verb, const std::vector<std::string>& names) {
    std::vector<std::string_view> argv{verb};
    argv.insert(argv.end(), names.begin(), names.end());
    connection->append(argv);
    connection->flush(verb);
  }

  // Waits for a message, a request or the liveness deadline, then handles what came first.
  void pump() {
    std::array<pollfd, 2> fds{pollfd{connection->transport().native_handle(), POLLIN, 0},
                              pollfd{wake_fd, POLLIN, 0}};
    const bool buffered = connection->has_buffered_reply();
    if (!buffered) {
      const int ready = ::poll(fds.data(), fds.size(), poll_timeout_ms());
      if (ready < 0 && errno != EINTR)
        throw ConnectionError("subscriber poll failed");
      if (ready == 0) {
        check_liveness();
        return;
      }
    }
    if ((fds[1].revents & POLLIN) != 0) {
      std::uint64_t count = 0;
      (void)!::read(wake_fd, &count, sizeof count);
      send_pending();
    }
    if (buffered || (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      // Nobody sent a command for a message: its whole reply gets its own socket_timeout, so a
      // server that drips it cannot hold the thread.
      connection->set_deadline(std::chrono::steady_clock::now() + config.socket_timeout);
      dispatch(connection->read_reply("SUBSCRIBE"));
      heard_from_server();
    }
  }

  // Liveness: a subscribed connection may stay silent for hours, and a server that hangs or a
  // link that drops packets without a reset would leave it waiting for ever. So after
  // health_check_interval without a reply it sends PING (allowed while subscribed), and a
  // server that does not answer within socket_timeout is treated as lost: reconnect, resubscribe.
  void heard_from_server() {
    quiet_since = std::chrono::steady_clock::now();
    ping_deadline.reset();
  }

  [[nodiscard]] int poll_timeout_ms() const {
    const SteadyTime due =
        ping_deadline ? *ping_deadline : quiet_since + config.health_check_interval;
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(due - std::chrono::steady_clock::now());
    return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(
        left.count(), 0, std::numeric_limits<int>::max()));
  }

  void check_liveness() {
    const SteadyTime now = std::chrono::steady_clock::now();
    if (ping_deadline) {
      if (now >= *ping_deadline) {
        throw TimeoutError(
            fmt::format("no reply to PING within {} ms", config.socket_timeout.count()));
      }
      return;
    }
    if (now >= quiet_since + config.health_check_interval) {
      static constexpr std::array<std::string_view, 1> kPing{"PING"};
      connection->append(kPing);
      connection->flush("PING");
      ping_deadline = now + config.socket_timeout;
    }
  }

  void send_pending() {
    std::vector<std::vector<std::string>> commands;
    {
      std::lock_guard lock{mutex};
      commands.swap(pending);
    }
    for (const auto& command : commands) {
      std::vector<std::string_view> argv(command.begin(), command.end());
      connection->append(argv);
    }
    if (!commands.empty())
      connection->flush("SUBSCRIBE");
  }

  void dispatch(const Reply& reply) {
    if (!reply.is_array() || reply.elements().empty())
      return;
    const auto& parts = reply.elements();
    const std::string& kind = parts[0].text();
    if (kind == "message" && parts.size() == 3) {
      deliver(channel_handlers, parts[1].text(), Message{parts[1].text(), parts[2].text(), {}});
    } else if (kind == "pmessage" && parts.size() == 4) {
      deliver(pattern_handlers, parts[1].text(),
              Message{parts[2].text(), parts[3].text(), parts[1].text()});
    } else if ((kind == "subscribe" || kind == "psubscribe") && parts.size() >= 2) {
      std::lock_guard lock{mutex};
      confirmed.insert(kind[0] + parts[1].text());
      changed.notify_all();
    } else if ((kind == "unsubscribe" || kind == "punsubscribe") && parts.size() >= 2) {
      std::lock_guard lock{mutex};
      confirmed.erase((kind[0] == 'p' ? "p" : "s") + parts[1].text());
    }
  }

  void deliver(const Handlers& handlers, const std::string& name, const Message& message) {
    MessageHandler handler;
    {
      std::lock_guard lock{mutex};
      const auto found = handlers.find(name);
      if (found == handlers.end())
        return;
      handler = found->second;
    }
    try {
      handler(message);
    } catch (const std::exception& error) {
      // The channel at debug level only: channel names, like keys, may carry user data.
      logger->error("a subscriber handler threw: {}", error.what());
      logger->debug("the subscriber handler that threw is that of '{}'", name);
    }
  }

  void drop_connection() {
    std::lock_guard lock{mutex};
    connection.reset();
    confirmed.clear();
  }

  void wait_for_wake(std::chrono::milliseconds delay) {
    pollfd pfd{wake_fd, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(delay.count())) > 0) {
      std::uint64_t count = 0;
      (void)!::read(wake_fd, &count, sizeof count);
    }
  }

  bool all_confirmed() const {
    if (!connection)
      return false;
    for (const auto& [name, handler] : channel_handlers) {
      if (!confirmed.contains("s" + name))
        return false;
    }
    for (const auto& [name, handler] : pattern_handlers) {
      if (!confirmed.contains("p" + name))
        return false;
    }
    return true;
  }

  const ValkeyConfig config;
  const std::shared_ptr<spdlog::logger> logger;
  const int wake_fd;  // a request is queued (or stopping)
  const int stop_fd;  // stopping: stays readable, aborts a connect in progress
  mutable std::mutex mutex;
  std::condition_variable changed;
  bool stopping = false;
  Handlers channel_handlers;
  Handlers pattern_handlers;
  std::set<std::string> confirmed;  // "s<channel>" / "p<pattern>" acknowledged by the server
  std::vector<std::vector<std::string>> pending;
  std::uint64_t reconnect_count = 0;
  std::unique_ptr<detail::Connection> connection;  // used by the thread; reset under the mutex
  SteadyTime quiet_since{};                        // the thread's: last reply, or the connect
  std::optional<SteadyTime> ping_deadline;         // the thread's: a PING is unanswered until then
  std::thread thread;
};

namespace {
ValkeyConfig validated(ValkeyConfig config) {
  config.validate();
  return config;
}
}  // namespace

Subscriber::Subscriber(ValkeyConfig config, std::shared_ptr<spdlog::logger> logger)
    : impl_{std::make_unique<Impl>(validated(std::move(config)), std::move(logger))} {}

Subscriber::~Subscriber() = default;

void Subscriber::subscribe(std::string channel, MessageHandler handler) {
  {
    std::lock_guard lock{impl_->mutex};
    impl_->channel_handlers.insert_or_assign(channel, std::move(handler));
  }
  impl_->request({"SUBSCRIBE", std::move(channel)});
}

void Subscriber::psubscribe(std::string pattern, MessageHandler handler) {
  {
    std::lock_guard lock{impl_->mutex};
    impl_->pattern_handlers.insert_or_assign(pattern, std::move(handler));
  }
  impl_->request({"PSUBSCRIBE", std::move(pattern)});
}

void Subscriber::unsubscribe(std::string_view channel) {
  {
    std::lock_guard lock{impl_->mutex};
    if (const auto found = impl_->channel_handlers.find(channel);
        found != impl_->channel_handlers.end()) {
      impl_->channel_handlers.erase(found);
    }
  }
  impl_->request({"UNSUBSCRIBE", std::string{channel}});
}

void Subscriber::punsubscribe(std::string_view pattern) {
  {
    std::lock_guard lock{impl_->mutex};
    if (const auto found = impl_->pattern_handlers.find(pattern);
        found != impl_->pattern_handlers.end()) {
      impl_->pattern_handlers.erase(found);
    }
  }
  impl_->request({"PUNSUBSCRIBE", std::string{pattern}});
}

bool Subscriber::wait_subscribed(std::chrono::milliseconds timeout) {
  std::unique_lock lock{impl_->mutex};
  return impl_->changed.wait_for(lock, timeout, [this] { return impl_->all_confirmed(); });
}

bool Subscriber::connected() const {
  std::lock_guard lock{impl_->mutex};
  return impl_->connection != nullptr;
}

std::uint64_t Subscriber::reconnects() const {
  std::lock_guard lock{impl_->mutex};
  return impl_->reconnect_count;
}

}  // namespace airport::cache
