// Cache key construction: the naming convention (prefix:part:part:name=value), reversible escaping
// of unsafe characters, SCAN patterns, digests for long or parameter-heavy keys, and the
// workshop's named keys (CacheKeyManager). See docs/keys_and_ttl.md.
#pragma once

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

/// Parameters of a key, e.g. {{"cabin", "economy"}, {"adults", "2"}}. Sorted by name.
using KeyParams = std::map<std::string, std::string>;

/// Percent-encodes every byte of `part` that could break the key convention: control bytes and
/// DEL, space, the separators `:` and `=`, the glob characters `* ? [ ] \`, the escape
/// character `%`, the digest marker `#` and the cluster hash-tag braces `{ }`. Each becomes
/// `%XX` (upper-case hex), so "Los Angeles" -> "Los%20Angeles". Other bytes, UTF-8 included,
/// are kept as they are. Never throws except std::bad_alloc.
[[nodiscard]] std::string escape_key_part(std::string_view part);

/// Reverses escape_key_part(): decodes every `%XX` (either case of hex). Throws
/// std::invalid_argument if a `%` is not followed by two hex digits.
[[nodiscard]] std::string unescape_key_part(std::string_view escaped);

/// True when `prefix` is usable as a key prefix: empty, or `:`-separated non-empty segments
/// that need no escaping (e.g. "airport:prod"). ValkeyConfig::validate() may use this.
[[nodiscard]] bool is_valid_key_prefix(std::string_view prefix) noexcept;

/// Lower-case hex SHA-256 of `data` (64 characters). Computed with OpenSSL; no allocation other
/// than the result.
[[nodiscard]] std::string sha256_hex(std::string_view data);

/// A stable short key for a parameter set: `<prefix>:#<first 32 hex chars of SHA-256 of
/// params.dump()>`, or `#<hex>` when `prefix` is empty. The JSON's objects are sorted by key
/// (nlohmann's default), so the same parameters in any insertion order give the same key.
/// `prefix` is used literally (build it with CacheKeyBuilder). No built key contains `#`, so a
/// hashed key never equals a plain one. Throws std::invalid_argument if the JSON holds invalid
/// UTF-8.
[[nodiscard]] std::string hash_key(std::string_view prefix, const nlohmann::json& params);

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
/// parameter escaped with escape_key_part(), parameters sorted by name.
///
///   CacheKeyBuilder{"airport:prod"}.part("flight").part("search").part("LAX")
///       .param("cabin", "economy").build();   // "airport:prod:flight:search:LAX:cabin=economy"
///   CacheKeyBuilder{"airport:prod"}.part("weather").part("US").any().pattern();
///                                               // "airport:prod:weather:US:*"
///
/// A value type. One thread at a time.
class CacheKeyBuilder {
 public:
  /// Tag for part(): a wildcard segment in a pattern.
  struct AnyTag {
    explicit AnyTag() = default;
  };
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
  /// Appends a wildcard segment (`*`), for pattern() only.
  CacheKeyBuilder& part(AnyTag) { return any(); }
  /// Appends a wildcard segment (`*`), matching any run of characters (`:` included), for
  /// pattern() only; build() throws if one is present.
  CacheKeyBuilder& any();

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

  /// Sets parameter `name` to `value`; an empty value removes the parameter (dropped, as if
  /// never set). Setting a name twice keeps the later value. Throws std::invalid_argument if
  /// `name` is empty.
  CacheKeyBuilder& param(std::string_view name, std::string_view value);
  /// A number as a parameter value, in decimal.
  template <KeyInteger T>
  CacheKeyBuilder& param(std::string_view name, T value) {
    return param(name, std::string_view{std::to_string(value)});
  }
  /// nullopt removes the parameter, as an empty value does.
  template <class T>
  CacheKeyBuilder& param(std::string_view name, const std::optional<T>& value) {
    if (!value) {
      return param(name, std::string_view{});
    }
    if constexpr (KeyInteger<T>) {
      return param(name, *value);
    } else {
      return param(name, std::string_view{*value});
    }
  }
  /// Sets every parameter of `values`, with param()'s rules.
  CacheKeyBuilder& params(const KeyParams& values);

  /// The key. Longer than the limit: shortened with shorten_key(). Throws std::invalid_argument
  /// if there is no part, or if any() was used. Does not change the builder.
  [[nodiscard]] std::string build() const;

  /// A SCAN/KEYS/PSUBSCRIBE pattern: literal parts are escaped, so their glob characters are
  /// literal; only any() segments are `*`. Never shortened: a key shortened by build() matches
  /// a pattern only if the pattern's literal head survived in it. Throws std::invalid_argument
  /// if there is no part.
  [[nodiscard]] std::string pattern() const;

