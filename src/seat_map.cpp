// SPDX-License-Identifier: BSD-3-Clause
// SeatMap: seat layout arithmetic, and the hold / confirm scripts that keep a seat from being
// booked twice (see the header for the key layout and the design).
#include "airport/cache/patterns/seat_map.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "airport/cache/errors.hpp"
#include "airport/cache/pipeline.hpp"

namespace airport::cache {
namespace {

using std::chrono::milliseconds;

constexpr int max_rows = 999;

// The bit check and the seat lock in one step: a hold is never granted on a confirmed seat.
// The lock part matches DistributedLock's acquire script (value `passenger:token`, SET NX PX,
// fencing INCR on DistributedLock::fencing_key(lock)), so DistributedLock's release, extend and
// holder work on it. Returns the fencing token, -1 when the seat is taken, -2 when it is held.
const Script& hold_script() {
  static const Script script{R"lua(
if redis.call('GETBIT', KEYS[1], ARGV[1]) == 1 then return -1 end
if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return -2 end
local fence = redis.pcall('INCR', KEYS[3])
if type(fence) == 'table' and fence.err then
  redis.call('DEL', KEYS[2])
  return fence
end
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return fence
)lua"};
  return script;
}

// Ownership, then the bit, then every write: nothing changes unless the hold still owns the
// seat and the seat is free. The bitmap's expiry only ever grows (a key without expiry keeps
// none), to the reservation's own absolute expiry (PEXPIRETIME, Redis 7): a relative TTL set by
// two commands could land a millisecond apart, and the map must outlive every reservation.
//
// A hold that no longer owns the seat may be the one that confirmed it: a retry after the
// reply was lost. That is the case when the bit is set, the reservation names the hold's
// passenger and the seat's fencing counter still equals the hold's fencing token. The counter
// proves it is this hold and not an earlier one of the same passenger: hold() never takes a
// confirmed seat, so the hold that set the bit was the last one counted. The retry gets the
// first call's answer and writes nothing.
// Returns 0 confirmed (now or by an earlier call), 1 hold lost, 2 already taken.
const Script& confirm_script() {
  static const Script script{R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  if redis.call('GETBIT', KEYS[2], ARGV[2]) == 1 and redis.call('GET', KEYS[3]) == ARGV[3]
      and redis.call('GET', KEYS[4]) == ARGV[5] then
    return 0
  end
  return 1
end
if redis.call('GETBIT', KEYS[2], ARGV[2]) == 1 then return 2 end
local map_ttl = redis.call('PTTL', KEYS[2])
redis.call('SETBIT', KEYS[2], ARGV[2], 1)
redis.call('SET', KEYS[3], ARGV[3], 'PX', tonumber(ARGV[4]))
if map_ttl ~= -1 then
  local reservation_until = redis.call('PEXPIRETIME', KEYS[3])
  if redis.call('PEXPIRETIME', KEYS[2]) < reservation_until then
    redis.call('PEXPIREAT', KEYS[2], reservation_until)
  end
end
redis.call('DEL', KEYS[1])
return 0
)lua"};
  return script;
}

void require_positive(std::string_view what, milliseconds value) {
  if (value.count() <= 0)
    throw std::invalid_argument(fmt::format("{} must be positive, got {} ms", what, value.count()));
}

void require_passenger(std::string_view passenger) {
  if (passenger.empty())
    throw std::invalid_argument("SeatMap: passenger must not be empty");
}

long long script_integer(Client& client, std::string_view operation, std::string_view seat,
                         const Reply& reply) {
  if (reply.is_error())
    throw ReplyError(
        fmt::format("seat {} of '{}' on {}: {}", operation, seat, client.endpoint(), reply.text()));
  if (!reply.is_integer())
    throw ProtocolError(fmt::format("seat {} of '{}' on {}: expected an integer, got {}", operation,
                                    seat, client.endpoint(), to_string(reply.type())));
  return reply.as_integer();
}

}  // namespace

// --- SeatLayout -----------------------------------------------------------------------------

std::size_t SeatLayout::capacity() const noexcept {
  return rows > 0 ? static_cast<std::size_t>(rows) * letters.size() : 0;
}

std::size_t SeatLayout::index_of(std::string_view seat) const {
  const auto reject = [&] {
    return std::invalid_argument(fmt::format(
        "unknown seat '{}': expected a row 1-{} without leading zeros and one of the letters {}",
        seat, rows, letters));
  };
  if (seat.size() < 2 || seat.size() > 4)
    throw reject();
  const std::string_view digits = seat.substr(0, seat.size() - 1);
  if (digits.front() == '0')
    throw reject();
  int row = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9')
      throw reject();
    row = row * 10 + (c - '0');
  }
  const auto column = letters.find(seat.back());
  if (row < 1 || row > rows || column == std::string::npos)
    throw reject();
  return static_cast<std::size_t>(row - 1) * letters.size() + column;
}

