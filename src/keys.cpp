// SPDX-License-Identifier: BSD-3-Clause
// Key escaping, digests (OpenSSL SHA-256 and MD5), key parsing and the CacheKeyBuilder /
// CacheKeyManager bodies.
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

// The escaping set is exactly where the original's keys broke (docs/keys_and_ttl.md): every
// other byte, UTF-8 included, is written as the original wrote it.
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

// A parameter value keeps `=`: the segment splits at its first `=`, which escaping keeps out of
// the name, and the original wrote `q=a=b`.
constexpr bool value_needs_escape(unsigned char byte) noexcept {
  return byte != '=' && needs_escape(byte);
}

// Glob characters a glob() segment keeps; everything else is escaped as in a part.
constexpr bool is_glob_character(char c) noexcept {
  return c == '*' || c == '?' || c == '[' || c == ']' || c == '\\';
}

template <class Predicate>
std::string percent_encode(std::string_view text, Predicate must_escape) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (must_escape(c, byte)) {
      out += '%';
      out += hex_upper[byte >> 4];
      out += hex_upper[byte & 0x0F];
    } else {
      out += c;
    }
  }
  return out;
}

std::string digest_hex(std::string_view data, const EVP_MD* type, const char* name) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, type, nullptr) != 1) {
    // Only fails if OpenSSL cannot allocate or the provider config disables the digest.
    throw std::runtime_error(std::string{"OpenSSL EVP_Digest("} + name + ") failed");
  }
  std::string out;
  out.reserve(std::size_t{length} * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += hex_lower[digest[i] >> 4];
    out += hex_lower[digest[i] & 0x0F];
  }
  return out;
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
  return percent_encode(part, [](char, unsigned char byte) { return needs_escape(byte); });
}

std::string escape_param_value(std::string_view value) {
  return percent_encode(value, [](char, unsigned char byte) { return value_needs_escape(byte); });
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
  return digest_hex(data, EVP_sha256(), "SHA-256");
}

std::string md5_hex(std::string_view data) {
  return digest_hex(data, EVP_md5(), "MD5");
}

std::string hash_key(std::string_view prefix, const nlohmann::json& params) {
  std::string canonical;
  try {
    // Python's json.dumps(data, sort_keys=True, separators=(',', ':')): compact, objects sorted
    // (nlohmann's objects are std::map, and UTF-8 byte order is code point order), and
    // ensure_ascii, Python's default, writes non-ASCII as \uXXXX.
    canonical = params.dump(-1, ' ', /*ensure_ascii=*/true);
  } catch (const nlohmann::json::type_error& error) {
    throw std::invalid_argument(std::string{"hash_key: parameters are not valid JSON text: "} +
                                error.what());
  }
  std::string key{prefix};
  if (!key.empty()) {
    key += ':';
  }
  key += "hash:";
  key += md5_hex(canonical).substr(0, hash_key_digest_length);
  return key;
}

bool validate_key(std::string_view key, std::size_t max_key_length) noexcept {
  if (key.empty() || key.size() > max_key_length) {
    return false;
  }
  return std::none_of(key.begin(), key.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7F;
  });
}