  [[nodiscard]] const std::string& prefix() const noexcept { return prefix_; }
  [[nodiscard]] std::size_t max_key_length() const noexcept { return max_key_length_; }

 private:
  [[nodiscard]] std::string join() const;

  std::string prefix_;
  std::size_t max_key_length_ = default_max_key_length;
  std::vector<std::string> parts_;  // escaped, or "*" for a wildcard
  KeyParams params_;                // raw; escaped when joined
  bool has_wildcard_ = false;
};

/// One contained fragment of a nested (Russian-doll) key: its name and version.
struct KeyVersion {
  std::string_view name;
  std::uint64_t version = 0;
};

/// The workshop's keys, under one prefix and length limit. Shapes (shown without the prefix;
/// every argument is one escaped part, never empty):
///
///   flight_search_key     flight:search:<origin>:<destination>:<date>[:<name>=<value>...]
///   flight_status_key     flight:status:<flight>
///   flight_schedule_key   flight:schedule:<flight>:<date>
///   flight_manifest_key   flight:manifest:<flight>:<date>
///   seat_map_key          seat:map:<flight>:<date>
///   seat_reservation_key  seat:reservation:<flight>:<date>:<seat>
///   seat_lock_key         seat:lock:<flight>:<date>:<seat>      (the owner is the value)
///   weather_key           weather:<country>:<city>
///   leaderboard_key       leaderboard:<name>
///   passenger_score_key   leaderboard:<board>:passenger:<passenger_id>
///   airport_daily_key     airport:daily:<airport>:<date>
///   fragment_key          doll:<kind>:<id>:v<version>
///   nested_key            doll:<kind>:<id>:v<version>[:<name>:v<version>...]
///   flight_status_channel flight:status:updates:<flight>          (pub/sub channel)
///
/// With hash tags on (with_hash_tags(), for a Valkey Cluster) the seat keys wrap the flight-day
/// identity in one tag, so that a flight's bitmap, seat locks, the locks' fencing counters and
/// its reservations share one cluster slot (SeatMap's scripts touch several of them at once):
///
///   seat_map_key          seat:map:{<flight>:<date>}
///   seat_reservation_key  seat:reservation:{<flight>:<date>}:<seat>
///   seat_lock_key         seat:lock:{<flight>:<date>}:<seat>
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

  [[nodiscard]] std::string flight_search_key(std::string_view origin, std::string_view destination,
                                              std::string_view date,
                                              const KeyParams& params = {}) const;
  [[nodiscard]] std::string flight_status_key(std::string_view flight) const;
  [[nodiscard]] std::string flight_schedule_key(std::string_view flight,
                                                std::string_view date) const;
  [[nodiscard]] std::string flight_manifest_key(std::string_view flight,
                                                std::string_view date) const;
  /// The bitmap of a flight's confirmed seats. The three seat keys throw std::invalid_argument
  /// when hash tags are on and the key is so long that shortening it (max_key_length) would cut
  /// its tag: the flight's keys would then land in different slots.
  [[nodiscard]] std::string seat_map_key(std::string_view flight, std::string_view date) const;
  [[nodiscard]] std::string seat_reservation_key(std::string_view flight, std::string_view date,
                                                 std::string_view seat) const;
  /// The lock on one seat of one flight. Deliberately takes no user: every contender must
  /// compute the same key, and the holder's token is stored as the lock's value.
  [[nodiscard]] std::string seat_lock_key(std::string_view flight, std::string_view date,
                                          std::string_view seat) const;
  [[nodiscard]] std::string weather_key(std::string_view country, std::string_view city) const;
  [[nodiscard]] std::string leaderboard_key(std::string_view name) const;
  [[nodiscard]] std::string passenger_score_key(std::string_view board,
                                                std::string_view passenger_id) const;
  [[nodiscard]] std::string airport_daily_key(std::string_view airport,
                                              std::string_view date) const;

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

  [[nodiscard]] const std::string& prefix() const noexcept { return prefix_; }
  [[nodiscard]] std::size_t max_key_length() const noexcept { return max_key_length_; }

 private:
  // seat:<kind>:<flight>:<date>[:<seat>], or seat:<kind>:{<flight>:<date>}[:<seat>] with tags.
  [[nodiscard]] std::string seat_key(std::string_view operation, std::string_view kind,
                                     std::string_view flight, std::string_view date,
                                     std::string_view seat) const;

  std::string prefix_;
  std::size_t max_key_length_ = default_max_key_length;
  bool hash_tags_ = false;
};

/// The process-wide default CacheKeyManager: no prefix, default length limit, created on first
/// use (thread-safe static initialization). Mirrors the original workshop's module-level key
/// manager; code with a configured prefix should own a CacheKeyManager(config) instead.
[[nodiscard]] const CacheKeyManager& key_manager() noexcept;

}  // namespace airport::cache
