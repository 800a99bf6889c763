// SPDX-License-Identifier: BSD-3-Clause
// SeatMap: seat holds and confirmed reservations of flights. A bitmap per flight and date records
// the confirmed seats; a DistributedLock per seat is the temporary hold; one Lua script turns a
// hold into a reservation, so a seat is never booked twice.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airport/cache/client.hpp"
#include "airport/cache/keys.hpp"
#include "airport/cache/patterns/lock.hpp"
#include "airport/cache/ttl.hpp"

namespace airport::cache {

/// The seats of an aircraft: rows 1..rows, each with the seat letters in `letters`. Seat "12C"
/// on the default layout is bit (12 - 1) * 6 + 2 = 68 of the flight's bitmap. Seat names are
/// canonical: the row in decimal without leading zeros, then one upper-case letter of `letters`
/// ("12C", not "012C" or "12c"), so every contender builds the same lock key.
struct SeatLayout {
  /// Number of rows, 1-999. Default 30.
  int rows = 30;
  /// The seat letters of every row, left to right: distinct upper-case ASCII letters, at least
  /// one. Default "ABCDEF".
  std::string letters = "ABCDEF";

  /// rows * letters.size(): the number of seats and of bits used.
  [[nodiscard]] std::size_t capacity() const noexcept;
  /// The bit of `seat`: (row - 1) * letters.size() + the letter's position. Throws
  /// std::invalid_argument naming the seat when it is not a canonical seat of this layout.
  [[nodiscard]] std::size_t index_of(std::string_view seat) const;
  /// The seat at bit `index` ("12C"). Throws std::out_of_range when index >= capacity().
  [[nodiscard]] std::string seat_at(std::size_t index) const;
  /// Throws std::invalid_argument naming the field when rows or letters are unusable.
  void validate() const;

  friend bool operator==(const SeatLayout&, const SeatLayout&) = default;
};

/// Options of a SeatMap.
struct SeatMapOptions {
  /// The aircraft's seats; one layout per SeatMap (use another SeatMap for another aircraft type).
  SeatLayout layout{};
  /// How long a hold lasts unless confirmed, released or extended. Positive. Default 60 s
  /// (TTLPreset::SeatReservation).
  std::chrono::milliseconds hold_ttl{ttl_of(TTLPreset::SeatReservation)};
  /// Expiry of a reservation key, and the least time the flight's bitmap is kept after a confirm
  /// (so the bitmap outlives every reservation written with it). Also the expiry of the seat
  /// locks' fencing counters. Positive. Default 30 days.
  std::chrono::milliseconds reservation_ttl{std::chrono::days{30}};
};

/// A seat held for a passenger: a plain value, NOT released on destruction, because a hold
/// outlives the request that made it (the passenger pays in a later request, maybe on another
/// instance). Store it (all fields are text or numbers) and hand it back to confirm(), extend()
/// or release(); otherwise it expires by itself after the hold ttl.
struct SeatHold {
  /// The flight number ("AA123").
  std::string flight{};
  /// The flight's date ("2024-01-15").
  std::string date{};
  /// The seat ("12C").
  std::string seat{};
  /// Who it is held for; recorded as the seat lock's owner.
  std::string passenger{};
  /// The seat lock's random token: whoever knows it owns the hold.
  std::string token{};
  /// The seat lock's fencing token: larger for every later hold of the same seat.
  std::int64_t fencing_token = 0;

