// SPDX-License-Identifier: BSD-3-Clause
// FallbackCache: the bounded in-memory cache that serves reads and takes writes while Valkey is
// unavailable. Bounded by entries and by bytes with CLOCK eviction (LRU's usual approximation),
// TTL honoured on every read, sharded for concurrency.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "airport/cache/clock.hpp"
#include "airport/cache/config.hpp"

namespace airport::cache {

/// A bounded, thread-safe key/value map with per-entry TTLs that evicts what was not read.
/// Safe for concurrent use.
///
/// Eviction: CLOCK, also called second-chance FIFO. Each shard queues its entries in the order
/// they were set; get() marks an entry as read. To make room, the scan takes the oldest entry:
/// if it was read since it was queued, it is unmarked and queued again as the newest, otherwise
/// it is dropped. So an entry read since its last pass survives the next one, and an entry never
/// read goes in set order, as with LRU; unlike LRU, the order among entries that were read is
/// the order they were queued, not the order of their last read. The reason: a get() then
/// writes one flag, once, instead of moving the entry in a shared list, and readers on several
/// CPUs stop fighting over the list's cache lines (see docs/benchmarks.md).
///
/// Sharding: keys are spread by hash over `shard_count` shards, each with its own mutex, index,
/// queue and counters, so concurrent callers rarely wait on each other. The bounds are per
/// shard: each shard keeps at most ceil(max_entries / shards) entries and ceil(max_bytes / shards)
/// bytes, so the whole cache can exceed `max_entries` and `max_bytes` by at most that rounding. The
/// other side of it: the eviction order holds within a shard, not across shards, and a
/// shard that draws more keys than its share evicts before the whole cache is full (about 0.6% of
/// 100k keys into 16 shards of 6,250). The shard count is lowered to max_entries when it is
/// larger, so that a tiny bound stays tight. A lookup copies no key and hashes it once.
///
/// Expiry: no background thread. An expired entry is never returned; it is removed when a call
/// touches it, when set() finds it at the tail of its shard's queue (bounded work per call), when
/// it is evicted, or by remove_expired().
///
/// Bytes: each entry is charged entry_bytes(key, value): the key and value bytes plus what the
/// entry really costs around them (one allocation holding a small header, the key and the value,
/// with glibc malloc's header and rounding, plus its share of the shard's index), so that bytes()
/// tracks the resident memory of the entries: within 1% for 100k entries of 0 to 4000 bytes.
class FallbackCache {
 public:
  /// The time source of the entries' expiries (injectable for tests).
  using Clock = airport::cache::Clock;

  /// What the cache holds and has done since construction (clear() keeps the counters).
  struct Stats {
    std::size_t entries = 0;        ///< live and not-yet-reclaimed expired entries
    std::size_t bytes = 0;          ///< sum of entry_bytes() over those entries
    std::uint64_t hits = 0;         ///< get() calls that returned a value
    std::uint64_t misses = 0;       ///< get() calls that returned nullopt (absent or expired)
    std::uint64_t evictions = 0;    ///< live entries removed to respect the bounds
    std::uint64_t expirations = 0;  ///< expired entries removed (on touch, at the tail, swept)
    std::size_t max_entries = 0;    ///< the configured bound (see the class comment on rounding)
    std::size_t max_bytes = 0;      ///< the configured bound (see the class comment on rounding)
  };

  /// Throws std::invalid_argument naming the field when options.max_entries, options.max_bytes
  /// or shard_count is 0. `options.enabled` is not looked at: whether to use the cache at all is
  /// the caller's decision. `clock` must outlive the cache.
  explicit FallbackCache(FallbackOptions options = {}, const Clock& clock = steady_clock(),
                         std::size_t shard_count = 16);
  ~FallbackCache();
  FallbackCache(const FallbackCache&) = delete;
  FallbackCache& operator=(const FallbackCache&) = delete;
  FallbackCache(FallbackCache&&) = delete;
  FallbackCache& operator=(FallbackCache&&) = delete;

  /// Stores a copy of `value` under `key`, replacing any previous value and TTL, and queues it
  /// as the newest entry of its shard, not yet read; entries are evicted as needed (see the
  /// class comment). `ttl` nullopt means no expiry. Returns false, storing nothing and removing
  /// any previous value of `key` (so that a stale value is never served), when
  /// entry_bytes(key, value) is bigger than one shard's byte budget, ceil(max_bytes / shards),
  /// or the key or the value is 4 GiB or longer. Throws std::invalid_argument when ttl <= 0.
  /// Allocation happens outside the shard lock.
  bool set(std::string_view key, std::string_view value,
           std::optional<std::chrono::milliseconds> ttl);

