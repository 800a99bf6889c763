// SPDX-License-Identifier: BSD-3-Clause
// Cache key construction: the original workshop's naming convention (prefix:part:part:name=value)
// and key shapes, reversible escaping of the bytes that broke it, SCAN patterns with globs, digests
// for long or parameter-heavy keys, and the workshop's named keys (CacheKeyManager).
// See docs/keys_and_ttl.md.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace airport::cache {

struct ValkeyConfig;

/// Default limit of a key's length in bytes (ValkeyConfig::max_key_length has the same default).
inline constexpr std::size_t default_max_key_length = 250;

/// Hex characters of SHA-256 kept in digests (hash_key, shortened keys): 128 bits.
inline constexpr std::size_t key_digest_length = 32;

/// Parameters of a key, e.g. {{"cabin", "economy"}, {"adults", "2"}}. Sorted by name. An empty
/// value is kept (`cabin=`), as the original kept `''`; to leave a parameter out (the original's
/// None), do not put it in, or use CacheKeyBuilder::param() with std::nullopt.
using KeyParams = std::map<std::string, std::string>;

/// The original workshop's key prefixes (its `CacheKeyPrefix` enum, same members), each one or two
/// `:`-separated segments: to_string(CacheKeyPrefix::SeatMap) is "seat:map". Start a key with
/// CacheKeyBuilder::part(CacheKeyPrefix) or CacheKeyManager::builder(CacheKeyPrefix).
enum class CacheKeyPrefix {
  FlightSearch,       ///< flight:search
  FlightSchedule,     ///< flight:schedule
  FlightStatus,       ///< flight:status
  FlightManifest,     ///< flight:manifest
  AirportInfo,        ///< airport:info
  AirportDaily,       ///< airport:daily
  AirlineInfo,        ///< airline:info
  PassengerInfo,      ///< passenger:info
  BookingInfo,        ///< booking:info
  PassengerManifest,  ///< passenger:manifest
  SeatMap,            ///< seat:map
  SeatReservation,    ///< seat:reservation
  SeatLock,           ///< seat:lock
  Leaderboard,        ///< leaderboard
  PassengerScore,     ///< passenger:score
  WeatherApi,         ///< weather:api
  WeatherCity,        ///< weather:city
  NestedCache,        ///< nested (the original's NESTED_CACHE)
  CacheDependency,    ///< dependency (the original's CACHE_DEPENDENCY)
  Metrics,            ///< metrics
  Performance,        ///< performance
  Session,            ///< session
  UserPrefs,          ///< user:prefs
};

/// Every CacheKeyPrefix, in declaration order (the original's order).
inline constexpr std::array<CacheKeyPrefix, 23> all_cache_key_prefixes{
    CacheKeyPrefix::FlightSearch,    CacheKeyPrefix::FlightSchedule,
    CacheKeyPrefix::FlightStatus,    CacheKeyPrefix::FlightManifest,
    CacheKeyPrefix::AirportInfo,     CacheKeyPrefix::AirportDaily,
    CacheKeyPrefix::AirlineInfo,     CacheKeyPrefix::PassengerInfo,
    CacheKeyPrefix::BookingInfo,     CacheKeyPrefix::PassengerManifest,
    CacheKeyPrefix::SeatMap,         CacheKeyPrefix::SeatReservation,
    CacheKeyPrefix::SeatLock,        CacheKeyPrefix::Leaderboard,
    CacheKeyPrefix::PassengerScore,  CacheKeyPrefix::WeatherApi,
    CacheKeyPrefix::WeatherCity,     CacheKeyPrefix::NestedCache,
    CacheKeyPrefix::CacheDependency, CacheKeyPrefix::Metrics,
    CacheKeyPrefix::Performance,     CacheKeyPrefix::Session,
    CacheKeyPrefix::UserPrefs,
};

