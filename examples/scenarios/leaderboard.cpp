// SPDX-License-Identifier: BSD-3-Clause
// Leaderboard: passengers earn loyalty points from bookings; the board shows the top 10, one
// passenger's rank, and the page around them. Equal scores are ordered by name.
#include <airport/cache/patterns/leaderboard.hpp>

#include <fmt/format.h>
#include <random>

#include "common/scenario.hpp"

namespace airport::examples {

ScenarioResult run_leaderboard(ScenarioContext& context) {
  using namespace std::chrono_literals;
  const Output& out = context.out;
  out.header("leaderboard", "sorted-set scoring: top 10, a passenger's rank, the page around them");
  ScenarioResult result{.name = "leaderboard"};
  if (context.server.in_memory_only) {
    result.ok = true;
    result.verdict = "skipped: sorted sets live in Valkey, and there is no server";
    out.line(result.verdict);
    return result;
  }
  cache::CacheManager cache{example_config(context.server)};
  const std::string key = cache.keys().leaderboard_key("loyalty:2024-01");
  cache.del(key);
  cache::Leaderboard board{cache.client(), key, {.ttl = std::chrono::hours{24 * 31}}};

  // 2,000 bookings by 300 passengers: points by fare class, a few frequent flyers.
  std::mt19937 random{2024};
  const auto start = std::chrono::steady_clock::now();
  std::size_t bookings = 0;
  try {
    for (; bookings < 2000; ++bookings) {
      const int passenger =
          random() % 10 < 3 ? static_cast<int>(random() % 20) : static_cast<int>(random() % 300);
      const int points = std::array{100, 250, 500, 1000}[random() % 4];
      board.add_points(fmt::format("P{:03}", passenger), points);
    }
  } catch (const cache::Error& error) {
    result.verdict = fmt::format("the leaderboard needs Valkey: {}", error.what());
    return result;
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  out.line(fmt::format("{} bookings scored in {} ({} per booking)", bookings,
                       format_duration(elapsed),
                       format_duration(elapsed / static_cast<long>(bookings))));

  const auto top = board.top(10);
  std::vector<std::vector<std::string>> rows{{"rank", "passenger", "points"}};
  for (const auto& entry : top) {
    rows.push_back({std::to_string(entry.rank), entry.member, fmt::format("{:.0f}", entry.score)});
  }
  out.table(rows);

  const std::string me = "P150";
  const auto mine = board.entry(me);
  const auto around = board.around(me, 2);
  if (mine) {
    out.line(fmt::format("{} is ranked {} of {} with {:.0f} points; around them:", me, mine->rank,
                         board.size(), mine->score));
    std::vector<std::vector<std::string>> near{{"rank", "passenger", "points"}};
    for (const auto& entry : around) {
      near.push_back({std::to_string(entry.rank), entry.member + (entry.member == me ? "  ◀" : ""),
                      fmt::format("{:.0f}", entry.score)});
    }
    out.table(near);
  }

  bool ordered = top.size() == 10;
  for (std::size_t i = 1; i < top.size(); ++i) {
    ordered = ordered && (top[i - 1].score > top[i].score ||
                          (top[i - 1].score == top[i].score && top[i - 1].member < top[i].member));
  }
  result.operations = bookings + 3;
  result.ok = ordered && mine.has_value() && !around.empty();
  result.verdict =
      mine ? fmt::format("top 10 ordered, {} ranked {} of {}", me, mine->rank, board.size())
           : std::string{"P150 has no rank"};
  nlohmann::json top_json = nlohmann::json::array();
  for (const auto& entry : top)
    top_json.push_back({{"rank", entry.rank}, {"member", entry.member}, {"score", entry.score}});
  result.details = {
      {"top", top_json}, {"bookings", bookings}, {"rank_of_P150", mine ? mine->rank : -1}};
  return result;
}

}  // namespace airport::examples
