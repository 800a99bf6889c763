// SPDX-License-Identifier: BSD-3-Clause
// SeatMap against a real server and a real cluster: hold, confirm and release; expiry; a seat is
// never booked twice, not even by 20 racing passengers; the seat lock key does not depend on the
// passenger; on a cluster a flight-day's keys share one hash tag, so its scripts run there.
#include <gtest/gtest.h>
#include <airport/cache/cluster_slot.hpp>
#include <airport/cache/errors.hpp>
#include <airport/cache/keys.hpp>
#include <airport/cache/patterns/seat_map.hpp>
#include <airport/cache/valkey_client.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/backend.hpp"
#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::Backend;
using testing::ServerProcess;
using testing::SharedBackend;
using testing::wait_until;

constexpr std::string_view flight = "UA123";
constexpr std::string_view date = "2024-01-15";

ValkeyConfig pooled(ValkeyConfig config) {
  config.max_connections = 24;  // the race test runs 20 threads
  return config;
}

// Runs on a single server and on a 3-primary cluster (one of each per test binary, emptied
// before every test). keys is the SeatMap's own manager: tagged on the cluster.
class SeatMapTest : public ::testing::TestWithParam<Backend> {
 protected:
  static void TearDownTestSuite() { SharedBackend::stop_all(); }

  [[nodiscard]] bool key_exists(const std::string& name) {
    return oracle.integer({"EXISTS", name}) == 1;
  }
  [[nodiscard]] SeatHold must_hold(std::string_view seat, std::string_view passenger,
                                   std::optional<std::chrono::milliseconds> ttl = std::nullopt) {
    HoldResult result = seats.hold(flight, date, seat, passenger, ttl);
    EXPECT_EQ(result.status, HoldStatus::Held) << to_string(result.status);
    if (!result.hold)
      throw std::runtime_error("no hold for " + std::string{seat});
    return *result.hold;
  }

  SharedBackend& backend = SharedBackend::fresh(GetParam());
  std::shared_ptr<Client> client_ptr = backend.make_client(pooled(backend.config()));
  Client& client = *client_ptr;
  SeatMap seats{client, CacheKeyManager{"test"}};
  const CacheKeyManager& keys = seats.keys();
  testing::Oracle oracle = backend.oracle();
};

INSTANTIATE_TEST_SUITE_P(, SeatMapTest, ::testing::ValuesIn(testing::all_backends),
                         testing::BackendName{});

TEST_P(SeatMapTest, AFlightDaysKeysShareOneHashTagOnAClusterAndNoneOnASingleServer) {
  const SeatHold held = must_hold("12C", "P-alice");
  const SeatHold confirmed = must_hold("12D", "P-bob");
  ASSERT_EQ(seats.confirm(confirmed), ConfirmResult::Confirmed);
  const std::string map_key = keys.seat_map_key(flight, date);
  const std::string lock_key = keys.seat_lock_key(flight, date, "12C");
  const std::string reservation_key = keys.seat_reservation_key(flight, date, "12D");
  const std::vector<std::string> flight_keys{
      map_key, lock_key, DistributedLock::fencing_key(lock_key), reservation_key,
      DistributedLock::fencing_key(keys.seat_lock_key(flight, date, "12D"))};
  for (const std::string& key : flight_keys)
    EXPECT_TRUE(key_exists(key)) << key;
  if (GetParam() == Backend::Standalone) {
    // The original workshop's shapes, byte for byte.
    EXPECT_EQ(map_key, "test:seat:map:UA123_20240115");
    EXPECT_EQ(lock_key, "test:seat:lock:UA123_20240115:12C");
    EXPECT_EQ(reservation_key, "test:seat:reservation:UA123_20240115:12D");
    EXPECT_FALSE(keys.hash_tags());
  } else {
    EXPECT_EQ(map_key, "test:seat:map:{UA123_20240115}");
    EXPECT_EQ(lock_key, "test:seat:lock:{UA123_20240115}:12C");
    EXPECT_EQ(reservation_key, "test:seat:reservation:{UA123_20240115}:12D");
    EXPECT_EQ(DistributedLock::fencing_key(lock_key), lock_key + ":fence");
    // One slot, so one primary holds the whole flight-day; another day may go elsewhere.
    const std::string node = oracle.endpoint_of(map_key);
    for (const std::string& key : flight_keys) {
      EXPECT_EQ(cluster_slot(key), cluster_slot(map_key)) << key;
      EXPECT_EQ(oracle.endpoint_of(key), node) << key;
    }
    EXPECT_EQ(client.shard_of(lock_key), node);
  }
  EXPECT_TRUE(seats.release(held));
}