std::string SeatLayout::seat_at(std::size_t index) const {
  if (index >= capacity())
    throw std::out_of_range(
        fmt::format("seat index {} is outside the layout's {} seats", index, capacity()));
  return fmt::format("{}{}", index / letters.size() + 1, letters[index % letters.size()]);
}

void SeatLayout::validate() const {
  if (rows < 1 || rows > max_rows)
    throw std::invalid_argument(
        fmt::format("SeatLayout::rows must be between 1 and {}, got {}", max_rows, rows));
  if (letters.empty())
    throw std::invalid_argument("SeatLayout::letters must not be empty");
  for (std::size_t i = 0; i < letters.size(); ++i) {
    if (letters[i] < 'A' || letters[i] > 'Z' ||
        letters.find(letters[i], i + 1) != std::string::npos)
      throw std::invalid_argument(fmt::format(
          "SeatLayout::letters must be distinct upper-case letters A-Z, got '{}'", letters));
  }
}

// --- results --------------------------------------------------------------------------------

std::string_view to_string(HoldStatus status) noexcept {
  switch (status) {
    case HoldStatus::Held:
      return "held";
    case HoldStatus::AlreadyTaken:
      return "already_taken";
    case HoldStatus::HeldByOther:
      return "held_by_other";
  }
  return "unknown";
}

std::string_view to_string(ConfirmResult result) noexcept {
  switch (result) {
    case ConfirmResult::Confirmed:
      return "confirmed";
    case ConfirmResult::HoldLost:
      return "hold_lost";
    case ConfirmResult::AlreadyTaken:
      return "already_taken";
  }
  return "unknown";
}

// --- SeatMap --------------------------------------------------------------------------------

SeatMap::SeatMap(Client& client, CacheKeyManager keys, SeatMapOptions options)
    : client_{client},
      lock_{client},
      // On a cluster the scripts need the flight's keys in one slot: see CacheKeyManager.
      keys_{keys.with_hash_tags(keys.hash_tags() || client.is_cluster())},
      options_{std::move(options)} {
  options_.layout.validate();
  require_positive("SeatMapOptions::hold_ttl", options_.hold_ttl);
  require_positive("SeatMapOptions::reservation_ttl", options_.reservation_ttl);
}

HoldResult SeatMap::hold(std::string_view flight, std::string_view date, std::string_view seat,
                         std::string_view passenger, std::optional<milliseconds> ttl) {
  const std::size_t index = options_.layout.index_of(seat);
  require_passenger(passenger);
  const milliseconds hold_ttl = ttl.value_or(options_.hold_ttl);
  require_positive("SeatMap::hold: ttl", hold_ttl);

  const std::string map_key = keys_.seat_map_key(flight, date);
  const std::string lock_key = keys_.seat_lock_key(flight, date, seat);
  const std::string fence_key = DistributedLock::fencing_key(lock_key);
  LockHolder holder{std::string{passenger}, DistributedLock::make_token()};
  const std::string value = holder.value();
  const std::string bit = std::to_string(index);
  const std::string ttl_ms = std::to_string(hold_ttl.count());
  const std::string fence_ttl_ms = std::to_string(options_.reservation_ttl.count());
  const std::array<std::string_view, 3> keys{map_key, lock_key, fence_key};
  const std::array<std::string_view, 4> args{bit, value, ttl_ms, fence_ttl_ms};

  const long long outcome =
      script_integer(client_, "hold", seat, client_.eval(hold_script(), keys, args));
  if (outcome == -1)
    return HoldResult{HoldStatus::AlreadyTaken, std::nullopt};
  if (outcome == -2)
    return HoldResult{HoldStatus::HeldByOther, std::nullopt};
  return HoldResult{HoldStatus::Held,
                    SeatHold{std::string{flight}, std::string{date}, std::string{seat},
                             std::move(holder.owner), std::move(holder.token), outcome}};
}

