// SPDX-License-Identifier: BSD-3-Clause
// Flight status in near real time: FlightStatusChannel publishes a JSON update and caches it;
// FlightStatusListener (in any service) hears every flight's channel and keeps its cache
// entry fresh. Both read the latest status from the cache, and both write it only when it is
// newer than the cached one.
//
//   publisher ── SET-if-newer flight:status:<f> (30 s) ──► Valkey ◄── SET-if-newer ── listener
//             └─ PUBLISH flight:status:updates:<f> ───────┘ └─ PSUBSCRIBE flight:status:updates:*
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/fwd.h>
#include <nlohmann/json_fwd.hpp>

#include "airport/cache/manager.hpp"
#include "airport/cache/subscriber.hpp"

namespace airport::cache {

/// One status update. On the wire and in the cache it is JSON:
///   {"flight": "UA123", "status": "delayed", "gate": "B12", "delay_minutes": 25,
///    "updated_at": "2024-01-15T10:30:00.123Z"}
/// Every field is required; updated_at is ISO 8601 (UTC "Z" or a "+hh:mm" offset, fraction
/// optional) and is kept to the millisecond.
///
/// Newest wins: the cache entry is replaced only by an update with a later updated_at. Of two
/// updates with the same updated_at, the one whose JSON encoding (as to_json writes it) is
/// byte-wise greater wins, so every process keeps the same one whatever order they arrived in;
/// the same update again is written again (its TTL starts over). The compare and the write are
/// one Lua script on the server, so publishers and listeners in any number of processes agree.
struct FlightStatusUpdate {
  /// The flight number ("UA123"); never empty.
  std::string flight;
  /// The status text ("boarding", "delayed").
  std::string status;
  /// The departure gate ("B22").
  std::string gate;
  /// Expected delay; 0 when on time.
  std::chrono::minutes delay{0};
  /// When the source produced this update: decides which of two updates is newer.
  std::chrono::sys_time<std::chrono::milliseconds> updated_at{};
  friend bool operator==(const FlightStatusUpdate&, const FlightStatusUpdate&) = default;
};

/// JSON codec (also what makes cache.get<FlightStatusUpdate>() work). from_json throws
/// nlohmann::json::exception for a missing or mistyped field and std::invalid_argument for a
/// bad timestamp or an empty flight.
void to_json(nlohmann::json& json, const FlightStatusUpdate& update);
void from_json(const nlohmann::json& json, FlightStatusUpdate& update);

/// The publishing side. Safe for concurrent use; the CacheManager must outlive it.
class FlightStatusChannel {
 public:
  /// Publishes through `cache` (its client and its key manager); no network call here.
  explicit FlightStatusChannel(CacheManager& cache);

  /// Caches the update under flight_status_key(update.flight) with TTLPreset::NearRealtime,
  /// unless the cached one is newer (see FlightStatusUpdate), then PUBLISHes it on
  /// flight_status_channel(flight), outdated or not: listeners drop an outdated one. One EVAL
  /// and one PUBLISH. While Valkey is unavailable the write degrades to CacheManager::get and
  /// set (the fallback, compared in this process only). An updated_at left at the epoch is set
  /// to now, or to 1 ms after the last one this channel set, so that the updates it stamps keep
  /// their order even within one millisecond. Returns how many subscribers received it. Throws
  /// std::invalid_argument for an empty flight, and the Client's errors when the message could not
  /// be published (pub/sub has no history: it is lost).
  long long publish(FlightStatusUpdate update);

  /// The cached status of the flight, or nullopt (never published, expired, or unreadable).
  [[nodiscard]] std::optional<FlightStatusUpdate> latest(std::string_view flight);

 private:
  [[nodiscard]] std::chrono::sys_time<std::chrono::milliseconds> next_stamp();

