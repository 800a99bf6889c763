// SPDX-License-Identifier: BSD-3-Clause
// ClusterProcess: a real local Valkey (or Redis) Cluster for one test: N primaries with R
// replicas each, every node a ServerProcess, formed through CLUSTER commands, then failed over
// and resharded on demand so that tests can watch MOVED, ASK and failover happen for real.
#pragma once

#include <airport/cache/config.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/server.hpp"

namespace airport::cache::testing {

/// The shape of the cluster. Every member has an initializer, for designated initializers.
struct ClusterOptions {
  /// Primaries, 1 or more; the 16384 slots are split between them in equal ranges, as
  /// `redis-cli --cluster create` splits them. Default 3.
  int primaries = 3;
  /// Replicas of each primary, 0 or more. Default 1 (with 3 primaries: 6 nodes).
  int replicas_per_primary = 1;
  /// --cluster-node-timeout of every node: a failover takes about this long plus an election
  /// of 0.5-1 s. Default 1 s (the server's default is 15 s).
  std::chrono::milliseconds node_timeout{1000};
  /// How long the constructor waits for the formed cluster to be ok. Default 30 s.
  std::chrono::milliseconds ready_timeout{std::chrono::seconds{30}};
  /// Appended to every node's command line, e.g. {"--maxmemory", "10mb"}.
  std::vector<std::string> extra_args{};
};

/// A cluster of ServerProcess nodes on free loopback ports, each in its own temporary directory
/// (cluster bus on a second free port). Nodes are never authenticated.
///
/// Every question about the topology (roles, slot owners) is asked of the live nodes with
/// CLUSTER NODES through RawClient: after a failover or a migration the answers change. A node
/// counts as live while its process runs (ServerProcess::running()); nodes the test killed are
/// left out until it restarts them.
///
/// One thread at a time. Construct it on a thread that outlives it (see ServerProcess).
class ClusterProcess {
 public:
  /// Starts every node, assigns the slots (CLUSTER ADDSLOTSRANGE), gives each node its own
  /// config epoch, introduces the nodes to each other (CLUSTER MEET), attaches the replicas
  /// (CLUSTER REPLICATE), then waits as wait_until_ok() does, up to options.ready_timeout.
  /// Throws std::runtime_error when a node cannot start (also when the binary lacks cluster
  /// support) or when the cluster is not ok in time; the message names the node and shows
  /// its CLUSTER INFO, CLUSTER NODES and log tail. Takes about 2 s: Redis and Valkey keep a new
  /// primary's state "fail" for its first 2 s (CLUSTER_WRITABLE_DELAY).
  explicit ClusterProcess(ClusterOptions options = {});
  /// Kills every node by its pid and removes their directories (ServerProcess's destructor).
  ~ClusterProcess();
  ClusterProcess(const ClusterProcess&) = delete;
  ClusterProcess& operator=(const ClusterProcess&) = delete;

  /// Every node, live or not, in start order: the first `primaries` were started as primaries.
  [[nodiscard]] std::vector<ServerProcess*> nodes() const;
  /// The live nodes that are primaries now, each by its own account, in start order.
  [[nodiscard]] std::vector<ServerProcess*> primaries() const;
  /// The live nodes that are replicas now, each by its own account, in start order.
  [[nodiscard]] std::vector<ServerProcess*> replicas() const;
  /// The nodes that replicate `primary` now (by the primary's view, else by any live node's).
  [[nodiscard]] std::vector<ServerProcess*> replicas_of(const ServerProcess& primary) const;
  /// The primary owning `slot` (0-16383) by the first live node's CLUSTER NODES. After a change
  /// of topology, wait_until_ok() first so that every node agrees. Throws std::runtime_error
  /// when no live node answers or none owns the slot, std::invalid_argument for a bad slot.
  [[nodiscard]] ServerProcess& node_for_slot(int slot) const;
  /// The node's 40-character cluster id (CLUSTER MYID, read once at start).
  [[nodiscard]] const std::string& node_id(const ServerProcess& node) const;