TEST_P(SeatMapTest, HoldThenConfirmSetsTheBitAndWritesTheReservation) {
  const SeatHold hold = must_hold("12C", "P-alice");
  EXPECT_EQ(hold.flight, flight);
  EXPECT_EQ(hold.seat, "12C");
  EXPECT_EQ(hold.passenger, "P-alice");
  EXPECT_EQ(hold.token.size(), 32u);
  EXPECT_EQ(hold.fencing_token, 1);
  EXPECT_EQ(seats.holder(flight, date, "12C"), "P-alice");
  EXPECT_FALSE(seats.is_taken(flight, date, "12C"));
  const std::string lock_key = keys.seat_lock_key(flight, date, "12C");
  EXPECT_GT(oracle.integer({"PTTL", lock_key}), 55'000);  // default hold: 60 s

  EXPECT_EQ(seats.confirm(hold), ConfirmResult::Confirmed);
  // (12 - 1) * 6 + 2 = bit 68.
  EXPECT_EQ(oracle.integer({"GETBIT", keys.seat_map_key(flight, date), "68"}), 1);
  EXPECT_TRUE(seats.is_taken(flight, date, "12C"));
  EXPECT_EQ(seats.taken_count(flight, date), 1);
  EXPECT_EQ(seats.taken_seats(flight, date), std::vector<std::string>{"12C"});
  const std::string reservation_key = keys.seat_reservation_key(flight, date, "12C");
  EXPECT_EQ(oracle.get(reservation_key), "P-alice");
  EXPECT_EQ(seats.reservation(flight, date, "12C"), "P-alice");
  EXPECT_GT(oracle.integer({"PTTL", reservation_key}), 29LL * 24 * 3600 * 1000);
  // Absolute expiry times: two PTTLs read a millisecond apart could differ by that millisecond.
  EXPECT_GE(oracle.integer({"PEXPIRETIME", keys.seat_map_key(flight, date)}),
            oracle.integer({"PEXPIRETIME", reservation_key}));
  EXPECT_FALSE(key_exists(lock_key));  // the hold is gone
  EXPECT_EQ(seats.holder(flight, date, "12C"), std::nullopt);
}

TEST_P(SeatMapTest, ASecondPassengerCanNeitherHoldNorConfirmAHeldSeat) {
  const SeatHold alice = must_hold("3A", "P-alice");
  EXPECT_EQ(seats.hold(flight, date, "3A", "P-bob").status, HoldStatus::HeldByOther);
  // Not even alice herself gets a second hold: holds are owned by tokens.
  EXPECT_EQ(seats.hold(flight, date, "3A", "P-alice").status, HoldStatus::HeldByOther);

  // Bob forging a hold (his own name, or alice's, with a token he made up) gets nowhere.
  SeatHold forged = alice;
  forged.passenger = "P-bob";
  EXPECT_EQ(seats.confirm(forged), ConfirmResult::HoldLost);
  forged = alice;
  forged.token = DistributedLock::make_token();
  EXPECT_EQ(seats.confirm(forged), ConfirmResult::HoldLost);
  EXPECT_FALSE(seats.release(forged));
  EXPECT_FALSE(seats.extend(forged, 10min));
  EXPECT_FALSE(seats.is_taken(flight, date, "3A"));
  EXPECT_EQ(seats.holder(flight, date, "3A"), "P-alice");

  EXPECT_EQ(seats.confirm(alice), ConfirmResult::Confirmed);
  const HoldResult late = seats.hold(flight, date, "3A", "P-bob");
  EXPECT_EQ(late.status, HoldStatus::AlreadyTaken);
  EXPECT_FALSE(late);
  EXPECT_FALSE(late.hold);
  EXPECT_EQ(seats.reservation(flight, date, "3A"), "P-alice");
  EXPECT_EQ(seats.taken_count(flight, date), 1);
}

TEST_P(SeatMapTest, ReleaseFreesTheHoldForTheNextPassenger) {
  const SeatHold alice = must_hold("7F", "P-alice");
  EXPECT_TRUE(seats.release(alice));
  EXPECT_FALSE(seats.release(alice));
  EXPECT_EQ(seats.holder(flight, date, "7F"), std::nullopt);
  EXPECT_EQ(seats.confirm(alice), ConfirmResult::HoldLost);
  const SeatHold bob = must_hold("7F", "P-bob");
  EXPECT_GT(bob.fencing_token, alice.fencing_token);
  EXPECT_EQ(seats.confirm(bob), ConfirmResult::Confirmed);
  EXPECT_EQ(seats.reservation(flight, date, "7F"), "P-bob");
}

TEST_P(SeatMapTest, AHoldExpiresByItselfAndConfirmAfterExpiryChangesNothing) {
  const SeatHold alice = must_hold("1A", "P-alice", 150ms);
  EXPECT_EQ(seats.hold(flight, date, "1A", "P-bob").status, HoldStatus::HeldByOther);
  ASSERT_TRUE(wait_until([&] { return !seats.holder(flight, date, "1A"); }, 3s));

  EXPECT_EQ(seats.confirm(alice), ConfirmResult::HoldLost);
  EXPECT_FALSE(seats.is_taken(flight, date, "1A"));
  EXPECT_EQ(seats.reservation(flight, date, "1A"), std::nullopt);
  EXPECT_FALSE(key_exists(keys.seat_map_key(flight, date)));
  EXPECT_EQ(seats.hold(flight, date, "1A", "P-bob").status, HoldStatus::Held);
}

TEST_P(SeatMapTest, ExtendKeepsAHoldPastItsTtl) {
  const SeatHold alice = must_hold("2B", "P-alice", 200ms);
  EXPECT_TRUE(seats.extend(alice, 30s));
  EXPECT_GT(oracle.integer({"PTTL", keys.seat_lock_key(flight, date, "2B")}), 25'000);
  EXPECT_EQ(seats.confirm(alice), ConfirmResult::Confirmed);
}

TEST_P(SeatMapTest, ConfirmingTheSameHoldTwiceIsConfirmedTwiceAndWritesNothingMore) {
  const SeatHold alice = must_hold("4C", "P-alice");
  ASSERT_EQ(seats.confirm(alice), ConfirmResult::Confirmed);
  const std::string reservation_key = keys.seat_reservation_key(flight, date, "4C");
  const long long reservation_ttl = oracle.integer({"PTTL", reservation_key});

  EXPECT_EQ(seats.confirm(alice), ConfirmResult::Confirmed);
  EXPECT_EQ(seats.reservation(flight, date, "4C"), "P-alice");
  EXPECT_EQ(seats.taken_count(flight, date), 1);
  EXPECT_LE(oracle.integer({"PTTL", reservation_key}), reservation_ttl);  // not written again
  EXPECT_FALSE(key_exists(keys.seat_lock_key(flight, date, "4C")));
}

TEST_P(SeatMapTest, AnEarlierHoldOfASeatConfirmedMeanwhileStillFails) {
  // Alice's first hold expires, bob's too; alice holds again and confirms. The late confirms of
  // the two expired holds must fail, alice's as well: that hold is not the one that paid.
  const SeatHold alice_first = must_hold("6E", "P-alice", 150ms);
  ASSERT_TRUE(wait_until([&] { return !seats.holder(flight, date, "6E"); }, 3s));
  const SeatHold bob = must_hold("6E", "P-bob", 150ms);
  ASSERT_TRUE(wait_until([&] { return !seats.holder(flight, date, "6E"); }, 3s));
  const SeatHold alice = must_hold("6E", "P-alice");
  ASSERT_EQ(seats.confirm(alice), ConfirmResult::Confirmed);

  EXPECT_EQ(seats.confirm(alice_first), ConfirmResult::HoldLost);
  EXPECT_EQ(seats.confirm(bob), ConfirmResult::HoldLost);
  SeatHold forged = bob;
  forged.passenger = "P-alice";  // alice's name on a hold that never confirmed anything
  EXPECT_EQ(seats.confirm(forged), ConfirmResult::HoldLost);
  EXPECT_EQ(seats.confirm(alice), ConfirmResult::Confirmed);
  EXPECT_EQ(seats.reservation(flight, date, "6E"), "P-alice");
  EXPECT_EQ(seats.taken_count(flight, date), 1);
}

// Standalone only: it pauses the server (SIGSTOP) to lose a reply, which on the shared backends
// would stall every other test; one server of its own shows the retry rule, which the cluster
// does not change (the script runs on the flight's one primary either way).
TEST(SeatMapLostReply, AConfirmWhoseReplyWasLostIsConfirmedWhenRetried) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.socket_timeout = 200ms;
  config.operation_timeout = 200ms;
  ValkeyClient client{config};
  CacheKeyManager keys{"test"};
  SeatMap seats{client, keys};
  // One confirm beforehand, so that the server knows the script and the lost one runs by its
  // SHA1 (a NOSCRIPT answer would come back too late for the client's EVAL fallback).
  const HoldResult other = seats.hold(flight, date, "8B", "P-bob");
  ASSERT_TRUE(other);
  ASSERT_EQ(seats.confirm(*other.hold), ConfirmResult::Confirmed);
  const HoldResult held = seats.hold(flight, date, "8A", "P-alice");
  ASSERT_TRUE(held);

  // The server stops before it reads the confirm: the client gives up waiting for the reply,
  // and the server runs the script when it resumes. The seat is alice's, but she was not told.
  server.pause();
  EXPECT_THROW((void)seats.confirm(*held.hold), Error);
  server.resume();
  testing::RawClient oracle = server.client();
  ASSERT_TRUE(wait_until(
      [&] {
        return oracle.integer({"GETBIT", keys.seat_map_key(flight, date), "42"}) == 1;
      },
      5s));

  EXPECT_EQ(seats.confirm(*held.hold), ConfirmResult::Confirmed);  // the retry
  EXPECT_EQ(seats.reservation(flight, date, "8A"), "P-alice");
  EXPECT_EQ(seats.taken_count(flight, date), 2);
}

TEST_P(SeatMapTest, TwentyPassengersRacingForFiveSeatsBookEachSeatExactlyOnce) {
  constexpr int passengers = 20;
  const std::array<std::string, 5> wanted{"10A", "10B", "10C", "10D", "10E"};
  std::mutex mutex;
  std::map<std::string, std::vector<std::string>> confirmed;  // seat -> passengers
  std::vector<std::thread> racers;
  for (int p = 0; p < passengers; ++p) {
    racers.emplace_back([&, p] {
      try {
        const std::string passenger = "P" + std::to_string(p);
        std::array<std::string, 5> order = wanted;
        std::shuffle(order.begin(), order.end(), std::mt19937{static_cast<unsigned>(p)});
        for (const std::string& seat : order) {
          HoldResult result = seats.hold(flight, date, seat, passenger);
          if (!result)
            continue;
          std::this_thread::sleep_for(1ms);  // the passenger "pays": widens the race window
          if (seats.confirm(*result.hold) == ConfirmResult::Confirmed) {
            const std::lock_guard guard{mutex};
            confirmed[seat].push_back(passenger);
            return;  // one seat per passenger
          }
        }
      } catch (const std::exception& error) {
        ADD_FAILURE() << "passenger " << p << ": " << error.what();
      }
    });
  }
  for (auto& racer : racers)
    racer.join();

  std::size_t total = 0;
  for (const std::string& seat : wanted) {
    SCOPED_TRACE(seat);
    ASSERT_EQ(confirmed[seat].size(), 1u);
    EXPECT_EQ(seats.reservation(flight, date, seat), confirmed[seat].front());
    ++total;
  }
  EXPECT_EQ(confirmed.size(), wanted.size());
  EXPECT_EQ(seats.taken_count(flight, date), static_cast<long long>(total));
  EXPECT_EQ(oracle.integer({"BITCOUNT", keys.seat_map_key(flight, date)}), 5);
}

TEST_P(SeatMapTest, TheSeatLockKeyIsTheSameWhicheverPassengerAsks) {
  // The original workshop keyed the lock by user, so alice and bob locked different keys and both
  // "held" the seat. One key per flight, date and seat; the passenger lives in the value.
  const SeatHold alice = must_hold("5D", "P-alice");
  const std::string lock_key = keys.seat_lock_key(flight, date, "5D");
  EXPECT_EQ(oracle.get(lock_key), "P-alice:" + alice.token);
  EXPECT_EQ(lock_key.find("alice"), std::string::npos);
  EXPECT_EQ(seats.hold(flight, date, "5D", "P-bob").status, HoldStatus::HeldByOther);
  std::vector<std::string> lock_keys;
  client.scan_all(keys.builder().part("seat").part("lock").any().pattern(),
                  [&](const std::vector<std::string>& batch) {
                    lock_keys.insert(lock_keys.end(), batch.begin(), batch.end());
                  });
  std::sort(lock_keys.begin(), lock_keys.end());
  EXPECT_EQ(lock_keys,
            (std::vector<std::string>{lock_key, DistributedLock::fencing_key(lock_key)}));
}

TEST_P(SeatMapTest, AvailableSeatsLeaveOutConfirmedAndHeldSeats) {
  SeatMap small{client, keys, {.layout = {.rows = 2, .letters = "AB"}}};
  EXPECT_EQ(small.available_seats(flight, date),
            (std::vector<std::string>{"1A", "1B", "2A", "2B"}));
  const HoldResult held = small.hold(flight, date, "1B", "P-alice");
  ASSERT_TRUE(held);
  const HoldResult taken = small.hold(flight, date, "2A", "P-bob");
  ASSERT_TRUE(taken);
  EXPECT_EQ(small.confirm(*taken.hold), ConfirmResult::Confirmed);
  EXPECT_EQ(small.available_seats(flight, date), (std::vector<std::string>{"1A", "2B"}));
  EXPECT_EQ(small.taken_seats(flight, date), std::vector<std::string>{"2A"});
  EXPECT_EQ(small.taken_count(flight, date), 1);
  // Another flight, or another date, is another map.
  EXPECT_EQ(small.available_seats(flight, "2024-01-16").size(), 4u);
  EXPECT_EQ(small.available_seats("UA124", date).size(), 4u);
}

TEST_P(SeatMapTest, UnknownSeatsAreRejectedNamingTheSeat) {
  for (const std::string_view bad :
       {"", "A", "12", "31A", "0A", "012A", "12G", "12a", "A12", "1 A", "-1A", "1000A"}) {
    SCOPED_TRACE(bad);
    try {
      (void)seats.hold(flight, date, bad, "P-alice");
      ADD_FAILURE() << "accepted";
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string{error.what()}.find("'" + std::string{bad} + "'"), std::string::npos)
          << error.what();
    }
  }
  EXPECT_THROW((void)seats.is_taken(flight, date, "99Z"), std::invalid_argument);
  EXPECT_THROW((void)seats.hold(flight, date, "1A", ""), std::invalid_argument);
  EXPECT_THROW((void)seats.hold("", date, "1A", "P-alice"), std::invalid_argument);
  EXPECT_EQ(oracle.dbsize(), 0);
}

