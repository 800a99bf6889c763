// SPDX-License-Identifier: BSD-3-Clause
// Leaderboard against a real server and a real cluster: ordering, top N, ranks and scores, the
// window around a member, pages, the documented tie order, TTL refresh, and unknown members.
#include <gtest/gtest.h>
#include <airport/cache/client.hpp>
#include <airport/cache/errors.hpp>
#include <airport/cache/keys.hpp>
#include <airport/cache/patterns/leaderboard.hpp>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "support/backend.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::Backend;
using testing::SharedBackend;

std::vector<std::string> members_of(const std::vector<LeaderboardEntry>& entries) {
  std::vector<std::string> members;
  for (const auto& entry : entries)
    members.push_back(entry.member);
  return members;
}

std::vector<long long> ranks_of(const std::vector<LeaderboardEntry>& entries) {
  std::vector<long long> ranks;
  for (const auto& entry : entries)
    ranks.push_back(entry.rank);
  return ranks;
}

// Runs on a single server and on a 3-primary cluster (one of each per test binary, emptied
// before every test). A board is one sorted set, so every command and transaction has one key:
// nothing needs a hash tag.
class LeaderboardTest : public ::testing::TestWithParam<Backend> {
 protected:
  static void TearDownTestSuite() { SharedBackend::stop_all(); }

  // Ten members p0..p9 with 0, 10, ..., 90 points: p9 leads, p0 is last (rank 10).
  void add_ten() {
    for (int i = 0; i < 10; ++i)
      board.set_score("p" + std::to_string(i), i * 10);
  }

  SharedBackend& backend = SharedBackend::fresh(GetParam());
  std::shared_ptr<Client> client_ptr = backend.make_client(backend.config());
  Client& client = *client_ptr;
  testing::Oracle oracle = backend.oracle();
  std::string key = key_manager().leaderboard_key("daily");
  Leaderboard board{client, key};
};

INSTANTIATE_TEST_SUITE_P(, LeaderboardTest, ::testing::ValuesIn(testing::all_backends),
                         testing::BackendName{});

TEST_P(LeaderboardTest, OrdersMembersByScoreHighestFirst) {
  board.add_points("alice", 10);
  board.add_points("bob", 30);
  board.add_points("carol", 20);
  EXPECT_EQ(board.top(3),
            (std::vector<LeaderboardEntry>{{"bob", 30, 1}, {"carol", 20, 2}, {"alice", 10, 3}}));
  EXPECT_EQ(board.size(), 3);
}

TEST_P(LeaderboardTest, AddPointsAccumulatesAndReturnsTheNewScore) {
  EXPECT_DOUBLE_EQ(board.add_points("alice", 10), 10);
  EXPECT_DOUBLE_EQ(board.add_points("alice", 5), 15);
  EXPECT_DOUBLE_EQ(board.add_points("alice", -2.5), 12.5);
  EXPECT_EQ(board.score("alice"), 12.5);
  board.set_score("alice", 3);
  EXPECT_EQ(board.score("alice"), 3);
}

TEST_P(LeaderboardTest, AZeroScoreReadsAsPositiveZero) {
  board.set_score("nobody", 0);
  EXPECT_FALSE(std::signbit(*board.score("nobody")));
  EXPECT_FALSE(std::signbit(board.add_points("nobody", 0)));
  EXPECT_FALSE(std::signbit(board.top(1).at(0).score));
}

TEST_P(LeaderboardTest, TopReturnsAtMostNEntriesAndNoneForZero) {
  add_ten();
  EXPECT_EQ(members_of(board.top(3)), (std::vector<std::string>{"p9", "p8", "p7"}));
  EXPECT_EQ(board.top(100).size(), 10u);
  EXPECT_TRUE(board.top(0).empty());
}

TEST_P(LeaderboardTest, RankIsOneBasedAndEntryReadsRankAndScoreTogether) {
  add_ten();
  EXPECT_EQ(board.rank("p9"), 1);
  EXPECT_EQ(board.rank("p0"), 10);
  EXPECT_EQ(board.score("p7"), 70);
  EXPECT_EQ(board.entry("p7"), (LeaderboardEntry{"p7", 70, 3}));
}

