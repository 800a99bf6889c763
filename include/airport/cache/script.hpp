// SPDX-License-Identifier: BSD-3-Clause
// Script: a Lua script run by EVALSHA, with the SHA1 computed once. Client::eval falls back to
// EVAL on NOSCRIPT, so it keeps working after a server restart or SCRIPT FLUSH.
#pragma once

#include <string>
#include <string_view>

namespace airport::cache {

/// An immutable Lua script and its SHA1. Safe for concurrent use.
class Script {
 public:
  /// Computes the SHA1 of `source` once, here; no network call.
  explicit Script(std::string source);

  /// The Lua source, as sent by EVAL when the server does not know the SHA1.
  [[nodiscard]] const std::string& source() const noexcept { return source_; }
  /// Lower-case hex SHA1 of the source, as SCRIPT LOAD returns it.
  [[nodiscard]] const std::string& sha1() const noexcept { return sha1_; }

 private:
  std::string source_;
  std::string sha1_;
};

}  // namespace airport::cache
