// SPDX-License-Identifier: BSD-3-Clause
// resolve_logger's own stderr logger: coloured at a terminal, plain with NO_COLOR or through a
// pipe. Each case logs in a forked child whose stderr is a real pseudo-terminal or pipe.
#include "airport/cache/logging.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spdlog/logger.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>

namespace {

using airport::cache::LogLevel;
using airport::cache::resolve_logger;

enum class Stderr { Terminal, Pipe };

struct Logged {
  std::string output;  // what the child wrote to stderr
  int status = -1;     // its wait status
};

constexpr std::string_view kEscape = "\x1b[";

void close_if_open(int fd) {
  if (fd >= 0)
    ::close(fd);
}

// A pseudo-terminal through libc alone (posix_openpt, no libutil): {master, slave}.
std::array<int, 2> open_terminal() {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) {
    ADD_FAILURE() << "posix_openpt/grantpt/unlockpt: " << std::strerror(errno);
    close_if_open(master);
    return {-1, -1};
  }
  std::array<char, 128> name{};
  if (::ptsname_r(master, name.data(), name.size()) != 0) {
    ADD_FAILURE() << "ptsname_r: " << std::strerror(errno);
    ::close(master);
    return {-1, -1};
  }
  const int slave = ::open(name.data(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    ADD_FAILURE() << "open " << name.data() << ": " << std::strerror(errno);
    ::close(master);
    return {-1, -1};
  }
  return {master, slave};
}

// Logs one warning through resolve_logger's own logger in a child process whose stderr is a
// terminal or a pipe, with NO_COLOR set to `no_color` (unset for nullopt) and TERM naming a colour
// terminal, so that only the terminal and NO_COLOR decide. A child, because spdlog decides about
// TERM once per process, and because the test's own stderr is whatever ctest made it.
Logged log_in_child(Stderr where, std::optional<std::string> no_color) {
  std::array<int, 2> fds{-1, -1};  // {read end, write end}
  if (where == Stderr::Terminal) {
    fds = open_terminal();
  } else if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
  }
  Logged logged;
  if (fds[0] < 0)
    return logged;
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The test is single-threaded, so the child may allocate and log.
    ::dup2(fds[1], STDERR_FILENO);
    ::setenv("TERM", "xterm-256color", 1);
    ::unsetenv("COLORTERM");
    if (no_color)
      ::setenv("NO_COLOR", no_color->c_str(), 1);
    else
      ::unsetenv("NO_COLOR");
    const auto logger = resolve_logger(nullptr, LogLevel::Info);
    logger->warn("server {} is not answering", "127.0.0.1:6379");
    logger->flush();
    ::_exit(0);
  }
  ::close(fds[1]);
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    ::close(fds[0]);
    return logged;
  }
  // Until end of file (a pipe) or EIO (a terminal whose last slave closed), within 10 s.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  std::array<char, 1024> buffer{};
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd ready{.fd = fds[0], .events = POLLIN, .revents = 0};
    if (::poll(&ready, 1, 100) <= 0)
      continue;
    const ssize_t n = ::read(fds[0], buffer.data(), buffer.size());
    if (n > 0)
      logged.output.append(buffer.data(), static_cast<std::size_t>(n));
    else if (n == 0 || errno != EINTR)
      break;
  }
  ::close(fds[0]);
  ::kill(pid, SIGKILL);  // a no-op unless it hung
  while (::waitpid(pid, &logged.status, 0) < 0 && errno == EINTR) {
  }
  return logged;
}

void expect_logged_cleanly(const Logged& logged) {
  EXPECT_TRUE(WIFEXITED(logged.status) && WEXITSTATUS(logged.status) == 0)
      << "wait status " << logged.status;
  // The line itself, so that "no escapes" can never pass on an empty output.
  EXPECT_NE(logged.output.find("server 127.0.0.1:6379 is not answering"), std::string::npos)
      << logged.output;
  EXPECT_NE(logged.output.find("warning"), std::string::npos) << logged.output;
}

TEST(ResolveLogger, ColoursItsOwnLinesOnATerminal) {
  const Logged logged = log_in_child(Stderr::Terminal, std::nullopt);
  expect_logged_cleanly(logged);
  EXPECT_NE(logged.output.find(kEscape), std::string::npos) << logged.output;
}

TEST(ResolveLogger, DoesNotColourOnATerminalWhenNoColorIsSet) {
  const Logged logged = log_in_child(Stderr::Terminal, "1");
  expect_logged_cleanly(logged);
  EXPECT_EQ(logged.output.find('\x1b'), std::string::npos) << logged.output;
}

TEST(ResolveLogger, ColoursOnATerminalWhenNoColorIsEmpty) {
  // no-color.org: only a value that is set and not empty turns colour off.
  const Logged logged = log_in_child(Stderr::Terminal, "");
  expect_logged_cleanly(logged);
  EXPECT_NE(logged.output.find(kEscape), std::string::npos) << logged.output;
}

TEST(ResolveLogger, DoesNotColourThroughAPipe) {
  const Logged logged = log_in_child(Stderr::Pipe, std::nullopt);
  expect_logged_cleanly(logged);
  EXPECT_EQ(logged.output.find('\x1b'), std::string::npos) << logged.output;
}

TEST(ResolveLogger, ReturnsTheInjectedLoggerUntouched) {
  const auto injected = std::make_shared<spdlog::logger>("injected");
  EXPECT_EQ(resolve_logger(injected, LogLevel::Off), injected);
}

}  // namespace
