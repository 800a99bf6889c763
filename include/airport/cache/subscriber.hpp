// SPDX-License-Identifier: BSD-3-Clause
// Subscriber: pub/sub on a dedicated connection, with handlers called on its own thread. After a
// server restart it reconnects with backoff and subscribes to everything again by itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/fwd.h>

#include "airport/cache/config.hpp"

namespace airport::cache {

/// One received message. `pattern` is empty for a plain SUBSCRIBE.
struct Message {
  /// The channel it was published on.
  std::string channel;
  /// The published bytes.
  std::string payload;
  /// The PSUBSCRIBE pattern that matched the channel.
  std::string pattern;
};

/// Called on the subscriber's thread, one message at a time. Exceptions are caught and logged.
using MessageHandler = std::function<void(const Message&)>;

/// Safe for concurrent use. Messages published while the connection is down are lost: pub/sub
/// has no history. Handlers must not call back into the same Subscriber's destructor.
///
/// Liveness: a connection that has had no reply for `health_check_interval` is sent a PING; if
/// nothing arrives within `socket_timeout` after it, the connection counts as lost (a hung
/// server or a link that drops packets without a reset), and the subscriber reconnects and
/// subscribes again as after a restart. Every reply, a message included, must arrive whole
/// within `socket_timeout` of its first byte, so a server that drips one cannot hold the thread.
class Subscriber {
 public:
  /// Starts the subscriber thread; it connects in the background, so this does not throw for
  /// an unreachable server. Throws ConfigError for an invalid config.
  explicit Subscriber(ValkeyConfig config, std::shared_ptr<spdlog::logger> logger = nullptr);
  /// Stops the thread within milliseconds, even in the middle of a connect, a handshake or a
  /// reply, and closes the connection.
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  /// SUBSCRIBE channel; replaces an earlier handler for the same channel.
  void subscribe(std::string channel, MessageHandler handler);
  /// PSUBSCRIBE pattern (glob-style).
  void psubscribe(std::string pattern, MessageHandler handler);
  /// Drops the channel's handler and sends UNSUBSCRIBE; harmless for a channel not subscribed.
  void unsubscribe(std::string_view channel);
  /// Drops the pattern's handler and sends PUNSUBSCRIBE; harmless for a pattern not subscribed.
  void punsubscribe(std::string_view pattern);

  /// Waits until the server confirmed every current subscription on the current connection.
  /// Returns false on timeout. Publishing before that may not reach this subscriber.
  bool wait_subscribed(std::chrono::milliseconds timeout);

  /// Whether the dedicated connection is up.
  [[nodiscard]] bool connected() const;
  /// How many times the connection was re-established after a loss.
  [[nodiscard]] std::uint64_t reconnects() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace airport::cache
