// SPDX-License-Identifier: BSD-3-Clause
// Fuzzes the key builder (keys.hpp): two builders under one prefix get fuzzed parts, hash tags,
// wildcards, globs and parameters. Checks the documented invariants: the key is the escaped parts
// joined by ':' (so no separator or glob byte from the data survives unescaped; a parameter value
// keeps '='), escaping round-trips, build() is deterministic and never longer than the limit and
// passes validate_key(), a shortened key keeps the prefix and ends in '#' plus a digest, and
// different inputs never give the same key. Only the documented std::invalid_argument may escape,
// and only where it is documented.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "airport/cache/keys.hpp"
#include "check.hpp"

namespace {

namespace cache = airport::cache;

// The bytes keys.hpp documents as escaped, written out again so that the check does not reuse
// the code under test.
bool must_escape(unsigned char byte) {
  return byte < 0x20 || byte == 0x7f ||
         std::string_view(" :=%#*?[]\\{}").find(static_cast<char>(byte)) != std::string_view::npos;
}

// keep: bytes written as they are even though must_escape() lists them ("=" in a parameter
// value, the glob characters in a glob segment).
std::string reference_escape(std::string_view part, std::string_view keep = {}) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  for (const char c : part) {
    const auto byte = static_cast<unsigned char>(c);
    if (must_escape(byte) && keep.find(c) == std::string_view::npos) {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

// What was asked of a builder, as plain data: the expected key follows from it alone.
struct Spec {
  std::vector<std::string> segments;  // as they must appear in the key
  std::map<std::string, std::string> params;
  bool wildcard = false;  // any() or glob(): pattern() only

  // The same key was asked for (a glob without glob characters is the same text as a part).
  [[nodiscard]] bool same_request(const Spec& other) const {
    return segments == other.segments && params == other.params;
  }
};

// Applies up to 12 fuzzed operations to `builder`, recording the expected segments in a Spec.
Spec apply_operations(FuzzedDataProvider& input, cache::CacheKeyBuilder& builder) {
  Spec spec;
  const int count = input.ConsumeIntegralInRange(0, 12);
  for (int i = 0; i < count && input.remaining_bytes() > 0; ++i) {
    switch (input.ConsumeIntegralInRange(0, 6)) {
      case 0: {
        const std::string part = input.ConsumeRandomLengthString(48);
        FUZZ_CHECK(cache::unescape_key_part(cache::escape_key_part(part)) == part, part);
        FUZZ_CHECK(cache::escape_key_part(part) == reference_escape(part), part);
        try {
          builder.part(part);
          spec.segments.push_back(reference_escape(part));
        } catch (const std::invalid_argument&) {
          FUZZ_CHECK(part.empty(), part);  // documented: only an empty part is refused
        }
        break;
      }
      case 1: {
        const auto number = input.ConsumeIntegral<std::int64_t>();
        builder.part(number);
        spec.segments.push_back(std::to_string(number));
        break;
      }
      case 2: {
        const std::string tag = input.ConsumeRandomLengthString(24);
        try {
          builder.hash_tag(tag);
          spec.segments.push_back('{' + reference_escape(tag) + '}');
        } catch (const std::invalid_argument&) {
          FUZZ_CHECK(tag.empty(), tag);
        }
        break;
      }
      case 3:
        builder.any();
        spec.segments.emplace_back("*");
        spec.wildcard = true;
        break;
      case 4: {
        const std::string glob = input.ConsumeRandomLengthString(16);
        try {
          builder.glob(glob);
          spec.segments.push_back(reference_escape(glob, "*?[]\\"));
          spec.wildcard = true;
        } catch (const std::invalid_argument&) {
          FUZZ_CHECK(glob.empty(), glob);
        }
        break;
      }
      default: {
        const std::string name = input.ConsumeRandomLengthString(16);
        const std::string value = input.ConsumeRandomLengthString(32);
        try {
          builder.param(name, value);
          spec.params.insert_or_assign(name, value);  // documented: an empty value is kept
        } catch (const std::invalid_argument&) {
          FUZZ_CHECK(name.empty(), name);
        }
        break;
      }
    }
  }
  return spec;
}

std::string expected_join(std::string_view prefix, const Spec& spec) {
  std::string key(prefix);
  for (const auto& segment : spec.segments) {
    if (!key.empty()) {
      key += ':';
    }
    key += segment;
  }
  for (const auto& [name, value] : spec.params) {
    key += ':' + reference_escape(name) + '=' + reference_escape(value, "=");
  }
  return key;
}

bool is_lower_hex(std::string_view text) {
  return text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// build()'s result for a builder whose unshortened key is `full`.
void check_built_key(const std::string& key, const std::string& full, std::string_view prefix,
                     std::size_t max_length) {
  FUZZ_CHECK(key.size() <= max_length, key);
  FUZZ_CHECK(cache::validate_key(key, max_length), key);
  if (full.size() <= max_length) {
    FUZZ_CHECK(key == full, key);
    return;
  }
  // Shortened: a head of the full key, '#', then 32 hex characters of its SHA-256.
  // The head may be empty: at the smallest limit (no prefix, a 1-byte head) a key that starts
  // with a %XX escape keeps none of it rather than a cut one.
  constexpr std::size_t kTail = 1 + cache::key_digest_length;
  FUZZ_CHECK(key.size() >= kTail, key);
  const auto head = std::string_view(key).substr(0, key.size() - kTail);
  const auto tail = std::string_view(key).substr(head.size());
  FUZZ_CHECK(tail.front() == '#', key);
  FUZZ_CHECK(is_lower_hex(tail.substr(1)), key);
  FUZZ_CHECK(tail.substr(1) == cache::sha256_hex(full).substr(0, cache::key_digest_length), key);
  FUZZ_CHECK(std::string_view(full).starts_with(head), key);
  FUZZ_CHECK(key.find('#') == head.size(), key);  // no other '#': escaped everywhere else
  // The whole prefix survives, so SCAN "<prefix>:*" still finds the key.
  if (!prefix.empty()) {
    FUZZ_CHECK(head.starts_with(std::string(prefix) + ':'), key);
  }
  // The head is never cut inside a %XX escape.
  const auto percent = head.rfind('%');
  FUZZ_CHECK(percent == std::string_view::npos || percent + 3 <= head.size(), key);
}

// One builder's outputs, after the checks that need only that builder.
struct Built {
  std::string full;                // pattern(): the unshortened join, wildcards included
  std::optional<std::string> key;  // build(), when it is allowed
};

Built check_builder(const cache::CacheKeyBuilder& builder, const Spec& spec,
                    std::string_view prefix, std::size_t max_length) {
  Built built;
  if (spec.segments.empty()) {
    // Documented: both need at least one part.
    bool threw = false;
    try {
      (void)builder.pattern();
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    FUZZ_CHECK(threw, "pattern() without a part");
    threw = false;
    try {
      (void)builder.build();
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    FUZZ_CHECK(threw, "build() without a part");
    return built;
  }
  built.full = builder.pattern();
  FUZZ_CHECK(built.full == expected_join(prefix, spec), built.full);
  FUZZ_CHECK(builder.pattern() == built.full, built.full);  // never shortened, deterministic
  if (spec.wildcard) {
    bool threw = false;
    try {
      (void)builder.build();
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    FUZZ_CHECK(threw, "build() with a wildcard");
    return built;
  }
  built.key = builder.build();
  FUZZ_CHECK(builder.build() == *built.key, *built.key);
  check_built_key(*built.key, built.full, prefix, max_length);
  return built;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  const std::string prefix = input.ConsumeRandomLengthString(24);
  const auto max_length = input.ConsumeIntegralInRange<std::size_t>(0, 300);

  // The constructor's documented refusals: an invalid prefix, or a limit too small for the
  // prefix, ':', one byte, '#' and the digest.
  const std::size_t needed =
      prefix.size() + (prefix.empty() ? 0 : 1) + 2 + cache::key_digest_length;
  std::optional<cache::CacheKeyBuilder> first;
  try {
    first.emplace(prefix, max_length);
  } catch (const std::invalid_argument&) {
    FUZZ_CHECK(!cache::is_valid_key_prefix(prefix) || max_length < needed, prefix);
    return 0;
  }
  FUZZ_CHECK(cache::is_valid_key_prefix(prefix) && max_length >= needed, prefix);
  for (const char c : prefix) {
    FUZZ_CHECK(c == ':' || !must_escape(static_cast<unsigned char>(c)), prefix);
  }

  cache::CacheKeyBuilder second(prefix, max_length);
  const Spec first_spec = apply_operations(input, *first);
  const Spec second_spec = apply_operations(input, second);
  const Built a = check_builder(*first, first_spec, prefix, max_length);
  const Built b = check_builder(second, second_spec, prefix, max_length);

  // Escaping makes the join injective: equal keys only from equal requests.
  if (!first_spec.segments.empty() && !second_spec.segments.empty()) {
    FUZZ_CHECK((a.full == b.full) == first_spec.same_request(second_spec), a.full);
    if (a.key && b.key) {
      FUZZ_CHECK((*a.key == *b.key) == (a.full == b.full), *a.key);
    }
  }

  // hash_key: "<prefix>:hash:<12 hex>", the same for the same parameters, or invalid_argument
  // for text that is not UTF-8 (JSON cannot hold it).
  try {
    const nlohmann::json params(first_spec.params);
    const std::string hashed = cache::hash_key(prefix, params);
    const std::string expected_lead = prefix.empty() ? "hash:" : prefix + ":hash:";
    FUZZ_CHECK(hashed.starts_with(expected_lead), hashed);
    FUZZ_CHECK(hashed.size() == expected_lead.size() + cache::hash_key_digest_length, hashed);
    FUZZ_CHECK(is_lower_hex(std::string_view(hashed).substr(expected_lead.size())), hashed);
    FUZZ_CHECK(cache::hash_key(prefix, nlohmann::json(first_spec.params)) == hashed, hashed);
  } catch (const std::invalid_argument&) {
    // Only for bytes that are not UTF-8, which nlohmann's dump() refuses.
  }

  // The named keys of CacheKeyManager follow the same rules; an empty argument is refused.
  const cache::CacheKeyManager manager(prefix, max_length);
  const std::string flight = input.ConsumeRandomLengthString(16);
  const std::string date = input.ConsumeRandomLengthString(16);
  try {
    const std::string key = manager.seat_lock_key(flight, date, "12A");
    FUZZ_CHECK(key.size() <= max_length, key);
    FUZZ_CHECK(prefix.empty() || key.starts_with(prefix + ':'), key);
    FUZZ_CHECK(key == manager.seat_lock_key(flight, date, "12A"), key);
  } catch (const std::invalid_argument&) {
    FUZZ_CHECK(flight.empty() || date.empty(), flight);
  }
  return 0;
}
