// SPDX-License-Identifier: BSD-3-Clause
// ValkeyClient: the standalone-server Client. A pool of hiredis-parsed connections, automatic
// reconnection with backoff, and a background health check. One per service, shared by all threads.
#pragma once

#include <functional>
#include <memory>

#include <spdlog/fwd.h>

#include "airport/cache/client.hpp"
#include "airport/cache/config.hpp"
#include "airport/cache/health.hpp"
#include "airport/cache/observer.hpp"

namespace airport::cache {

/// Run-time hooks of a ValkeyClient; everything that is not a plain setting.
struct ClientOptions {
  /// Logger for the client's own lines; see resolve_logger() for the default.
  std::shared_ptr<spdlog::logger> logger;
  /// Called after every command with its duration and outcome. Default none (no timing cost).
  CommandObserver observer;
  /// Called on the health thread when the server goes down or comes back.
  std::function<void(const HealthStatus&)> on_health_change;
  /// Called on the health thread after every check, changed or not. Must be cheap.
  std::function<void(const HealthStatus&)> on_health_check;
  /// Extra attempts after a connection or timeout error, opt-in, default 0. Only for commands
  /// that cannot do harm twice: read-only commands (GET, MGET, EXISTS, TTL, ...), or any command
  /// that surely never reached the server (its connection could not be opened, or nothing was
  /// written). INCR after a timeout is never sent again: it may have run. Retries share the
  /// calling thread's DeadlineScope: none starts once it has passed.
  int retries = 0;
  /// Run the background health check. Default true.
  bool health_check = true;
  /// Send READONLY on every new connection, in the handshake's round trip (and again after a
  /// RESET): a Valkey Cluster replica then serves reads of its primary's slots instead of
  /// answering MOVED. A no-op on a primary; refused (RefusedError) by a server without cluster
  /// mode. ClusterClient sets it on its node clients for VALKEY_READ_FROM. Default false.
  bool readonly = false;
};

/// Safe for concurrent use. Not copyable or movable: share it by reference or shared_ptr.
///
/// Each call is bounded step by step: the pool wait by pool_timeout, the connect by
/// connect_timeout, the handshake and each command (its write and its whole reply, however
/// slowly the bytes come) by socket_timeout, and all of them together by the calling thread's
/// DeadlineScope when there is one. A pooled connection is lent only as it was opened: one a
/// session or pipeline left in MULTI, WATCH, another database or with another name is RESET
/// and set up again in one round trip, or closed. A server that refuses the handshake
/// (credentials, database, ACL) makes calls throw RefusedError, is logged once per interval at
/// error level and shows in health().refusal; a refused password stops the pool from lending
/// the connections it opened before, until a new handshake succeeds. A Session keeps the pool
/// alive and may outlive its client.
class ValkeyClient final : public Client {
 public:
  /// Validates the config (ConfigError) and starts the health check. Connects lazily: the
  /// constructor succeeds even while the server is down.
  explicit ValkeyClient(ValkeyConfig config, ClientOptions options = {});
  /// Stops the health check within milliseconds, even mid-connect, mid-handshake or mid-PING
  /// against a hung server.
  ~ValkeyClient() override;
  ValkeyClient(const ValkeyClient&) = delete;
  ValkeyClient& operator=(const ValkeyClient&) = delete;

  using Client::execute;
  Reply execute(CommandArgs argv) override;
  std::vector<Reply> execute(const Pipeline& pipeline) override;
  std::vector<Reply> execute_overlapping(const Pipeline& pipeline,
                                         const std::function<void()>& while_waiting) override;
  std::optional<std::vector<Reply>> transaction(const Pipeline& pipeline) override;
  std::unique_ptr<Session> session() override;
  [[nodiscard]] HealthStatus health() const override;
  [[nodiscard]] std::string endpoint() const override;
  [[nodiscard]] std::uint64_t server_epoch() const noexcept override;

  /// The configuration this client was made with (validated).
  [[nodiscard]] const ValkeyConfig& config() const noexcept;

 private:
  // make_client() asks the server whether it is a cluster through the client it may return,
  // so that the answer's connection serves the first command too.
  friend std::shared_ptr<Client> make_client(ValkeyConfig config, ClientOptions options);
  // execute() without the observer: the question is the library's, not the caller's.
  Reply execute_unobserved(CommandArgs argv);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace airport::cache
