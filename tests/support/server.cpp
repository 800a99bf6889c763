// SPDX-License-Identifier: BSD-3-Clause
#include "support/server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include "support/wait.hpp"

namespace airport::cache::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto kReadyDeadline = 10s;
constexpr auto kProbeTimeout = 200ms;
constexpr int kPortAttempts = 5;

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

bool is_executable_file(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

std::optional<std::filesystem::path> find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) {
    return std::nullopt;
  }
  std::stringstream directories(path);
  std::string directory;
  while (std::getline(directories, directory, ':')) {
    const auto candidate = std::filesystem::path(directory.empty() ? "." : directory) / name;
    if (is_executable_file(candidate)) {
      return std::filesystem::absolute(candidate);
    }
  }
  return std::nullopt;
}

// Every ServerProcess alive in the program, for stop_all_servers(). A ServerProcess forks, reaps
// and marks its process dead only while holding `mutex`, so whoever holds it sees a pid that is
// either running or an unreaped zombie, never one the kernel may have handed to another process.
struct Registry {
  std::mutex mutex;
  std::vector<ServerProcess*> servers;
  // stop_all_servers() ran: the program is exiting, no server may start.
  bool closed = false;
};

// Leaked on purpose: the thread that calls stop_all_servers() may still run while static
// destructors do at exit.
Registry& registry() {
  static auto* const instance = new Registry;
  return *instance;
}

void throw_if_closed(const Registry& all) {
  if (all.closed) {
    throw std::runtime_error(
        "ServerProcess: the program is exiting (stop_all_servers() ran); no server may start");
  }
}

std::string find_server_binary() {
  if (const char* chosen = std::getenv("AIRPORT_CACHE_SERVER_BIN");
      chosen != nullptr && *chosen != '\0') {
    // A bare name ("valkey-server") is looked up on PATH, as a shell would.
    if (std::string_view(chosen).find('/') == std::string_view::npos) {
      if (auto found = find_on_path(chosen)) {
        return found->string();
      }
    } else if (is_executable_file(chosen)) {
      return std::filesystem::absolute(chosen).string();
    }
    throw std::runtime_error(
        std::string("AIRPORT_CACHE_SERVER_BIN=") + chosen +
        " is not an executable file; unset it to use valkey-server or redis-server from PATH");
  }
  for (const char* name : {"valkey-server", "redis-server"}) {
    if (auto found = find_on_path(name)) {
      return found->string();
    }
  }
  throw std::runtime_error(
      "no Valkey/Redis server binary: AIRPORT_CACHE_SERVER_BIN is unset, valkey-server and "
      "redis-server not on PATH; run scripts/setup");
}

// A port the kernel just handed out for 127.0.0.1. It is free again once the socket is closed;
// the caller retries if someone else takes it before the server binds it.
int pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error("ServerProcess: socket: " + errno_text(errno));
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::runtime_error("ServerProcess: cannot pick a free port: " + errno_text(error));
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// Whether something accepts TCP connections on 127.0.0.1:port right now.
bool accepts_connections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return connected;
}

// Whether a server log says that the binary has no TLS at all, as opposed to a TLS setting it
// rejected (a missing file, a key that does not match): Redis up to 7.0 built without
// BUILD_TLS does not know the tls-* directives, and Redis 7.2+ and Valkey have no "tls"
// connection type then.
bool log_says_tls_is_missing(std::string log) {
  std::transform(log.begin(), log.end(), log.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const bool unknown_tls_directive =
      log.find("bad directive") != std::string::npos && log.find("'tls-") != std::string::npos;
  return unknown_tls_directive || log.find("connection type tls") != std::string::npos ||
         log.find("tls is not supported") != std::string::npos ||
         log.find("built without tls") != std::string::npos;
}

// Runs `binary --version` and returns its first line, or "" when that fails.
std::string version_line(const std::string& binary) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return {};
  }
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  const char* argv[] = {binary.c_str(), "--version", nullptr};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  if (null_fd >= 0) {
    ::close(null_fd);
  }
  std::string output;
  if (pid > 0) {
    char buffer[512];
    ssize_t n = 0;
    while ((n = ::read(pipe_fds[0], buffer, sizeof(buffer))) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) {
        output.append(buffer, static_cast<std::size_t>(n));
      }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  ::close(pipe_fds[0]);
  return output.substr(0, output.find('\n'));
}

