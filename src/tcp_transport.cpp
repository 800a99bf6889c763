// SPDX-License-Identifier: BSD-3-Clause
// The plain TCP transport: a non-blocking socket, and poll() with the time left before every
// recv and send, so one deadline bounds a whole reply however the bytes trickle in (a socket
// timeout such as SO_RCVTIMEO restarts on every byte), and an eventfd next to the socket can
// cancel any wait at once.
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "airport/cache/errors.hpp"
#include "transport.hpp"

namespace airport::cache::detail {
namespace {

IoResult failure_from_errno(int error) {
  if (error == EPIPE || error == ECONNRESET)
    return {IoStatus::Closed, 0, std::strerror(error)};
  return {IoStatus::Failed, 0, std::strerror(error)};
}

class TcpTransport final : public PolledTransport {
 public:
  TcpTransport(int fd, std::chrono::milliseconds io_timeout)
      : PolledTransport{io_timeout}, fd_{fd} {}
  ~TcpTransport() override { close(); }
  TcpTransport(const TcpTransport&) = delete;
  TcpTransport& operator=(const TcpTransport&) = delete;

  IoResult write_all_until(std::string_view bytes, Clock::time_point deadline,
                           int cancel_fd) override {
    std::size_t written = 0;
    while (written < bytes.size()) {
      // Send first: the socket buffer almost always has room, and then no poll() is needed.
      const ssize_t n =
          ::send(fd_, bytes.data() + written, bytes.size() - written, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        written += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      IoResult result;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        result = wait_ready(fd_, POLLOUT, deadline, cancel_fd);
        if (result.status == IoStatus::Ok)
          continue;
      } else {
        result = failure_from_errno(n < 0 ? errno : EPIPE);
      }
      result.bytes = written;
      return result;
    }
    return {IoStatus::Ok, written, {}};
  }

  IoResult read_some_until(char* buffer, std::size_t size, Clock::time_point deadline,
                           int cancel_fd) override {
    for (;;) {
      // Poll first: a reply is rarely there yet right after its command was sent.
      if (IoResult ready = wait_ready(fd_, POLLIN, deadline, cancel_fd);
          ready.status != IoStatus::Ok) {
        return ready;
      }
      const ssize_t n = ::recv(fd_, buffer, size, MSG_DONTWAIT);
      if (n > 0)
        return {IoStatus::Ok, static_cast<std::size_t>(n), {}};
      if (n == 0)
        return {IoStatus::Closed, 0, "connection closed by server"};
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        continue;
      return failure_from_errno(errno);
    }
  }

  bool wait_readable(std::chrono::milliseconds timeout) override {
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    return ready > 0;
  }

  [[nodiscard]] int native_handle() const noexcept override { return fd_; }

  void close() noexcept override {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  int fd_;
};

// Connects one resolved address without blocking past the deadline. Returns the socket or -1
// with errno-like detail in `error`.
int connect_with_timeout(const addrinfo& address, std::chrono::milliseconds timeout, int cancel_fd,
                         int& error) {
  const int fd = ::socket(address.ai_family, address.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                          address.ai_protocol);
  if (fd < 0) {
    error = errno;
    return -1;
  }
  if (::connect(fd, address.ai_addr, address.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      error = errno;
      ::close(fd);
      return -1;
    }
    std::array<pollfd, 2> fds{pollfd{fd, POLLOUT, 0}, pollfd{cancel_fd, POLLIN, 0}};
    int ready = 0;
    do {
      ready = ::poll(fds.data(), cancel_fd >= 0 ? 2 : 1, static_cast<int>(timeout.count()));
    } while (ready < 0 && errno == EINTR);
    if (ready > 0 && (fds[1].revents & POLLIN) != 0) {
      error = ECANCELED;
      ::close(fd);
      return -1;
    }
    if (ready == 0) {
      error = ETIMEDOUT;
      ::close(fd);
      return -1;
    }
    socklen_t length = sizeof error;
    error = 0;
    if (ready < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
      if (error == 0)
        error = errno;
      ::close(fd);
      return -1;
    }
  }
  // The socket stays non-blocking: every later read and write polls with its own deadline.
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  // Probe a silent peer after 60 s idle, then every 10 s, and give up after 3 misses.
  const int idle = 60, interval = 10, count = 3;
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  return fd;
}

}  // namespace

IoResult wait_ready(int fd, short events, Clock::time_point deadline, int cancel_fd) {
  for (;;) {
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero())
      return {IoStatus::Timeout, 0, "timed out"};
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(left);
    const timespec timeout{static_cast<time_t>(seconds.count()),
                           static_cast<long>(std::chrono::nanoseconds{left - seconds}.count())};
    std::array<pollfd, 2> fds{pollfd{fd, events, 0}, pollfd{cancel_fd, POLLIN, 0}};
    const int ready = ::ppoll(fds.data(), cancel_fd >= 0 ? 2 : 1, &timeout, nullptr);
    if (ready < 0) {
      if (errno == EINTR)
        continue;
      return failure_from_errno(errno);
    }
    if (ready == 0)
      continue;  // the loop's first line decides whether the deadline has passed
    if ((fds[1].revents & POLLIN) != 0)
      return {IoStatus::Cancelled, 0, "cancelled"};
    if (fds[0].revents != 0)
      return {};
  }
}

std::unique_ptr<Transport> connect_tcp(const std::string& host, int port,
                                       std::chrono::milliseconds connect_timeout,
                                       std::chrono::milliseconds io_timeout, int cancel_fd) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &addresses); rc != 0) {
    throw ConnectionError(
        fmt::format("connect to {}:{}: cannot resolve host: {}", host, port, ::gai_strerror(rc)));
  }
  int error = 0;
  int fd = -1;
  for (addrinfo* address = addresses; address != nullptr && fd < 0; address = address->ai_next) {
    fd = connect_with_timeout(*address, connect_timeout, cancel_fd, error);
  }
  ::freeaddrinfo(addresses);
  if (fd < 0) {
    if (error == ETIMEDOUT) {
      throw TimeoutError(fmt::format("connect to {}:{}: timed out after {} ms", host, port,
                                     connect_timeout.count()));
    }
    throw ConnectionError(fmt::format("connect to {}:{}: {}", host, port, std::strerror(error)));
  }
  return std::make_unique<TcpTransport>(fd, io_timeout);
}

}  // namespace airport::cache::detail
