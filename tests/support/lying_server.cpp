// SPDX-License-Identifier: BSD-3-Clause
#include "support/lying_server.hpp"

#include "support/loopback_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace airport::cache::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadSize = 16 * 1024;
constexpr std::size_t kDripBulkBytes = 100'000;
constexpr std::size_t kEndlessChunkBytes = 1024;
// EndlessBulk stops topping up while this much is unsent, so a client that stopped reading
// costs the server a bounded buffer rather than an ever-growing one.
constexpr std::size_t kMaxUnsentBytes = 64 * 1024;

// Each variant fails a different check of a RESP reader: an unknown type byte, a negative
// aggregate length, a length that is not a number, binary noise, a length without digits.
constexpr std::array<std::string_view, 5> kGarbage = {
    "hello world\r\n", "*-5\r\n", "$abc\r\n", std::string_view("\x00\xff\xfe garbage\r\n", 14),
    ":\r\n"};

const std::string& drip_reply() {
  static const std::string reply =
      "$" + std::to_string(kDripBulkBytes) + "\r\n" + std::string(kDripBulkBytes, 'd') + "\r\n";
  return reply;
}

enum class Stream { None, Drip, Endless };

struct Connection {
  int fd = -1;
  std::string in;
  std::string out;
  std::size_t out_written = 0;
  // A reply that never completes has started: nothing else may be answered on this connection.
  bool stuck = false;
  bool close_after_flush = false;
  bool broken = false;
  Stream stream = Stream::None;
  std::size_t drip_position = 0;
  Clock::time_point next_tick{};

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { close_fd(fd); }

  [[nodiscard]] std::size_t unsent() const { return out.size() - out_written; }
};

enum class Parse { Complete, Incomplete, Malformed };

// Reads a "\r\n"-terminated line starting at `pos`; on success moves `pos` past the terminator.
std::optional<std::string_view> read_line(std::string_view buffer, std::size_t& pos) {
  const auto end = buffer.find("\r\n", pos);
  if (end == std::string_view::npos) {
    return std::nullopt;
  }
  const auto line = buffer.substr(pos, end - pos);
  pos = end + 2;
  return line;
}