TEST_P(LeaderboardTest, AnUnknownMemberHasNoRankScoreEntryOrWindow) {
  add_ten();
  EXPECT_EQ(board.rank("ghost"), std::nullopt);
  EXPECT_EQ(board.score("ghost"), std::nullopt);
  EXPECT_EQ(board.entry("ghost"), std::nullopt);
  EXPECT_TRUE(board.around("ghost", 2).empty());
  EXPECT_FALSE(board.remove("ghost"));
  EXPECT_EQ(board.size(), 10);
}

TEST_P(LeaderboardTest, AroundReturnsTheWindowWithRanksClippedAtTheEdges) {
  add_ten();
  const auto middle = board.around("p5", 2);
  EXPECT_EQ(members_of(middle), (std::vector<std::string>{"p7", "p6", "p5", "p4", "p3"}));
  EXPECT_EQ(ranks_of(middle), (std::vector<long long>{3, 4, 5, 6, 7}));
  EXPECT_EQ(middle.at(2), (LeaderboardEntry{"p5", 50, 5}));

  EXPECT_EQ(ranks_of(board.around("p9", 2)), (std::vector<long long>{1, 2, 3}));
  EXPECT_EQ(ranks_of(board.around("p0", 3)), (std::vector<long long>{7, 8, 9, 10}));
  EXPECT_EQ(board.around("p4", 0), (std::vector<LeaderboardEntry>{{"p4", 40, 6}}));
  EXPECT_EQ(board.around("p4", std::numeric_limits<std::size_t>::max()), board.top(10));
}

TEST_P(LeaderboardTest, PagesSplitTheBoardWithoutGapsOrOverlaps) {
  for (int i = 0; i < 25; ++i)
    board.set_score("m" + std::to_string(100 + i), i);
  std::vector<LeaderboardEntry> joined;
  for (std::size_t number = 1; number <= 3; ++number) {
    const auto page = board.page(number, 10);
    EXPECT_EQ(page.size(), number < 3 ? 10u : 5u);
    EXPECT_EQ(page.front().rank, static_cast<long long>((number - 1) * 10 + 1));
    joined.insert(joined.end(), page.begin(), page.end());
  }
  EXPECT_EQ(joined, board.top(25));
  EXPECT_TRUE(board.page(4, 10).empty());
  EXPECT_TRUE(board.page(std::numeric_limits<std::size_t>::max(), 10).empty());
  EXPECT_THROW((void)board.page(0, 10), std::invalid_argument);
  EXPECT_THROW((void)board.page(1, 0), std::invalid_argument);
}

TEST_P(LeaderboardTest, TiesAreOrderedByMemberNameAscendingInTopRankAroundAndPages) {
  board.set_score("eve", 60);
  for (const char* name : {"dave", "bob", "carol", "alice"})
    board.set_score(name, 50);
  board.set_score("zed", 40);
  const std::vector<std::string> expected{"eve", "alice", "bob", "carol", "dave", "zed"};

  const auto top = board.top(6);
  EXPECT_EQ(members_of(top), expected);
  EXPECT_EQ(ranks_of(top), (std::vector<long long>{1, 2, 3, 4, 5, 6}));
  for (const auto& entry : top) {
    EXPECT_EQ(board.rank(entry.member), entry.rank) << entry.member;
    EXPECT_EQ(board.entry(entry.member), entry) << entry.member;
  }
  EXPECT_EQ(members_of(board.around("bob", 1)),
            (std::vector<std::string>{"alice", "bob", "carol"}));
  EXPECT_EQ(members_of(board.around("dave", 1)),
            (std::vector<std::string>{"carol", "dave", "zed"}));
  // Page boundaries that cut through the tie group keep the same order.
  EXPECT_EQ(members_of(board.page(1, 2)), (std::vector<std::string>{"eve", "alice"}));
  EXPECT_EQ(members_of(board.page(2, 2)), (std::vector<std::string>{"bob", "carol"}));
  EXPECT_EQ(members_of(board.page(3, 2)), (std::vector<std::string>{"dave", "zed"}));
  EXPECT_EQ(ranks_of(board.page(2, 2)), (std::vector<long long>{3, 4}));

  // Reaching a tied score later does not change the order: it is by name, not by time.
  board.set_score("aaron", 49);
  board.add_points("aaron", 1);
  EXPECT_EQ(board.rank("aaron"), 2);
  EXPECT_EQ(board.rank("alice"), 3);
}

