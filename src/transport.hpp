// SPDX-License-Identifier: BSD-3-Clause
// Transport: the one seam between the command layer and the bytes on the wire. The plain TCP
// transport lives in tcp_transport.cpp, the TLS one (OpenSSL, over a TCP transport) in
// tls_transport.cpp; hiredis parses RESP above either.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/fwd.h>

namespace airport::cache {
struct ValkeyConfig;
}

namespace airport::cache::detail {

using Clock = std::chrono::steady_clock;

/// The outcome of one transport call. Errors carry errno-style detail for messages.
enum class IoStatus { Ok, Timeout, Closed, Failed, Cancelled };

struct IoResult {
  IoStatus status = IoStatus::Ok;
  std::size_t bytes = 0;
  std::string detail;  // e.g. "connection reset by peer"; empty when Ok
};

/// A connected, bidirectional byte stream. One thread at a time.
class Transport {
 public:
  using Clock = std::chrono::steady_clock;

  virtual ~Transport() = default;

  /// Writes every byte, or fails. A timeout means the peer stopped reading.
  virtual IoResult write_all(std::string_view bytes) = 0;
  /// Reads at least one byte into buffer; Closed on an orderly end of stream.
  virtual IoResult read_some(char* buffer, std::size_t size) = 0;
  /// Waits until bytes can be read or the timeout passes, without consuming them.
  /// Used by the subscriber to wait for messages while it can still be woken.
  virtual bool wait_readable(std::chrono::milliseconds timeout) = 0;
  /// The socket, for poll() next to a wake-up descriptor.
  [[nodiscard]] virtual int native_handle() const noexcept = 0;
  /// Changes the timeout of later write_all() and read_some() calls.
  virtual void set_io_timeout(std::chrono::milliseconds timeout) = 0;
  /// Closes the stream; later calls fail with Closed.
  virtual void close() noexcept = 0;
  /// Whether bytes were already taken off the socket and wait inside the transport (decrypted
  /// TLS records): poll() on native_handle() cannot see them.
  [[nodiscard]] virtual bool has_buffered_input() const noexcept { return false; }
  /// Whether the TLS handshake resumed an earlier session (no certificate exchange).
  [[nodiscard]] virtual bool resumed_session() const noexcept { return false; }

  /// write_all() that gives up at `deadline` (Timeout), however slowly the peer reads, and at
  /// once (Cancelled) when `cancel_fd` (an eventfd, say; -1 for none) becomes readable. The
  /// default serves transports without a pollable descriptor: it maps the deadline onto
  /// set_io_timeout() and cannot be cancelled.
  virtual IoResult write_all_until(std::string_view bytes, Clock::time_point deadline,
                                   int cancel_fd) {
    (void)cancel_fd;
    if (!map_deadline(deadline))
      return {IoStatus::Timeout, 0, "timed out"};
    return write_all(bytes);
  }
  /// read_some() that waits no later than `deadline` and stops at once when `cancel_fd` becomes
  /// readable, as write_all_until().
  virtual IoResult read_some_until(char* buffer, std::size_t size, Clock::time_point deadline,
                                   int cancel_fd) {
    (void)cancel_fd;
    if (!map_deadline(deadline))
      return {IoStatus::Timeout, 0, "timed out"};
    return read_some(buffer, size);
  }

 private:
  bool map_deadline(Clock::time_point deadline) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= std::chrono::milliseconds::zero())
      return false;
    set_io_timeout(left);
    return true;
  }
};

/// Opens a TCP connection to host:port within connect_timeout, with TCP_NODELAY and keepalive,
/// and io_timeout on every later write_all() and read_some(). A readable `cancel_fd` (an
/// eventfd, say) abandons the connect at once, so a background thread can be stopped
/// mid-connect. Throws ConnectionError or TimeoutError naming the endpoint.
[[nodiscard]] std::unique_ptr<Transport> connect_tcp(const std::string& host, int port,
                                                     std::chrono::milliseconds connect_timeout,
                                                     std::chrono::milliseconds io_timeout,
                                                     int cancel_fd = -1);

/// A transport with a pollable socket: it implements the deadline-bounded calls, and the plain
/// write_all() and read_some() are those with io_timeout from now.
class PolledTransport : public Transport {
 public:
  IoResult write_all(std::string_view bytes) final {
    return write_all_until(bytes, Clock::now() + io_timeout_, -1);
  }
  IoResult read_some(char* buffer, std::size_t size) final {
    return read_some_until(buffer, size, Clock::now() + io_timeout_, -1);
  }
  void set_io_timeout(std::chrono::milliseconds timeout) final { io_timeout_ = timeout; }

 protected:
  explicit PolledTransport(std::chrono::milliseconds io_timeout) : io_timeout_{io_timeout} {}

 private:
  std::chrono::milliseconds io_timeout_;
};

/// Waits until `fd` is ready for `events` (POLLIN, POLLOUT), has an error or hang-up for the
/// caller's next syscall to report, the deadline passes (Timeout), or `cancel_fd` (-1: none)
/// becomes readable (Cancelled).
[[nodiscard]] IoResult wait_ready(int fd, short events, Clock::time_point deadline, int cancel_fd);

/// Runs a TLS handshake over a connected TCP transport, as config.tls says (CA, client
/// certificate, server name, verification), and returns the TLS transport that owns it. The
/// handshake gives up at `deadline` (TimeoutError) or when `cancel_fd` becomes readable. A
/// refused certificate, a wrong name or a server that does not speak TLS throw ConnectionError
/// with OpenSSL's reason ("certificate verify failed: certificate has expired"). Certificate and
/// CA files are read again when they changed on disk since the last connection, and a session
/// from an earlier connection to the same endpoint is offered for resumption.
[[nodiscard]] std::unique_ptr<Transport> connect_tls(std::unique_ptr<Transport> tcp,
                                                     const ValkeyConfig& config,
                                                     Clock::time_point deadline, int cancel_fd);

/// Logs, once per call (once per client: the client and the Subscriber call it when built),
/// that config.tls.verify is off and the server is not authenticated. Nothing when TLS is off or
/// verified.
void warn_if_tls_unverified(const ValkeyConfig& config, spdlog::logger& logger);

}  // namespace airport::cache::detail
