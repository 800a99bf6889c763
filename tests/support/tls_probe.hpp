// SPDX-License-Identifier: BSD-3-Clause
// tls_ping: a minimal TLS client built directly on OpenSSL, independent of the library under
// test, that proves a TLS server works (or that a handshake fails, and why).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

namespace airport::cache::testing {

/// How tls_ping connects and what it verifies.
struct TlsProbeOptions {
  /// The CA file the server's chain is verified against. Verification is always on.
  std::filesystem::path ca_file{};
  /// A client certificate and its key, for servers that require one; empty means none.
  std::filesystem::path cert_file{};
  std::filesystem::path key_file{};
  /// The name or IP address the server's certificate must be valid for (an IP is checked against
  /// the IP subjectAltNames, a name against the DNS ones and sent as SNI).
  std::string expected_name = "127.0.0.1";
  /// Bounds the connect and every read and write.
  std::chrono::milliseconds timeout{2000};
};

/// Connects to host:port with TLS 1.2 or later, verifies the server as `options` say, sends a
/// RESP PING and returns the first line of the reply without its CRLF ("+PONG", or "-NOAUTH ..."
/// when the server wants a password). Throws std::runtime_error naming the endpoint and the
/// stage (connect, handshake, write, read) with OpenSSL's reason, e.g. "certificate verify
/// failed: certificate has expired" or "tlsv13 alert certificate required". With TLS 1.3 a
/// server that rejects the client's certificate says so only after the client's handshake
/// succeeded, so that failure shows up at the read. Like RawClient, it ignores SIGPIPE for the
/// whole process, so that a server closing first fails the call and not the test binary. Safe to
/// call from several threads at once.
[[nodiscard]] std::string tls_ping(const std::string& host, int port,
                                   const TlsProbeOptions& options);

}  // namespace airport::cache::testing