ConfirmResult SeatMap::confirm(const SeatHold& hold) {
  const std::size_t index = options_.layout.index_of(hold.seat);
  require_passenger(hold.passenger);
  const std::string lock_key = keys_.seat_lock_key(hold.flight, hold.date, hold.seat);
  const std::string map_key = keys_.seat_map_key(hold.flight, hold.date);
  const std::string reservation_key = keys_.seat_reservation_key(hold.flight, hold.date, hold.seat);
  const std::string fence_key = DistributedLock::fencing_key(lock_key);
  const std::string value = LockHolder{hold.passenger, hold.token}.value();
  const std::string bit = std::to_string(index);
  const std::string ttl_ms = std::to_string(options_.reservation_ttl.count());
  const std::string fence = std::to_string(hold.fencing_token);
  const std::array<std::string_view, 4> keys{lock_key, map_key, reservation_key, fence_key};
  const std::array<std::string_view, 5> args{value, bit, hold.passenger, ttl_ms, fence};

  switch (
      script_integer(client_, "confirm", hold.seat, client_.eval(confirm_script(), keys, args))) {
    case 0:
      return ConfirmResult::Confirmed;
    case 1:
      return ConfirmResult::HoldLost;
    case 2:
      return ConfirmResult::AlreadyTaken;
    default:
      throw ProtocolError(fmt::format("seat confirm of '{}' on {}: unexpected script result",
                                      hold.seat, client_.endpoint()));
  }
}

bool SeatMap::release(const SeatHold& hold) {
  static_cast<void>(options_.layout.index_of(hold.seat));
  return lock_.release(keys_.seat_lock_key(hold.flight, hold.date, hold.seat),
                       LockHolder{hold.passenger, hold.token});
}

bool SeatMap::extend(const SeatHold& hold, std::optional<milliseconds> ttl) {
  static_cast<void>(options_.layout.index_of(hold.seat));
  return lock_.extend(keys_.seat_lock_key(hold.flight, hold.date, hold.seat),
                      LockHolder{hold.passenger, hold.token}, ttl.value_or(options_.hold_ttl));
}

bool SeatMap::is_taken(std::string_view flight, std::string_view date, std::string_view seat) {
  const std::size_t index = options_.layout.index_of(seat);
  return client_.getbit(keys_.seat_map_key(flight, date), index);
}

long long SeatMap::taken_count(std::string_view flight, std::string_view date) {
  return client_.bitcount(keys_.seat_map_key(flight, date));
}

std::vector<bool> SeatMap::taken_bits(std::string_view flight, std::string_view date) {
  const std::optional<std::string> bitmap = client_.get(keys_.seat_map_key(flight, date));
  std::vector<bool> taken(options_.layout.capacity(), false);
  if (!bitmap)
    return taken;
  // SETBIT numbers bits from the most significant bit of the first byte.
  for (std::size_t i = 0; i < taken.size() && i / 8 < bitmap->size(); ++i)
    taken[i] = ((static_cast<unsigned char>((*bitmap)[i / 8]) >> (7 - i % 8)) & 1U) != 0;
  return taken;
}

std::vector<std::string> SeatMap::taken_seats(std::string_view flight, std::string_view date) {
  const std::vector<bool> taken = taken_bits(flight, date);
  std::vector<std::string> seats;
  for (std::size_t i = 0; i < taken.size(); ++i)
    if (taken[i])
      seats.push_back(options_.layout.seat_at(i));
  return seats;
}

std::vector<std::string> SeatMap::available_seats(std::string_view flight, std::string_view date) {
  const std::vector<bool> taken = taken_bits(flight, date);
  std::vector<std::string> candidates;
  Pipeline pipeline;
  for (std::size_t i = 0; i < taken.size(); ++i) {
    if (taken[i])
      continue;
    candidates.push_back(options_.layout.seat_at(i));
    pipeline.add("EXISTS", keys_.seat_lock_key(flight, date, candidates.back()));
  }
  if (candidates.empty())
    return candidates;
  const std::vector<Reply> replies = client_.execute(pipeline);
  if (replies.size() != candidates.size())
    throw ProtocolError(fmt::format("seat availability on {}: {} replies for {} seats",
                                    client_.endpoint(), replies.size(), candidates.size()));
  std::vector<std::string> available;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (replies[i].is_error())
      throw ReplyError(
          fmt::format("seat availability on {}: {}", client_.endpoint(), replies[i].text()));
    if (replies[i].as_integer() == 0)
      available.push_back(std::move(candidates[i]));
  }
  return available;
}

std::optional<std::string> SeatMap::holder(std::string_view flight, std::string_view date,
                                           std::string_view seat) {
  static_cast<void>(options_.layout.index_of(seat));
  std::optional<LockHolder> current = lock_.holder(keys_.seat_lock_key(flight, date, seat));
  if (!current)
    return std::nullopt;
  return std::move(current->owner);
}

std::optional<std::string> SeatMap::reservation(std::string_view flight, std::string_view date,
                                                std::string_view seat) {
  static_cast<void>(options_.layout.index_of(seat));
  return client_.get(keys_.seat_reservation_key(flight, date, seat));
}

}  // namespace airport::cache