// "8.0.1" from "Valkey server v=8.0.1 sha=...", "" when the line has no "v=".
std::string version_field(const std::string& line) {
  const auto at = line.find("v=");
  if (at == std::string::npos) {
    return {};
  }
  const auto end = line.find(' ', at);
  return line.substr(at + 2, end == std::string::npos ? std::string::npos : end - at - 2);
}

// DEBUG is refused by default since Redis 7 unless --enable-debug-command is given, and servers
// before 7 reject that option. Cached per binary: it costs a fork and exec.
bool supports_enable_debug_command(const std::string& binary) {
  static std::mutex mutex;
  static std::map<std::string, bool> cache;
  const std::lock_guard lock(mutex);
  if (const auto found = cache.find(binary); found != cache.end()) {
    return found->second;
  }
  // "Redis server v=7.0.15 sha=..." or "Valkey server v=8.0.1 ...". Parsed by hand: GCC 12's
  // std::regex trips -Wmaybe-uninitialized in optimized sanitizer builds.
  const std::string line = version_line(binary);
  const auto at = line.find("v=");
  int major = 0;
  for (auto i = at == std::string::npos ? line.size() : at + 2;
       i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i) {
    major = major * 10 + (line[i] - '0');
  }
  const bool supported = major >= 7;
  cache.emplace(binary, supported);
  return supported;
}

std::string read_file_from(const std::filesystem::path& path, std::uintmax_t offset) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return {};
  }
  in.seekg(static_cast<std::streamoff>(offset));
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::uintmax_t file_size_or_zero(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

// fork + execv. Only async-signal-safe calls happen in the child, since the test process has
// other threads (proxies, the library's health monitor) whose locks a fork can leave held.
pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& log_path) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& arg : args) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);

  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    throw std::runtime_error("ServerProcess: cannot open " + log_path.string() + ": " +
                             errno_text(errno));
  }
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // A test binary that crashes or is killed must not leave a server behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);
    }
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    // Inherited sockets (a FaultProxy's, the library's) would otherwise stay open in the server
    // and keep connections alive that a test believes it closed.
    if (::close_range(3, ~0U, 0) != 0) {
      for (int fd = 3; fd < 65536; ++fd) {
        ::close(fd);
      }
    }
    // Dispositions set to SIG_IGN survive exec; give the server a clean slate.
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    static constexpr char kExecFailed[] = "ServerProcess: execv of the server binary failed\n";
    [[maybe_unused]] const auto ignored =
        ::write(STDERR_FILENO, kExecFailed, sizeof(kExecFailed) - 1);
    ::_exit(127);
  }
  const int fork_error = errno;
  ::close(log_fd);
  if (null_fd >= 0) {
    ::close(null_fd);
  }
  if (pid < 0) {
    throw std::runtime_error("ServerProcess: fork: " + errno_text(fork_error));
  }
  return pid;
}

// The state letter of /proc/<pid>/stat ('R', 'S', 'T' for stopped, 'Z', ...), '?' when gone.
char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  // The command name is in parentheses and may itself contain ") ".
  const auto name_end = stat.rfind(')');
  if (name_end == std::string::npos || name_end + 2 >= stat.size()) {
    return '?';
  }
  return stat[name_end + 2];
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return std::string("was killed by signal ") + ::strsignal(WTERMSIG(status));
  }
  return "ended with wait status " + std::to_string(status);
}

}  // namespace

std::string server_binary() {
  return find_server_binary();
}

std::string server_binary_version(const std::string& binary) {
  return version_field(version_line(binary));
}

std::string info_field(std::string_view info, std::string_view field) {
  std::size_t start = 0;
  while (start < info.size()) {
    const std::size_t end = std::min(info.find('\n', start), info.size());
    std::string_view line = info.substr(start, end - start);
    if (line.ends_with('\r'))
      line.remove_suffix(1);
    if (line.size() > field.size() && line.starts_with(field) && line[field.size()] == ':')
      return std::string{line.substr(field.size() + 1)};
    start = end + 1;
  }
  return {};
}

