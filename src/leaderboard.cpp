// SPDX-License-Identifier: BSD-3-Clause
// Leaderboard: negated scores on one sorted set, so that ZRANGE's natural order is "score
// descending, then member ascending" (see the header).
#include "airport/cache/patterns/leaderboard.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "airport/cache/errors.hpp"

namespace airport::cache {
namespace {

// ZRANK and the window in one atomic step, so that no write can slip between them. The window
// is clipped to the board in Lua, so no large number ever reaches ZRANGE in exponent notation.
const Script& around_script() {
  static const Script script{R"lua(
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
if not rank then return false end
local radius = tonumber(ARGV[2])
local first = math.max(0, rank - radius)
local last = math.min(rank + radius, redis.call('ZCARD', KEYS[1]) - 1)
return {first, redis.call('ZRANGE', KEYS[1], first, last, 'WITHSCORES')}
)lua"};
  return script;
}

// The board stores -score; + 0.0 turns the -0.0 of a zero score back into 0.
double from_stored(double stored) noexcept {
  return -stored + 0.0;
}
double to_stored(double score) noexcept {
  return -score + 0.0;
}

std::string format_score(double score) {
  return fmt::format("{}", score);
}

Reply checked(const Client& client, std::string_view operation, Reply reply) {
  if (reply.is_error())
    throw ReplyError(fmt::format("{} on {}: {}", operation, client.endpoint(), reply.text()));
  return reply;
}

double parse_score(const Client& client, std::string_view operation, const Reply& reply) {
  // Scores come back as text ("3.5", "-inf"); strtod reads all of them.
  const std::string& text = reply.text();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (!(reply.is_string() || reply.is_status()) || end == text.c_str())
    throw ProtocolError(
        fmt::format("{} on {}: a reply that is not a score", operation, client.endpoint()));
  return value;
}

// The replies of a MULTI/EXEC, each checked for an error reply.
std::vector<Reply> run_transaction(Client& client, std::string_view operation,
                                   const Pipeline& pipeline) {
  std::optional<std::vector<Reply>> replies = client.transaction(pipeline);
  if (!replies || replies->size() != pipeline.size())
    throw ProtocolError(
        fmt::format("{} on {}: the transaction returned no replies", operation, client.endpoint()));
  for (Reply& reply : *replies)
    reply = checked(client, operation, std::move(reply));
  return std::move(*replies);
}

}  // namespace

Leaderboard::Leaderboard(Client& client, std::string key, LeaderboardOptions options)
    : client_{client}, key_{std::move(key)}, options_{options} {
  if (key_.empty())
    throw std::invalid_argument("Leaderboard: key must not be empty");
  if (options_.ttl && options_.ttl->count() <= 0)
    throw std::invalid_argument(
        fmt::format("Leaderboard: LeaderboardOptions::ttl must be "
                    "positive, got {} ms",
                    options_.ttl->count()));
}

double Leaderboard::add_points(std::string_view member, double points) {
  if (!options_.ttl)
    return from_stored(client_.zincrby(key_, to_stored(points), member));
  const std::string amount = format_score(to_stored(points));
  const std::string ttl = std::to_string(options_.ttl->count());
  Pipeline pipeline;
  pipeline.add("ZINCRBY", key_, amount, member).add("PEXPIRE", key_, ttl);
  const std::vector<Reply> replies = run_transaction(client_, "ZINCRBY", pipeline);
  return from_stored(parse_score(client_, "ZINCRBY", replies[0]));
}

void Leaderboard::set_score(std::string_view member, double score) {
  if (!options_.ttl) {
    client_.zadd(key_, member, to_stored(score));
    return;
  }
  const std::string stored = format_score(to_stored(score));
  const std::string ttl = std::to_string(options_.ttl->count());
  Pipeline pipeline;
  pipeline.add("ZADD", key_, stored, member).add("PEXPIRE", key_, ttl);
  run_transaction(client_, "ZADD", pipeline);
}

bool Leaderboard::remove(std::string_view member) {
  const std::array<std::string_view, 1> members{member};
  if (!options_.ttl)
    return client_.zrem(key_, members) > 0;
  const std::string ttl = std::to_string(options_.ttl->count());
  Pipeline pipeline;
  pipeline.add("ZREM", key_, member).add("PEXPIRE", key_, ttl);
  return run_transaction(client_, "ZREM", pipeline)[0].as_integer() > 0;
}

std::vector<LeaderboardEntry> Leaderboard::top(std::size_t count) {
  if (count == 0)
    return {};
  const auto last = static_cast<long long>(
      std::min<std::size_t>(count, std::numeric_limits<long long>::max()) - 1);
  return range(0, last);
}

std::optional<long long> Leaderboard::rank(std::string_view member) {
  const std::optional<long long> position = client_.zrank(key_, member);
  if (!position)
    return std::nullopt;
  return *position + 1;
}

std::optional<double> Leaderboard::score(std::string_view member) {
  const std::optional<double> stored = client_.zscore(key_, member);
  if (!stored)
    return std::nullopt;
  return from_stored(*stored);
}

std::optional<LeaderboardEntry> Leaderboard::entry(std::string_view member) {
  Pipeline pipeline;
  pipeline.add("ZRANK", key_, member).add("ZSCORE", key_, member);
  const std::vector<Reply> replies = run_transaction(client_, "ZRANK", pipeline);
  if (replies[0].is_nil() || replies[1].is_nil())
    return std::nullopt;
  return LeaderboardEntry{std::string{member},
                          from_stored(parse_score(client_, "ZSCORE", replies[1])),
                          replies[0].as_integer() + 1};
}

std::vector<LeaderboardEntry> Leaderboard::around(std::string_view member, std::size_t radius) {
  // Lua numbers are doubles: a radius beyond any real board is clipped to one that stays exact.
  const std::string radius_text = std::to_string(std::min<std::size_t>(radius, 1'000'000'000'000));
  const std::array<std::string_view, 1> keys{key_};
  const std::array<std::string_view, 2> args{member, radius_text};
  Reply reply = checked(client_, "EVALSHA around", client_.eval(around_script(), keys, args));
  if (reply.is_nil())
    return {};
  if (!reply.is_array() || reply.elements().size() != 2 || !reply.elements()[0].is_integer() ||
      !reply.elements()[1].is_array() || reply.elements()[1].elements().size() % 2 != 0)
    throw ProtocolError(
        fmt::format("EVALSHA around on {}: unexpected reply shape", client_.endpoint()));
  const long long first = reply.elements()[0].as_integer();
  std::vector<Reply>& flat = reply.elements()[1].elements();
  std::vector<LeaderboardEntry> entries;
  entries.reserve(flat.size() / 2);
  for (std::size_t i = 0; i < flat.size(); i += 2) {
    entries.push_back({flat[i].take_text(),
                       from_stored(parse_score(client_, "EVALSHA around", flat[i + 1])),
                       first + static_cast<long long>(i / 2) + 1});
  }
  return entries;
}

std::vector<LeaderboardEntry> Leaderboard::page(std::size_t number, std::size_t page_size) {
  if (number == 0)
    throw std::invalid_argument("Leaderboard::page: number is 1-based and must not be 0");
  if (page_size == 0)
    throw std::invalid_argument("Leaderboard::page: page_size must not be 0");
  constexpr auto max = static_cast<std::size_t>(std::numeric_limits<long long>::max());
  if (number - 1 > max / page_size)
    return {};  // further than any sorted set can reach
  const std::size_t first = (number - 1) * page_size;
  const std::size_t last = first + std::min(page_size - 1, max - first);
  return range(static_cast<long long>(first), static_cast<long long>(last));
}

long long Leaderboard::size() {
  return client_.zcard(key_);
}

std::vector<LeaderboardEntry> Leaderboard::range(long long first, long long last) {
  std::vector<ScoredMember> members = client_.zrange(key_, first, last);
  std::vector<LeaderboardEntry> entries;
  entries.reserve(members.size());
  for (std::size_t i = 0; i < members.size(); ++i) {
    entries.push_back({std::move(members[i].member), from_stored(members[i].score),
                       first + static_cast<long long>(i) + 1});
  }
  return entries;
}

}  // namespace airport::cache