  friend bool operator==(const SeatHold&, const SeatHold&) = default;
};

/// Outcome of SeatMap::hold().
enum class HoldStatus {
  Held,          ///< The seat is held for the passenger; HoldResult::hold is set.
  AlreadyTaken,  ///< The seat is confirmed (its bit is set).
  HeldByOther,   ///< Another hold owns the seat, even one of the same passenger: a hold is
                 ///< identified by its token, not by the passenger.
};

/// What SeatMap::hold() did, and the hold when it got one.
struct HoldResult {
  /// The outcome.
  HoldStatus status = HoldStatus::HeldByOther;
  /// Set exactly when status is Held.
  std::optional<SeatHold> hold{};
  /// Whether the seat is now held (status is Held).
  explicit operator bool() const noexcept { return status == HoldStatus::Held; }
};

/// Outcome of SeatMap::confirm(). Nothing changes unless it is Confirmed.
enum class ConfirmResult {
  Confirmed,     ///< Bit set, reservation written, hold deleted; or this very hold did all that
                 ///< before (a retry after a lost reply), and nothing was written again.
  HoldLost,      ///< The hold expired or was released, or it is another's, or the seat was
                 ///< confirmed by another hold (even one of the same passenger).
  AlreadyTaken,  ///< The hold is ours but the seat's bit is already set (written outside holds).
};

/// Stable lower-case names for messages and JSON: "held", "already_taken", ...
[[nodiscard]] std::string_view to_string(HoldStatus status) noexcept;
[[nodiscard]] std::string_view to_string(ConfirmResult result) noexcept;

/// Seat holds and reservations on a Client, keyed by a CacheKeyManager:
///
///   seat_map_key(f, d)              bitmap of confirmed seats (bit = SeatLayout::index_of)
///   seat_lock_key(f, d, seat)       the hold: a DistributedLock, value `passenger:token`
///   fencing_key(seat_lock_key(..))  the hold's fencing counter (DistributedLock::fencing_key)
///   seat_reservation_key(f, d, s)   the confirmed passenger, reservation_ttl
///
/// On a cluster (Client::is_cluster()) the SeatMap uses the manager's with_hash_tags() copy:
/// `seat:map:{UA123_20240115}`, `seat:lock:{UA123_20240115}:12A`, its fencing counter
/// `seat:lock:{UA123_20240115}:12A:fence` and `seat:reservation:{UA123_20240115}:12A` all
/// hash to one slot, so each script's keys are on one node. On a single server the keys keep
/// the workshop's shapes (no braces). keys() returns the manager actually used.
///
/// Why the lock key is flight + date + seat and never the passenger: the original workshop keyed
/// the lock by user, so two passengers computed two different lock keys for one seat, both "got"
/// the lock, and both could book it. Here every contender computes the same key and the
/// passenger is stored in the lock's VALUE (reported by holder()).
///
/// Never double-books: hold() checks the bit and takes the lock in one script; confirm() checks
/// that the hold's token still owns the lock AND that the bit is clear, then sets the bit, writes
/// the reservation and deletes the hold, all in one script. Each script touches one flight's
/// keys, so in a cluster they share a slot through the hash tag above.
///
/// confirm() is idempotent, so a confirm whose reply was lost can simply be sent again: when
/// the hold no longer owns the lock, the seat's bit is set, its reservation names the hold's
/// passenger and the seat's fencing counter still equals the hold's fencing_token, it was this
/// hold that confirmed the seat, and the retry answers Confirmed without writing anything. An
/// earlier, expired hold of the same passenger has a smaller fencing token and gets HoldLost.
///
/// Holds inherit DistributedLock's limits: one primary, lost on failover (confirm() then fails
/// with HoldLost, never double-books on that primary's data).
///
/// Errors: std::invalid_argument for an unknown seat or an empty flight, date or passenger; the
/// Client's errors otherwise, thrown. Safe for concurrent use; the client must outlive it.
class SeatMap {
 public:
  /// Throws std::invalid_argument naming the field for invalid options. `keys` gets hash tags
  /// (CacheKeyManager::with_hash_tags) when client.is_cluster().
  explicit SeatMap(Client& client, CacheKeyManager keys = {}, SeatMapOptions options = {});

  /// Holds `seat` for `passenger` for `ttl` (default options.hold_ttl), unless it is confirmed
  /// (AlreadyTaken) or held (HeldByOther). One round trip.
  [[nodiscard]] HoldResult hold(std::string_view flight, std::string_view date,
                                std::string_view seat, std::string_view passenger,
                                std::optional<std::chrono::milliseconds> ttl = std::nullopt);
  /// Turns the hold into a reservation (see ConfirmResult). Idempotent: confirming the same
  /// hold again answers Confirmed and writes nothing, so a confirm that threw (a timeout, a
  /// broken connection) is safe to retry. One round trip.
  [[nodiscard]] ConfirmResult confirm(const SeatHold& hold);
  /// Owner-checked: deletes the hold if it still owns the seat. Returns whether it did.
  bool release(const SeatHold& hold);
  /// Owner-checked: the hold lasts `ttl` (default options.hold_ttl) from now. Returns false when
  /// it no longer owns the seat.
  bool extend(const SeatHold& hold, std::optional<std::chrono::milliseconds> ttl = std::nullopt);

  /// Whether the seat is confirmed (GETBIT).
  [[nodiscard]] bool is_taken(std::string_view flight, std::string_view date,
                              std::string_view seat);
  /// Number of confirmed seats (BITCOUNT).
  [[nodiscard]] long long taken_count(std::string_view flight, std::string_view date);
  /// Confirmed seats in layout order (one GET of the bitmap).
  [[nodiscard]] std::vector<std::string> taken_seats(std::string_view flight,
                                                     std::string_view date);
  /// Seats neither confirmed nor held, in layout order: one GET of the bitmap, then one
  /// pipelined EXISTS per unconfirmed seat. A snapshot: it may be stale as soon as it returns.
  [[nodiscard]] std::vector<std::string> available_seats(std::string_view flight,
                                                         std::string_view date);
  /// The passenger holding the seat now (not yet confirmed), or nullopt.
  [[nodiscard]] std::optional<std::string> holder(std::string_view flight, std::string_view date,
                                                  std::string_view seat);
  /// The passenger the seat is reserved for, or nullopt (not confirmed, or the reservation
  /// expired).
  [[nodiscard]] std::optional<std::string> reservation(std::string_view flight,
                                                       std::string_view date,
                                                       std::string_view seat);

  /// The key manager in use: the one given, with hash tags on when the client is a cluster.
  [[nodiscard]] const CacheKeyManager& keys() const noexcept { return keys_; }
  /// The options it was made with.
  [[nodiscard]] const SeatMapOptions& options() const noexcept { return options_; }

 private:
  [[nodiscard]] std::vector<bool> taken_bits(std::string_view flight, std::string_view date);

  Client& client_;
  DistributedLock lock_;
  CacheKeyManager keys_;
  SeatMapOptions options_;
};

}  // namespace airport::cache