/// The key text of a prefix, byte-identical to the original's enum value ("flight:search").
[[nodiscard]] constexpr std::string_view to_string(CacheKeyPrefix prefix) noexcept {
  switch (prefix) {
    case CacheKeyPrefix::FlightSearch:
      return "flight:search";
    case CacheKeyPrefix::FlightSchedule:
      return "flight:schedule";
    case CacheKeyPrefix::FlightStatus:
      return "flight:status";
    case CacheKeyPrefix::FlightManifest:
      return "flight:manifest";
    case CacheKeyPrefix::AirportInfo:
      return "airport:info";
    case CacheKeyPrefix::AirportDaily:
      return "airport:daily";
    case CacheKeyPrefix::AirlineInfo:
      return "airline:info";
    case CacheKeyPrefix::PassengerInfo:
      return "passenger:info";
    case CacheKeyPrefix::BookingInfo:
      return "booking:info";
    case CacheKeyPrefix::PassengerManifest:
      return "passenger:manifest";
    case CacheKeyPrefix::SeatMap:
      return "seat:map";
    case CacheKeyPrefix::SeatReservation:
      return "seat:reservation";
    case CacheKeyPrefix::SeatLock:
      return "seat:lock";
    case CacheKeyPrefix::Leaderboard:
      return "leaderboard";
    case CacheKeyPrefix::PassengerScore:
      return "passenger:score";
    case CacheKeyPrefix::WeatherApi:
      return "weather:api";
    case CacheKeyPrefix::WeatherCity:
      return "weather:city";
    case CacheKeyPrefix::NestedCache:
      return "nested";
    case CacheKeyPrefix::CacheDependency:
      return "dependency";
    case CacheKeyPrefix::Metrics:
      return "metrics";
    case CacheKeyPrefix::Performance:
      return "performance";
    case CacheKeyPrefix::Session:
      return "session";
    case CacheKeyPrefix::UserPrefs:
      return "user:prefs";
  }
  return "unknown";
}

/// Percent-encodes every byte of a key part (or parameter name) that broke the original's keys:
/// control bytes and DEL, space, the separators `:` and `=`, the glob characters `* ? [ ] \`,
/// the escape character `%`, the digest marker `#` and the cluster hash-tag braces `{ }`. Each
/// becomes `%XX` (upper-case hex), so "Los Angeles" -> "Los%20Angeles". Every other byte, UTF-8
/// included, is kept, so "Zürich" and "AA123_20240115" are byte-identical to the original's.
/// Never throws except std::bad_alloc.
[[nodiscard]] std::string escape_key_part(std::string_view part);

/// escape_key_part() for a parameter value: the same bytes except `=`, which stays as it is
/// (the original's `q=a=b`): a parameter segment splits at its first `=`, and names escape it.
[[nodiscard]] std::string escape_param_value(std::string_view value);

/// Reverses escape_key_part(): decodes every `%XX` (either case of hex). Throws
/// std::invalid_argument if a `%` is not followed by two hex digits.
[[nodiscard]] std::string unescape_key_part(std::string_view escaped);

/// True when `prefix` is usable as a key prefix: empty, or `:`-separated non-empty segments
/// that need no escaping (e.g. "airport:prod"). ValkeyConfig::validate() may use this.
[[nodiscard]] bool is_valid_key_prefix(std::string_view prefix) noexcept;

/// Lower-case hex SHA-256 of `data` (64 characters). Computed with OpenSSL; no allocation other
/// than the result.
[[nodiscard]] std::string sha256_hex(std::string_view data);

/// Lower-case hex MD5 of `data` (32 characters), computed with OpenSSL. Only for the original's
/// key digests (hash_key(), CacheKeyManager::dependency_key()), never for security.
[[nodiscard]] std::string md5_hex(std::string_view data);

/// Hex characters of MD5 kept by hash_key(), as the original's build_hash_key kept.
inline constexpr std::size_t hash_key_digest_length = 12;

/// The original's `build_hash_key(prefix, data)`: `<prefix>:hash:<hex>`, where `<hex>` is the
/// first 12 hex chars of the MD5 of the parameters' JSON, or `hash:<hex>` when `prefix` is
/// empty. The JSON is Python's ``json.dumps(data, sort_keys=True, separators=(',', ':'))``:
/// objects sorted by key, no spaces, non-ASCII as `\uXXXX`; nlohmann writes the same bytes for
/// strings, integers, booleans, null, arrays and objects (floats can differ in their last digits;
/// NaN and infinities are `null` here and `NaN` in Python). So
/// {"from":"LAX","to":"JFK","date":"2024-01-15"} under "flight:search" gives
/// `flight:search:hash:9927c31dae3f`, as in Python. `prefix` is used literally (build it with
/// CacheKeyBuilder or CacheKeyManager::hash_key()). 48 bits: keep the key space small enough
/// (millions, not billions of distinct parameter sets) or use a CacheKeyBuilder key. Throws
/// std::invalid_argument if the JSON holds invalid UTF-8.
[[nodiscard]] std::string hash_key(std::string_view prefix, const nlohmann::json& params);

