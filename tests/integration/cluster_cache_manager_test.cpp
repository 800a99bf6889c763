// SPDX-License-Identifier: BSD-3-Clause
// The CacheManager on a real local cluster (3 primaries, 3 replicas) when one shard fails: only
// the keys of that shard are served degraded, the other shards keep answering from Valkey, and
// nothing served anywhere is older than what the service last wrote.
#include <gtest/gtest.h>
#include <airport/cache/cluster_client.hpp>
#include <airport/cache/cluster_slot.hpp>
#include <airport/cache/manager.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/cluster_process.hpp"
#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::ClusterProcess;
using testing::ServerProcess;
using testing::wait_until;
using Clock = std::chrono::steady_clock;

long long elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

// What one class of keys (the failed shard's, or the others') saw during the test.
struct Tally {
  std::atomic<long long> calls{0};
  std::atomic<long long> worst_ms{0};
  std::atomic<long long> exceptions{0};
  std::atomic<long long> stale{0};
  // Reads of keys written only by the seeding client: a miss is a read Valkey did not serve
  // (the fallback never held these keys).
  std::atomic<long long> seeded_misses{0};
  // set() returning false: the value went to the fallback only.
  std::atomic<long long> writes_not_stored{0};

  void timed(Clock::time_point start) {
    ++calls;
    const long long took = elapsed_ms(start);
    long long seen = worst_ms.load();
    while (took > seen && !worst_ms.compare_exchange_weak(seen, took)) {
    }
  }
};