ServerProcess::ServerProcess(ServerOptions options)
    : options_(std::move(options)), binary_(find_server_binary()) {
  debug_command_ = supports_enable_debug_command(binary_);
  std::string pattern =
      (std::filesystem::temp_directory_path() / "airport-cache-server-XXXXXX").string();
  {
    // The directory is made and registered in one step, so stop_all_servers() never misses it.
    Registry& all = registry();
    const std::lock_guard lock(all.mutex);
    throw_if_closed(all);
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("ServerProcess: mkdtemp " + pattern + ": " + errno_text(errno));
    }
    dir_ = pattern;
    all.servers.push_back(this);
  }
  try {
    for (int attempt = 1;; ++attempt) {
      port_ = pick_free_port();
      if (options_.tls) {
        do {
          tls_port_ = pick_free_port();
        } while (tls_port_ == port_);
      }
      if (options_.cluster) {
        // The default bus port, port + 10000, may be taken or above 65535.
        do {
          cluster_port_ = pick_free_port();
        } while (cluster_port_ == port_ || cluster_port_ == tls_port_);
      }
      if (launch()) {
        return;
      }
      if (attempt == kPortAttempts) {
        throw std::runtime_error("ServerProcess: " + binary_ + " could not bind a free port in " +
                                 std::to_string(kPortAttempts) + " attempts; last 20 lines of " +
                                 (dir_ / "server.log").string() + ":\n" + log_tail());
      }
    }
  } catch (...) {
    // The destructor does not run for a throwing constructor.
    release();
    throw;
  }
}

ServerProcess::~ServerProcess() {
  // SIGKILL at once: the data is thrown away with the directory, and a graceful SIGTERM costs
  // up to 100 ms per test (the server acts on it at its next 10 Hz timer tick).
  release();
}

void ServerProcess::release() noexcept {
  Registry& all = registry();
  const std::lock_guard lock(all.mutex);
  kill_and_reap_locked();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  all.servers.erase(std::remove(all.servers.begin(), all.servers.end(), this), all.servers.end());
}

std::vector<pid_t> ServerProcess::stop_all_servers() noexcept {
  Registry& all = registry();
  const std::lock_guard lock(all.mutex);
  all.closed = true;
  std::vector<pid_t> killed;
  killed.reserve(all.servers.size());
  for (ServerProcess* server : all.servers) {
    if (server->alive_.load()) {
      killed.push_back(server->pid_.load());
      server->kill_and_reap_locked();
    }
    std::error_code ignored;
    std::filesystem::remove_all(server->dir_, ignored);
  }
  return killed;
}

