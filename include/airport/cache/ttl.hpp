// SPDX-License-Identifier: BSD-3-Clause
// Time-to-live policy: the workshop's TTL presets, jittered TTLs (so keys written together do not
// expire together) and the XFetch early-refresh rule against cache stampedes.
// See docs/keys_and_ttl.md.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string_view>

namespace airport::cache {

/// Named TTLs of the workshop's data kinds; ttl_of() gives the duration.
enum class TTLPreset {
  NearRealtime,     ///< 30 s
  FlightStatus,     ///< 5 min
  SeatReservation,  ///< 1 min
  WeatherData,      ///< 15 min
  Leaderboard,      ///< 10 min
  FlightManifest,   ///< 30 min
  SearchResults,    ///< 1 h
  FlightSchedule,   ///< 6 h
  AirportInfo,      ///< 1 day
  AirlineInfo,      ///< 1 day
  PassengerInfo,    ///< 7 days
  Configuration,    ///< 30 days
};

/// Every preset, in declaration order (for tables, tests and config listings).
inline constexpr std::array<TTLPreset, 12> all_ttl_presets{
    TTLPreset::NearRealtime,  TTLPreset::FlightStatus,   TTLPreset::SeatReservation,
    TTLPreset::WeatherData,   TTLPreset::Leaderboard,    TTLPreset::FlightManifest,
    TTLPreset::SearchResults, TTLPreset::FlightSchedule, TTLPreset::AirportInfo,
    TTLPreset::AirlineInfo,   TTLPreset::PassengerInfo,  TTLPreset::Configuration,
};

/// The un-jittered TTL of a preset.
[[nodiscard]] constexpr std::chrono::seconds ttl_of(TTLPreset preset) noexcept {
  using std::chrono::seconds;
  switch (preset) {
    case TTLPreset::NearRealtime:
      return seconds{30};
    case TTLPreset::FlightStatus:
      return seconds{300};
    case TTLPreset::SeatReservation:
      return seconds{60};
    case TTLPreset::WeatherData:
      return seconds{900};
    case TTLPreset::Leaderboard:
      return seconds{600};
    case TTLPreset::FlightManifest:
      return seconds{1800};
    case TTLPreset::SearchResults:
      return seconds{3600};
    case TTLPreset::FlightSchedule:
      return seconds{21600};
    case TTLPreset::AirportInfo:
      return seconds{86400};
    case TTLPreset::AirlineInfo:
      return seconds{86400};
    case TTLPreset::PassengerInfo:
      return seconds{604800};
    case TTLPreset::Configuration:
      return seconds{2592000};
  }
  return seconds{0};  // unreachable for valid enumerators
}

/// A stable snake_case name: "near_realtime", "search_results", ...
[[nodiscard]] constexpr std::string_view to_string(TTLPreset preset) noexcept {
  switch (preset) {
    case TTLPreset::NearRealtime:
      return "near_realtime";
    case TTLPreset::FlightStatus:
      return "flight_status";
    case TTLPreset::SeatReservation:
      return "seat_reservation";
    case TTLPreset::WeatherData:
      return "weather_data";
    case TTLPreset::Leaderboard:
      return "leaderboard";
    case TTLPreset::FlightManifest:
      return "flight_manifest";
    case TTLPreset::SearchResults:
      return "search_results";
    case TTLPreset::FlightSchedule:
      return "flight_schedule";
    case TTLPreset::AirportInfo:
      return "airport_info";
    case TTLPreset::AirlineInfo:
      return "airline_info";
    case TTLPreset::PassengerInfo:
      return "passenger_info";
    case TTLPreset::Configuration:
      return "configuration";
  }
  return "unknown";
}

/// Computes the TTLs written to Valkey. A jittered TTL is uniform over the whole milliseconds in
/// [base*(1-ratio), base*(1+ratio)], never below 1 ms, with mean base; there is no minimum TTL
/// other than that (the original stretched every TTL under 30 s to 30 s).
///
/// Safe for concurrent use. The default calculator draws from a per-thread generator seeded from
/// std::random_device; a seeded one shares one lock-free SplitMix64 sequence, deterministic for
/// a given seed and order of calls. One jittered() costs a few nanoseconds.
class TTLCalculator {
 public:
  /// Throws std::invalid_argument unless 0 <= jitter_ratio < 1 (ValkeyConfig::ttl_jitter).
  explicit TTLCalculator(double jitter_ratio = 0.1);
  /// Deterministic: the same ratio and seed give the same sequence of TTLs. For tests and
  /// simulations. Throws as the other constructor does.
  TTLCalculator(double jitter_ratio, std::uint64_t seed);

  /// Copies the ratio and the generator's current state: a copy of a seeded calculator goes on
  /// with the same sequence, independently of the original.
  TTLCalculator(const TTLCalculator& other) noexcept;
  /// As the copy constructor.
  TTLCalculator& operator=(const TTLCalculator& other) noexcept;

  /// `base` with jitter. Throws std::invalid_argument naming the value unless base > 0.
  [[nodiscard]] std::chrono::milliseconds jittered(std::chrono::milliseconds base) const;
  /// The preset's TTL (ttl_of()) with jitter.
  [[nodiscard]] std::chrono::milliseconds jittered(TTLPreset preset) const {
    return jittered(std::chrono::milliseconds{ttl_of(preset)});
  }