// SIGKILL one primary under 8 threads of reads and writes spread over every shard. The shard
// whose primary died is served degraded until its replica is promoted; the two others must never
// notice: every read of theirs comes from Valkey, every write of theirs is stored in Valkey.
//
// The cluster runs with cluster-require-full-coverage no: with the default (yes) every node
// answers CLUSTERDOWN while any slot is unserved, from the failure detection to the promotion, and
// no client can keep the other shards going. docs/cluster.md says so.
TEST(ClusterCacheManager, AFailedShardDegradesAloneAndTheOthersNeverUseTheFallback) {
  ClusterProcess cluster{{.extra_args = {"--cluster-require-full-coverage", "no"}}};
  ValkeyConfig config = cluster.seed_config();
  config.cluster.mode = ClusterMode::On;
  config.operation_timeout = 500ms;
  config.connect_timeout = 200ms;
  config.socket_timeout = 500ms;
  config.reconnect_base_delay = 10ms;
  config.reconnect_max_delay = 100ms;
  config.health_check_interval = 100ms;
  config.circuit_breaker.failure_threshold = 3;
  config.circuit_breaker.recovery_timeout = 200ms;
  CacheManager cache{config};
  auto& client = dynamic_cast<ClusterClient&>(cache.client());

  const std::string victim_tag = "{victim}";
  const std::string victim_shard = client.shard_of(victim_tag);
  ASSERT_FALSE(victim_shard.empty());

  // Seeded keys, written by the client directly (never through the manager, so never in its
  // fallback), and the keys each thread writes, sorted by the shard serving them now.
  constexpr int keys_per_thread = 40;
  std::vector<std::string> seeded;
  std::vector<bool> seeded_on_victim;
  for (int i = 0; i < 300; ++i) {
    seeded.push_back("airport:seeded:" + std::to_string(i));
    seeded_on_victim.push_back(client.shard_of(seeded.back()) == victim_shard);
    client.set(seeded.back(), "seeded:" + std::to_string(i));
  }
  ASSERT_GT(std::count(seeded_on_victim.begin(), seeded_on_victim.end(), true), 50);
  ASSERT_GT(std::count(seeded_on_victim.begin(), seeded_on_victim.end(), false), 100);

  Tally victim, others;
  std::atomic<bool> stop{false};
  // Per thread and key: the last value written and whether Valkey acknowledged it.
  struct Written {
    std::string key;
    bool on_victim = false;
    std::string value;
    bool acknowledged = false;
  };
  std::vector<std::vector<Written>> written(8);
  for (int t = 0; t < 8; ++t) {
    for (int k = 0; k < keys_per_thread; ++k) {
      Written entry;
      entry.key = "airport:written:" + std::to_string(t) + ":" + std::to_string(k);
      entry.on_victim = client.shard_of(entry.key) == victim_shard;
      written[static_cast<std::size_t>(t)].push_back(std::move(entry));
    }
  }

  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random{static_cast<unsigned>(t)};
      auto& mine = written[static_cast<std::size_t>(t)];
      for (int round = 0; !stop.load(); ++round) {
        // A read of a seeded key.
        const std::size_t s = random() % seeded.size();
        Tally& seeded_tally = seeded_on_victim[s] ? victim : others;
        auto start = Clock::now();
        try {
          const auto value = cache.get(seeded[s]);
          if (!value)
            ++seeded_tally.seeded_misses;
          else if (*value != "seeded:" + std::to_string(s))
            ++seeded_tally.stale;
        } catch (...) {
          ++seeded_tally.exceptions;
        }
        seeded_tally.timed(start);

        // A write of one of this thread's keys, then a read of it.
        Written& entry = mine[static_cast<std::size_t>(round) % mine.size()];
        Tally& tally = entry.on_victim ? victim : others;
        const std::string value = std::to_string(round);
        start = Clock::now();
        try {
          entry.acknowledged = cache.set(entry.key, value, 600s);
          entry.value = value;
          if (!entry.acknowledged)
            ++tally.writes_not_stored;
        } catch (...) {
          ++tally.exceptions;
        }
        tally.timed(start);
        start = Clock::now();
        try {
          // Nothing older than this thread's own last write; a miss is allowed only for a key
          // whose shard is degraded (a fallback without the value, or a journal replay).
          const auto read = cache.get(entry.key);
          if (read && *read != entry.value)
            ++tally.stale;
        } catch (...) {
          ++tally.exceptions;
        }
        tally.timed(start);
        std::this_thread::sleep_for(1ms);
      }
    });
  }

  std::this_thread::sleep_for(500ms);
  const auto killed_at = Clock::now();
  ServerProcess& killed = cluster.kill_primary_of_slot(cluster_slot(victim_tag));
  const std::string killed_endpoint = "127.0.0.1:" + std::to_string(killed.port());
  ASSERT_EQ(killed_endpoint, victim_shard);
  // While the shard is down its breaker opens (seen in stats().nodes, which lists the node until
  // the failover takes it out of the slot map).
  const bool seen_open = wait_until(
      [&] {
        for (const auto& node : cache.stats().nodes)
          if (node.endpoint == killed_endpoint && node.circuit.opened > 0)
            return true;
        return false;
      },
      5s);
  const auto promoted = cluster.wait_for_failover(cluster_slot(victim_tag), 15s);
  // Recovered: a write to the failed shard's slot stored in Valkey again.
  long long recovered_ms = -1;
  ASSERT_TRUE(wait_until(
      [&] {
        if (cache.set(victim_tag + ":probe", "after", 60s)) {
          recovered_ms = elapsed_ms(killed_at);
          return true;
        }
        return false;
      },
      15s));
  std::this_thread::sleep_for(500ms);
  stop = true;
  for (auto& thread : threads)
    thread.join();

  // The other primaries' breakers never opened.
  bool others_stayed_closed = true;
  for (const auto& node : cache.stats().nodes) {
    if (node.role == "primary" && node.endpoint != killed_endpoint)
      others_stayed_closed = others_stayed_closed && node.circuit.opened == 0;
  }

  // Every write Valkey acknowledged last is readable; none read back older.
  long long acknowledged = 0, lost = 0;
  for (const auto& list : written) {
    for (const Written& entry : list) {
      if (!entry.acknowledged)
        continue;
      ++acknowledged;
      lost += cache.get(entry.key) == entry.value ? 0 : 1;
    }
  }

  std::cout << "[ measure  ] shard failover under a CacheManager: replica promoted "
            << promoted.count() << " ms after SIGKILL, the shard's writes stored in Valkey again "
            << recovered_ms << " ms after it\n"
            << "[ measure  ] failed shard: " << victim.calls << " calls, worst " << victim.worst_ms
            << " ms, " << victim.seeded_misses << " degraded seeded reads, "
            << victim.writes_not_stored << " writes to the fallback, " << victim.stale << " stale, "
            << victim.exceptions << " exceptions\n"
            << "[ measure  ] other shards: " << others.calls << " calls, worst " << others.worst_ms
            << " ms, " << others.seeded_misses << " degraded seeded reads, "
            << others.writes_not_stored << " writes to the fallback, " << others.stale << " stale, "
            << others.exceptions << " exceptions; " << acknowledged << " acknowledged writes, "
            << lost << " lost\n";

  EXPECT_EQ(victim.exceptions + others.exceptions, 0);
  EXPECT_EQ(victim.stale + others.stale, 0);
  EXPECT_EQ(lost, 0);
  EXPECT_GT(acknowledged, 100);
  // The promise: the other shards never left Valkey.
  EXPECT_EQ(others.seeded_misses, 0);
  EXPECT_EQ(others.writes_not_stored, 0);
  EXPECT_TRUE(others_stayed_closed);
  // The failed shard did degrade (else the test proved nothing), with its own breaker.
  EXPECT_GT(victim.seeded_misses + victim.writes_not_stored, 0);
  EXPECT_TRUE(seen_open) << "the killed primary's breaker never opened";
  // Worst case: a call never waits longer than the operation deadline plus scheduling slack.
  EXPECT_LT(others.worst_ms, 1500);
  EXPECT_LT(victim.worst_ms, 1500);
}

// The per-node state is in stats() and health(): every node with its role, slots and breaker.
TEST(ClusterCacheManager, StatsAndHealthShowEveryNodeWithItsShardsBreaker) {
  ClusterProcess cluster;
  ValkeyConfig config = cluster.seed_config();  // VALKEY_CLUSTER=auto
  CacheManager cache{config};
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(cache.set("airport:node-stats:" + std::to_string(i), "x", 60s));
  const StatsSnapshot stats = cache.stats();
  ASSERT_EQ(stats.nodes.size(), 6u);
  std::size_t slots = 0, primaries = 0;
  for (const auto& node : stats.nodes) {
    slots += node.slots;
    primaries += node.role == "primary" ? 1 : 0;
    EXPECT_EQ(node.circuit.state, CircuitState::Closed) << node.endpoint;
  }
  EXPECT_EQ(primaries, 3u);
  EXPECT_EQ(slots, cluster_slot_count);
  const auto json = stats.to_json();
  ASSERT_TRUE(json.contains("nodes"));
  EXPECT_EQ(json["nodes"].size(), 6u);
  EXPECT_EQ(json["nodes"][0]["circuit"], "closed");
  const CacheHealth health = cache.health();
  EXPECT_EQ(health.nodes.size(), 6u);
  EXPECT_EQ(health.to_json()["nodes"].size(), 6u);
}

}  // namespace
}  // namespace airport::cache