/// The original's `validate_key`: true when `key` is non-empty, at most `max_key_length` bytes
/// (the original: 250 characters) and holds no whitespace or control byte (the original refused
/// `\n \r \t` and space; we also refuse the other control bytes and DEL). Every key this library
/// builds passes with its manager's limit. No allocation.
[[nodiscard]] bool validate_key(std::string_view key,
                                std::size_t max_key_length = default_max_key_length) noexcept;

/// What get_key_info() reads from a key (the original's `get_key_info` dict, as a struct).
struct KeyInfo {
  std::string key;         ///< the key as given
  std::string key_prefix;  ///< the manager's prefix (ValkeyConfig::key_prefix) if the key has it
  /// The segments after `key_prefix`, split at `:` and unescaped ("Los%20Angeles" -> "Los
  /// Angeles"; a segment that is not valid escaping is kept as it is). The original's `parts`.
  std::vector<std::string> parts;
  std::string prefix;      ///< parts[0], or empty: the original's `prefix` ("flight")
  std::string type;        ///< parts[0] + ":" + parts[1] when there are two: the original's `type`
  std::size_t length = 0;  ///< bytes
  bool is_valid = false;   ///< validate_key(key, limit)
  bool shortened = false;  ///< the key ends in a `#<digest>` from shorten_key()
};

/// Parses `key` back into its prefix and parts. `key_prefix` is stripped first when the key
/// starts with it and a `:`. Never throws except std::bad_alloc.
[[nodiscard]] KeyInfo get_key_info(std::string_view key, std::string_view key_prefix = {},
                                   std::size_t max_key_length = default_max_key_length);

/// Returns `key` unchanged if it fits in `max_key_length` bytes; otherwise a readable head of it
/// followed by `#` and the first 32 hex chars of SHA-256 of the whole key, exactly
/// `max_key_length` bytes long or shorter. The head is never cut inside a `%XX` escape. Throws
/// std::invalid_argument if `max_key_length` is below 34 (no room for the digest and one byte).
[[nodiscard]] std::string shorten_key(std::string key, std::size_t max_key_length);

/// Integers accepted as key parts and parameter values (bool and character types are not).
template <class T>
concept KeyInteger =
    std::integral<T> && !std::same_as<std::remove_cv_t<T>, bool> &&
    !std::same_as<std::remove_cv_t<T>, char> && !std::same_as<std::remove_cv_t<T>, signed char> &&
    !std::same_as<std::remove_cv_t<T>, unsigned char> &&
    !std::same_as<std::remove_cv_t<T>, wchar_t> && !std::same_as<std::remove_cv_t<T>, char8_t> &&
    !std::same_as<std::remove_cv_t<T>, char16_t> && !std::same_as<std::remove_cv_t<T>, char32_t>;

/// Builds one key or SCAN pattern: `[prefix:]part:part[:name=value...]`, every part and
/// parameter name escaped with escape_key_part(), every value with escape_param_value(),
/// parameters sorted by name. The original's `build_key(prefix, *parts, **params)` and
/// `build_pattern(prefix, *parts)`:
///
///   CacheKeyBuilder{"airport:prod"}.part("flight").part("search").part("LAX")
///       .param("cabin", "economy").build();   // "airport:prod:flight:search:LAX:cabin=economy"
///   CacheKeyBuilder{}.part(CacheKeyPrefix::SeatMap).glob("AA*").any().pattern();
///                                               // "seat:map:AA*:*"
///   CacheKeyBuilder{}.part(CacheKeyPrefix::FlightStatus).part("UA*").build();
///                                               // "flight:status:UA%2A" (a literal star)
///
/// A value type. One thread at a time.
class CacheKeyBuilder {
 public:
  /// Tag for part(): a wildcard segment in a pattern.
  struct AnyTag {
    explicit AnyTag() = default;
  };
  /// part(any_part) is any(): lets a list of parts mix literals and wildcards.
  static constexpr AnyTag any_part{};

  /// No prefix, default length limit.
  CacheKeyBuilder() = default;

  /// `prefix` goes first, verbatim (it must satisfy is_valid_key_prefix()); keys longer than
  /// `max_key_length` bytes are shortened by build(). Throws std::invalid_argument for an
  /// invalid prefix, or a limit too small to hold the prefix, one byte and the digest.
  explicit CacheKeyBuilder(std::string_view prefix,
                           std::size_t max_key_length = default_max_key_length);

