// SPDX-License-Identifier: BSD-3-Clause
// RawClient: a tiny blocking admin connection built directly on hiredis, independent of the
// library under test. Tests use it as an oracle (check values, CLIENT KILL, DEBUG SLEEP, ...).
#pragma once

#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;

namespace airport::cache::testing {

/// One blocking connection to one server. One thread at a time. Move-only.
///
/// After an I/O error (timeout, closed connection) the command throws and the connection is
/// dropped; the next command connects again. That keeps a timed-out reply from being read as
/// the answer to a later command.
class RawClient {
 public:
  /// Connects, then sends AUTH (`AUTH username password` when a username is given). `timeout`
  /// bounds the connect and every later command. Throws std::runtime_error when the connection
  /// or AUTH fails; the message names the endpoint, never the password.
  RawClient(std::string host, int port, std::string password = {}, std::string username = {},
            std::chrono::milliseconds timeout = std::chrono::seconds{5});
  ~RawClient();
  RawClient(RawClient&& other) noexcept;
  RawClient& operator=(RawClient&& other) noexcept;
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  /// Sends one command (binary-safe) and renders its reply as text: strings and status as-is,
  /// integers in decimal, nil as "(nil)", errors as "(error) <message>", arrays as their rendered
  /// elements joined by '\n'. Error replies are returned, not thrown. Throws std::runtime_error
  /// on I/O errors, including timeouts.
  std::string command(std::initializer_list<std::string_view> args);
  std::string command(const std::vector<std::string>& args);

  /// GET: the value, or nullopt for a missing key. Throws on an error reply.
  std::optional<std::string> get(std::string_view key);
  /// SET key value. Throws unless the server answers OK.
  void set(std::string_view key, std::string_view value);
  /// A command whose reply is an integer (INCR, DBSIZE, EXISTS, ...). Throws on any other reply.
  long long integer(std::initializer_list<std::string_view> args);

  /// The timeout of later commands (and reconnects). Takes effect on the open connection too.
  void set_timeout(std::chrono::milliseconds timeout);

  /// "host:port", for messages.
  [[nodiscard]] std::string endpoint() const;

 private:
  struct Reply;
  Reply execute(const std::vector<std::string_view>& args);
  void connect();
  void disconnect() noexcept;

  std::string host_;
  int port_ = 0;
  std::string password_;
  std::string username_;
  std::chrono::milliseconds timeout_;
  redisContext* context_ = nullptr;
};

}  // namespace airport::cache::testing
