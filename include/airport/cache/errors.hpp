// SPDX-License-Identifier: BSD-3-Clause
// The library's exceptions: one base and one subclass per failure category, so callers and the
// CacheManager's stats can tell "server gone" from "server said no" without parsing messages.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace airport::cache {

/// What kind of failure an Error is. Stats count errors by this category.
enum class ErrorCategory { Connection, Timeout, Pool, Reply, Protocol, Config, Serialization };

/// A stable lower-case name for a category: "connection", "timeout", "pool", ...
[[nodiscard]] constexpr std::string_view to_string(ErrorCategory category) noexcept {
  switch (category) {
    case ErrorCategory::Connection:
      return "connection";
    case ErrorCategory::Timeout:
      return "timeout";
    case ErrorCategory::Pool:
      return "pool";
    case ErrorCategory::Reply:
      return "reply";
    case ErrorCategory::Protocol:
      return "protocol";
    case ErrorCategory::Config:
      return "config";
    case ErrorCategory::Serialization:
      return "serialization";
  }
  return "unknown";
}

/// Base of every exception the library throws. Messages name the operation and the endpoint,
/// and never contain a password.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  /// What kind of failure this is: what the retry rules, the breaker and the stats go by.
  [[nodiscard]] virtual ErrorCategory category() const noexcept = 0;
};

/// The server could not be reached, or the connection broke mid-command.
class ConnectionError : public Error {
 public:
  using Error::Error;
  [[nodiscard]] ErrorCategory category() const noexcept override {
    return ErrorCategory::Connection;
  }
};

/// The call failed fast without reaching the network: the server failed the pool's last connect
/// and the next attempt is not due yet (reconnect backoff). A ConnectionError, since the server
/// is unreachable for this call; the CacheManager's breaker does not count it as a failure,
/// because it says nothing new about the server.
class ReconnectBackoffError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};

/// Connecting, or waiting for a reply, took longer than the configured timeout.
class TimeoutError : public Error {
 public:
  using Error::Error;
  [[nodiscard]] ErrorCategory category() const noexcept override { return ErrorCategory::Timeout; }
};

/// Every pooled connection stayed busy for the whole pool wait timeout.
class PoolExhaustedError : public Error {
 public:
  using Error::Error;
  [[nodiscard]] ErrorCategory category() const noexcept override { return ErrorCategory::Pool; }
};

/// The server answered with an error reply (WRONGTYPE, NOSCRIPT, OOM, ...). The server is up.
class ReplyError : public Error {
 public:
  using Error::Error;
  [[nodiscard]] ErrorCategory category() const noexcept override { return ErrorCategory::Reply; }
};

/// The bytes on the wire were not valid RESP, or a reply had an unexpected shape.
class ProtocolError : public Error {
 public:
  using Error::Error;
  [[nodiscard]] ErrorCategory category() const noexcept override { return ErrorCategory::Protocol; }
};

/// A configuration value is missing or invalid. The message names the variable and the value.
class ConfigError : public Error {
 public:
  using Error::Error;
  [[nodiscard]] ErrorCategory category() const noexcept override { return ErrorCategory::Config; }
};

/// The server refused the connection's set-up or its credentials: a wrong password or user
/// (WRONGPASS, NOAUTH), a database that does not exist, an ACL denial. Not an outage: retrying
/// cannot help until the configuration or the server changes. The message carries the server's
/// reason, never the secret.
class RefusedError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

/// A cached value could not be encoded or decoded for the requested type.
class SerializationError : public Error {
 public:
  using Error::Error;
  [[nodiscard]] ErrorCategory category() const noexcept override {
    return ErrorCategory::Serialization;
  }
};

}  // namespace airport::cache
