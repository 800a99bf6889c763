// SPDX-License-Identifier: BSD-3-Clause
// Leaderboard: a ranked board of members and points on one sorted set, with a stable,
// documented order for equal scores, 1-based ranks, pages and "the members around me".
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airport/cache/client.hpp"

namespace airport::cache {

/// One line of a board. `rank` is 1-based: the leader has rank 1.
struct LeaderboardEntry {
  /// Who ("P42").
  std::string member;
  /// Their score.
  double score = 0;
  /// 1-based position, highest score first.
  long long rank = 0;
  friend bool operator==(const LeaderboardEntry&, const LeaderboardEntry&) = default;
};

/// Options of a Leaderboard.
struct LeaderboardOptions {
  /// Expiry of the whole board, refreshed (PEXPIRE in the same MULTI/EXEC) by every write:
  /// add_points(), set_score() and remove(). A board nobody writes to disappears after this
  /// long; reads do not keep it alive. Must be positive. Default none: the board never expires.
  std::optional<std::chrono::milliseconds> ttl;
};

/// A leaderboard on a Client (build the key with CacheKeyManager::leaderboard_key()).
///
/// Order: higher score first; equal scores are ordered by member name, ascending byte-wise
/// ("alice" before "bob", "Bob" before "alice"). Ranks are positions in that order (1, 2, 3, 4
/// for scores 9, 7, 7, 5), so every member has its own rank, and top(), page(), rank(), entry()
/// and around() all agree, on every page boundary.
///
/// How: Valkey orders equal scores by member ascending in ZRANGE but descending in ZREVRANGE.
/// The board therefore stores the NEGATED score and reads with ZRANGE / ZRANK, so the server
/// itself sorts "score descending, name ascending". Read the set through this class (or negate
/// the scores yourself): redis-cli shows -120 for a member with 120 points.
///
/// Errors: the Client's (ConnectionError, TimeoutError, ReplyError for WRONGTYPE, ...), thrown.
/// Safe for concurrent use: the object holds no mutable state, and each call is one round trip,
/// atomic on the server.
class Leaderboard {
 public:
  /// Throws std::invalid_argument when `key` is empty or options.ttl is not positive. The
  /// client must outlive the board.
  Leaderboard(Client& client, std::string key, LeaderboardOptions options = {});

  /// ZINCRBY: adds `points` (may be negative) to the member, creating it at 0 first. Returns the
  /// new score.
  double add_points(std::string_view member, double points);
  /// ZADD: sets the member's score, creating the member if needed.
  void set_score(std::string_view member, double score);
  /// ZREM: removes the member. Returns whether it was on the board.
  bool remove(std::string_view member);

  /// The first `count` entries (fewer when the board is smaller); empty for 0.
  [[nodiscard]] std::vector<LeaderboardEntry> top(std::size_t count);
  /// The member's 1-based rank, or nullopt when it is not on the board.
  [[nodiscard]] std::optional<long long> rank(std::string_view member);
  /// The member's score, or nullopt when it is not on the board.
  [[nodiscard]] std::optional<double> score(std::string_view member);
  /// Rank and score read together (one MULTI/EXEC), or nullopt when not on the board.
  [[nodiscard]] std::optional<LeaderboardEntry> entry(std::string_view member);
  /// The entries from rank-radius to rank+radius around the member, with their ranks, the member
  /// included; clipped (not shifted) at the top and the bottom of the board. Empty when the
  /// member is not on the board. One atomic script call, so the window is consistent.
  [[nodiscard]] std::vector<LeaderboardEntry> around(std::string_view member, std::size_t radius);
  /// Page `number` (1-based) of `page_size` entries: page 1 holds ranks 1..page_size. Empty past
  /// the end. Throws std::invalid_argument when number or page_size is 0.
  [[nodiscard]] std::vector<LeaderboardEntry> page(std::size_t number, std::size_t page_size);
  /// Number of members (ZCARD).
  [[nodiscard]] long long size();

  /// The sorted set's key.
  [[nodiscard]] const std::string& key() const noexcept { return key_; }
  /// The options it was made with.
  [[nodiscard]] const LeaderboardOptions& options() const noexcept { return options_; }

 private:
  std::vector<LeaderboardEntry> range(long long first, long long last);

  Client& client_;
  std::string key_;
  LeaderboardOptions options_;
};

}  // namespace airport::cache
