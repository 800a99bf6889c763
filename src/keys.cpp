// Key escaping, digests (OpenSSL SHA-256) and the CacheKeyBuilder / CacheKeyManager bodies.
#include "airport/cache/keys.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "airport/cache/cluster_slot.hpp"
#include "airport/cache/config.hpp"
#include "airport/cache/errors.hpp"

namespace airport::cache {
namespace {

constexpr std::string_view hex_upper = "0123456789ABCDEF";
constexpr std::string_view hex_lower = "0123456789abcdef";

// The marker that starts a digest in hashed and shortened keys. escape_key_part() encodes it,
// so no plain key contains it and a derived key can never equal a plain one.
constexpr char digest_marker = '#';

constexpr bool needs_escape(unsigned char byte) noexcept {
  if (byte <= 0x20 || byte == 0x7F) {
    return true;  // control bytes and space: invisible in logs, and space splits CLI arguments
  }
  switch (byte) {
    case ':':  // part separator
    case '=':  // parameter name/value separator
    case '%':  // the escape itself, so decoding is unambiguous
    case '#':  // digest marker
    case '*':  // glob characters of SCAN/KEYS/PSUBSCRIBE patterns (and `\` their escape)
    case '?':
    case '[':
    case ']':
    case '\\':
    case '{':  // cluster hash tags: data must not choose the slot by accident
    case '}':
      return true;
    default:
      return false;
  }
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

// Smallest limit that leaves one byte of head before the `#<digest>` tail.
constexpr std::size_t min_shortened_length = 1 + 1 + key_digest_length;

void check_prefix_and_limit(std::string_view prefix, std::size_t max_key_length) {
  if (!is_valid_key_prefix(prefix)) {
    throw std::invalid_argument("key prefix '" + std::string{prefix} +
                                "' is invalid: it must be ':'-separated non-empty segments "
                                "without spaces, control bytes or any of %#*?[]\\{}=");
  }
  // A shortened key must keep the whole prefix, its ':' and one byte, so that a SCAN of
  // "<prefix>:*" still finds it.
  const std::size_t needed = prefix.size() + (prefix.empty() ? 0 : 1) + min_shortened_length;
  if (max_key_length < needed) {
    throw std::invalid_argument("max key length " + std::to_string(max_key_length) +
                                " is too small for prefix '" + std::string{prefix} +
                                "': at least " + std::to_string(needed) + " bytes are needed");
  }
}

void require_argument(std::string_view function, std::string_view name, std::string_view value) {
  if (value.empty()) {
    throw std::invalid_argument("CacheKeyManager::" + std::string{function} + ": " +
                                std::string{name} + " is empty");
  }
}

}  // namespace

std::string escape_key_part(std::string_view part) {
  std::string out;
  out.reserve(part.size());
  for (const char c : part) {
    const auto byte = static_cast<unsigned char>(c);
    if (needs_escape(byte)) {
      out += '%';
      out += hex_upper[byte >> 4];
      out += hex_upper[byte & 0x0F];
    } else {
      out += c;
    }
  }
  return out;
}

std::string unescape_key_part(std::string_view escaped) {
  std::string out;
  out.reserve(escaped.size());
  for (std::size_t i = 0; i < escaped.size(); ++i) {
    if (escaped[i] != '%') {
      out += escaped[i];
      continue;
    }
    if (escaped.size() - i < 3 || hex_value(escaped[i + 1]) < 0 || hex_value(escaped[i + 2]) < 0) {
      throw std::invalid_argument("unescape_key_part: '%' at offset " + std::to_string(i) +
                                  " is not followed by two hex digits in '" + std::string{escaped} +
                                  "'");
    }
    out += static_cast<char>(hex_value(escaped[i + 1]) * 16 + hex_value(escaped[i + 2]));
    i += 2;
  }
  return out;
}

bool is_valid_key_prefix(std::string_view prefix) noexcept {
  if (prefix.empty()) {
    return true;
  }
  std::size_t segment_length = 0;
  for (const char c : prefix) {
    if (c == ':') {
      if (segment_length == 0) {
        return false;  // leading ':' or "::"
      }
      segment_length = 0;
      continue;
    }
    if (needs_escape(static_cast<unsigned char>(c))) {
      return false;
    }
    ++segment_length;
  }
  return segment_length != 0;  // no trailing ':'
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    // Only fails if OpenSSL cannot allocate or SHA-256 is disabled by the provider config.
    throw std::runtime_error("sha256_hex: OpenSSL EVP_Digest(SHA-256) failed");
  }
  std::string out;
  out.reserve(std::size_t{length} * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += hex_lower[digest[i] >> 4];
    out += hex_lower[digest[i] & 0x0F];
  }
  return out;
}

std::string hash_key(std::string_view prefix, const nlohmann::json& params) {
  std::string canonical;
  try {
    canonical = params.dump();
  } catch (const nlohmann::json::type_error& error) {
    throw std::invalid_argument(std::string{"hash_key: parameters are not valid JSON text: "} +
                                error.what());
  }
  std::string key{prefix};
  if (!key.empty()) {
    key += ':';
  }
  key += digest_marker;
  key += sha256_hex(canonical).substr(0, key_digest_length);
  return key;
}

std::string shorten_key(std::string key, std::size_t max_key_length) {
  if (max_key_length < min_shortened_length) {
    throw std::invalid_argument("shorten_key: max key length " + std::to_string(max_key_length) +
                                " is below the minimum of " + std::to_string(min_shortened_length));
  }
  if (key.size() <= max_key_length) {
    return key;
  }
  // Digest of the whole key, so keys differing anywhere (even past the cut) stay distinct.
  const std::string digest = sha256_hex(key).substr(0, key_digest_length);
  std::size_t head = max_key_length - 1 - key_digest_length;
  // Do not cut a %XX escape in half: the head stays readable and decodable. At the smallest
  // limits the head is one or two bytes, so key[0] must be looked at too (back == head).
  for (std::size_t back = 1; back <= 2 && back <= head; ++back) {
    if (key[head - back] == '%') {
      head -= back;
      break;
    }
  }
  key.resize(head);
  key += digest_marker;
  key += digest;
  return key;
}

// ---- CacheKeyBuilder ------------------------------------------------------------------------

CacheKeyBuilder::CacheKeyBuilder(std::string_view prefix, std::size_t max_key_length)
    : prefix_(prefix), max_key_length_(max_key_length) {
  check_prefix_and_limit(prefix, max_key_length);
}

CacheKeyBuilder& CacheKeyBuilder::part(std::string_view value) {
  if (value.empty()) {
    throw std::invalid_argument("CacheKeyBuilder: key part " + std::to_string(parts_.size()) +
                                " (0-based, after the prefix) is empty; an empty segment would "
                                "make 'a::b' ambiguous");
  }
  parts_.push_back(escape_key_part(value));
  return *this;
}

CacheKeyBuilder& CacheKeyBuilder::any() {
  parts_.emplace_back("*");
  has_wildcard_ = true;
  return *this;
}

CacheKeyBuilder& CacheKeyBuilder::hash_tag(std::string_view value) {
  if (value.empty()) {
    throw std::invalid_argument("CacheKeyBuilder: hash tag at part " +
                                std::to_string(parts_.size()) + " is empty");
  }
  parts_.push_back('{' + escape_key_part(value) + '}');
  return *this;
}

CacheKeyBuilder& CacheKeyBuilder::hash_tag_parts(std::initializer_list<std::string_view> values) {
  if (values.size() == 0) {
    throw std::invalid_argument("CacheKeyBuilder: hash tag at part " +
                                std::to_string(parts_.size()) + " has no value");
  }
  std::string tag{'{'};
  std::size_t index = 0;
  for (const std::string_view value : values) {
    if (value.empty()) {
      throw std::invalid_argument("CacheKeyBuilder: value " + std::to_string(index) +
                                  " of the hash tag at part " + std::to_string(parts_.size()) +
                                  " is empty");
    }
    if (index++ != 0) {
      tag += ':';
    }
    tag += escape_key_part(value);
  }
  tag += '}';
  parts_.push_back(std::move(tag));
  return *this;
}

CacheKeyBuilder& CacheKeyBuilder::param(std::string_view name, std::string_view value) {
  if (name.empty()) {
    throw std::invalid_argument("CacheKeyBuilder: a parameter name is empty (value '" +
                                std::string{value} + "')");
  }
  if (value.empty()) {
    // Absent and empty mean the same: the parameter does not narrow the key.
    params_.erase(std::string{name});
  } else {
    params_.insert_or_assign(std::string{name}, std::string{value});
  }
  return *this;
}

CacheKeyBuilder& CacheKeyBuilder::params(const KeyParams& values) {
  for (const auto& [name, value] : values) {
    param(name, std::string_view{value});
  }
  return *this;
}

std::string CacheKeyBuilder::join() const {
  if (parts_.empty()) {
    throw std::invalid_argument("CacheKeyBuilder: a key needs at least one part");
  }
  std::string out = prefix_;
  for (const auto& p : parts_) {
    if (!out.empty()) {
      out += ':';
    }
    out += p;
  }
  for (const auto& [name, value] : params_) {
    out += ':';
    out += escape_key_part(name);
    out += '=';
    out += escape_key_part(value);
  }
  return out;
}

std::string CacheKeyBuilder::build() const {
  if (has_wildcard_) {
    throw std::invalid_argument(
        "CacheKeyBuilder: build() on a builder with a wildcard; "
        "use pattern()");
  }
  return shorten_key(join(), max_key_length_);
}

std::string CacheKeyBuilder::pattern() const {
  return join();
}

// ---- CacheKeyManager ------------------------------------------------------------------------

CacheKeyManager::CacheKeyManager(std::string_view prefix, std::size_t max_key_length)
    : prefix_(prefix), max_key_length_(max_key_length) {
  check_prefix_and_limit(prefix, max_key_length);
}

CacheKeyManager::CacheKeyManager(const ValkeyConfig& config)
    : prefix_(config.key_prefix), max_key_length_(config.max_key_length) {
  if (!is_valid_key_prefix(prefix_)) {
    throw ConfigError("key_prefix '" + prefix_ +
                      "' is invalid: use ':'-separated non-empty segments without spaces, "
                      "control bytes or any of %#*?[]\\{}=");
  }
  try {
    check_prefix_and_limit(prefix_, max_key_length_);
  } catch (const std::invalid_argument& error) {
    throw ConfigError(std::string{"max_key_length: "} + error.what());
  }
}

CacheKeyManager CacheKeyManager::with_hash_tags(bool on) const {
  CacheKeyManager copy = *this;
  copy.hash_tags_ = on;
  return copy;
}

std::string CacheKeyManager::seat_key(std::string_view operation, std::string_view kind,
                                      std::string_view flight, std::string_view date,
                                      std::string_view seat) const {
  require_argument(operation, "flight", flight);
  require_argument(operation, "date", date);
  if (kind != "map") {
    require_argument(operation, "seat", seat);
  }
  auto b = builder();
  b.part("seat").part(kind);
  if (hash_tags_) {
    // One tag for the flight-day: its bitmap, seat locks (and so their fencing counters, see
    // DistributedLock::fencing_key) and reservations share a slot, which SeatMap's scripts need.
    b.hash_tag_parts({flight, date});
  } else {
    b.part(flight).part(date);
  }
  if (!seat.empty()) {
    b.part(seat);
  }
  std::string key = b.build();
  if (hash_tags_) {
    // A shortened key may have lost (part of) its tag and would hash elsewhere: refuse it
    // rather than let the scripts fail with CROSSSLOT, or worse, split a flight's keys.
    const std::string tag = escape_key_part(flight) + ':' + escape_key_part(date);
    if (cluster_hash_tag(key) != tag) {
      throw std::invalid_argument("CacheKeyManager::" + std::string{operation} +
                                  ": the key is longer than max_key_length (" +
                                  std::to_string(max_key_length_) +
                                  ") even past its hash tag; use a shorter flight or date");
    }
  }
  return key;
}

std::string CacheKeyManager::flight_search_key(std::string_view origin,
                                               std::string_view destination, std::string_view date,
                                               const KeyParams& params) const {
  require_argument("flight_search_key", "origin", origin);
  require_argument("flight_search_key", "destination", destination);
  require_argument("flight_search_key", "date", date);
  return builder()
      .part("flight")
      .part("search")
      .part(origin)
      .part(destination)
      .part(date)
      .params(params)
      .build();
}

std::string CacheKeyManager::flight_status_key(std::string_view flight) const {
  require_argument("flight_status_key", "flight", flight);
  return builder().part("flight").part("status").part(flight).build();
}

std::string CacheKeyManager::flight_schedule_key(std::string_view flight,
                                                 std::string_view date) const {
  require_argument("flight_schedule_key", "flight", flight);
  require_argument("flight_schedule_key", "date", date);
  return builder().part("flight").part("schedule").part(flight).part(date).build();
}

std::string CacheKeyManager::flight_manifest_key(std::string_view flight,
                                                 std::string_view date) const {
  require_argument("flight_manifest_key", "flight", flight);
  require_argument("flight_manifest_key", "date", date);
  return builder().part("flight").part("manifest").part(flight).part(date).build();
}

std::string CacheKeyManager::seat_map_key(std::string_view flight, std::string_view date) const {
  return seat_key("seat_map_key", "map", flight, date, {});
}

std::string CacheKeyManager::seat_reservation_key(std::string_view flight, std::string_view date,
                                                  std::string_view seat) const {
  return seat_key("seat_reservation_key", "reservation", flight, date, seat);
}

std::string CacheKeyManager::seat_lock_key(std::string_view flight, std::string_view date,
                                           std::string_view seat) const {
  return seat_key("seat_lock_key", "lock", flight, date, seat);
}

std::string CacheKeyManager::weather_key(std::string_view country, std::string_view city) const {
  require_argument("weather_key", "country", country);
  require_argument("weather_key", "city", city);
  return builder().part("weather").part(country).part(city).build();
}

std::string CacheKeyManager::leaderboard_key(std::string_view name) const {
  require_argument("leaderboard_key", "name", name);
  return builder().part("leaderboard").part(name).build();
}

std::string CacheKeyManager::passenger_score_key(std::string_view board,
                                                 std::string_view passenger_id) const {
  require_argument("passenger_score_key", "board", board);
  require_argument("passenger_score_key", "passenger_id", passenger_id);
  return builder().part("leaderboard").part(board).part("passenger").part(passenger_id).build();
}

std::string CacheKeyManager::airport_daily_key(std::string_view airport,
                                               std::string_view date) const {
  require_argument("airport_daily_key", "airport", airport);
  require_argument("airport_daily_key", "date", date);
  return builder().part("airport").part("daily").part(airport).part(date).build();
}

std::string CacheKeyManager::fragment_key(std::string_view kind, std::string_view id,
                                          std::uint64_t version) const {
  require_argument("fragment_key", "kind", kind);
  require_argument("fragment_key", "id", id);
  return nested_key(kind, id, version, std::span<const KeyVersion>{});
}

// Out of line: building the std::span in the header would cost every includer the span
// constructor's constraint checks (see Pipeline::add).
std::string CacheKeyManager::nested_key(std::string_view kind, std::string_view id,
                                        std::uint64_t version,
                                        std::initializer_list<KeyVersion> contained) const {
  return nested_key(kind, id, version,
                    std::span<const KeyVersion>{contained.begin(), contained.size()});
}

std::string CacheKeyManager::nested_key(std::string_view kind, std::string_view id,
                                        std::uint64_t version,
                                        std::span<const KeyVersion> contained) const {
  require_argument("nested_key", "kind", kind);
  require_argument("nested_key", "id", id);
  auto b = builder();
  b.part("doll").part(kind).part(id).part("v" + std::to_string(version));
  for (const auto& inner : contained) {
    require_argument("nested_key", "contained fragment name", inner.name);
    b.part(inner.name).part("v" + std::to_string(inner.version));
  }
  return b.build();
}

std::string CacheKeyManager::flight_status_channel(std::string_view flight) const {
  require_argument("flight_status_channel", "flight", flight);
  return builder().part("flight").part("status").part("updates").part(flight).build();
}

std::string CacheKeyManager::flight_status_channel_pattern() const {
  return builder().part("flight").part("status").part("updates").any().pattern();
}

std::string CacheKeyManager::all_keys_pattern() const {
  return builder().any().pattern();
}

const CacheKeyManager& key_manager() noexcept {
  static const CacheKeyManager instance;
  return instance;
}

}  // namespace airport::cache
