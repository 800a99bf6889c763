// SPDX-License-Identifier: BSD-3-Clause
// Seat reservation: 50 passengers (threads) race for the 30 seats of one flight, several of them
// for the same seats. A seat is held under its own lock (flight + seat; the passenger is in the
// value), then confirmed into the flight's seat bitmap. Some passengers walk away from their
// hold, and those holds expire by themselves. On a cluster the flight-day's keys share one hash
// tag, so the hold and confirm scripts run on the one primary that owns them.
#include <airport/cache/cluster_slot.hpp>
#include <airport/cache/patterns/seat_map.hpp>

#include <fmt/format.h>
#include <exception>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "common/scenario.hpp"

namespace airport::examples {

ScenarioResult run_seat_reservation(ScenarioContext& context) {
  using namespace std::chrono_literals;
  const Output& out = context.out;
  out.header("seat_reservation", "50 passengers race for 30 seats of UA123 under per-seat locks");
  ScenarioResult result{.name = "seat_reservation"};
  if (context.server.in_memory_only) {
    result.ok = true;
    result.verdict = "skipped: seat locks need a server";
    out.line(result.verdict);
    return result;
  }
  cache::CacheManager cache{example_config(context.server)};
  const cache::SeatLayout layout{.rows = 5, .letters = "ABCDEF"};
  cache::SeatMap seats{cache.client(), cache.keys(), {.layout = layout, .hold_ttl = 60s}};
  const std::string flight = "UA123", date = "2024-01-15";
  cache.invalidate_pattern(cache.keys().builder().part("seat").any().pattern());

  std::mutex mutex;
  std::map<std::string, std::vector<std::string>> confirmed_by_seat;  // seat -> passengers
  std::vector<std::string> abandoned;                                 // seats held, never confirmed
  std::atomic<int> conflicts{0};
  // An exception escaping a thread would end the program (std::terminate), so the first one a
  // passenger meets is rethrown after the race: the scenario then fails with its message.
  std::exception_ptr failure;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> passengers;
  for (int p = 0; p < 50; ++p) {
    passengers.emplace_back([&, p] {
      try {
        std::mt19937 random{static_cast<unsigned>(p)};
        const std::string passenger = fmt::format("P{:02}", p);
        // Everybody wants a window seat in the first rows, so many race for the same seats.
        std::vector<std::string> wishes;
        for (int i = 0; i < 6; ++i) {
          const int row = 1 + static_cast<int>(random() % (i < 3 ? 2 : 5));
          const char letter =
              layout.letters[random() % 2 == 0 ? 0 : layout.letters.size() - 1 - random() % 6 % 6];
          wishes.push_back(fmt::format("{}{}", row, letter));
        }
        // When every wish is gone, any free seat will do.
        for (const std::string& seat : seats.available_seats(flight, date))
          wishes.push_back(seat);
        for (const std::string& seat : wishes) {
          // The last 5 passengers hold a seat for only 1 s and never confirm: a hold must expire.
          const bool walks_away = p >= 45;
          const auto held = seats.hold(flight, date, seat, passenger,
                                       walks_away ? std::optional{1000ms} : std::nullopt);
          if (!held) {
            ++conflicts;
            continue;
          }
          if (walks_away) {
            std::lock_guard lock{mutex};
            abandoned.push_back(seat);
            return;
          }
          if (seats.confirm(*held.hold) == cache::ConfirmResult::Confirmed) {
            std::lock_guard lock{mutex};
            confirmed_by_seat[seat].push_back(passenger);
            return;
          }
        }
      } catch (...) {
        std::lock_guard lock{mutex};
        if (!failure)
          failure = std::current_exception();
      }
    });
  }
  for (auto& passenger : passengers)
    passenger.join();
  if (failure)
    std::rethrow_exception(failure);
  const auto race_time = std::chrono::steady_clock::now() - start;

  int confirmed = 0, double_booked = 0;
  for (const auto& [seat, owners] : confirmed_by_seat) {
    confirmed += static_cast<int>(owners.size());
    if (owners.size() > 1)
      ++double_booked;
  }
  const long long in_bitmap = seats.taken_count(flight, date);
  out.table({{"passengers", "confirmed", "seats in bitmap", "double-booked", "lock conflicts",
              "abandoned holds", "time"},
             {"50", std::to_string(confirmed), std::to_string(in_bitmap),
              std::to_string(double_booked), std::to_string(conflicts.load()),
              std::to_string(abandoned.size()), format_duration(race_time)}});

  // The seat map as a passenger would see it: X taken, H held, . free.
  for (int row = 1; row <= layout.rows; ++row) {
    std::string line = fmt::format("row {}  ", row);
    for (const char letter : layout.letters) {
      const std::string seat = fmt::format("{}{}", row, letter);
      const bool taken = seats.is_taken(flight, date, seat);
      line += taken ? 'X' : (seats.holder(flight, date, seat) ? 'H' : '.');
      line += ' ';
    }
    out.line(line);
  }

  // Abandoned holds expire by themselves and their seats become available again.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  bool holds_expired = false;
  while (!holds_expired && std::chrono::steady_clock::now() < deadline) {
    holds_expired = std::all_of(abandoned.begin(), abandoned.end(), [&](const std::string& seat) {
      return !seats.holder(flight, date, seat).has_value();
    });
    if (!holds_expired)
      std::this_thread::sleep_for(50ms);
  }
  const auto free_after = seats.available_seats(flight, date).size();
  out.line(fmt::format("abandoned holds expired: {}; {} seats free again",
                       holds_expired ? "yes" : "NO", free_after));

  // Which node served the flight: on a cluster every key of the flight-day (bitmap, seat locks,
  // their fencing counters, reservations) carries the tag {UA123_20240115}, so one slot and one
  // primary hold them all; the scripts could not run otherwise.
  const std::string map_key = seats.keys().seat_map_key(flight, date);
  const std::string lock_key = seats.keys().seat_lock_key(flight, date, "1A");
  const std::string reservation_key = seats.keys().seat_reservation_key(flight, date, "1A");
  const std::string served_by = cache.client().shard_of(map_key);
  if (cache.client().is_cluster()) {
    out.line(fmt::format("cluster: {}, {}, {} and the fencing counters share slot {}, on {}",
                         map_key, lock_key, reservation_key, cache::cluster_slot(map_key),
                         served_by.empty() ? "an unknown primary" : served_by));
    result.details["cluster"] = {
        {"slot", cache::cluster_slot(map_key)},
        {"primary", served_by},
        {"same_primary_for_every_key", cache.client().shard_of(lock_key) == served_by &&
                                           cache.client().shard_of(reservation_key) == served_by}};
  }
  result.details["keys"] = {{"seat_map", map_key},
                            {"seat_lock", lock_key},
                            {"seat_reservation", reservation_key},
                            {"fencing_counter", cache::DistributedLock::fencing_key(lock_key)}};

  result.operations = 50;
  result.ok = double_booked == 0 && confirmed == in_bitmap && holds_expired && confirmed > 0;
  result.verdict = fmt::format(
      "{} seats confirmed, {} double-booked, bitmap agrees: {}, holds expired: {}", confirmed,
      double_booked, confirmed == in_bitmap ? "yes" : "no", holds_expired ? "yes" : "no");
  result.details["confirmed"] = confirmed;
  result.details["seats_taken_in_bitmap"] = in_bitmap;
  result.details["double_booked"] = double_booked;
  result.details["lock_conflicts"] = conflicts.load();
  result.details["abandoned_holds"] = abandoned.size();
  result.details["holds_expired"] = holds_expired;
  result.details["race_ms"] = std::chrono::duration<double, std::milli>(race_time).count();
  return result;
}

}  // namespace airport::examples
