// Transport: the one seam between the command layer and the bytes on the wire. The plain TCP
// transport lives in tcp_transport.cpp; a TLS transport (OpenSSL) slots in here later while
// hiredis keeps parsing RESP above it.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace airport::cache::detail {

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

}  // namespace airport::cache::detail
