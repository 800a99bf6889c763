// SPDX-License-Identifier: BSD-3-Clause
// Backend: the server a parameterized pattern suite runs on, a single server or a local Valkey
// Cluster, each started once per test binary on first use and shared by the suite's tests, with
// an oracle that asks the node owning a key. Used with TEST_P / INSTANTIATE_TEST_SUITE_P.
#pragma once

#include <airport/cache/client.hpp>
#include <airport/cache/config.hpp>

#include <array>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "support/cluster_process.hpp"
#include "support/raw_client.hpp"
#include "support/server.hpp"

namespace airport::cache::testing {

/// Where a parameterized test runs.
enum class Backend {
  Standalone,  ///< one ServerProcess
  Cluster,     ///< one ClusterProcess: 3 primaries, 3 replicas
};

/// Both backends, for ::testing::ValuesIn.
inline constexpr std::array<Backend, 2> all_backends{Backend::Standalone, Backend::Cluster};

/// "Standalone" or "Cluster": the test name's parameter suffix.
[[nodiscard]] std::string_view to_string(Backend backend) noexcept;

/// How GoogleTest prints the parameter ("GetParam() = Cluster").
inline void PrintTo(Backend backend, std::ostream* out) {
  *out << to_string(backend);
}

/// The name generator of INSTANTIATE_TEST_SUITE_P: "Name/Standalone", "Name/Cluster".
struct BackendName {
  template <class ParamInfo>
  std::string operator()(const ParamInfo& info) const {
    return std::string{to_string(info.param)};
  }
};

/// Admin commands routed as a cluster would route them: each to the node owning its key (on a
/// single server, to that server). An independent check of what the library stored. Connections
/// are opened on first use and kept. One thread at a time.
class Oracle {
 public:
  /// `server` is the single server, or `cluster` the cluster (exactly one of them non-null);
  /// it must outlive the oracle.
  Oracle(const ServerProcess* server, const ClusterProcess* cluster);

  /// GET on the key's node.
  std::optional<std::string> get(std::string_view key);
  /// SET on the key's node.
  void set(std::string_view key, std::string_view value);
  /// A command whose first argument is its key (`{"PTTL", key}`), on that key's node: the reply
  /// rendered as RawClient::command renders it.
  std::string command(std::initializer_list<std::string_view> args);
  /// As command(), for an integer reply; throws std::runtime_error on any other reply.
  long long integer(std::initializer_list<std::string_view> args);
  /// The number of keys on every primary together (DBSIZE summed).
  long long dbsize();
  /// Runs a keyless command (`{"SCRIPT", "FLUSH"}`) on every primary.
  void on_every_primary(std::initializer_list<std::string_view> args);
  /// "host:port" of the node owning `key` (the server itself on a single server).
  [[nodiscard]] std::string endpoint_of(std::string_view key);

 private:
  RawClient& node_for(std::string_view key);
  RawClient& connection(const ServerProcess& node);

  const ServerProcess* server_;
  const ClusterProcess* cluster_;
  std::map<int, RawClient> connections_;  // by port
  std::map<int, int> slot_owner_;         // slot -> port, learnt once (the topology stays)
};

/// The shared server of one backend. get() starts it on first use (a cluster takes about 2 s)
/// and keeps it for every later test; stop_all() (from a suite's TearDownTestSuite) kills every
/// started server by its pid and removes its directories, and a server still running when the
/// program exits is stopped the same way. Construct on the main thread (see ServerProcess).
/// One thread at a time, except that clients made from config() may be used from any thread.
class SharedBackend {
 public:
  /// The shared server of `backend`, started when it is not running. Throws std::runtime_error
  /// when it cannot start (no server binary, no cluster support in it): the test then fails.
  static SharedBackend& get(Backend backend);
  /// get(), then flush(): what a test's fixture starts from.
  static SharedBackend& fresh(Backend backend);
  /// Stops every started backend by pid. The next get() starts a new one.
  static void stop_all();

  SharedBackend(const SharedBackend&) = delete;
  SharedBackend& operator=(const SharedBackend&) = delete;
  ~SharedBackend();

  [[nodiscard]] Backend backend() const noexcept { return backend_; }
  /// A library config for it, with the short timeouts of ServerProcess::config(); on the
  /// cluster: its seed, cluster.mode On, a 2 s socket timeout and fast reconnects.
  [[nodiscard]] ValkeyConfig config() const;
  /// make_client(config): a ValkeyClient or a ClusterClient.
  [[nodiscard]] std::shared_ptr<Client> make_client(const ValkeyConfig& config) const;
  /// A new oracle over the nodes (valid until stop_all()).
  [[nodiscard]] Oracle oracle() const { return Oracle{server_.get(), cluster_.get()}; }
  /// FLUSHALL and SCRIPT FLUSH on every primary: each test starts empty, with no cached script.
  void flush();
  /// The single server; nullptr on the cluster.
  [[nodiscard]] ServerProcess* server() const noexcept { return server_.get(); }
  /// The cluster; nullptr on the single server.
  [[nodiscard]] ClusterProcess* cluster() const noexcept { return cluster_.get(); }

 private:
  explicit SharedBackend(Backend backend);

  Backend backend_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<ClusterProcess> cluster_;
};

}  // namespace airport::cache::testing