TEST_P(LeaderboardTest, TheSetStoresNegatedScoresBecauseZrevrangeWouldReverseTies) {
  board.set_score("alice", 50);
  board.set_score("bob", 50);
  // What a plain ZREVRANGE board would do: "bob" before "alice".
  client.zadd("plain", "alice", 50);
  client.zadd("plain", "bob", 50);
  EXPECT_EQ(client.zrevrange("plain", 0, 0).at(0).member, "bob");
  EXPECT_EQ(board.top(1).at(0).member, "alice");
  EXPECT_EQ(oracle.command({"ZSCORE", key, "alice"}), "-50");
}

TEST_P(LeaderboardTest, RemoveTakesAMemberOffAndTheOthersMoveUp) {
  add_ten();
  EXPECT_TRUE(board.remove("p8"));
  EXPECT_EQ(board.size(), 9);
  EXPECT_EQ(board.rank("p7"), 2);
  EXPECT_EQ(board.rank("p8"), std::nullopt);
}

TEST_P(LeaderboardTest, EveryWriteRefreshesTheTtlButReadsDoNot) {
  Leaderboard expiring{client, key_manager().leaderboard_key("hourly"),
                       LeaderboardOptions{.ttl = 60s}};
  const std::string hourly = expiring.key();
  const auto pttl = [&] { return oracle.integer({"PTTL", hourly}); };

  expiring.add_points("alice", 1);
  EXPECT_GT(pttl(), 55'000);
  EXPECT_LE(pttl(), 60'000);

  oracle.integer({"PEXPIRE", hourly, "5000"});
  expiring.set_score("bob", 2);
  EXPECT_GT(pttl(), 55'000);

  oracle.integer({"PEXPIRE", hourly, "5000"});
  expiring.add_points("alice", 1);
  EXPECT_GT(pttl(), 55'000);

  oracle.integer({"PEXPIRE", hourly, "5000"});
  EXPECT_TRUE(expiring.remove("bob"));
  EXPECT_GT(pttl(), 55'000);

  oracle.integer({"PEXPIRE", hourly, "5000"});
  (void)expiring.top(10);
  (void)expiring.rank("alice");
  (void)expiring.around("alice", 1);
  (void)expiring.entry("alice");
  EXPECT_LE(pttl(), 5'000);
  EXPECT_EQ(expiring.score("alice"), 2);
}

TEST_P(LeaderboardTest, ABoardWithoutTtlNeverExpires) {
  board.add_points("alice", 1);
  EXPECT_EQ(oracle.integer({"PTTL", key}), -1);
}

TEST_P(LeaderboardTest, InvalidOptionsAreRejectedNamingTheField) {
  EXPECT_THROW(Leaderboard(client, ""), std::invalid_argument);
  try {
    Leaderboard bad{client, "k", LeaderboardOptions{.ttl = 0ms}};
    FAIL() << "a zero ttl was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string{error.what()}.find("ttl"), std::string::npos);
  }
}

TEST_P(LeaderboardTest, AWrongTypeKeyThrowsAReplyError) {
  oracle.set(key, "not a board");
  EXPECT_THROW(board.add_points("alice", 1), ReplyError);
  EXPECT_THROW((void)board.around("alice", 1), ReplyError);
  Leaderboard expiring{client, key, LeaderboardOptions{.ttl = 60s}};
  EXPECT_THROW(expiring.add_points("alice", 1), ReplyError);
}

}  // namespace
}  // namespace airport::cache
