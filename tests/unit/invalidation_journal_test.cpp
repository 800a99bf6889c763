// SPDX-License-Identifier: BSD-3-Clause
// InvalidationJournal grouped by cluster slot: a slot owes only its own keys (plus patterns and
// the namespace sweep, which every slot owes), so a shard that is still down holds up no other.
#include <gtest/gtest.h>
#include <airport/cache/cluster_slot.hpp>

#include <algorithm>
#include <string>

#include "invalidation_journal.hpp"

namespace airport::cache::detail {
namespace {

using Kind = InvalidationJournal::Batch::Kind;

void group_by_slot(InvalidationJournal& journal) {
  journal.set_grouping([](std::string_view key) { return cluster_slot(key); });
}

TEST(InvalidationJournal, WithoutAGroupingEveryCallOwesTheWholeJournal) {
  InvalidationJournal journal{100, true, "airport:"};
  EXPECT_FALSE(journal.owes(std::nullopt));
  journal.add_key("airport:{a}:1");
  EXPECT_TRUE(journal.owes(std::nullopt));
  EXPECT_TRUE(journal.owes(cluster_slot("{b}")));
}

TEST(InvalidationJournal, ASlotOwesOnlyItsOwnKeys) {
  InvalidationJournal journal{100, true, "airport:"};
  group_by_slot(journal);
  const std::uint16_t a = cluster_slot("{a}");
  const std::uint16_t b = cluster_slot("{b}");
  ASSERT_NE(a, b);
  journal.add_key("airport:{a}:1");
  journal.add_key("airport:{a}:2");
  journal.add_key("airport:{b}:1");
  EXPECT_TRUE(journal.owes(a));
  EXPECT_TRUE(journal.owes(b));
  EXPECT_FALSE(journal.owes(cluster_slot("{c}")));

  InvalidationJournal::Batch batch = journal.take(10, a);
  ASSERT_EQ(batch.kind, Kind::Keys);
  std::sort(batch.keys.begin(), batch.keys.end());
  EXPECT_EQ(batch.keys, (std::vector<std::string>{"airport:{a}:1", "airport:{a}:2"}));
  EXPECT_TRUE(journal.owes(a)) << "in flight until done()";
  EXPECT_FALSE(journal.owes(cluster_slot("{c}"))) << "another slot's batch in flight";
  journal.done(batch);
  EXPECT_FALSE(journal.owes(a));
  EXPECT_TRUE(journal.owes(b));
  EXPECT_EQ(journal.take(10, a).kind, Kind::None);
  EXPECT_EQ(journal.pending(), 1u);
}

TEST(InvalidationJournal, ABatchPutBackIsOwedByItsSlotAgain) {
  InvalidationJournal journal{100, true, "airport:"};
  group_by_slot(journal);
  const std::uint16_t a = cluster_slot("{a}");
  journal.add_key("airport:{a}:1");
  InvalidationJournal::Batch batch = journal.take(10, a);
  journal.add_key("airport:{a}:1");  // written again while the replay was out
  journal.put_back(std::move(batch));
  EXPECT_TRUE(journal.owes(a));
  EXPECT_EQ(journal.pending(), 1u);
  batch = journal.take(10, a);
  EXPECT_EQ(batch.keys.size(), 1u);
  journal.done(batch);
  EXPECT_FALSE(journal.owes(a));
  EXPECT_TRUE(journal.empty());
}

TEST(InvalidationJournal, PatternsAndTheNamespaceSweepAreOwedByEverySlot) {
  InvalidationJournal journal{100, true, "airport:"};
  group_by_slot(journal);
  const std::uint16_t c = cluster_slot("{c}");
  journal.add_pattern("airport:flight:*");
  EXPECT_TRUE(journal.owes(c));
  InvalidationJournal::Batch batch = journal.take(10, c);
  EXPECT_EQ(batch.kind, Kind::Pattern);
  EXPECT_TRUE(journal.owes(c)) << "a pattern in flight concerns every slot";
  journal.done(batch);
  EXPECT_FALSE(journal.owes(c));

  journal.sweep_namespace();
  EXPECT_TRUE(journal.owes(c));
}

TEST(InvalidationJournal, AnOverflowBecomesASweepOwedByEverySlot) {
  InvalidationJournal journal{2, true, "airport:"};
  group_by_slot(journal);
  journal.add_key("airport:{a}:1");
  journal.add_key("airport:{a}:2");
  EXPECT_FALSE(journal.owes(cluster_slot("{c}")));
  EXPECT_TRUE(journal.add_key("airport:{b}:1"));  // the first overflow is reported
  EXPECT_TRUE(journal.owes(cluster_slot("{c}")));
  EXPECT_EQ(journal.take(10, cluster_slot("{a}")).kind, Kind::Namespace);
}

}  // namespace
}  // namespace airport::cache::detail