std::vector<std::string> ServerProcess::command_line() const {
  std::vector<std::string> args{binary_,
                                "--port",
                                std::to_string(port_),
                                "--bind",
                                host_,
                                "--save",
                                "",
                                "--appendonly",
                                "no",
                                "--dir",
                                dir_.string(),
                                "--dbfilename",
                                "dump.rdb",
                                "--daemonize",
                                "no",
                                "--protected-mode",
                                "no",
                                "--logfile",
                                (dir_ / "server.log").string()};
  if (debug_command_) {
    args.insert(args.end(), {"--enable-debug-command", "yes"});
  }
  if (!options_.requirepass.empty()) {
    args.insert(args.end(), {"--requirepass", options_.requirepass});
  }
  if (options_.acl_user) {
    args.insert(args.end(), {"--user", options_.acl_user->name, "on",
                             ">" + options_.acl_user->password, "~*", "&*", "+@all"});
  }
  if (options_.tls) {
    args.insert(args.end(), {"--tls-port", std::to_string(tls_port_), "--tls-cert-file",
                             options_.tls->cert_file.string(), "--tls-key-file",
                             options_.tls->key_file.string(), "--tls-ca-cert-file",
                             options_.tls->ca_file.string(), "--tls-auth-clients",
                             options_.tls->require_client_certificate ? "yes" : "no"});
  }
  if (options_.cluster) {
    args.insert(args.end(),
                {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", std::to_string(options_.cluster->node_timeout.count()),
                 "--cluster-port", std::to_string(cluster_port_)});
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  return args;
}

bool ServerProcess::launch() {
  const auto log_path = dir_ / "server.log";
  const auto log_offset = file_size_or_zero(log_path);
  {
    Registry& all = registry();
    const std::lock_guard lock(all.mutex);
    throw_if_closed(all);
    pid_.store(spawn(command_line(), log_path));
    alive_.store(true);
  }

  bool exited = false;
  int status = 0;
  const bool ready = wait_until(
      [&] {
        if (poll_exit(status)) {
          exited = true;
          return true;
        }
        try {
          RawClient probe(host_, port_, password(), username(), kProbeTimeout);
          // LOADING, BUSY and the like mean "not yet".
          return probe.command({"PING"}) == "PONG";
        } catch (const std::exception&) {
          return false;
        }
      },
      kReadyDeadline, 10ms);

  const std::string where =
      binary_ + " on " + host_ + ":" + std::to_string(port_) +
      (options_.tls ? " (TLS on " + std::to_string(tls_port_) + ")" : "") +
      (options_.cluster ? " (cluster bus on " + std::to_string(cluster_port_) + ")" : "");
  const std::string lacks_tls = "ServerProcess: " + binary_ +
                                " lacks TLS support, which ServerOptions::tls needs: use a server "
                                "built with TLS (Debian's redis-server is), e.g. through "
                                "AIRPORT_CACHE_SERVER_BIN";
  if (exited) {
    const std::string startup_log = read_file_from(log_path, log_offset);
    if (startup_log.find("Address already in use") != std::string::npos) {
      return false;
    }
    if (options_.cluster && startup_log.find("Bad directive") != std::string::npos &&
        startup_log.find("'cluster-") != std::string::npos) {
      throw std::runtime_error("ServerProcess: " + binary_ +
                               " lacks the cluster support that ServerOptions::cluster needs "
                               "(cluster mode with --cluster-port: Redis >= 7.0 or Valkey); "
                               "last 20 lines of " +
                               log_path.string() + ":\n" + log_tail());
    }
    if (options_.tls && log_says_tls_is_missing(startup_log)) {
      throw std::runtime_error(lacks_tls + "; it " + describe_status(status) +
                               " during startup; last 20 lines of " + log_path.string() + ":\n" +
                               log_tail());
    }
    throw std::runtime_error("ServerProcess: " + where + " " + describe_status(status) +
                             " during startup; last 20 lines of " + log_path.string() + ":\n" +
                             log_tail());
  }
  if (!ready) {
    terminate(0ms);
    throw std::runtime_error("ServerProcess: " + where + " did not answer PING within " +
                             std::to_string(kReadyDeadline.count()) + " s; last 20 lines of " +
                             log_path.string() + ":\n" + log_tail());
  }
  // A server that ignored the TLS options would answer PING on the plaintext port all the same.
  // Both listeners are bound before the server answers anything, so there is no race here.
  if (options_.tls && !accepts_connections(tls_port_)) {
    terminate(0ms);
    throw std::runtime_error(lacks_tls + ": it started (" + where +
                             ") but does not listen on its TLS port; last 20 lines of " +
                             log_path.string() + ":\n" + log_tail());
  }
  return true;
}

bool ServerProcess::poll_exit(int& status) const noexcept {
  const std::lock_guard lock(registry().mutex);
  if (!alive_.load()) {
    return true;
  }
  const pid_t pid = pid_.load();
  const pid_t reaped = ::waitpid(pid, &status, WNOHANG);
  // ECHILD: reaped already, by a waitpid(-1) somewhere else in the program.
  if (reaped == pid || (reaped < 0 && errno == ECHILD)) {
    alive_.store(false);
    return true;
  }
  return false;
}

bool ServerProcess::send_signal(int signal) const noexcept {
  const std::lock_guard lock(registry().mutex);
  if (!alive_.load()) {
    return false;
  }
  ::kill(pid_.load(), signal);
  return true;
}

bool ServerProcess::reap(std::chrono::milliseconds timeout) const {
  return wait_until(
      [&] {
        int status = 0;
        return poll_exit(status);
      },
      timeout, 2ms);
}

void ServerProcess::kill_and_reap_locked() noexcept {
  if (!alive_.load()) {
    return;
  }
  const pid_t pid = pid_.load();
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  alive_.store(false);
}

void ServerProcess::terminate(std::chrono::milliseconds grace) noexcept {
  if (!alive_.load()) {
    return;
  }
  if (grace > 0ms) {
    // A paused server only acts on SIGTERM once it runs again.
    if (send_signal(SIGTERM) && send_signal(SIGCONT) && reap(grace)) {
      return;
    }
  }
  const std::lock_guard lock(registry().mutex);
  kill_and_reap_locked();
}

void ServerProcess::stop() {
  terminate(10s);
}

void ServerProcess::kill() {
  terminate(0ms);
}

void ServerProcess::pause() {
  if (!running()) {
    throw std::runtime_error("ServerProcess::pause: the server is not running");
  }
  const pid_t pid = pid_.load();
  send_signal(SIGSTOP);
  // SIGSTOP takes effect asynchronously; wait for the stop so the caller's next command is
  // guaranteed to meet a hung server. /proc rather than waitpid(WUNTRACED), which would block
  // forever on a second pause() since a stop is reported only once.
  const bool stopped = wait_until(
      [&] {
        const char state = process_state(pid);
        return state == 'T' || state == 't' || state == 'Z' || state == '?';
      },
      5s, 1ms);
  if (!stopped || !running()) {
    throw std::runtime_error("ServerProcess::pause: pid " + std::to_string(pid) +
                             (stopped ? " exited" : " did not stop within 5 s"));
  }
}

void ServerProcess::resume() {
  if (!running()) {
    throw std::runtime_error("ServerProcess::resume: the server is not running");
  }
  // The kernel wakes a stopped process while delivering SIGCONT, so there is nothing to wait for.
  send_signal(SIGCONT);
}

void ServerProcess::restart() {
  if (running()) {
    throw std::runtime_error("ServerProcess::restart: stop() or kill() it first");
  }
  if (!launch()) {
    throw std::runtime_error(
        "ServerProcess::restart: port " + std::to_string(port_) +
        (options_.tls ? " or TLS port " + std::to_string(tls_port_) : std::string{}) +
        (options_.cluster ? " or cluster bus port " + std::to_string(cluster_port_)
                          : std::string{}) +
        " was taken by another process; last 20 lines of server.log:\n" + log_tail());
  }
}

void ServerProcess::save() {
  auto admin = client();
  if (const auto reply = admin.command({"SAVE"}); reply != "OK") {
    throw std::runtime_error("ServerProcess::save: SAVE answered " + reply);
  }
}

bool ServerProcess::running() const {
  if (!alive_.load()) {
    return false;
  }
  int status = 0;
  return !poll_exit(status);
}

std::string ServerProcess::password() const {
  return options_.acl_user ? options_.acl_user->password : options_.requirepass;
}

std::string ServerProcess::username() const {
  return options_.acl_user ? options_.acl_user->name : std::string{};
}

RawClient ServerProcess::client() const {
  return RawClient(host_, port_, password(), username());
}

ValkeyConfig ServerProcess::config() const {
  ValkeyConfig config;
  config.host = host_;
  config.port = port_;
  config.username = username();
  config.password = Secret(password());
  config.connect_timeout = 1s;
  config.socket_timeout = 1s;
  config.pool_timeout = 1s;
  return config;
}

ValkeyConfig ServerProcess::tls_config() const {
  if (!options_.tls) {
    throw std::runtime_error("ServerProcess::tls_config: the server on port " +
                             std::to_string(port_) + " was started without ServerOptions::tls");
  }
  ValkeyConfig config = this->config();
  config.port = tls_port_;
  config.tls.enabled = true;
  config.tls.ca_file = options_.tls->ca_file.string();
  return config;
}

std::string ServerProcess::log_tail(std::size_t lines) const {
  std::istringstream log(read_file_from(dir_ / "server.log", 0));
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(log, line)) {
    tail.push_back(line);
    if (tail.size() > lines) {
      tail.pop_front();
    }
  }
  std::string text;
  for (const auto& kept : tail) {
    text += kept;
    text += '\n';
  }
  return text;
}

}  // namespace airport::cache::testing
