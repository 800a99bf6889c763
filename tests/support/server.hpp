// SPDX-License-Identifier: BSD-3-Clause
// ServerProcess: a real Valkey (or Redis) server started for one test on a free loopback port
// in its own temporary directory, and stopped, killed, paused or restarted on demand.
#pragma once

#include <sys/types.h>

#include <airport/cache/config.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/raw_client.hpp"

namespace airport::cache::testing {

/// An ACL user created at start with full access (~* &* +@all).
struct AclUser {
  std::string name{};
  std::string password{};
};

/// The files of a TLS listener (--tls-port). Paths to PEM files, e.g. from TlsCertificates, that
/// must outlive the server: restart() reads them again.
struct TlsServerFiles {
  /// The server's certificate (--tls-cert-file).
  std::filesystem::path cert_file{};
  /// Its private key (--tls-key-file).
  std::filesystem::path key_file{};
  /// The CA that client certificates must chain to (--tls-ca-cert-file). The server requires
  /// one even when it does not ask clients for certificates.
  std::filesystem::path ca_file{};
  /// Whether a client must present a certificate signed by ca_file (--tls-auth-clients yes|no).
  bool require_client_certificate = false;
};

/// Cluster mode (--cluster-enabled yes), as ClusterProcess starts its nodes. The node keeps its
/// identity in nodes.conf in its directory, so restart() brings the same node back.
struct ClusterNodeOptions {
  /// --cluster-node-timeout: how long a node may be unreachable before the others flag it as
  /// failing, and so the floor of a failover's duration. Default 1 s (the server's is 15 s).
  std::chrono::milliseconds node_timeout{1000};
};

/// How to start the server. Every member has an initializer so that designated initializers
/// (`ServerOptions{.requirepass = "x"}`) compile warning-free under -Wextra.
struct ServerOptions {
  /// Password of the default user (--requirepass); empty means none.
  std::string requirepass{};
  /// An extra ACL user with full access and this password.
  std::optional<AclUser> acl_user{};
  /// Appended to the command line as given, e.g. {"--maxmemory", "1mb"}.
  std::vector<std::string> extra_args{};
  /// When set, the server also listens with TLS on a second free port (tls_port()). The
  /// plaintext port stays open for client() and for the readiness PING: hiredis 0.14 has no TLS.
  std::optional<TlsServerFiles> tls{};
  /// When set, the server runs as a cluster node, with its cluster bus on a second free port
  /// (cluster_port(); --cluster-port, so Redis >= 7.0 or Valkey). A binary that cannot is a
  /// failure that says so.
  std::optional<ClusterNodeOptions> cluster{};
};

/// The binary a ServerProcess starts: $AIRPORT_CACHE_SERVER_BIN when set (a bare name is looked
/// up on PATH), else valkey-server on PATH, else redis-server on PATH, as an absolute path.
/// Throws std::runtime_error saying so when there is none, or when AIRPORT_CACHE_SERVER_BIN names
/// no executable file.
[[nodiscard]] std::string server_binary();

/// The version `binary --version` reports ("8.0.1" from "Valkey server v=8.0.1 sha=..."), or ""
/// when it reports none. Costs a fork and exec.
[[nodiscard]] std::string server_binary_version(const std::string& binary);

/// The value of "field:value" in an INFO or CLUSTER INFO reply ("7.0.15" for redis_version),
/// without the line's \r; "" when the field is absent.
[[nodiscard]] std::string info_field(std::string_view info, std::string_view field);

/// One server process. The binary is server_binary(). Snapshots are off (--save ""), but save()
/// works.
///
/// Every ServerProcess of the program is known to stop_all_servers(), which a program's
/// SIGINT/SIGTERM handling thread calls before it exits.
///
/// One thread at a time, except that pause(), resume() and kill() may be called while other
/// threads use the server over the network. Construct it on a thread that outlives it: the child
/// gets PR_SET_PDEATHSIG, which fires when the creating thread exits, so that a crashed test never
/// leaves an orphan server behind.
class ServerProcess {
 public:
  /// Starts the server and waits (up to 10 s) until it answers PING. Throws std::runtime_error
  /// naming the binary, the port and the tail of the server log when it cannot, and saying that
  /// the binary lacks TLS support when options.tls is set and it has none.
  explicit ServerProcess(ServerOptions options = {});
  /// Kills the process by its pid (SIGKILL: its data goes with the directory anyway), reaps it
  /// and removes the temporary directory.
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  [[nodiscard]] const std::string& host() const { return host_; }
  [[nodiscard]] int port() const { return port_; }
  /// The TLS port, 0 when ServerOptions::tls was not set.
  [[nodiscard]] int tls_port() const { return tls_port_; }
  /// The cluster bus port, 0 when ServerOptions::cluster was not set.
  [[nodiscard]] int cluster_port() const { return cluster_port_; }
  /// The pid of the current (or last) process, still valid after it was reaped.
  [[nodiscard]] pid_t pid() const { return pid_.load(); }
  /// Full path of the server binary.
  [[nodiscard]] const std::string& binary() const { return binary_; }
  /// The server's working directory (dump.rdb, server.log).
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }

  /// Graceful: SIGTERM (and SIGCONT, in case it is paused), then waits for the exit and reaps it.
  /// Falls back to SIGKILL after 10 s. No-op when not running.
  void stop();
  /// SIGKILL, then reaps it. No-op when not running.
  void kill();
  /// SIGSTOP; returns once the process is stopped. The kernel still accepts connections, but
  /// nothing is answered: a hung server. Throws when not running.
  void pause();
  /// SIGCONT. Throws when not running.
  void resume();
  /// Starts the server again on the same port (and TLS port) and directory after stop() or kill();
  /// it loads dump.rdb when one exists. Returns once PING answers. Throws when still running or
  /// when the server does not come up.
  void restart();
  /// SAVE: writes dump.rdb, so that a later kill() and restart() keep the data.
  void save();
  /// Whether the process is alive (a paused process is). Reaps it if it exited by itself.
  [[nodiscard]] bool running() const;

  /// A new admin connection, authenticated as the ACL user when there is one, else with
  /// requirepass when set.
  [[nodiscard]] RawClient client() const;
  /// A library config pointing at this server, with the same credentials as client() and short
  /// timeouts for tests: connect and socket 1 s, pool 1 s.
  [[nodiscard]] ValkeyConfig config() const;
  /// config(), but for the TLS port: tls.enabled, and tls.ca_file set to the server's
  /// TlsServerFiles::ca_file (the CA that signed its certificate when it came from
  /// TlsCertificates::server_files()). No client certificate: set tls.cert_file and tls.key_file
  /// for mutual TLS. Throws std::runtime_error when the server has no TLS port.
  [[nodiscard]] ValkeyConfig tls_config() const;

  /// The last `lines` lines of the server log, for failure messages.
  [[nodiscard]] std::string log_tail(std::size_t lines = 20) const;

  /// For a program that is about to exit on SIGINT or SIGTERM: SIGKILLs and reaps the process
  /// of every ServerProcess alive in this program (ClusterProcess nodes included) and removes
  /// their directories, then refuses to start any other (the constructor and restart() throw
  /// from then on). Returns the pids it killed. The objects stay valid, and their destructors,
  /// stop() and kill() find nothing left to do, so it may race with them on other threads.
  /// Takes a mutex and allocates: call it from an ordinary thread (one that sigwait()s, say),
  /// never from a signal handler. Blocks while another thread starts or reaps a server.
  static std::vector<pid_t> stop_all_servers() noexcept;

 private:
  [[nodiscard]] std::vector<std::string> command_line() const;
  // Starts the process on port_ (and tls_port_) and waits for PING. Returns false when it exited
  // early because a port was taken; throws on any other failure.
  bool launch();
  [[nodiscard]] std::string password() const;
  [[nodiscard]] std::string username() const;
  // Waits up to `timeout` for the process to exit; true when it did and was reaped.
  bool reap(std::chrono::milliseconds timeout) const;
  void terminate(std::chrono::milliseconds grace) noexcept;
  // SIGKILL and a blocking reap; the caller holds the registry mutex (server.cpp).
  void kill_and_reap_locked() noexcept;
  // Sends `signal` unless the process was reaped; false when it was. Takes the registry mutex.
  bool send_signal(int signal) const noexcept;
  // Reaps the process if it exited (WNOHANG), filling `status`; true when it is gone. Takes the
  // registry mutex.
  bool poll_exit(int& status) const noexcept;
  // The destructor's work, also for a constructor that throws: kill, reap, remove the
  // directory, leave the registry.
  void release() noexcept;

  ServerOptions options_;
  std::string host_ = "127.0.0.1";
  int port_ = 0;
  int tls_port_ = 0;
  int cluster_port_ = 0;
  std::string binary_;
  bool debug_command_ = false;
  std::filesystem::path dir_;
  std::atomic<pid_t> pid_{-1};
  mutable std::atomic<bool> alive_{false};
};

}  // namespace airport::cache::testing
