// SPDX-License-Identifier: BSD-3-Clause
// Key slots against the cluster specification's published vectors, and against the server
// itself in the integration suite (CLUSTER KEYSLOT).
#include <gtest/gtest.h>
#include <airport/cache/cluster_slot.hpp>

#include <string>

namespace airport::cache {
namespace {

TEST(ClusterSlot, Crc16MatchesTheSpecificationsVector) {
  EXPECT_EQ(crc16("123456789"), 0x31C3);
  EXPECT_EQ(crc16(""), 0);
}

TEST(ClusterSlot, KnownKeysLandInTheirKnownSlots) {
  // Values as CLUSTER KEYSLOT gives them.
  EXPECT_EQ(cluster_slot("foo"), 12182);
  EXPECT_EQ(cluster_slot("bar"), 5061);
  EXPECT_EQ(cluster_slot("123456789"), 0x31C3 % 16384);
}

TEST(ClusterSlot, KeysSharingAHashTagShareASlot) {
  EXPECT_EQ(cluster_hash_tag("{user1000}.following"), "user1000");
  EXPECT_EQ(cluster_slot("{user1000}.following"), cluster_slot("{user1000}.followers"));
  EXPECT_EQ(cluster_slot("{user1000}.following"), cluster_slot("user1000"));
}

TEST(ClusterSlot, OnlyTheFirstNonEmptyTagCounts) {
  // An empty tag hashes the whole key.
  EXPECT_EQ(cluster_hash_tag("foo{}{bar}"), "foo{}{bar}");
  EXPECT_EQ(cluster_hash_tag("{}"), "{}");
  // The first '{' and the first '}' after it.
  EXPECT_EQ(cluster_hash_tag("foo{{bar}}zap"), "{bar");
  EXPECT_EQ(cluster_hash_tag("foo{bar}{zap}"), "bar");
  // No closing brace: the whole key.
  EXPECT_EQ(cluster_hash_tag("foo{bar"), "foo{bar");
  EXPECT_EQ(cluster_hash_tag("plain"), "plain");
}

TEST(ClusterSlot, BinaryKeysHashEveryByte) {
  const std::string with_nul{"a\0b", 3};
  EXPECT_NE(cluster_slot(with_nul), cluster_slot("a"));
  EXPECT_LT(cluster_slot(std::string(1000, '\xff')), cluster_slot_count);
}

}  // namespace
}  // namespace airport::cache