  /// Appends an escaped part. Throws std::invalid_argument if it is empty, naming its index.
  CacheKeyBuilder& part(std::string_view value);
  /// Appends a number as a part, in decimal.
  template <KeyInteger T>
  CacheKeyBuilder& part(T value) {
    return part(std::string_view{std::to_string(value)});
  }
  /// Appends the part, or nothing for std::nullopt (the original skipped `None` parts).
  template <class T>
  CacheKeyBuilder& part(const std::optional<T>& value) {
    if (!value) {
      return *this;
    }
    if constexpr (KeyInteger<T>) {
      return part(*value);
    } else {
      return part(std::string_view{*value});
    }
  }
  /// Appends the original's prefix segments, verbatim ("seat:map" is two segments).
  CacheKeyBuilder& part(CacheKeyPrefix prefix);
  /// Appends a wildcard segment (`*`), for pattern() only.
  CacheKeyBuilder& part(AnyTag) { return any(); }
  /// Appends a wildcard segment (`*`), matching any run of characters (`:` included), for
  /// pattern() only; build() throws if one is present. Same as glob("*").
  CacheKeyBuilder& any();
  /// Appends a segment whose glob characters `* ? [ ] \` are meant as globs ("AA*", "1?",
  /// "[abc]"), for pattern() only: every other byte is escaped as part() escapes it, so the
  /// segment still matches one segment of data, and a literal `*` in data is matched with part().
  /// build() throws once a glob was added. Throws std::invalid_argument if `glob` is empty.
  CacheKeyBuilder& glob(std::string_view glob);

  /// Appends a Valkey Cluster hash tag `{value}` (value escaped) as a part, so that keys sharing
  /// the tag land in one slot. Throws std::invalid_argument if `value` is empty.
  CacheKeyBuilder& hash_tag(std::string_view value);
  /// Appends one hash tag made of several values: each escaped, joined by a raw `:` inside the
  /// braces, so hash_tag_parts({"UA123", "2024-01-15"}) appends `{UA123:2024-01-15}` and keeps
  /// the key readable as the same segments without a tag would be. Escaping keeps `{`, `}` and
  /// `:` out of the values, so the braces are the key's first (and only) ones and the tag is
  /// exactly the joined values. Throws std::invalid_argument if there is no value or one is
  /// empty, naming its index. Like hash_tag(), build() may shorten a long key past its tag:
  /// CacheKeyManager's tagged keys check for that.
  CacheKeyBuilder& hash_tag_parts(std::initializer_list<std::string_view> values);

  /// Sets parameter `name` to `value`; an empty value is kept (`name=`, as the original kept
  /// ''). Setting a name twice keeps the later value. Throws std::invalid_argument if `name` is
  /// empty.
  CacheKeyBuilder& param(std::string_view name, std::string_view value);
  /// A number as a parameter value, in decimal.
  template <KeyInteger T>
  CacheKeyBuilder& param(std::string_view name, T value) {
    return param(name, std::string_view{std::to_string(value)});
  }
  /// std::nullopt removes the parameter (the original dropped `None` parameters).
  template <class T>
  CacheKeyBuilder& param(std::string_view name, const std::optional<T>& value) {
    if (!value) {
      return remove_param(name);
    }
    if constexpr (KeyInteger<T>) {
      return param(name, *value);
    } else {
      return param(name, std::string_view{*value});
    }
  }
  /// Sets every parameter of `values`, with param()'s rules.
  CacheKeyBuilder& params(const KeyParams& values);
  /// Removes parameter `name` if it was set.
  CacheKeyBuilder& remove_param(std::string_view name);

  /// The key. Longer than the limit: shortened with shorten_key(). Throws std::invalid_argument
  /// if there is no part, or if any() was used. Does not change the builder.
  [[nodiscard]] std::string build() const;

  /// A SCAN/KEYS/PSUBSCRIBE pattern: literal parts are escaped, so their glob characters are
  /// literal; only any() and glob() segments hold globs. Never shortened: a key shortened by
  /// build() matches a pattern only if the pattern's literal head survived in it. Throws
  /// std::invalid_argument if there is no part.
  [[nodiscard]] std::string pattern() const;

  /// The prefix every key starts with ("" for none).
  [[nodiscard]] const std::string& prefix() const noexcept { return prefix_; }
  /// Keys longer than this many bytes are shortened by build().
  [[nodiscard]] std::size_t max_key_length() const noexcept { return max_key_length_; }

