// SPDX-License-Identifier: BSD-3-Clause
#include "support/fault_proxy.hpp"

#include "support/loopback_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace airport::cache::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Past this many undelivered bytes in one direction the proxy stops reading that side, so a
// slow or delayed peer pushes back on the sender instead of growing the queue without bound.
constexpr std::size_t kMaxQueuedBytes = std::size_t{1} << 20;
constexpr std::size_t kReadSize = 64 * 1024;

// Small writes must leave at once: Nagle plus delayed ACKs would add ~40 ms of our own latency.
void set_no_delay(int fd) noexcept {
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

struct Chunk {
  Clock::time_point deliver_at;
  std::string bytes;
};

// Bytes read from one side and not yet written to the other, oldest first.
struct Direction {
  std::deque<Chunk> chunks;
  std::size_t head_written = 0;  // bytes of chunks.front() already written
  std::size_t queued_bytes = 0;
  bool source_closed = false;

  void clear() noexcept {
    chunks.clear();
    head_written = 0;
    queued_bytes = 0;
  }
  [[nodiscard]] bool has_due(Clock::time_point now) const {
    return !chunks.empty() && chunks.front().deliver_at <= now;
  }
};

struct Connection {
  int client = -1;
  int server = -1;
  bool connecting = true;  // the non-blocking connect to the target is in progress
  bool broken = false;
  Direction upstream;    // client -> server
  Direction downstream;  // server -> client

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    close_fd(client);
    close_fd(server);
  }

  // Done once a side closed and everything it sent has been passed on.
  [[nodiscard]] bool finished() const {
    return broken || (upstream.source_closed && upstream.chunks.empty()) ||
           (downstream.source_closed && downstream.chunks.empty());
  }
};

// Reads what `fd` has, up to the queue limit. Returns false on a socket error.
bool read_from(int fd, Direction& direction, bool discard, std::chrono::milliseconds delay,
               std::vector<char>& buffer) {
  while (direction.queued_bytes < kMaxQueuedBytes || discard) {
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n > 0) {
      if (!discard) {
        direction.chunks.push_back(
            {Clock::now() + delay, std::string(buffer.data(), static_cast<std::size_t>(n))});
        direction.queued_bytes += static_cast<std::size_t>(n);
      }
      continue;
    }
    if (n == 0) {
      direction.source_closed = true;
      return true;
    }
    if (errno == EINTR) {
      continue;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
  return true;
}

// Writes the chunks that are due. Returns false on a socket error; stops early (true) when the
// socket is full, leaving the rest for POLLOUT.
bool deliver(int fd, Direction& direction, Clock::time_point now) {
  while (direction.has_due(now)) {
    const Chunk& head = direction.chunks.front();
    const ssize_t n =
        ::send(fd, head.bytes.data() + direction.head_written,
               head.bytes.size() - direction.head_written, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    direction.head_written += static_cast<std::size_t>(n);
    direction.queued_bytes -= static_cast<std::size_t>(n);
    if (direction.head_written == head.bytes.size()) {
      direction.chunks.pop_front();
      direction.head_written = 0;
    }
  }
  return true;
}

}  // namespace

FaultProxy::FaultProxy(std::string target_host, int target_port) : target_port_(target_port) {
  if (target_host == "localhost") {
    target_host = "127.0.0.1";
  }
  in_addr target{};
  if (::inet_pton(AF_INET, target_host.c_str(), &target) != 1) {
    throw std::runtime_error("FaultProxy: target host must be an IPv4 address or localhost, got " +
                             target_host);
  }
  target_address_ = target.s_addr;

  const LoopbackListener listener = open_loopback_listener("FaultProxy");
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

FaultProxy::~FaultProxy() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake();
  thread_.join();
  close_fd(listen_fd_);
  close_fd(wake_fd_);
}

void FaultProxy::set_delay(std::chrono::milliseconds delay) {
  control([delay](Settings& settings) {
    settings.delay = std::max(delay, std::chrono::milliseconds{0});
  });
}

void FaultProxy::cut() {
  control([](Settings& settings) { ++settings.cuts; });
}

void FaultProxy::blackhole(bool on) {
  control([on](Settings& settings) { settings.blackhole = on; });
}

void FaultProxy::refuse(bool on) {
  control([on](Settings& settings) { settings.refuse = on; });
}

template <typename Change>
void FaultProxy::control(Change change) {
  std::unique_lock lock(mutex_);
  change(settings_);
  const std::uint64_t request = ++requested_;
  wake();
  applied_changed_.wait(lock, [&] { return applied_ >= request || finished_; });
}

void FaultProxy::wake() const noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto ignored = ::write(wake_fd_, &one, sizeof(one));
}