  /// One item of set_many(): what set() takes.
  struct Item {
    std::string_view key;                          ///< the key, as in set()
    std::string_view value;                        ///< the value, as in set()
    std::optional<std::chrono::milliseconds> ttl;  ///< nullopt: no expiry, as in set()
  };

  /// Leaves the cache as calling set() on each item in order would, but locks each shard once
  /// for all of its items instead of once per item (the write-through of CacheManager::mset).
  /// Returns how many items set() would have stored. Throws std::invalid_argument, storing
  /// nothing, when any ttl <= 0. Allocation happens before any shard lock; one clock read.
  std::size_t set_many(std::span<const Item> items);

  /// A copy of the value, or nullopt when absent or expired. Counts a hit or a miss and marks the
  /// entry as read, so that it survives the next eviction scan. Cost: one hash, one lock, one
  /// copy of the value; no write to the entry once it is marked.
  [[nodiscard]] std::optional<std::string> get(std::string_view key);

  /// Whether `key` holds a live value; never true for an expired entry. Neither marks the entry
  /// as read nor counts a hit or a miss.
  [[nodiscard]] bool exists(std::string_view key);

  /// Remaining TTL, rounded up to whole milliseconds (a live entry never reports 0): nullopt when
  /// absent or expired, -1 ms when the entry has no expiry, as PTTL reports it.
  [[nodiscard]] std::optional<std::chrono::milliseconds> ttl(std::string_view key);

  /// Removes `key`. Returns whether a live entry was removed (false for an expired one).
  bool erase(std::string_view key);

  /// Gives a live entry a new TTL counted from now. Returns false when absent or expired.
  /// Throws std::invalid_argument when ttl <= 0. Does not mark the entry as read.
  bool expire(std::string_view key, std::chrono::milliseconds ttl);

  /// Removes every live key matching a Redis glob pattern (see glob_match), as the manager's
  /// invalidate_pattern does on the server. Returns how many live keys were removed. Cost: a
  /// scan of every entry, one shard locked at a time; a pattern without wildcards is one erase().
  std::size_t erase_matching(std::string_view glob_pattern);

  /// Removes every expired entry now. Returns how many. Cost: a scan of every entry, one shard
  /// locked at a time. Never required for correctness; useful to give memory back when no more
  /// writes arrive.
  std::size_t remove_expired();

  /// Removes every entry. Counters are kept.
  void clear();

  /// Sums over the shards, each read under its own lock (not one atomic snapshot).
  [[nodiscard]] Stats stats() const;
  /// Number of entries, including expired ones not reclaimed yet.
  [[nodiscard]] std::size_t size() const;
  /// Bytes charged for the entries, including expired ones not reclaimed yet.
  [[nodiscard]] std::size_t bytes() const;

  /// The bytes one entry of these sizes is charged: key_size + value_size plus the per-entry
  /// overhead (header, malloc rounding, index share); 200 for a 10-byte key and a 100-byte value
  /// on 64-bit Linux. Exposed for tests and capacity planning.
  [[nodiscard]] static std::size_t entry_bytes(std::size_t key_size,
                                               std::size_t value_size) noexcept;

 private:
  struct Shard;

  [[nodiscard]] std::size_t shard_index(std::size_t hash) const noexcept;
  [[nodiscard]] Shard& shard_for(std::size_t hash) const noexcept;
  /// Shard by shard, each under its own lock: removes every expired entry, and every live one
  /// whose key remove_live(key) is true. Returns how many expired entries it removed.
  template <typename KeyPredicate>
  std::size_t remove_expired_and(KeyPredicate remove_live);

  const Clock& clock_;
  std::size_t max_entries_;
  std::size_t max_bytes_;
  std::size_t shard_count_;
  std::size_t shard_max_entries_;
  std::size_t shard_max_bytes_;
  std::unique_ptr<Shard[]> shards_;
};

/// Redis-style glob match, the subset KEYS and SCAN MATCH use: `*` any run of bytes, `?` one
/// byte, `[abc]` a set, `[a-z]` a range (either order), `[^a]` a negated set, `\x` a literal x
/// (inside sets too). An unclosed `[` takes the rest of the pattern as its set, as Redis does.
/// Byte-wise and case-sensitive. O(pattern x text) worst case, no recursion.
[[nodiscard]] bool glob_match(std::string_view pattern, std::string_view text) noexcept;

}  // namespace airport::cache