 private:
  [[nodiscard]] std::string join() const;

  std::string prefix_;
  std::size_t max_key_length_ = default_max_key_length;
  std::vector<std::string> parts_;  // escaped, or a glob segment
  KeyParams params_;                // raw; escaped when joined
  bool has_wildcard_ = false;       // any() or glob() was used
};

/// One contained fragment of a nested (Russian-doll) key: its name and version.
struct KeyVersion {
  /// The fragment's kind as it appears in the key ("status").
  std::string_view name;
  /// Its version counter.
  std::uint64_t version = 0;
};

/// The workshop's keys, under one prefix and length limit, byte-identical to the original Python
/// workshop's `CacheKeyManager` for every input it handled (see the table in
/// docs/keys_and_ttl.md for the few it broke on). Shapes (shown without the prefix; every
/// argument is one escaped part, never empty):
///
/// ```
///   flight_search_key     flight:search:<origin>:<destination>:<date>[:<name>=<value>...]
///   flight_status_key     flight:status:<flight>
///   flight_schedule_key   flight:schedule:<flight>:<date>
///   flight_manifest_key   flight:manifest:<flight_id>
///   seat_map_key          seat:map:<flight_id>
///   seat_reservation_key  seat:reservation:<flight_id>:<seat>
///   seat_lock_key         seat:lock:<flight_id>:<seat>      (the owner is the value, see below)
///   weather_key           weather:city:<country>:<city>
///   leaderboard_key       leaderboard:<name>                 (name defaults to passenger_bookings)
///   passenger_score_key   passenger:score:<passenger_id>
///   airport_daily_key     airport:daily:<airport>:<date>
///   russian_doll_key      nested:<part>[:<part>...]
///   dependency_key        dependency:<md5(parent)[:8]>:<md5(child)[:8]>
///   hash_key              <kind>:hash:<md5(json)[:12]>
///   fragment_key          doll:<kind>:<id>:v<version>
///   nested_key            doll:<kind>:<id>:v<version>[:<name>:v<version>...]
///   flight_status_channel flight:status:updates:<flight>          (pub/sub channel)
/// ```
///
/// `<flight_id>` is the original's flight id, e.g. "AA123_20240115". The forms taking a flight
/// and a date build it with flight_id(): flight + "_" + the date without its dashes, so
/// seat_map_key("AA123", "2024-01-15") is `seat:map:AA123_20240115`, the key the Python services
/// use for that flight-day.
///
/// With hash tags on (with_hash_tags(), for a Valkey Cluster) the seat keys wrap the flight id in
/// one tag, so that a flight's bitmap, seat locks, the locks' fencing counters and its
/// reservations share one cluster slot (SeatMap's scripts touch several of them at once):
///
/// ```
///   seat_map_key          seat:map:{<flight_id>}
///   seat_reservation_key  seat:reservation:{<flight_id>}:<seat>
///   seat_lock_key         seat:lock:{<flight_id>}:<seat>
/// ```
///
/// Every other key keeps its shape: each is used alone (one key per command or script), so a
/// tag would only pile related keys onto one node. Without hash tags (the default) no key has
/// braces, byte-identical to the original workshop's keys.
///
/// Dates are passed as text, by convention ISO 8601 ("2024-01-15"). Codes are not case-folded:
/// pass them normalized ("LAX", not "lax"). Every method throws std::invalid_argument naming the
/// argument when one is empty. Immutable: safe for concurrent use.
class CacheKeyManager {
 public:
  /// No prefix, default length limit.
  CacheKeyManager() = default;
  /// Throws std::invalid_argument as CacheKeyBuilder's constructor does.
  explicit CacheKeyManager(std::string_view prefix,
                           std::size_t max_key_length = default_max_key_length);
  /// Uses config.key_prefix and config.max_key_length; throws ConfigError naming the field if
  /// either is unusable.
  explicit CacheKeyManager(const ValkeyConfig& config);

  /// A copy of this manager whose seat keys carry a Valkey Cluster hash tag (`on`), or not (see
  /// the class comment). SeatMap calls it with Client::is_cluster(). No network call.
  [[nodiscard]] CacheKeyManager with_hash_tags(bool on = true) const;
  /// Whether the seat keys carry a hash tag.
  [[nodiscard]] bool hash_tags() const noexcept { return hash_tags_; }

