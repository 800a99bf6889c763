// SPDX-License-Identifier: BSD-3-Clause
// ClusterClient: the Client for a Valkey Cluster. It learns the slot map from any node, sends
// each command to the primary owning its key's slot, follows MOVED and ASK redirects, retries
// TRYAGAIN and CLUSTERDOWN within the call's deadline, and splits multi-key commands by slot.
// Each node is served by a ValkeyClient of its own: its pool, health check and reconnect
// behaviour are those of the standalone client.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "airport/cache/client.hpp"
#include "airport/cache/config.hpp"
#include "airport/cache/health.hpp"
#include "airport/cache/valkey_client.hpp"

namespace airport::cache {

/// One node as the client sees it.
struct ClusterNodeStatus {
  /// "host:port".
  std::string endpoint;
  /// "primary" or "replica".
  std::string role;
  /// Slots the node owns as a primary.
  std::size_t slots = 0;
  /// Its client's health check and pool; empty for a replica no read was sent to yet.
  HealthStatus health;
  /// The node's health as the cluster reports it: "online", "loading" (a replica that has not
  /// caught up yet, so no read goes to it) or "fail". From CLUSTER SHARDS; a server without it
  /// has CLUSTER SLOTS, which lists only the replicas it deems available, all "online".
  std::string reported_health;
  /// Connection and timeout failures of the commands this client sent to the node.
  std::uint64_t errors = 0;
  /// MOVED and ASK replies the node sent this client.
  std::uint64_t redirects = 0;
};

/// Safe for concurrent use. Not copyable or movable.
///
/// Routing: a command's key (its first argument, or the keys of MGET, DEL, UNLINK, EXISTS,
/// TOUCH, MSET and EVAL/EVALSHA) picks the slot. MGET, DEL, UNLINK, EXISTS, TOUCH and MSET with
/// keys in several slots are split by slot, pipelined per node and put back together in the
/// caller's order. EVAL/EVALSHA, transactions and other multi-key commands need every key in
/// one slot (use a {hash tag}); otherwise std::invalid_argument names the keys. SCAN walks every
/// primary in turn under one cursor. Keyless commands (PING, INFO, PUBLISH) go to any primary.
///
/// Replica reads (config.cluster.read_from, VALKEY_READ_FROM): with Replica, the read-only
/// commands of one slot (GET, MGET and EXISTS per slot, TTL, HGET, SMEMBERS, ZRANGE, ...: the
/// list is in cluster_client.cpp) go to a replica of the slot's primary that the cluster reports
/// online, in turn, else to the primary; such a read may miss writes the primary acknowledged
/// within the replication lag. PreferReplica also reads from the primary when the replica fails
/// (connection or timeout; the replica gets half the call's time), and passes that replica by
/// for a second. Writes, scripts, transactions and sessions always go to the primary.
///
/// Observer: options.observer is handed to every node's ValkeyClient, so it reports each command
/// as sent to a node: a command split by slot once per node pipeline, a redirected one once per
/// node tried, and the slot-map queries (CLUSTER SHARDS or SLOTS) too. It is never called under
/// a lock that nodes(), health() or shard_of() take.
///
/// Topology: CLUSTER SHARDS where the server has it (Valkey, Redis >= 7.0), which lists every
/// replica with its health; else CLUSTER SLOTS, asked from then on.
class ClusterClient final : public Client {
 public:
  /// Validates the config (ConfigError, also for a database other than 0) and learns the slot
  /// map from the first seed that answers: the config's host:port, then VALKEY_CLUSTER_NODES.
  /// When none answers it logs a warning and the first command tries again, so a client (and a
  /// CacheManager) may be made while the cluster is down.
  explicit ClusterClient(ValkeyConfig config, ClientOptions options = {});
  ~ClusterClient() override;
  ClusterClient(const ClusterClient&) = delete;
  ClusterClient& operator=(const ClusterClient&) = delete;

  using Client::execute;
  Reply execute(CommandArgs argv) override;
  std::vector<Reply> execute(const Pipeline& pipeline) override;
  std::optional<std::vector<Reply>> transaction(const Pipeline& pipeline) override;
  /// A connection to one node, chosen by the slot of the first keyed command sent on it (a
  /// keyless first command picks any primary). Every later key must be in that slot.
  std::unique_ptr<Session> session() override;
  /// Up when every primary's last check was; the per-node detail is in nodes().
  [[nodiscard]] HealthStatus health() const override;
  /// The seed list: "host:port,host:port".
  [[nodiscard]] std::string endpoint() const override;
  /// Restarts seen on any node, summed.
  [[nodiscard]] std::uint64_t server_epoch() const noexcept override;
  [[nodiscard]] bool is_cluster() const noexcept override { return true; }
  /// The primary that owns the key's slot in the current slot map.
  [[nodiscard]] std::string shard_of(std::string_view key) const override;

  /// Every node of the current slot map, primaries first.
  [[nodiscard]] std::vector<ClusterNodeStatus> nodes() const;
  /// Reads the slot map again now (it is also refreshed after MOVED and node failures,
  /// coalesced and at most every 100 ms).
  void refresh_topology();
  /// Redirects followed so far (MOVED and ASK), for stats and tests.
  [[nodiscard]] std::uint64_t redirects() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The client a config asks for: a ClusterClient when VALKEY_CLUSTER is true, a ValkeyClient
/// when false, and with auto (the default) whichever the first reachable node is (INFO cluster
/// says cluster_enabled:1). A server that cannot be reached at construction gets the standalone
/// client, with a warning naming VALKEY_CLUSTER.
[[nodiscard]] std::shared_ptr<Client> make_client(ValkeyConfig config, ClientOptions options = {});

}  // namespace airport::cache
