// SPDX-License-Identifier: BSD-3-Clause
#include "support/loopback_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace airport::cache::testing {

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

void close_fd(int& fd) noexcept {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

LoopbackListener open_loopback_listener(std::string_view owner) {
  LoopbackListener listener;
  listener.listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  listener.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (listener.listen_fd < 0 || listener.wake_fd < 0 ||
      ::bind(listener.listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener.listen_fd, SOMAXCONN) != 0 ||
      ::getsockname(listener.listen_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int error = errno;
    close_fd(listener.listen_fd);
    close_fd(listener.wake_fd);
    throw std::runtime_error(std::string{owner} +
                             ": cannot listen on 127.0.0.1: " + errno_text(error));
  }
  listener.port = ntohs(address.sin_port);
  return listener;
}

}  // namespace airport::cache::testing