  /// ServerProcess::config() of the first live node: host 127.0.0.1, its port, 1 s timeouts.
  [[nodiscard]] ValkeyConfig seed_config() const;
  /// seed_config() for the cluster client: cluster mode on, a 2 s socket timeout (long enough
  /// for a redirect or two), a 1 s connect timeout and reconnects after 10-100 ms.
  [[nodiscard]] ValkeyConfig client_config() const;
  /// Every node, live or not: "127.0.0.1:p1,127.0.0.1:p2,...", in start order.
  [[nodiscard]] std::string seed_list() const;

  /// Waits until every live node reports cluster_state:ok, all live nodes agree on the slot
  /// owners and on each live node's role (and none flags another live node as failing), no
  /// slot is importing or migrating, and every live replica's link to its primary is up. Polls
  /// every 20 ms. Throws std::runtime_error on timeout naming the first node that was not
  /// ready and why, with its CLUSTER INFO, CLUSTER NODES and log tail.
  void wait_until_ok(std::chrono::milliseconds timeout);

  /// CLUSTER KEYSLOT on the first live node.
  [[nodiscard]] int keyslot(std::string_view key) const;

  /// How long the constructor took, from the first node's start to a cluster that is ok.
  [[nodiscard]] std::chrono::milliseconds formation_time() const { return formation_time_; }

  /// SIGKILLs the primary owning `slot` and returns it; wait_for_failover() measures from here.
  ServerProcess& kill_primary_of_slot(int slot);
  /// Waits until every live node agrees that a live node other than the one
  /// kill_primary_of_slot() killed owns `slot` and that node calls itself a primary (a replica
  /// won the election). Returns the time since the kill (since this call when nothing was
  /// killed). Other nodes may still be catching up: wait_until_ok() waits for the rest. Throws
  /// std::runtime_error on timeout with every live node's view of the slot.
  std::chrono::milliseconds wait_for_failover(int slot, std::chrono::milliseconds timeout);

  /// Moves `slot` and its keys from the primary `from` to the primary `to`, as `redis-cli
  /// --cluster reshard` does: begin_migration(), migrate_some_keys() until the slot is empty,
  /// finish_migration().
  void migrate_slot(int slot, ServerProcess& from, ServerProcess& to);
  /// Opens the migration: CLUSTER SETSLOT IMPORTING on `to`, then MIGRATING on `from`. From
  /// now on `from` answers ASK for keys of the slot it no longer has. One migration at a time;
  /// throws std::logic_error when one is open, std::runtime_error when a node refuses.
  void begin_migration(int slot, ServerProcess& from, ServerProcess& to);
  /// Moves up to `count` keys of the open migration's slot (CLUSTER GETKEYSINSLOT, then one
  /// MIGRATE ... KEYS per batch of at most 100). Returns how many moved: 0 once the slot is
  /// empty on `from`. Throws std::logic_error without an open migration.
  std::size_t migrate_some_keys(std::size_t count);
  /// Moves the remaining keys, then CLUSTER SETSLOT NODE on `to`, `from` and every other live
  /// primary (the order the cluster spec asks for), and waits up to 10 s as wait_until_ok()
  /// does. From then on `from` answers MOVED for the slot.
  void finish_migration();

 private:
  struct Migration {
    int slot = 0;
    ServerProcess* from = nullptr;
    ServerProcess* to = nullptr;
  };

  [[nodiscard]] ServerProcess& first_live() const;
  // The live nodes whose role is primary (or replica), each by its own account when it answers.
  [[nodiscard]] std::vector<ServerProcess*> roles(bool primary) const;
  // Waits as wait_until_ok() does; returns what was still wrong at the deadline (the node, why,
  // its state and log tail), nullopt when the cluster became ok. With `everyone`, a node that
  // is down or does not answer is not ok (at formation).
  [[nodiscard]] std::optional<std::string> health_problem(std::chrono::milliseconds timeout,
                                                          bool everyone) const;
  [[nodiscard]] ServerProcess* find_by_id(std::string_view id) const;
  void form();

  ClusterOptions options_;
  std::vector<std::unique_ptr<ServerProcess>> nodes_;
  std::vector<std::string> ids_;
  std::chrono::milliseconds formation_time_{0};
  std::optional<Migration> migration_;
  std::optional<std::chrono::steady_clock::time_point> killed_at_;
  std::string killed_id_;
};

}  // namespace airport::cache::testing