  CacheManager& cache_;
  std::shared_ptr<spdlog::logger> logger_;
  std::atomic<std::int64_t> last_stamp_{0};  // milliseconds since the epoch
};

/// Options of a FlightStatusListener.
struct FlightStatusListenerOptions {
  /// Called on the subscriber's thread after the update was written to the cache (where a
  /// newer one, from another process, may have stayed), one update at a time, in the order
  /// heard; not called for an update heard after a newer one of the same flight.
  /// Exceptions are caught and logged. Default none.
  std::function<void(const FlightStatusUpdate&)> on_update;
  /// Logger of the subscriber and of rejected messages; see resolve_logger() for the default.
  std::shared_ptr<spdlog::logger> logger;
};

/// The receiving side.
///
///   service A                                   Valkey          service B
///   FlightStatusChannel::publish(update)
///     SET-if-newer flight:status:UA123     -->  entry
///     PUBLISH flight:status:updates:UA123  -->  channel   -->   FlightStatusListener (PSUBSCRIBE
///                                                               flight:status:updates:*)
///                                               entry     <--     SET-if-newer flight:status:UA123
///                                                                 on_update(update)
///
/// The listener has a Subscriber of its own (on the CacheManager's config). Each valid message
/// is written to the flight's cache entry with TTLPreset::NearRealtime unless the entry holds
/// a newer update (compared on the server, see FlightStatusUpdate), then handed to on_update.
/// A message older than one this listener already heard for the same flight (by the same
/// rule) is late: counted in outdated() and otherwise ignored, so on_update never goes back in
/// time. The listener remembers the last update of every flight it heard (a few hundred bytes
/// each). A message that is not a valid update for the channel it came on (bad JSON, a missing
/// field, another flight's payload) is logged, counted in malformed() and otherwise ignored. After
/// a server restart the subscriber reconnects and subscribes again by itself; updates published
/// while it was away are lost (pub/sub has no history).
///
/// Safe for concurrent use. The CacheManager must outlive the listener; destroying the listener
/// stops its thread first, so on_update is never called afterwards.
class FlightStatusListener {
 public:
  /// Starts listening in the background (does not wait: see wait_ready()). Throws ConfigError
  /// for an invalid config.
  explicit FlightStatusListener(CacheManager& cache, FlightStatusListenerOptions options = {});
  ~FlightStatusListener();
  FlightStatusListener(const FlightStatusListener&) = delete;
  FlightStatusListener& operator=(const FlightStatusListener&) = delete;

  /// Waits until the server confirmed the subscription on the current connection (again after
  /// a reconnect). Returns false on timeout. Updates published before that may be missed.
  bool wait_ready(std::chrono::milliseconds timeout);
  /// The cached status of the flight, or nullopt.
  [[nodiscard]] std::optional<FlightStatusUpdate> latest(std::string_view flight);

  /// Valid updates applied so far.
  [[nodiscard]] std::uint64_t received() const noexcept { return received_.load(); }
  /// Valid updates dropped so far because they were heard after a newer one of their flight.
  [[nodiscard]] std::uint64_t outdated() const noexcept { return outdated_.load(); }
  /// Messages rejected so far.
  [[nodiscard]] std::uint64_t malformed() const noexcept { return malformed_.load(); }
  /// Whether the subscriber's connection is up.
  [[nodiscard]] bool connected() const;
  /// How many times the subscriber reconnected after losing the server.
  [[nodiscard]] std::uint64_t reconnects() const;

 private:
  void on_message(const Message& message);

  CacheManager& cache_;
  FlightStatusListenerOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  std::atomic<std::uint64_t> received_{0};
  std::atomic<std::uint64_t> outdated_{0};
  std::atomic<std::uint64_t> malformed_{0};
  // Flight -> the last update handed on; used on the subscriber's thread only.
  std::map<std::string, FlightStatusUpdate, std::less<>> last_handed_on_;
  std::unique_ptr<Subscriber> subscriber_;  // last: stopped before everything its thread uses
};

}  // namespace airport::cache
