// Flight status in near real time: FlightStatusChannel publishes a JSON update and caches it;
// FlightStatusListener (in any service) hears every flight's channel and keeps its cache
// entry fresh. Both read the latest status from the cache.
//
//   publisher ── SET flight:status:<f> (30 s) ──► Valkey ◄── SET flight:status:<f> (30 s) ──
//   listener
//             └─ PUBLISH flight:status:updates:<f> ─┘ └─ PSUBSCRIBE flight:status:updates:* ─┘
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/logger.h>
#include <nlohmann/json_fwd.hpp>

#include "airport/cache/manager.hpp"
#include "airport/cache/subscriber.hpp"

namespace airport::cache {

/// One status update. On the wire and in the cache it is JSON:
///   {"flight": "UA123", "status": "delayed", "gate": "B12", "delay_minutes": 25,
///    "updated_at": "2024-01-15T10:30:00.123Z"}
/// Every field is required; updated_at is ISO 8601 (UTC "Z" or a "+hh:mm" offset, fraction
/// optional) and is kept to the millisecond.
struct FlightStatusUpdate {
  std::string flight;
  std::string status;
  std::string gate;
  std::chrono::minutes delay{0};
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
  explicit FlightStatusChannel(CacheManager& cache) : cache_{cache} {}

  /// Caches the update under flight_status_key(update.flight) with TTLPreset::NearRealtime
  /// (degrading like CacheManager::set), then PUBLISHes it on flight_status_channel(flight).
  /// An updated_at left at the epoch is set to now. Returns how many subscribers received it.
  /// Throws std::invalid_argument for an empty flight, and the Client's errors when the message
  /// could not be published (pub/sub has no history: it is lost).
  long long publish(FlightStatusUpdate update);

  /// The cached status of the flight, or nullopt (never published, expired, or unreadable).
  [[nodiscard]] std::optional<FlightStatusUpdate> latest(std::string_view flight);

 private:
  CacheManager& cache_;
};

/// Options of a FlightStatusListener.
struct FlightStatusListenerOptions {
  /// Called on the subscriber's thread after the cache was updated, one update at a time.
  /// Exceptions are caught and logged. Default none.
  std::function<void(const FlightStatusUpdate&)> on_update;
  /// Logger of the subscriber and of rejected messages; see resolve_logger() for the default.
  std::shared_ptr<spdlog::logger> logger;
};

/// The receiving side.
///
///   service A                                   Valkey          service B
///   FlightStatusChannel::publish(update)
///     SET flight:status:UA123 (30 s)       -->  entry
///     PUBLISH flight:status:updates:UA123  -->  channel   -->   FlightStatusListener (PSUBSCRIBE
///                                                               flight:status:updates:*)
///                                               entry     <--     SET flight:status:UA123 (30 s)
///                                                                 on_update(update)
///
/// The listener has a Subscriber of its own (on the CacheManager's config). Each valid message
/// is written to the flight's cache entry with TTLPreset::NearRealtime, then handed to
/// on_update. A message that is not a valid update for the channel it came on (bad JSON, a
/// missing field, another flight's payload) is logged, counted in malformed() and otherwise
/// ignored. After a server restart the subscriber reconnects and subscribes again by itself;
/// updates published while it was away are lost (pub/sub has no history).
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
  std::atomic<std::uint64_t> malformed_{0};
  std::unique_ptr<Subscriber> subscriber_;  // last: stopped before everything its thread uses
};

}  // namespace airport::cache
