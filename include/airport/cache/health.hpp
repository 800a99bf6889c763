// SPDX-License-Identifier: BSD-3-Clause
// HealthStatus: what the client's background health check last saw of the server.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace airport::cache {

/// A snapshot of the server's health as the last background PING saw it.
struct HealthStatus {
  /// The server checked, "host:port" (empty in a cluster client's combined status).
  std::string endpoint;
  /// Whether the last PING got PONG within the socket timeout.
  bool up = false;
  /// Round trip of the last successful PING.
  std::chrono::microseconds round_trip{0};
  /// Why the last failed check failed; empty after a success. Never contains a secret.
  std::string last_error;
  /// Why the server refuses this client's connections (wrong password, unknown database, ACL),
  /// with the server's reason; empty when it does not. Set by the pool, not by the PING.
  std::string refusal;
  /// "valkey" or "redis", from INFO server.
  std::string server_name;
  /// valkey_version when the server reports one, else redis_version. Valkey reports a fixed
  /// redis_version 7.2.4 for compatibility, so never decide features from redis_version.
  std::string server_version;
  /// "master" or "slave"/"replica", from INFO replication.
  std::string role;
  /// When the last check finished; time_since_epoch() == 0 before the first one.
  std::chrono::system_clock::time_point last_check{};
  /// Checks run, and how many of them failed.
  std::uint64_t checks = 0;
  /// Checks that got no PING answer or an error.
  std::uint64_t failed_checks = 0;
  /// Pooled connections open and idle right now.
  std::size_t pool_open = 0;
  /// Of pool_open, those not lent out.
  std::size_t pool_idle = 0;
};

}  // namespace airport::cache