  /// `base` unchanged, validated as jittered() validates it: for keys that must expire at a
  /// precise time (locks, reservations).
  [[nodiscard]] static std::chrono::milliseconds exact(std::chrono::milliseconds base);
  /// The preset's TTL without jitter.
  [[nodiscard]] static std::chrono::milliseconds exact(TTLPreset preset) {
    return std::chrono::milliseconds{ttl_of(preset)};
  }

  /// xfetch_should_refresh() with the random number drawn from this calculator's generator
  /// (deterministic when seeded).
  [[nodiscard]] bool should_refresh_early(std::chrono::nanoseconds remaining,
                                          std::chrono::nanoseconds delta, double beta = 1.0) const;

  /// The ratio given at construction: a jittered TTL lies within this share of the base, either
  /// way.
  [[nodiscard]] double jitter_ratio() const noexcept { return ratio_; }
  /// Whether it was made with a seed (deterministic sequence).
  [[nodiscard]] bool seeded() const noexcept { return seeded_; }

 private:
  [[nodiscard]] std::uint64_t next_random() const noexcept;

  double ratio_;
  bool seeded_ = false;
  // SplitMix64 state of a seeded calculator. Atomic so a shared const calculator stays
  // thread-safe without a lock.
  mutable std::atomic<std::uint64_t> state_{0};
};

/// Time left until `expires_at`, zero once it has passed. Works with any clock.
template <class Clock, class Duration>
[[nodiscard]] constexpr Duration remaining(std::chrono::time_point<Clock, Duration> expires_at,
                                           std::chrono::time_point<Clock, Duration> now) noexcept {
  return expires_at > now ? expires_at - now : Duration::zero();
}

/// When a value written `now` with `ttl` expires: now + ttl. Replaces the original's
/// `TTLCalculator.calculate_expiration_time(ttl_seconds)`, which used datetime.now(); pass the
/// clock's now() (system_clock for a wall-clock time, steady_clock for a local deadline).
template <class Clock, class Duration, class Rep, class Period>
[[nodiscard]] constexpr auto expiration_time(std::chrono::duration<Rep, Period> ttl,
                                             std::chrono::time_point<Clock, Duration> now) {
  return now + ttl;
}

/// expiration_time() from Clock::now() (system_clock by default, as the original's datetime).
template <class Clock = std::chrono::system_clock, class Rep, class Period>
[[nodiscard]] auto expiration_time(std::chrono::duration<Rep, Period> ttl) {
  return expiration_time(ttl, Clock::now());
}

/// Whole seconds left until `expires_at`, rounded down, zero once it has passed. Replaces the
/// original's `TTLCalculator.get_remaining_ttl(expiration_time)`; use remaining() for the exact
/// duration.
template <class Clock, class Duration>
[[nodiscard]] constexpr std::chrono::seconds remaining_ttl(
    std::chrono::time_point<Clock, Duration> expires_at,
    std::chrono::time_point<Clock, Duration> now) noexcept {
  return std::chrono::floor<std::chrono::seconds>(remaining(expires_at, now));
}

/// remaining_ttl() against Clock::now().
template <class Clock, class Duration>
[[nodiscard]] std::chrono::seconds remaining_ttl(
    std::chrono::time_point<Clock, Duration> expires_at) {
  return remaining_ttl(expires_at, std::chrono::time_point_cast<Duration>(Clock::now()));
}

/// XFetch (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache Stampede Prevention",
/// VLDB 2015): recompute a value before it expires when
///   now - delta * beta * ln(uniform01) >= expiry,
/// i.e. when the time `remaining` until expiry is at most delta * beta * -ln(uniform01).
/// `delta` is how long one recomputation takes; `beta` > 1 refreshes earlier, 0 never early;
/// `uniform01` is uniform in (0, 1]. Always true once expired. Pure: the caller supplies the
/// random number. Throws std::invalid_argument if delta < 0, beta < 0 or not finite, or
/// uniform01 is outside (0, 1].
[[nodiscard]] bool xfetch_should_refresh(std::chrono::nanoseconds remaining,
                                         std::chrono::nanoseconds delta, double beta,
                                         double uniform01);

/// The same rule on time points of any one clock (steady_clock recommended: expiry is a
/// local deadline, not a wall-clock time).
template <class Clock, class Duration>
[[nodiscard]] bool xfetch_should_refresh(std::chrono::time_point<Clock, Duration> now,
                                         std::chrono::time_point<Clock, Duration> expiry,
                                         std::chrono::nanoseconds delta, double beta,
                                         double uniform01) {
  // remaining() clamps an overdue entry to zero, which the rule treats as expired.
  return xfetch_should_refresh(
      std::chrono::duration_cast<std::chrono::nanoseconds>(remaining(expiry, now)), delta, beta,
      uniform01);
}

/// A uniform double in (0, 1] from any generator, exact to 2^-53. Never 0, so ln() is finite.
template <std::uniform_random_bit_generator Generator>
[[nodiscard]] double uniform_open_closed(Generator& generator) {
  // An integer distribution is exact; generate_canonical may round up to 1.0 and then 1 - u
  // would be 0 (LWG 2524).
  std::uniform_int_distribution<std::uint64_t> bits{0, (std::uint64_t{1} << 53) - 1};
  return static_cast<double>(bits(generator) + 1) * 0x1.0p-53;
}

/// XFetch with the random number drawn from `generator`.
template <std::uniform_random_bit_generator Generator>
[[nodiscard]] bool xfetch_should_refresh(std::chrono::nanoseconds remaining,
                                         std::chrono::nanoseconds delta, double beta,
                                         Generator& generator) {
  return xfetch_should_refresh(remaining, delta, beta, uniform_open_closed(generator));
}

}  // namespace airport::cache
