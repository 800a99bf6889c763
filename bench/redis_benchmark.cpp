// SPDX-License-Identifier: BSD-3-Clause
// redis-benchmark as a reference client: see redis_benchmark.hpp.
#include "redis_benchmark.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "bench_support.hpp"

extern char** environ;

namespace airport::cache::bench {
namespace {

bool is_executable(const std::filesystem::path& path) {
  std::error_code error;
  return std::filesystem::is_regular_file(path, error) && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::string redis_benchmark_binary() {
  if (const char* chosen = std::getenv("AIRPORT_CACHE_REDIS_BENCHMARK"); chosen && *chosen)
    return chosen;
  const std::filesystem::path server_binary{server().binary()};
  std::vector<std::string> names{"redis-benchmark", "valkey-benchmark"};
  if (server_binary.filename().string().starts_with("valkey"))
    std::swap(names[0], names[1]);
  for (const std::string& name : names) {
    if (is_executable(server_binary.parent_path() / name))
      return (server_binary.parent_path() / name).string();
  }
  const char* path = std::getenv("PATH");
  for (const std::string& name : names) {
    std::istringstream dirs{path != nullptr ? path : ""};
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      if (!dir.empty() && is_executable(std::filesystem::path{dir} / name))
        return (std::filesystem::path{dir} / name).string();
    }
  }
  throw std::runtime_error(
      "redis-benchmark not found (Debian: redis-tools; or set AIRPORT_CACHE_REDIS_BENCHMARK)");
}

std::string run_to_completion(const std::vector<std::string>& argv,
                              std::chrono::milliseconds timeout) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string{"pipe: "} + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  std::vector<char*> args;
  for (const std::string& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (spawned != 0) {
    ::close(pipe_fds[0]);
    throw std::runtime_error(argv[0] + ": cannot start: " + std::strerror(spawned));
  }
  std::string output;
  bool timed_out = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd ready{pipe_fds[0], POLLIN, 0};
    const int polled = ::poll(&ready, 1, static_cast<int>(left.count()));
    if (polled < 0 && errno != EINTR)
      break;
    if (polled <= 0)
      continue;  // the deadline is checked again
    char buffer[4096];
    const ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (n == 0)
      break;  // it closed its output: it is exiting
    if (n > 0)
      output.append(buffer, static_cast<std::size_t>(n));
    else if (errno != EINTR && errno != EAGAIN)
      break;
  }
  ::close(pipe_fds[0]);
  if (timed_out)
    ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::string tail = output.size() > 400 ? output.substr(output.size() - 400) : output;
  while (!tail.empty() && std::isspace(static_cast<unsigned char>(tail.back())) != 0)
    tail.pop_back();
  if (timed_out)
    throw std::runtime_error(argv[0] + ": no result in " + std::to_string(timeout.count()) +
                             " ms, killed: " + tail);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(argv[0] + " failed: " + tail);
  return output;
}

double csv_get_requests_per_second(const std::string& output) {
  std::istringstream lines{output};
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with("\"GET\"") && !line.starts_with("\"GET "))
      continue;
    const std::size_t start = line.find(",\"");
    if (start != std::string::npos)
      return std::stod(line.substr(start + 2));
  }
  throw std::runtime_error("redis-benchmark printed no GET result: " + output);
}

}  // namespace airport::cache::bench