std::optional<long long> to_integer(std::string_view text) {
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// One command from the front of `buffer`: a RESP array of bulk strings, or an inline command
// (words separated by spaces, ended by a newline) as redis-cli and telnet send. On Complete,
// `consumed` is the number of bytes it took.
Parse parse_command(std::string_view buffer, std::vector<std::string>& args,
                    std::size_t& consumed) {
  args.clear();
  if (buffer.empty()) {
    return Parse::Incomplete;
  }
  if (buffer.front() != '*') {
    const auto end = buffer.find('\n');
    if (end == std::string_view::npos) {
      return Parse::Incomplete;
    }
    std::string word;
    for (const char c : buffer.substr(0, end)) {
      if (std::isspace(static_cast<unsigned char>(c)) != 0) {
        if (!word.empty()) {
          args.push_back(std::move(word));
          word.clear();
        }
      } else {
        word.push_back(c);
      }
    }
    if (!word.empty()) {
      args.push_back(std::move(word));
    }
    consumed = end + 1;
    return Parse::Complete;
  }
  std::size_t pos = 1;
  const auto count_line = read_line(buffer, pos);
  if (!count_line) {
    return Parse::Incomplete;
  }
  const auto count = to_integer(*count_line);
  if (!count || *count < 0 || *count > 1024 * 1024) {
    return Parse::Malformed;
  }
  for (long long i = 0; i < *count; ++i) {
    if (pos >= buffer.size()) {
      return Parse::Incomplete;
    }
    if (buffer[pos] != '$') {
      return Parse::Malformed;
    }
    ++pos;
    const auto length_line = read_line(buffer, pos);
    if (!length_line) {
      return Parse::Incomplete;
    }
    const auto length = to_integer(*length_line);
    if (!length || *length < 0 || *length > 512 * 1024 * 1024) {
      return Parse::Malformed;
    }
    const auto size = static_cast<std::size_t>(*length);
    if (buffer.size() < pos + size + 2) {
      return Parse::Incomplete;
    }
    args.emplace_back(buffer.substr(pos, size));
    pos += size + 2;
  }
  consumed = pos;
  return Parse::Complete;
}

std::string upper(std::string_view text) {
  std::string result(text);
  std::transform(result.begin(), result.end(), result.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return result;
}

// The replies a client needs to get connected, stay connected and give a connection back to
// its pool. nullopt: the command gets a lie.
std::optional<std::string_view> honest_reply(std::string_view command) {
  static constexpr std::array<std::string_view, 7> kOk = {"AUTH",  "SELECT",  "CLIENT", "HELLO",
                                                          "RESET", "DISCARD", "UNWATCH"};
  if (command == "PING") {
    return "+PONG\r\n";
  }
  if (command == "INFO") {
    // The connect handshake asks which server process this is.
    return "$43\r\n# Server\r\nrun_id:0000000000000000000lying\r\n\r\n";
  }
  if (std::find(kOk.begin(), kOk.end(), command) != kOk.end()) {
    return "+OK\r\n";
  }
  return std::nullopt;
}

// Sends what is unsent. Returns false on a socket error.
bool flush(Connection& connection) {
  while (connection.unsent() > 0) {
    const ssize_t n = ::send(connection.fd, connection.out.data() + connection.out_written,
                             connection.unsent(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    connection.out_written += static_cast<std::size_t>(n);
  }
  connection.out.clear();
  connection.out_written = 0;
  return true;
}

}  // namespace

LyingServer::LyingServer(Lie lie, std::chrono::milliseconds interval)
    : interval_(std::max(interval, std::chrono::milliseconds{1})), lie_(lie) {
  const LoopbackListener listener = open_loopback_listener("LyingServer");
  listen_fd_ = listener.listen_fd;
  wake_fd_ = listener.wake_fd;
  port_ = listener.port;
  try {
    thread_ = std::thread([this] { run(); });
  } catch (...) {
    close_fd(listen_fd_);
    close_fd(wake_fd_);
    throw;
  }
}

LyingServer::~LyingServer() {
  stopping_.store(true);
  wake();
  thread_.join();
  close_fd(listen_fd_);
  close_fd(wake_fd_);
}

void LyingServer::set_lie(Lie lie) {
  lie_.store(lie);
}

void LyingServer::wake() const noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto ignored = ::write(wake_fd_, &one, sizeof(one));
}

// One thread multiplexes every connection with poll(). Each turn: advance the paced replies
// that are due, send what is queued, then wait for I/O, the stop signal or the next tick.
void LyingServer::run() noexcept {
  std::vector<std::unique_ptr<Connection>> connections;
  std::vector<pollfd> fds;
  std::vector<char> buffer(kReadSize);
  std::vector<std::string> args;
  std::size_t garbage_told = 0;

  const auto answer = [&](Connection& connection, Clock::time_point now) {
    commands_.fetch_add(1);
    if (connection.stuck || args.empty()) {
      return;
    }
    if (const auto reply = honest_reply(upper(args.front()))) {
      connection.out.append(*reply);
      return;
    }
    switch (lie_.load()) {
      case Lie::Silent:
        connection.stuck = true;
        break;
      case Lie::Drip:
        connection.stuck = true;
        connection.stream = Stream::Drip;
        connection.drip_position = 0;
        connection.next_tick = now;  // the first byte at once, so the reply visibly starts
        break;
      case Lie::EndlessBulk:
        connection.stuck = true;
        connection.stream = Stream::Endless;
        connection.out.append("$1000000000\r\n");
        connection.next_tick = now + interval_;
        break;
      case Lie::HugeBulkLength:
        connection.stuck = true;
        connection.out.append("$1000000000000\r\n");
        break;
      case Lie::HugeArrayCount:
        connection.stuck = true;
        connection.out.append("*2147483647\r\n");
        break;
      case Lie::Garbage:
        connection.out.append(kGarbage[garbage_told++ % kGarbage.size()]);
        break;
      case Lie::CloseMidReply:
        connection.stuck = true;
        connection.close_after_flush = true;
        connection.out.append("$10\r\nhello");
        break;
    }
  };

  while (!stopping_.load()) {
    auto now = Clock::now();
    for (auto& connection : connections) {
      if (connection->stream != Stream::None && connection->next_tick <= now) {
        if (connection->stream == Stream::Drip) {
          // One byte in flight at a time: the pace is the client's pace when it reads slower.
          if (connection->unsent() == 0) {
            connection->out.push_back(drip_reply()[connection->drip_position++]);
            if (connection->drip_position == drip_reply().size()) {
              connection->stream = Stream::None;
            }
          }
        } else if (connection->unsent() < kMaxUnsentBytes) {
          connection->out.append(kEndlessChunkBytes, 'e');
        }
        connection->next_tick = now + interval_;
      }
      if (!flush(*connection)) {
        connection->broken = true;
      } else if (connection->close_after_flush && connection->unsent() == 0) {
        connection->broken = true;
      }
    }
    std::erase_if(connections, [](const auto& connection) { return connection->broken; });

    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    std::optional<Clock::time_point> next_tick;
    for (const auto& connection : connections) {
      const short events = connection->unsent() > 0 ? POLLIN | POLLOUT : POLLIN;
      fds.push_back({connection->fd, events, 0});
      if (connection->stream != Stream::None) {
        next_tick = next_tick ? std::min(*next_tick, connection->next_tick) : connection->next_tick;
      }
    }
    int timeout_ms = -1;
    if (next_tick) {
      timeout_ms = static_cast<int>(std::max<long long>(
          0, std::chrono::ceil<std::chrono::milliseconds>(*next_tick - now).count()));
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
      continue;  // EINTR
    }
    if ((fds[0].revents & POLLIN) != 0) {
      std::uint64_t count = 0;
      [[maybe_unused]] const auto ignored = ::read(wake_fd_, &count, sizeof(count));
    }

    now = Clock::now();
    // Only the connections that were polled; accepted ones are appended after this loop.
    for (std::size_t i = 0; i < connections.size(); ++i) {
      Connection& connection = *connections[i];
      if ((fds[2 + i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
        continue;
      }
      while (true) {
        const ssize_t n = ::recv(connection.fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n > 0) {
          connection.in.append(buffer.data(), static_cast<std::size_t>(n));
          continue;
        }
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
          connection.broken = true;
        }
        break;
      }
      std::size_t offset = 0;
      while (true) {
        std::size_t consumed = 0;
        const auto parsed =
            parse_command(std::string_view(connection.in).substr(offset), args, consumed);
        if (parsed == Parse::Incomplete) {
          break;
        }
        if (parsed == Parse::Malformed) {
          offset = connection.in.size();  // nothing after it can be framed either
          break;
        }
        offset += consumed;
        answer(connection, now);
      }
      connection.in.erase(0, offset);
    }
    if ((fds[1].revents & POLLIN) != 0) {
      while (true) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          break;  // EAGAIN: none left; other errors: try again next turn
        }
        accepted_.fetch_add(1);
        // A dripped byte must leave at once, not wait for Nagle.
        const int on = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        auto connection = std::make_unique<Connection>();
        connection->fd = fd;
        connections.push_back(std::move(connection));
      }
    }
  }
  connections.clear();
}

}  // namespace airport::cache::testing
