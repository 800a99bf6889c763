// SPDX-License-Identifier: BSD-3-Clause
// Flight search: cache-aside in front of a real SQLite database. The first search of a route
// runs the SQL query; the rest are cache hits, and a burst of identical searches runs it once.
#include <sqlite3.h>

#include <fmt/format.h>
#include <atomic>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <thread>

#include "common/scenario.hpp"

namespace airport::examples {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Flight {
  std::string number;
  std::string origin;
  std::string destination;
  std::string departs;
  int price = 0;
  int seats_left = 0;
};
void to_json(nlohmann::json& json, const Flight& flight) {
  json = {
      {"number", flight.number},   {"origin", flight.origin}, {"destination", flight.destination},
      {"departs", flight.departs}, {"price", flight.price},   {"seats_left", flight.seats_left}};
}
void from_json(const nlohmann::json& json, Flight& flight) {
  json.at("number").get_to(flight.number);
  json.at("origin").get_to(flight.origin);
  json.at("destination").get_to(flight.destination);
  json.at("departs").get_to(flight.departs);
  json.at("price").get_to(flight.price);
  json.at("seats_left").get_to(flight.seats_left);
}

// A thin RAII wrapper: the example's SQL is the point, not the C API.
class Database {
 public:
  explicit Database(const std::filesystem::path& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
      throw std::runtime_error("cannot open " + path.string() + ": " + sqlite3_errmsg(db_));
    }
  }
  ~Database() { sqlite3_close(db_); }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string message = error != nullptr ? error : "unknown error";
      sqlite3_free(error);
      throw std::runtime_error(fmt::format("SQL failed: {}: {}", message, sql));
    }
  }

  [[nodiscard]] long long count(const char* table) {
    sqlite3_stmt* statement = nullptr;
    const std::string sql = fmt::format("SELECT COUNT(*) FROM {}", table);
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK)
      return 0;
    const long long rows =
        sqlite3_step(statement) == SQLITE_ROW ? sqlite3_column_int64(statement, 0) : 0;
    sqlite3_finalize(statement);
    return rows;
  }

  // The query the cache sits in front of. No index on the route on purpose: like a real
  // search over joins and filters, it has to look at many rows.
  [[nodiscard]] std::vector<Flight> search(std::string_view origin, std::string_view destination,
                                           std::string_view date) {
    static constexpr const char* sql =
        "SELECT f.number, f.origin, f.destination, f.departs, f.price, f.capacity - "
        "  (SELECT COUNT(*) FROM bookings b WHERE b.flight = f.number) "
        "FROM flights f WHERE f.origin = ?1 AND f.destination = ?2 AND f.date = ?3 "
        "ORDER BY f.departs";
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &statement, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string{"prepare failed: "} + sqlite3_errmsg(db_));
    }
    sqlite3_bind_text(statement, 1, origin.data(), static_cast<int>(origin.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(statement, 2, destination.data(), static_cast<int>(destination.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_text(statement, 3, date.data(), static_cast<int>(date.size()), SQLITE_TRANSIENT);
    std::vector<Flight> flights;
    while (sqlite3_step(statement) == SQLITE_ROW) {
      const auto text = [&](int column) {
        return std::string{reinterpret_cast<const char*>(sqlite3_column_text(statement, column))};
      };
      flights.push_back({text(0), text(1), text(2), text(3), sqlite3_column_int(statement, 4),
                         sqlite3_column_int(statement, 5)});
    }
    sqlite3_finalize(statement);
    return flights;
  }

 private:
  sqlite3* db_ = nullptr;
};

constexpr std::array<const char*, 12> hubs{"LAX", "JFK", "ORD", "ATL", "DFW", "DEN",
                                           "SFO", "SEA", "MIA", "BOS", "LHR", "CDG"};

// Deterministic data: the same seed gives the same airports, flights and bookings every run.
void populate(Database& db) {
  db.exec(
      "CREATE TABLE IF NOT EXISTS airports(code TEXT PRIMARY KEY, city TEXT);"
      "CREATE TABLE IF NOT EXISTS flights(number TEXT PRIMARY KEY, origin TEXT, "
      "destination TEXT, date TEXT, departs TEXT, price INTEGER, capacity INTEGER);"
      "CREATE TABLE IF NOT EXISTS bookings(id INTEGER PRIMARY KEY, flight TEXT);");
  if (db.count("flights") > 0)
    return;
  std::mt19937 random{20240115};
  db.exec("BEGIN");
  std::vector<std::string> airports{hubs.begin(), hubs.end()};
  for (int i = 0; airports.size() < 2000; ++i) {
    airports.push_back(fmt::format("{}{}{}", static_cast<char>('A' + i % 26),
                                   static_cast<char>('A' + i / 26 % 26),
                                   static_cast<char>('A' + i / 676 % 26)));
  }
  for (const auto& code : airports) {
    db.exec(
        fmt::format("INSERT OR IGNORE INTO airports VALUES('{}', 'City {}')", code, code).c_str());
  }
  for (int i = 0; i < 20000; ++i) {
    // Most flights connect the hubs, so popular routes have several departures a day.
    const bool hub_route = i % 4 != 0;
    const std::string origin =
        hub_route ? hubs[random() % hubs.size()] : airports[random() % airports.size()];
    std::string destination =
        hub_route ? hubs[random() % hubs.size()] : airports[random() % airports.size()];
    if (destination == origin)
      destination = origin == "JFK" ? "LAX" : "JFK";
    db.exec(fmt::format("INSERT INTO flights VALUES('AC{:05}', '{}', '{}', '2024-01-{:02}', "
                        "'{:02}:{:02}', {}, {})",
                        i, origin, destination, 15 + static_cast<int>(random() % 3),
                        static_cast<int>(random() % 24), static_cast<int>(random() % 12) * 5,
                        89 + static_cast<int>(random() % 600),
                        150 + static_cast<int>(random() % 150))
                .c_str());
  }
  for (int i = 0; i < 60000; ++i) {
    db.exec(
        fmt::format("INSERT INTO bookings(flight) VALUES('AC{:05}')", random() % 20000).c_str());
  }
  db.exec("COMMIT");
}

}  // namespace

ScenarioResult run_flight_search(ScenarioContext& context) {
  const Output& out = context.out;
  out.header("flight_search", "cache-aside over SQLite with get_or_compute");
  ScenarioResult result{.name = "flight_search"};

  const char* configured = std::getenv("AIRPORT_FLIGHTS_DB");
  const std::filesystem::path path =
      configured != nullptr
          ? std::filesystem::path{configured}
          : std::filesystem::temp_directory_path() / "airport-cache-flights.sqlite";
  Database db{path};
  const auto populate_start = Clock::now();
  populate(db);
  out.line(fmt::format("database {}: {} airports, {} flights, {} bookings (ready in {})",
                       path.string(), db.count("airports"), db.count("flights"),
                       db.count("bookings"), format_duration(Clock::now() - populate_start)));

  cache::CacheManager cache{example_config(context.server)};
  const auto& keys = cache.keys();
  std::atomic<int> queries{0};
  const auto search = [&](const std::string& origin, const std::string& destination) {
    const std::string key = keys.flight_search_key(origin, destination, "2024-01-15");
    return cache.get_or_compute(key, cache::TTLPreset::SearchResults, [&] {
      ++queries;
      return db.search(origin, destination, "2024-01-15");
    });
  };
  cache.invalidate_pattern(keys.builder().part("flight").part("search").any().pattern());

  // Cold versus warm, on one route.
  auto start = Clock::now();
  const auto cold = search("LAX", "JFK");
  const auto cold_time = Clock::now() - start;
  start = Clock::now();
  const auto warm = search("LAX", "JFK");
  const auto warm_time = Clock::now() - start;
  out.table({{"search LAX → JFK 2024-01-15", "flights", "time"},
             {"cold: SQL query", std::to_string(cold.size()), format_duration(cold_time)},
             {"warm: cache hit", std::to_string(warm.size()), format_duration(warm_time)}});
  out.line(fmt::format("speed-up: {:.0f}×",
                       static_cast<double>(cold_time.count()) /
                           static_cast<double>(std::max<long long>(warm_time.count(), 1))));

  // A burst of 16 identical searches at once on a cold route: the query runs once.
  const int before_burst = queries.load();
  std::vector<std::thread> burst;
  for (int i = 0; i < 16; ++i)
    burst.emplace_back([&] { (void)search("SFO", "BOS"); });
  for (auto& thread : burst)
    thread.join();
  const int burst_queries = queries.load() - before_burst;
  out.line(fmt::format("burst of 16 concurrent SFO → BOS searches ran the SQL query {} time{}",
                       burst_queries, burst_queries == 1 ? "" : "s"));

  // A realistic mix: popular routes searched over and over, a long tail searched once.
  cache.reset_stats();
  std::mt19937 random{7};
  const int searches = 500;
  for (int i = 0; i < searches; ++i) {
    const bool popular = random() % 10 < 8;
    const std::string origin = hubs[popular ? random() % 4 : random() % hubs.size()];
    std::string destination = hubs[popular ? 4 + random() % 3 : random() % hubs.size()];
    (void)search(origin, destination);
    if (i % 50 == 0)
      out.progress(fmt::format("searching... {}/{}", i, searches));
  }
  out.progress(fmt::format("searching... {}/{}", searches, searches));
  out.done_progress();
  const cache::StatsSnapshot stats = cache.stats();
  out.line(fmt::format("{} searches: hit ratio {:.1f}%, SQL queries {}", searches,
                       stats.hit_ratio * 100, stats.misses));

  take_stats(result, stats);
  result.ok =
      !cold.empty() && cold.size() == warm.size() && burst_queries == 1 && stats.hit_ratio > 0.5;
  result.verdict = fmt::format("cold {} vs warm {}, burst ran the query {}×, hit ratio {:.0f}%",
                               format_duration(cold_time), format_duration(warm_time),
                               burst_queries, stats.hit_ratio * 100);
  result.details = {{"cold_us", std::chrono::duration<double, std::micro>(cold_time).count()},
                    {"warm_us", std::chrono::duration<double, std::micro>(warm_time).count()},
                    {"burst_queries", burst_queries},
                    {"searches", searches},
                    {"hit_ratio", stats.hit_ratio}};
  return result;
}

}  // namespace airport::examples
