// SPDX-License-Identifier: BSD-3-Clause
// Tests of ClusterProcess against real cluster nodes: it forms an ok cluster, keys live on the
// node that owns their slot, a killed primary's replica takes over, and a slot migration answers
// ASK during the move and MOVED after it. The cluster client tests trust these promises.
#include <gtest/gtest.h>
#include <airport/cache/cluster_slot.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "support/cluster_process.hpp"
#include "support/raw_client.hpp"
#include "support/server.hpp"

namespace airport::cache::testing {
namespace {

using namespace std::chrono_literals;

std::string endpoint(const ServerProcess& node) {
  return "127.0.0.1:" + std::to_string(node.port());
}

std::string moved(int slot, const ServerProcess& owner) {
  return "(error) MOVED " + std::to_string(slot) + " " + endpoint(owner);
}

std::string ask(int slot, const ServerProcess& owner) {
  return "(error) ASK " + std::to_string(slot) + " " + endpoint(owner);
}

// A primary other than `node`.
ServerProcess& another_primary(ClusterProcess& cluster, const ServerProcess& node) {
  for (auto* primary : cluster.primaries()) {
    if (primary != &node) {
      return *primary;
    }
  }
  throw std::runtime_error("no second primary");
}

TEST(ClusterFixture, FormsAClusterWhereEveryNodeIsOk) {
  ClusterProcess cluster;
  std::printf("[ measured ] cluster of 3 primaries + 3 replicas formed in %lld ms\n",
              static_cast<long long>(cluster.formation_time().count()));

  ASSERT_EQ(cluster.nodes().size(), 6U);
  EXPECT_EQ(cluster.primaries().size(), 3U);
  EXPECT_EQ(cluster.replicas().size(), 3U);
  std::set<std::string> ids;
  for (auto* node : cluster.nodes()) {
    auto client = node->client();
    const auto info = client.command({"CLUSTER", "INFO"});
    EXPECT_NE(info.find("cluster_state:ok"), std::string::npos) << endpoint(*node) << "\n" << info;
    EXPECT_NE(info.find("cluster_slots_assigned:16384"), std::string::npos) << info;
    EXPECT_NE(info.find("cluster_known_nodes:6"), std::string::npos) << info;
    EXPECT_EQ(cluster.node_id(*node).size(), 40U);
    ids.insert(cluster.node_id(*node));
  }
  EXPECT_EQ(ids.size(), 6U);
  for (auto* primary : cluster.primaries()) {
    const auto replicas = cluster.replicas_of(*primary);
    ASSERT_EQ(replicas.size(), 1U) << endpoint(*primary);
    EXPECT_NE(replicas[0]->client().command({"INFO", "replication"}).find("master_link_status:up"),
              std::string::npos);
  }
  // The slots are split as redis-cli splits them.
  EXPECT_EQ(&cluster.node_for_slot(0), cluster.nodes()[0]);
  EXPECT_EQ(&cluster.node_for_slot(5461), cluster.nodes()[1]);
  EXPECT_EQ(&cluster.node_for_slot(16383), cluster.nodes()[2]);

  std::string expected_seeds;
  for (auto* node : cluster.nodes()) {
    expected_seeds += (expected_seeds.empty() ? "" : ",") + endpoint(*node);
  }
  EXPECT_EQ(cluster.seed_list(), expected_seeds);
  const auto seed = cluster.seed_config();
  EXPECT_EQ(seed.host, "127.0.0.1");
  EXPECT_EQ(seed.port, cluster.nodes()[0]->port());
}

TEST(ClusterFixture, NotBeingOkInTimeIsAnErrorNamingTheNodeAndWhatItSaid) {
  // A new primary stays "fail" for its first 2 s (CLUSTER_WRITABLE_DELAY): 100 ms is too short.
  try {
    ClusterProcess cluster(ClusterOptions{.replicas_per_primary = 0, .ready_timeout = 100ms});
    FAIL() << "formed in " << cluster.formation_time().count() << " ms";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("within 100 ms"), std::string::npos) << message;
    EXPECT_NE(message.find("127.0.0.1:"), std::string::npos) << message;
    EXPECT_NE(message.find("its cluster_state is not ok"), std::string::npos) << message;
    EXPECT_NE(message.find("cluster_state:fail"), std::string::npos) << message;
    EXPECT_NE(message.find("log tail:"), std::string::npos) << message;
  }
}

TEST(ClusterFixture, KeysLiveOnTheNodeOwningTheirSlotAndOtherNodesAnswerMoved) {
  ClusterProcess cluster;
  for (const std::string key : {"flight:UA123", "{flight:UA123}:seats", "gate:B7", "x"}) {
    const int slot = cluster.keyslot(key);
    // The server's CLUSTER KEYSLOT and the library's CRC16 agree.
    EXPECT_EQ(slot, cluster_slot(key)) << key;
    auto& owner = cluster.node_for_slot(slot);
    owner.client().set(key, "value of " + key);
    EXPECT_EQ(owner.client().get(key), "value of " + key);
    for (auto* node : cluster.nodes()) {
      if (node != &owner) {
        // Replicas redirect too, unless a client asked for READONLY.
        EXPECT_EQ(node->client().command({"GET", key}), moved(slot, owner))
            << key << " on " << endpoint(*node);
      }
    }
  }
}

TEST(ClusterFixture, KillingAPrimaryPromotesItsReplica) {
  ClusterProcess cluster;
  const std::string key = "{flight:UA123}:status";
  const int slot = cluster.keyslot(key);
  auto& old_primary = cluster.node_for_slot(slot);
  const auto replicas = cluster.replicas_of(old_primary);
  ASSERT_EQ(replicas.size(), 1U);
  auto* replica = replicas[0];
  auto writer = old_primary.client();
  writer.set(key, "boarding");
  // The write must reach the replica before the primary dies.
  ASSERT_EQ(writer.integer({"WAIT", "1", "5000"}), 1);

  auto& killed = cluster.kill_primary_of_slot(slot);
  EXPECT_EQ(&killed, &old_primary);
  EXPECT_FALSE(killed.running());
  const auto took = cluster.wait_for_failover(slot, 20s);
  std::printf(
      "[ measured ] replica took over slot %d %lld ms after its primary was killed "
      "(cluster-node-timeout 1000 ms)\n",
      slot, static_cast<long long>(took.count()));
  EXPECT_LT(took, 15s);

  EXPECT_EQ(&cluster.node_for_slot(slot), replica);
  EXPECT_EQ(replica->client().get(key), "boarding");
  cluster.wait_until_ok(10s);
  const auto primaries = cluster.primaries();
  EXPECT_EQ(primaries.size(), 3U);
  EXPECT_EQ(std::count(primaries.begin(), primaries.end(), &old_primary), 0);
  EXPECT_EQ(std::count(primaries.begin(), primaries.end(), replica), 1);
  EXPECT_EQ(cluster.replicas().size(), 2U);
  for (auto* node : cluster.nodes()) {
    if (node != &old_primary && node != replica) {
      EXPECT_EQ(node->client().command({"GET", key}), moved(slot, *replica)) << endpoint(*node);
    }
  }

  // Restarted, the old primary keeps its identity (nodes.conf) and rejoins as a replica of the
  // node that took its slots.
  killed.restart();
  cluster.wait_until_ok(15s);
  EXPECT_EQ(cluster.replicas_of(*replica), std::vector<ServerProcess*>{&old_primary});
  EXPECT_EQ(cluster.replicas().size(), 3U);
  EXPECT_EQ(&cluster.node_for_slot(slot), replica);
}

TEST(ClusterFixture, MigratingASlotAnswersAskDuringTheMoveAndMovedAfterIt) {
  ClusterProcess cluster;
  // One hash tag: every key in one slot.
  const std::vector<std::string> keys{"{flight:BA9}:a", "{flight:BA9}:b", "{flight:BA9}:c",
                                      "{flight:BA9}:d"};
  const int slot = cluster.keyslot(keys[0]);
  auto& from = cluster.node_for_slot(slot);
  auto& to = another_primary(cluster, from);
  auto source = from.client();
  for (const auto& key : keys) {
    source.set(key, "v:" + key);
  }

  cluster.begin_migration(slot, from, to);
  ASSERT_EQ(cluster.migrate_some_keys(1), 1U);
  const auto left = source.command({"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), "10"});
  std::string gone;
  std::string staying;
  for (const auto& key : keys) {
    (left.find(key) == std::string::npos ? gone : staying) = key;
  }
  ASSERT_FALSE(gone.empty());
  ASSERT_FALSE(staying.empty());
  // The source still serves what it has and sends the rest to the target with ASK.
  EXPECT_EQ(source.get(staying), "v:" + staying);
  EXPECT_EQ(source.command({"GET", gone}), ask(slot, to));
  // The target serves the moved key only to a client that says ASKING first; without it, the
  // slot is still the source's.
  auto target = to.client();
  EXPECT_EQ(target.command({"GET", gone}), moved(slot, from));
  EXPECT_EQ(target.command({"ASKING"}), "OK");
  EXPECT_EQ(target.get(gone), "v:" + gone);

  cluster.finish_migration();
  EXPECT_EQ(&cluster.node_for_slot(slot), &to);
  EXPECT_EQ(source.integer({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}), 0);
  EXPECT_EQ(target.integer({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}), 4);
  for (const auto& key : keys) {
    EXPECT_EQ(source.command({"GET", key}), moved(slot, to)) << key;
    EXPECT_EQ(target.get(key), "v:" + key);
  }

  // And back in one step.
  cluster.migrate_slot(slot, to, from);
  EXPECT_EQ(&cluster.node_for_slot(slot), &from);
  EXPECT_EQ(source.integer({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}), 4);
  EXPECT_EQ(target.command({"GET", keys[0]}), moved(slot, from));
}

}  // namespace
}  // namespace airport::cache::testing