// One thread multiplexes every connection with poll(). Each turn: act on new settings, deliver
// what is due, then wait for I/O, a control call (eventfd) or the next delayed chunk.
void FaultProxy::run() noexcept {
  std::vector<std::unique_ptr<Connection>> connections;
  std::vector<pollfd> fds;
  std::vector<char> buffer(kReadSize);
  std::uint64_t cuts_done = 0;
  Settings settings;

  while (true) {
    std::uint64_t request = 0;
    {
      const std::lock_guard lock(mutex_);
      if (stopping_) {
        break;
      }
      settings = settings_;
      request = requested_;
    }
    if (settings.cuts != cuts_done) {
      connections.clear();
      cuts_done = settings.cuts;
    }
    if (settings.blackhole) {
      for (auto& connection : connections) {
        connection->upstream.clear();
        connection->downstream.clear();
      }
    }
    {
      const std::lock_guard lock(mutex_);
      applied_ = request;
    }
    applied_changed_.notify_all();

    auto now = Clock::now();
    for (auto& connection : connections) {
      if (!connection->connecting && !deliver(connection->server, connection->upstream, now)) {
        connection->broken = true;
      }
      if (!deliver(connection->client, connection->downstream, now)) {
        connection->broken = true;
      }
    }
    std::erase_if(connections, [](const auto& connection) { return connection->finished(); });

    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    std::optional<Clock::time_point> next_delivery;
    const auto consider = [&](const Direction& direction) {
      if (!direction.chunks.empty() && !direction.has_due(now)) {
        const auto at = direction.chunks.front().deliver_at;
        next_delivery = next_delivery ? std::min(*next_delivery, at) : at;
      }
    };
    for (const auto& connection : connections) {
      const Direction& up = connection->upstream;
      const Direction& down = connection->downstream;
      short client_events = 0;
      if (!up.source_closed && up.queued_bytes < kMaxQueuedBytes) {
        client_events |= POLLIN;
      }
      if (down.has_due(now)) {
        client_events |= POLLOUT;
      }
      short server_events = 0;
      if (connection->connecting) {
        server_events = POLLOUT;
      } else {
        if (!down.source_closed && down.queued_bytes < kMaxQueuedBytes) {
          server_events |= POLLIN;
        }
        if (up.has_due(now)) {
          server_events |= POLLOUT;
        }
        consider(up);
      }
      consider(down);
      fds.push_back({connection->client, client_events, 0});
      fds.push_back({connection->server, server_events, 0});
    }
    int timeout_ms = -1;
    if (next_delivery) {
      // Round up, so the chunk is due when poll returns rather than a hair before.
      timeout_ms = static_cast<int>(
          std::chrono::ceil<std::chrono::milliseconds>(*next_delivery - now).count());
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0) {
      continue;  // EINTR; anything else would repeat and is not expected for valid fds
    }

    if ((fds[0].revents & POLLIN) != 0) {
      std::uint64_t count = 0;
      [[maybe_unused]] const auto ignored = ::read(wake_fd_, &count, sizeof(count));
    }
    // Only the connections that were polled; accepted ones are appended after this loop.
    for (std::size_t i = 0; i < connections.size(); ++i) {
      Connection& connection = *connections[i];
      const short client_events = fds[2 + 2 * i].revents;
      const short server_events = fds[3 + 2 * i].revents;
      constexpr short kReadable = POLLIN | POLLHUP | POLLERR;
      if ((client_events & kReadable) != 0 &&
          !read_from(connection.client, connection.upstream, settings.blackhole, settings.delay,
                     buffer)) {
        connection.broken = true;
      }
      if (connection.connecting) {
        if ((server_events & (POLLOUT | POLLHUP | POLLERR)) != 0) {
          int error = 0;
          socklen_t length = sizeof(error);
          ::getsockopt(connection.server, SOL_SOCKET, SO_ERROR, &error, &length);
          // A refused target closes the client side too: the client sees a server that is down.
          connection.connecting = false;
          connection.broken = connection.broken || error != 0;
        }
      } else if ((server_events & kReadable) != 0 &&
                 !read_from(connection.server, connection.downstream, settings.blackhole,
                            settings.delay, buffer)) {
        connection.broken = true;
      }
    }
    if ((fds[1].revents & POLLIN) != 0) {
      while (true) {
        const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client < 0) {
          break;  // EAGAIN: none left; other errors: try again next turn
        }
        accepted_.fetch_add(1);
        auto connection = std::make_unique<Connection>();
        connection->client = client;
        if (settings.refuse) {
          continue;  // the destructor closes it
        }
        set_no_delay(client);
        connection->server = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (connection->server < 0) {
          continue;
        }
        set_no_delay(connection->server);
        sockaddr_in target{};
        target.sin_family = AF_INET;
        target.sin_addr.s_addr = target_address_;
        target.sin_port = htons(static_cast<std::uint16_t>(target_port_));
        if (::connect(connection->server, reinterpret_cast<sockaddr*>(&target), sizeof(target)) ==
            0) {
          connection->connecting = false;
        } else if (errno != EINPROGRESS) {
          continue;  // target down: close the client at once
        }
        connections.push_back(std::move(connection));
      }
    }
  }

  connections.clear();
  {
    const std::lock_guard lock(mutex_);
    finished_ = true;
  }
  applied_changed_.notify_all();
}

}  // namespace airport::cache::testing