  /// A builder with this manager's prefix and limit, for keys not listed here.
  [[nodiscard]] CacheKeyBuilder builder() const {
    return CacheKeyBuilder{prefix_, max_key_length_};
  }
  /// A builder starting with one of the original's prefixes: the original's
  /// `build_key(CacheKeyPrefix.X, ...)` is `builder(CacheKeyPrefix::X).part(...).build()`.
  [[nodiscard]] CacheKeyBuilder builder(CacheKeyPrefix kind) const {
    CacheKeyBuilder b{prefix_, max_key_length_};
    b.part(kind);
    return b;
  }

  /// The original's flight id of a flight-day: `flight` + "_" + `date` without its dashes,
  /// flight_id("AA123", "2024-01-15") == "AA123_20240115". Throws if either is empty.
  [[nodiscard]] static std::string flight_id(std::string_view flight, std::string_view date);

  /// `flight:search:<origin>:<destination>:<date>`, then each of `params` as
  /// `:<name>=<value>`.
  [[nodiscard]] std::string flight_search_key(std::string_view origin, std::string_view destination,
                                              std::string_view date,
                                              const KeyParams& params = {}) const;
  /// `flight:status:<flight>`.
  [[nodiscard]] std::string flight_status_key(std::string_view flight) const;
  /// `flight:schedule:<flight>:<date>`.
  [[nodiscard]] std::string flight_schedule_key(std::string_view flight,
                                                std::string_view date) const;
  /// `flight:manifest:<flight_id>`, as the original: flight_manifest_key("AA123").
  [[nodiscard]] std::string flight_manifest_key(std::string_view flight_id) const;
  /// The manifest of one flight-day: flight_manifest_key(flight_id(flight, date)).
  [[nodiscard]] std::string flight_manifest_key(std::string_view flight,
                                                std::string_view date) const;
  /// The bitmap of a flight's confirmed seats: `seat:map:<flight_id>`. The seat keys throw
  /// std::invalid_argument when hash tags are on and the key is so long that shortening it
  /// (max_key_length) would cut its tag: the flight's keys would then land in different slots.
  [[nodiscard]] std::string seat_map_key(std::string_view flight_id) const;
  /// seat_map_key(flight_id(flight, date)): `seat:map:AA123_20240115`.
  [[nodiscard]] std::string seat_map_key(std::string_view flight, std::string_view date) const;
  /// A confirmed seat's reservation: `seat:reservation:<flight_id>:<seat>`.
  [[nodiscard]] std::string seat_reservation_key(std::string_view flight_id,
                                                 std::string_view seat) const;
  /// seat_reservation_key(flight_id(flight, date), seat).
  [[nodiscard]] std::string seat_reservation_key(std::string_view flight, std::string_view date,
                                                 std::string_view seat) const;
  /// The lock on one seat of one flight: `seat:lock:<flight_id>:<seat>`. Deliberately takes no
  /// user, unlike the original's seat_lock_key(flight_id, seat, user_id): every contender must
  /// compute the same key, and the holder's token is stored as the lock's value.
  [[nodiscard]] std::string seat_lock_key(std::string_view flight_id, std::string_view seat) const;
  /// seat_lock_key(flight_id(flight, date), seat).
  [[nodiscard]] std::string seat_lock_key(std::string_view flight, std::string_view date,
                                          std::string_view seat) const;
  /// `weather:city:<country>:<city>`.
  [[nodiscard]] std::string weather_key(std::string_view country, std::string_view city) const;
  /// `leaderboard:passenger_bookings`, the original's default board.
  [[nodiscard]] std::string leaderboard_key() const;
  /// `leaderboard:<name>`.
  [[nodiscard]] std::string leaderboard_key(std::string_view name) const;
  /// `passenger:score:<passenger_id>`.
  [[nodiscard]] std::string passenger_score_key(std::string_view passenger_id) const;
  /// `airport:daily:<airport>:<date>`.
  [[nodiscard]] std::string airport_daily_key(std::string_view airport,
                                              std::string_view date) const;

