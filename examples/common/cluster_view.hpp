// SPDX-License-Identifier: BSD-3-Clause
// What the examples show of their throwaway cluster: its nodes, by CLUSTER NODES, and how many
// keys each primary holds. The nodes need no password.
#pragma once

#include <airport/cache/config.hpp>

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace airport::examples {

class Output;

/// One node of a cluster.
struct ClusterNodeView {
  /// "host:port".
  std::string endpoint;
  /// "primary" or "replica".
  std::string role;
  /// Slots the node owns as a primary; 0 for a replica.
  std::size_t slots = 0;
  /// The primary's slot ranges as CLUSTER NODES lists them, e.g. "0-5460"; empty for a replica.
  std::string slot_ranges;
  /// The endpoint of the primary a replica follows; empty for a primary.
  std::string replica_of;
};

/// The keys one primary holds right now.
struct PrimaryKeys {
  std::string endpoint;
  long long keys = 0;
  /// One of them (RANDOMKEY), empty when there are none.
  std::string example;
};

/// Every node of the cluster whose node `config` points at, by that node's CLUSTER NODES:
/// primaries first, in slot order, then the replicas in the order of their primaries. Not
/// ClusterClient::nodes(): that is the client's slot map from CLUSTER SLOTS, which on Redis 7
/// leaves out replicas whose replication offset is still 0 (on a new cluster: until the first
/// write reaches their primary). Throws std::runtime_error when the node does not answer.
std::vector<ClusterNodeView> cluster_nodes(const cache::ValkeyConfig& config);

/// FLUSHALL on every primary: the next scenario starts on an empty cluster, so that the keys
/// counted after it are its own. For the examples' own throwaway cluster only. Throws
/// std::runtime_error when a primary refuses.
void empty_primaries(const std::vector<ClusterNodeView>& nodes);

/// DBSIZE and RANDOMKEY on every primary, in the order of `nodes`. Throws std::runtime_error
/// when a primary does not answer.
std::vector<PrimaryKeys> keys_per_primary(const std::vector<ClusterNodeView>& nodes);

/// The node table for people (nothing in --json mode).
void print_cluster_nodes(const Output& out, const std::vector<ClusterNodeView>& nodes);
/// One line for people: "keys on the primaries afterwards: 127.0.0.1:7001 12 (e.g. ...), ...".
void print_keys_per_primary(const Output& out, const std::vector<PrimaryKeys>& keys);

/// For --json: one object per node / per primary, with the fields above.
nlohmann::json nodes_json(const std::vector<ClusterNodeView>& nodes);
nlohmann::json keys_json(const std::vector<PrimaryKeys>& keys);

}  // namespace airport::examples