TEST_P(SeatMapTest, InvalidOptionsAreRejectedNamingTheField) {
  const auto message_of = [&](SeatMapOptions options) -> std::string {
    try {
      SeatMap map{client, keys, std::move(options)};
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "no exception";
  };
  EXPECT_NE(message_of({.layout = {.rows = 0}}).find("SeatLayout::rows"), std::string::npos);
  EXPECT_NE(message_of({.layout = {.letters = ""}}).find("SeatLayout::letters"), std::string::npos);
  EXPECT_NE(message_of({.layout = {.letters = "ABA"}}).find("SeatLayout::letters"),
            std::string::npos);
  EXPECT_NE(message_of({.layout = {.letters = "ab"}}).find("SeatLayout::letters"),
            std::string::npos);
  EXPECT_NE(message_of({.hold_ttl = 0ms}).find("SeatMapOptions::hold_ttl"), std::string::npos);
  EXPECT_NE(message_of({.reservation_ttl = -1ms}).find("SeatMapOptions::reservation_ttl"),
            std::string::npos);
}

TEST(SeatLayout, MapsSeatsToBitsRowByRowAndBack) {
  const SeatLayout layout{};
  EXPECT_EQ(layout.capacity(), 180u);
  EXPECT_EQ(layout.index_of("1A"), 0u);
  EXPECT_EQ(layout.index_of("1F"), 5u);
  EXPECT_EQ(layout.index_of("2A"), 6u);
  EXPECT_EQ(layout.index_of("12C"), 68u);
  EXPECT_EQ(layout.index_of("30F"), 179u);
  for (std::size_t i = 0; i < layout.capacity(); ++i)
    EXPECT_EQ(layout.index_of(layout.seat_at(i)), i);
  EXPECT_THROW((void)layout.seat_at(180), std::out_of_range);
  const SeatLayout wide{.rows = 40, .letters = "ABCDEFGHJK"};  // no I, as on many aircraft
  EXPECT_EQ(wide.index_of("40K"), 399u);
  EXPECT_THROW((void)wide.index_of("40I"), std::invalid_argument);
}

}  // namespace
}  // namespace airport::cache