KeyInfo get_key_info(std::string_view key, std::string_view key_prefix,
                     std::size_t max_key_length) {
  KeyInfo info;
  info.key = std::string{key};
  info.length = key.size();
  info.is_valid = validate_key(key, max_key_length);
  std::string_view rest = key;
  if (!key_prefix.empty() && key.size() > key_prefix.size() && key.starts_with(key_prefix) &&
      key[key_prefix.size()] == ':') {
    info.key_prefix = std::string{key_prefix};
    rest.remove_prefix(key_prefix.size() + 1);
  }
  // A shortened key ends in '#' and the digest; '#' is escaped everywhere else.
  const auto marker = rest.rfind(digest_marker);
  info.shortened = marker != std::string_view::npos &&
                   rest.size() - marker == 1 + key_digest_length &&
                   rest.find_first_not_of(hex_lower, marker + 1) == std::string_view::npos;
  while (!rest.empty() || info.parts.empty()) {
    const auto colon = rest.find(':');
    const std::string_view segment = rest.substr(0, colon);
    try {
      info.parts.push_back(unescape_key_part(segment));
    } catch (const std::invalid_argument&) {
      info.parts.emplace_back(segment);  // not ours (e.g. a raw '%' from another writer)
    }
    if (colon == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(colon + 1);
    if (rest.empty()) {
      info.parts.emplace_back();  // a trailing ':' is an empty last segment, as in Python
    }
  }
  if (!info.parts.empty()) {
    info.prefix = info.parts[0];
  }
  if (info.parts.size() >= 2) {
    info.type = info.parts[0] + ':' + info.parts[1];
  }
  return info;
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

CacheKeyBuilder& CacheKeyBuilder::part(CacheKeyPrefix prefix) {
  // The constants are ':'-separated safe segments: appended verbatim, one part per segment.
  std::string_view rest = to_string(prefix);
  while (true) {
    const auto colon = rest.find(':');
    parts_.emplace_back(rest.substr(0, colon));
    if (colon == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(colon + 1);
  }
  return *this;
}

CacheKeyBuilder& CacheKeyBuilder::any() {
  parts_.emplace_back("*");
  has_wildcard_ = true;
  return *this;
}

CacheKeyBuilder& CacheKeyBuilder::glob(std::string_view glob) {
  if (glob.empty()) {
    throw std::invalid_argument("CacheKeyBuilder: glob at part " + std::to_string(parts_.size()) +
                                " is empty");
  }
  parts_.push_back(percent_encode(glob, [](char c, unsigned char byte) {
    return !is_glob_character(c) && needs_escape(byte);
  }));
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
  // An empty value is kept ("cabin="), as the original kept '': only nullopt (None) drops one.
  params_.insert_or_assign(std::string{name}, std::string{value});
  return *this;
}

CacheKeyBuilder& CacheKeyBuilder::remove_param(std::string_view name) {
  params_.erase(std::string{name});
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
    out += escape_param_value(value);
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

std::string CacheKeyManager::flight_id(std::string_view flight, std::string_view date) {
  require_argument("flight_id", "flight", flight);
  require_argument("flight_id", "date", date);
  // The original services' flight id: "AA123_20240115" for AA123 on 2024-01-15.
  std::string id{flight};
  id += '_';
  for (const char c : date) {
    if (c != '-') {
      id += c;
    }
  }
  return id;
}

std::string CacheKeyManager::seat_key(std::string_view operation, std::string_view kind,
                                      std::string_view flight_id, std::string_view seat) const {
  require_argument(operation, "flight_id", flight_id);
  if (kind != "map") {
    require_argument(operation, "seat", seat);
  }
  auto b = builder();
  b.part("seat").part(kind);
  if (hash_tags_) {
    // One tag for the flight-day: its bitmap, seat locks (and so their fencing counters, see
    // DistributedLock::fencing_key) and reservations share a slot, which SeatMap's scripts need.
    b.hash_tag(flight_id);
  } else {
    b.part(flight_id);
  }
  if (!seat.empty()) {
    b.part(seat);
  }
  std::string key = b.build();
  if (hash_tags_ && cluster_hash_tag(key) != escape_key_part(flight_id)) {
    // A shortened key may have lost (part of) its tag and would hash elsewhere: refuse it
    // rather than let the scripts fail with CROSSSLOT, or worse, split a flight's keys.
    throw std::invalid_argument(
        "CacheKeyManager::" + std::string{operation} + ": the key is longer than max_key_length (" +
        std::to_string(max_key_length_) + ") even past its hash tag; use a shorter flight id");
  }
  return key;
}

std::string CacheKeyManager::flight_search_key(std::string_view origin,
                                               std::string_view destination, std::string_view date,
                                               const KeyParams& params) const {
  require_argument("flight_search_key", "origin", origin);
  require_argument("flight_search_key", "destination", destination);
  require_argument("flight_search_key", "date", date);
  return builder(CacheKeyPrefix::FlightSearch)
      .part(origin)
      .part(destination)
      .part(date)
      .params(params)
      .build();
}

std::string CacheKeyManager::flight_status_key(std::string_view flight) const {
  require_argument("flight_status_key", "flight", flight);
  return builder(CacheKeyPrefix::FlightStatus).part(flight).build();
}

std::string CacheKeyManager::flight_schedule_key(std::string_view flight,
                                                 std::string_view date) const {
  require_argument("flight_schedule_key", "flight", flight);
  require_argument("flight_schedule_key", "date", date);
  return builder(CacheKeyPrefix::FlightSchedule).part(flight).part(date).build();
}

std::string CacheKeyManager::flight_manifest_key(std::string_view flight_id) const {
  require_argument("flight_manifest_key", "flight_id", flight_id);
  return builder(CacheKeyPrefix::FlightManifest).part(flight_id).build();
}

std::string CacheKeyManager::flight_manifest_key(std::string_view flight,
                                                 std::string_view date) const {
  return flight_manifest_key(flight_id(flight, date));
}

std::string CacheKeyManager::seat_map_key(std::string_view flight_id) const {
  return seat_key("seat_map_key", "map", flight_id, {});
}

std::string CacheKeyManager::seat_map_key(std::string_view flight, std::string_view date) const {
  return seat_map_key(flight_id(flight, date));
}

std::string CacheKeyManager::seat_reservation_key(std::string_view flight_id,
                                                  std::string_view seat) const {
  return seat_key("seat_reservation_key", "reservation", flight_id, seat);
}

std::string CacheKeyManager::seat_reservation_key(std::string_view flight, std::string_view date,
                                                  std::string_view seat) const {
  require_argument("seat_reservation_key", "seat", seat);
  return seat_reservation_key(flight_id(flight, date), seat);
}

std::string CacheKeyManager::seat_lock_key(std::string_view flight_id,
                                           std::string_view seat) const {
  return seat_key("seat_lock_key", "lock", flight_id, seat);
}

std::string CacheKeyManager::seat_lock_key(std::string_view flight, std::string_view date,
                                           std::string_view seat) const {
  require_argument("seat_lock_key", "seat", seat);
  return seat_lock_key(flight_id(flight, date), seat);
}

std::string CacheKeyManager::weather_key(std::string_view country, std::string_view city) const {
  require_argument("weather_key", "country", country);
  require_argument("weather_key", "city", city);
  return builder(CacheKeyPrefix::WeatherCity).part(country).part(city).build();
}

std::string CacheKeyManager::leaderboard_key() const {
  return leaderboard_key("passenger_bookings");
}

std::string CacheKeyManager::leaderboard_key(std::string_view name) const {
  require_argument("leaderboard_key", "name", name);
  return builder(CacheKeyPrefix::Leaderboard).part(name).build();
}

std::string CacheKeyManager::passenger_score_key(std::string_view passenger_id) const {
  require_argument("passenger_score_key", "passenger_id", passenger_id);
  return builder(CacheKeyPrefix::PassengerScore).part(passenger_id).build();
}

std::string CacheKeyManager::airport_daily_key(std::string_view airport,
                                               std::string_view date) const {
  require_argument("airport_daily_key", "airport", airport);
  require_argument("airport_daily_key", "date", date);
  return builder(CacheKeyPrefix::AirportDaily).part(airport).part(date).build();
}

std::string CacheKeyManager::russian_doll_key(std::span<const std::string_view> parts) const {
  if (parts.empty()) {
    throw std::invalid_argument("CacheKeyManager::russian_doll_key: no part");
  }
  auto b = builder(CacheKeyPrefix::NestedCache);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    require_argument("russian_doll_key", "part " + std::to_string(i), parts[i]);
    b.part(parts[i]);
  }
  return b.build();
}

std::string CacheKeyManager::dependency_key(std::string_view parent_key,
                                            std::string_view child_key) const {
  require_argument("dependency_key", "parent_key", parent_key);
  require_argument("dependency_key", "child_key", child_key);
  // The original's rule: MD5 of each key's text, first 8 hex characters.
  return builder(CacheKeyPrefix::CacheDependency)
      .part(md5_hex(parent_key).substr(0, 8))
      .part(md5_hex(child_key).substr(0, 8))
      .build();
}

std::string CacheKeyManager::hash_key(CacheKeyPrefix kind, const nlohmann::json& params) const {
  std::string head = prefix_;
  if (!head.empty()) {
    head += ':';
  }
  head += to_string(kind);
  return airport::cache::hash_key(head, params);
}

std::string CacheKeyManager::build_pattern(CacheKeyPrefix kind,
                                           std::initializer_list<std::string_view> globs) const {
  auto b = builder(kind);
  for (const std::string_view g : globs) {
    b.glob(g);
  }
  return b.pattern();
}

bool CacheKeyManager::validate_key(std::string_view key) const noexcept {
  return airport::cache::validate_key(key, max_key_length_);
}

KeyInfo CacheKeyManager::get_key_info(std::string_view key) const {
  return airport::cache::get_key_info(key, prefix_, max_key_length_);
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
