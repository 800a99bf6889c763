// Connection: one authenticated session with a server. It encodes argv to RESP itself (no format
// strings, so every byte is data) and uses hiredis only to parse replies. One thread at a time.
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "airport/cache/config.hpp"
#include "airport/cache/reply.hpp"
#include "transport.hpp"

struct redisReader;

namespace airport::cache::detail {

class Connection {
 public:
  using Clock = std::chrono::steady_clock;

  /// Connects, then AUTH (user + password, or password alone), SELECT and CLIENT SETNAME as the
  /// config asks. Throws ConnectionError or TimeoutError naming the endpoint. See connect_tcp
  /// for cancel_fd.
  [[nodiscard]] static std::unique_ptr<Connection> open(const ValkeyConfig& config,
                                                        int cancel_fd = -1);

  Connection(std::unique_ptr<Transport> transport, std::string endpoint);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Sends one command and reads its reply. Error replies come back as Reply::error, not thrown;
  /// I/O and protocol failures throw and leave the connection broken().
  [[nodiscard]] Reply execute(std::span<const std::string_view> argv);

  /// Pipelining: append() encodes into the output buffer, flush() sends it all in one write,
  /// read_reply() reads the next reply in order.
  void append(std::span<const std::string_view> argv);
  /// Appends commands that are already RESP-encoded (a Pipeline's buffer).
  void append_encoded(std::string_view resp) { output_.append(resp); }
  void flush(std::string_view operation);
  [[nodiscard]] Reply read_reply(std::string_view operation);

  /// True once an I/O, timeout or protocol error was seen: the stream position is unknown, so
  /// the connection must never be reused.
  [[nodiscard]] bool broken() const noexcept { return broken_; }
  /// True when the last flush failed before any byte left: the command surely never ran.
  [[nodiscard]] bool last_flush_sent_nothing() const noexcept { return sent_nothing_; }
  void mark_broken() noexcept { broken_ = true; }

  [[nodiscard]] Clock::time_point last_used() const noexcept { return last_used_; }
  [[nodiscard]] const std::string& endpoint() const noexcept { return endpoint_; }
  [[nodiscard]] Transport& transport() noexcept { return *transport_; }

  /// Whether bytes of an unread reply are buffered (a subscriber may get several at once).
  [[nodiscard]] bool has_buffered_reply();

 private:
  [[noreturn]] void fail_io(std::string_view operation, const IoResult& result);

  std::unique_ptr<Transport> transport_;
  std::string endpoint_;
  redisReader* reader_;
  std::string output_;
  bool broken_ = false;
  bool sent_nothing_ = false;
  Clock::time_point last_used_ = Clock::now();
};

/// Encodes one command as a RESP array of bulk strings, appended to out.
void encode_command(std::string& out, std::span<const std::string_view> argv);

}  // namespace airport::cache::detail