  /// The original's `russian_doll_key(*parts)`: `nested:<part>:<part>...`, e.g.
  /// russian_doll_key("flights", "AA123", "manifest") -> `nested:flights:AA123:manifest`.
  /// Throws std::invalid_argument if there is no part or one is empty.
  template <class... Parts>
  requires(sizeof...(Parts) > 0 && (std::convertible_to<const Parts&, std::string_view> && ...))
      [[nodiscard]] std::string russian_doll_key(const Parts&... parts) const {
    const std::string_view views[] = {std::string_view{parts}...};
    return russian_doll_key(std::span<const std::string_view>{views});
  }
  /// russian_doll_key() for parts known only at run time.
  [[nodiscard]] std::string russian_doll_key(std::span<const std::string_view> parts) const;

  /// The original's `dependency_key(parent_key, child_key)`: `dependency:<p>:<c>`, where `<p>` and
  /// `<c>` are the first 8 hex chars of the MD5 of each key as given (prefix included), so a
  /// Python service tracking the same pair writes the same key.
  [[nodiscard]] std::string dependency_key(std::string_view parent_key,
                                           std::string_view child_key) const;

  /// The original's `build_hash_key(CacheKeyPrefix.X, data)` under this manager's prefix:
  /// hash_key(CacheKeyPrefix::FlightSearch, {{"from","LAX"},{"to","JFK"},{"date","2024-01-15"}})
  /// -> `flight:search:hash:9927c31dae3f`. See the free hash_key() for the digest.
  [[nodiscard]] std::string hash_key(CacheKeyPrefix kind, const nlohmann::json& params) const;

  /// The original's `build_pattern(CacheKeyPrefix.X, *parts)`: each of `globs` is a glob()
  /// segment, so build_pattern(CacheKeyPrefix::SeatMap, {"AA*", "*"}) -> `seat:map:AA*:*`.
  [[nodiscard]] std::string build_pattern(CacheKeyPrefix kind,
                                          std::initializer_list<std::string_view> globs) const;

  /// validate_key() with this manager's max_key_length.
  [[nodiscard]] bool validate_key(std::string_view key) const noexcept;
  /// get_key_info() with this manager's prefix and max_key_length.
  [[nodiscard]] KeyInfo get_key_info(std::string_view key) const;

  /// A cached fragment at one version: `doll:<kind>:<id>:v<version>`.
  [[nodiscard]] std::string fragment_key(std::string_view kind, std::string_view id,
                                         std::uint64_t version) const;
  /// A fragment that contains others, with their versions embedded in the given order, so a
  /// change to any contained fragment changes the outer key:
  /// nested_key("flight", "UA123", 3, {{"status", 7}}) -> `doll:flight:UA123:v3:status:v7`.
  /// With nothing contained it equals fragment_key().
  [[nodiscard]] std::string nested_key(std::string_view kind, std::string_view id,
                                       std::uint64_t version,
                                       std::initializer_list<KeyVersion> contained) const;
  /// nested_key() for a list of contained fragments built at run time.
  [[nodiscard]] std::string nested_key(std::string_view kind, std::string_view id,
                                       std::uint64_t version,
                                       std::span<const KeyVersion> contained) const;

  /// The pub/sub channel of one flight's status updates. The prefix applies to channels too,
  /// so environments sharing a server do not hear each other.
  [[nodiscard]] std::string flight_status_channel(std::string_view flight) const;
  /// PSUBSCRIBE pattern matching every flight's status channel.
  [[nodiscard]] std::string flight_status_channel_pattern() const;
  /// SCAN pattern matching every key under this prefix (`<prefix>:*`, or `*` without one).
  [[nodiscard]] std::string all_keys_pattern() const;

  /// The prefix every key starts with ("" for none).
  [[nodiscard]] const std::string& prefix() const noexcept { return prefix_; }
  /// Keys longer than this many bytes are shortened (see CacheKeyBuilder::build()).
  [[nodiscard]] std::size_t max_key_length() const noexcept { return max_key_length_; }

 private:
  // seat:<kind>:<flight_id>[:<seat>], or seat:<kind>:{<flight_id>}[:<seat>] with tags.
  [[nodiscard]] std::string seat_key(std::string_view operation, std::string_view kind,
                                     std::string_view flight_id, std::string_view seat) const;

  std::string prefix_;
  std::size_t max_key_length_ = default_max_key_length;
  bool hash_tags_ = false;
};

/// The process-wide default CacheKeyManager: no prefix, default length limit, created on first
/// use (thread-safe static initialization). Mirrors the original workshop's module-level key
/// manager; code with a configured prefix should own a CacheKeyManager(config) instead.
[[nodiscard]] const CacheKeyManager& key_manager() noexcept;

}  // namespace airport::cache
