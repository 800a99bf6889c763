// SPDX-License-Identifier: BSD-3-Clause
// FallbackCache: per shard, an intrusive queue of single-allocation entries evicted by CLOCK
// (FIFO with a second chance) and an open-addressing index; TTLs checked on every touch; and
// the Redis glob matcher of erase_matching().
//
// Why CLOCK and not exact LRU: an LRU get() splices its entry to the front of the list, writing
// to both neighbours and the list head: three more cold cache lines per get, and on a shared
// cache every one of them passes between CPUs. Measured on 2 CPUs with 1,000 hot keys: two
// threads sharing the LRU cache did 0.59x the gets of one thread. A CLOCK get sets one flag in
// the entry, once; the eviction quality is close to LRU's (it is what the Linux page cache and
// most database buffer pools approximate LRU with).
//
// Why not std::list + std::unordered_map: a get() there chases bucket -> node-before -> hash node
// -> list node -> value buffer, five dependent cache misses for a cold key, and an entry costs
// four allocations. Here it is slot -> node (key and value inside), and one allocation.
#include "airport/cache/fallback_cache.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace airport::cache {

namespace {

using TimePoint = Clock::time_point;
using std::chrono::milliseconds;

/// The deadline of an entry without expiry; every real deadline is below it.
constexpr TimePoint kNoDeadline = TimePoint::max();

/// The links of a shard's queue: a circular doubly linked list through a sentinel.
struct Links {
  Links* prev = nullptr;
  Links* next = nullptr;
};

/// Node alignment: Slot keeps a 4-bit hash tag in the low bits of node pointers.
constexpr std::size_t kNodeAlignment = 16;

// Plain operator new already aligns to 16 on 64-bit glibc; the aligned form would round every
// request up to a multiple of 16 first, costing an extra malloc step for some sizes.
constexpr bool kNodeOverAligned = kNodeAlignment > __STDCPP_DEFAULT_NEW_ALIGNMENT__;

[[nodiscard]] void* allocate(std::size_t size) {
  if constexpr (kNodeOverAligned) {
    return ::operator new (size, std::align_val_t{kNodeAlignment});
  } else {
    return ::operator new(size);
  }
}

void release(void* storage) noexcept {
  if constexpr (kNodeOverAligned) {
    ::operator delete (storage, std::align_val_t{kNodeAlignment});
  } else {
    ::operator delete(storage);
  }
}

/// One entry, in one allocation: this header, then the key bytes, then the value bytes. A get()
/// then reads one contiguous block, and an entry costs one malloc instead of four (list node,
/// hash node, key buffer, value buffer).
struct alignas(kNodeAlignment) Node : Links {
  TimePoint deadline = kNoDeadline;
  std::size_t hash = 0;
  // 32-bit sizes keep the header at 48 bytes with the flag; set() refuses larger entries.
  std::uint32_t key_size = 0;
  std::uint32_t value_size = 0;
  /// Read since it was last queued: the second chance of the eviction scan (see
  /// Shard::evict_over_bounds).
  bool referenced = false;

  [[nodiscard]] const char* bytes() const noexcept {
    return reinterpret_cast<const char*>(this) + sizeof(Node);
  }
  [[nodiscard]] std::string_view key() const noexcept { return {bytes(), key_size}; }
  [[nodiscard]] std::string_view value() const noexcept { return {bytes() + key_size, value_size}; }

  [[nodiscard]] static Node* create(std::string_view key, std::string_view value, std::size_t hash,
                                    TimePoint deadline) {
    char* storage = static_cast<char*>(allocate(sizeof(Node) + key.size() + value.size()));
    Node* node = ::new (storage) Node;
    node->deadline = deadline;
    node->hash = hash;
    node->key_size = static_cast<std::uint32_t>(key.size());
    node->value_size = static_cast<std::uint32_t>(value.size());
    // Guarded: memcpy from the null data() of an empty view is undefined.
    if (!key.empty()) {
      std::memcpy(storage + sizeof(Node), key.data(), key.size());
    }
    if (!value.empty()) {
      std::memcpy(storage + sizeof(Node) + key.size(), value.data(), value.size());
    }
    return node;
  }
  static void destroy(Node* node) noexcept {
    static_assert(std::is_trivially_destructible_v<Node>);
    release(node);
  }
};

[[nodiscard]] Node* as_node(Links* links) noexcept {
  return static_cast<Node*>(links);
}

/// A hint to start fetching the cache line at `address`; nothing on other compilers. Never
/// faults, whatever the address.
void prefetch(const void* address) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(address);
#else
  (void)address;
#endif
}

/// Nodes removed under a shard lock are chained here and freed when it goes out of scope.
/// Declared before the lock guard, it is destroyed after the unlock, so no free() runs inside
/// the critical section. Costs nothing when empty, which is the hot path.
class Graveyard {
 public:
  Graveyard() = default;
  Graveyard(const Graveyard&) = delete;
  Graveyard& operator=(const Graveyard&) = delete;
  ~Graveyard() {
    while (head_ != nullptr) {
      Node* next = as_node(head_->next);
      Node::destroy(head_);
      head_ = next;
    }
  }
  void bury(Node* node) noexcept {
    node->next = head_;
    head_ = node;
  }

 private:
  Node* head_ = nullptr;
};

/// A slot of a shard's open-addressing index: a node pointer with 4 bits of the key's hash in
/// the pointer's alignment bits, 0 when empty. 8 bytes, so the index of 100k entries is 2 MiB and
/// mostly cache-resident, and a probe dereferences a non-matching node only 1 time in 16.
class Slot {
 public:
  Slot() = default;
  Slot(std::size_t hash, Node* node) noexcept
      : bits_(reinterpret_cast<std::uintptr_t>(node) | tag_of(hash)) {}
  [[nodiscard]] bool empty() const noexcept { return bits_ == 0; }
  [[nodiscard]] Node* node() const noexcept { return reinterpret_cast<Node*>(bits_ & ~kTagMask); }
  [[nodiscard]] bool may_hold(std::size_t hash) const noexcept {
    return (bits_ & kTagMask) == tag_of(hash);
  }

 private:
  static constexpr std::uintptr_t kTagMask = alignof(Node) - 1;
  static std::uintptr_t tag_of(std::size_t hash) noexcept {
    return static_cast<std::uintptr_t>(hash >> (std::numeric_limits<std::size_t>::digits - 4)) &
           kTagMask;
  }
  std::uintptr_t bits_ = 0;
};

[[nodiscard]] std::size_t hash_of(std::string_view key) noexcept {
  return std::hash<std::string_view>{}(key);
}

[[nodiscard]] bool is_expired(const Node& node, TimePoint now) noexcept {
  return node.deadline <= now;
}

/// now + ttl, saturating just below kNoDeadline instead of overflowing.
[[nodiscard]] TimePoint deadline_after(TimePoint now, milliseconds ttl) noexcept {
  const auto room = std::chrono::duration_cast<milliseconds>(kNoDeadline - now);
  if (ttl >= room) {
    return kNoDeadline - Clock::duration{1};
  }
  return now + std::chrono::duration_cast<Clock::duration>(ttl);
}

void require_positive_ttl(const char* operation, milliseconds ttl) {
  if (ttl.count() <= 0) {
    throw std::invalid_argument(std::string(operation) + ": ttl must be positive, got " +
                                std::to_string(ttl.count()) + " ms");
  }
}

// The allocation model behind entry_bytes(). glibc malloc on 64-bit targets hands out chunks of
// request + 8 bytes of header, rounded up to 16, at least 32; a node is one such chunk. The
// index keeps its load factor in (1/4, 1/2] (it doubles past 1/2), so an entry owns two to four
// slots: charge three. Measured on Debian 12 (g++ 12 -O2, glibc 2.36) from /proc/self/statm
// around inserting 100k entries with 10-byte keys: with 100-byte values RSS grows 198 bytes per
// entry and each is charged 199; with values of 0 to 4000 bytes the two stay within 1%. (A
// std::list + std::unordered_map layout needed 286 bytes per entry for the same data.)
[[nodiscard]] constexpr std::size_t malloc_chunk(std::size_t request) noexcept {
  return std::max<std::size_t>(32, (request + 8 + 15) & ~std::size_t{15});
}
constexpr std::size_t kSlotBytesPerEntry = 3 * sizeof(Slot);

// How many expired entries set() may reclaim from the queue's tail per call: bounded work, and
// more than one so that reclaiming outpaces inserting.
constexpr int kTailReclaimPerSet = 2;

}  // namespace

// Own cache lines: no false sharing between shards. What a get() writes (the mutex and the hit
// and miss counters) shares the first line, so a get that hits dirties that one line and, once
// an entry has its referenced flag, nothing else: two threads reading the same hot keys pass
// one cache line back and forth per call instead of the five an LRU splice would touch.
struct alignas(64) FallbackCache::Shard {
  mutable std::mutex mutex;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::size_t count = 0;  // written by set() only, which takes the mutex anyway
  static_assert(sizeof(std::mutex) + 3 * sizeof(std::uint64_t) <= 64,
                "what a get() writes must share the first cache line");
  /// Open addressing with linear probing; the size is 0 or a power of two, at most half full.
  alignas(64) std::vector<Slot> slots;
  /// Sentinel of the queue: queue.next is the most recently queued entry, queue.prev the next one
  /// the eviction scan looks at.
  Links queue{&queue, &queue};
  std::size_t bytes = 0;
  std::uint64_t evictions = 0;
  std::uint64_t expirations = 0;

  Shard() = default;
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  ~Shard() {
    for (Links* links = queue.next; links != &queue;) {
      Links* next = links->next;
      Node::destroy(as_node(links));
      links = next;
    }
  }

  static constexpr std::size_t kNotFound = static_cast<std::size_t>(-1);

  // ---- index ----

  [[nodiscard]] std::size_t find(std::string_view key, std::size_t hash) const noexcept {
    if (slots.empty()) {
      return kNotFound;
    }
    const std::size_t mask = slots.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot slot = slots[i];
      if (slot.empty()) {
        return kNotFound;
      }
      if (slot.may_hold(hash)) {
        // A cold node spans three or four cache lines (48-byte header, key, value); asking for
        // the later ones now overlaps their misses with the header's instead of queueing them
        // behind the key comparison and the value copy.
        const char* node = reinterpret_cast<const char*>(slot.node());
        prefetch(node + 64);
        prefetch(node + 128);
        prefetch(node + 192);
        if (slot.node()->hash == hash && slot.node()->key() == key) {
          return i;
        }
      }
    }
  }

  [[nodiscard]] std::size_t slot_of(const Node* node) const noexcept {
    const std::size_t mask = slots.size() - 1;
    std::size_t i = node->hash & mask;
    while (slots[i].node() != node) {
      i = (i + 1) & mask;
    }
    return i;
  }

  static void place(std::vector<Slot>& table, std::size_t hash, Node* node) noexcept {
    const std::size_t mask = table.size() - 1;
    std::size_t i = hash & mask;
    while (!table[i].empty()) {
      i = (i + 1) & mask;
    }
    table[i] = Slot{hash, node};
  }

  /// Makes room for one more entry. Growing reads each node's hash once (the slots keep only 4
  /// bits). May throw std::bad_alloc, before changing anything.
  void reserve_one_more() {
    if ((count + 1) * 2 <= slots.size()) {
      return;
    }
    std::vector<Slot> grown(std::max<std::size_t>(8, slots.size() * 2));
    for (const Slot& slot : slots) {
      if (!slot.empty()) {
        place(grown, slot.node()->hash, slot.node());
      }
    }
    slots.swap(grown);
  }

  /// Empties slot `hole` by shifting later entries of its probe run back (Knuth, TAOCP vol. 3,
  /// 6.4, Algorithm R), so no tombstones accumulate.
  void erase_slot(std::size_t hole) noexcept {
    const std::size_t mask = slots.size() - 1;
    for (std::size_t i = (hole + 1) & mask; !slots[i].empty(); i = (i + 1) & mask) {
      const std::size_t home = slots[i].node()->hash & mask;
      // Move slot i into the hole unless its home lies cyclically in (hole, i].
      const bool home_after_hole =
          hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
      if (!home_after_hole) {
        slots[hole] = slots[i];
        hole = i;
      }
    }
    slots[hole] = Slot{};
    --count;
  }

  // ---- the queue: FIFO with a second chance (CLOCK) ----

  static void unlink(Links* links) noexcept {
    links->prev->next = links->next;
    links->next->prev = links->prev;
  }
  void push_front(Links* links) noexcept {
    links->prev = &queue;
    links->next = queue.next;
    queue.next->prev = links;
    queue.next = links;
  }
  [[nodiscard]] Node* queue_tail() const noexcept {
    return queue.prev == &queue ? nullptr : as_node(queue.prev);
  }

  // ---- entries; the caller holds the lock ----

  void remove_at(std::size_t slot, Graveyard& graveyard) noexcept {
    Node* node = slots[slot].node();
    erase_slot(slot);
    unlink(node);
    bytes -= entry_bytes(node->key_size, node->value_size);
    graveyard.bury(node);
  }
  void remove(Node* node, Graveyard& graveyard) noexcept { remove_at(slot_of(node), graveyard); }

  /// The slot of a live entry; kNotFound when absent, or when expired, in which case it is
  /// removed and counted.
  [[nodiscard]] std::size_t find_live(std::string_view key, std::size_t hash, const Clock& clock,
                                      Graveyard& graveyard) noexcept {
    const std::size_t slot = find(key, hash);
    if (slot == kNotFound) {
      return slot;
    }
    const Node& node = *slots[slot].node();
    // Entries without expiry do not read the clock.
    if (node.deadline != kNoDeadline && is_expired(node, clock.now())) {
      remove_at(slot, graveyard);
      ++expirations;
      return kNotFound;
    }
    return slot;
  }

  void reclaim_expired_tail(TimePoint now, Graveyard& graveyard) noexcept {
    for (int i = 0; i < kTailReclaimPerSet; ++i) {
      Node* tail = queue_tail();
      if (tail == nullptr || !is_expired(*tail, now)) {
        return;
      }
      remove(tail, graveyard);
      ++expirations;
    }
  }

  /// Drops entries until both bounds hold, scanning from the tail of the queue: an entry read
  /// since it was queued loses its flag and goes back to the front (its second chance), the
  /// first one that was not read is dropped. Each pass clears at most count flags, each set by a
  /// get(), so the work is amortised O(1) per call. set() calls it before queueing its new
  /// entry, which is counted in `count` and `bytes` but not in the queue: count > 1 means the
  /// queue is not empty, and the new entry, which fits a shard on its own, is never dropped.
  void evict_over_bounds(std::size_t max_entries, std::size_t max_bytes, TimePoint now,
                         Graveyard& graveyard) noexcept {
    while (count > 1 && (count > max_entries || bytes > max_bytes)) {
      Node* victim = queue_tail();
      const bool expired = is_expired(*victim, now);
      if (victim->referenced && !expired) {
        victim->referenced = false;
        unlink(victim);
        push_front(victim);
        continue;
      }
      // An expired victim was not evicted, merely reclaimed late.
      ++(expired ? expirations : evictions);
      remove(victim, graveyard);
    }
  }

  /// Stores `node` (charged `cost`), replacing any entry of its key, and makes room for it: what
  /// set() does under the lock. On std::bad_alloc nothing has changed and the caller still owns
  /// `node`.
  void insert(Node* node, std::size_t cost, std::size_t max_entries, std::size_t max_bytes,
              TimePoint now, Graveyard& graveyard) {
    reclaim_expired_tail(now, graveyard);
    if (const auto slot = find(node->key(), node->hash); slot != kNotFound) {
      Node* old = slots[slot].node();
      slots[slot] = Slot{node->hash, node};
      unlink(old);
      bytes -= entry_bytes(old->key_size, old->value_size);
      graveyard.bury(old);
    } else {
      reserve_one_more();
      place(slots, node->hash, node);
      ++count;
    }
    bytes += cost;
    // Room is made before the new entry is queued, so that it is never its own victim (the
    // scan would otherwise drop it when every older entry had been read).
    evict_over_bounds(max_entries, max_bytes, now, graveyard);
    push_front(node);
  }

  /// Removes the entries for which remove_it(node) is true.
  template <typename Predicate>
  void remove_if(Predicate remove_it, Graveyard& graveyard) {
    for (Links* links = queue.next; links != &queue;) {
      Node* node = as_node(links);
      links = links->next;  // before remove(), which reuses the node's links
      if (remove_it(*node)) {
        remove(node, graveyard);
      }
    }
  }

  /// Moves every entry into `graveyard` and empties the index.
  void take_all(Graveyard& graveyard, std::vector<Slot>& old_slots) noexcept {
    for (Links* links = queue.next; links != &queue;) {
      Node* node = as_node(links);
      links = links->next;
      graveyard.bury(node);
    }
    queue.prev = queue.next = &queue;
    old_slots.swap(slots);
    count = 0;
    bytes = 0;
  }
};

std::size_t FallbackCache::entry_bytes(std::size_t key_size, std::size_t value_size) noexcept {
  return malloc_chunk(sizeof(Node) + key_size + value_size) + kSlotBytesPerEntry;
}

FallbackCache::FallbackCache(FallbackOptions options, const Clock& clock, std::size_t shard_count)
    : clock_(clock), max_entries_(options.max_entries), max_bytes_(options.max_bytes) {
  if (options.max_entries < 1) {
    throw std::invalid_argument("FallbackOptions.max_entries must be at least 1, got 0");
  }
  if (options.max_bytes < 1) {
    throw std::invalid_argument("FallbackOptions.max_bytes must be at least 1, got 0");
  }
  if (shard_count < 1) {
    throw std::invalid_argument("FallbackCache shard_count must be at least 1, got 0");
  }
  // More shards than entries would only loosen the entry bound; the cap keeps shard_for()'s
  // 32-bit multiply-shift exact.
  shard_count_ =
      std::min({shard_count, max_entries_, std::size_t{std::numeric_limits<std::uint32_t>::max()}});
  shard_max_entries_ = (max_entries_ + shard_count_ - 1) / shard_count_;
  shard_max_bytes_ = max_bytes_ / shard_count_ + (max_bytes_ % shard_count_ != 0 ? 1 : 0);
  shards_ = std::make_unique<Shard[]>(shard_count_);
}

FallbackCache::~FallbackCache() = default;

std::size_t FallbackCache::shard_index(std::size_t hash) const noexcept {
  // Fibonacci mixing, then Lemire's multiply-shift range reduction on the top 32 bits: no
  // division, and the choice is independent of the low bits the shard's index probes with.
  const std::uint64_t mixed = static_cast<std::uint64_t>(hash) * 0x9E3779B97F4A7C15ULL;
  return static_cast<std::size_t>(((mixed >> 32) * shard_count_) >> 32);
}

FallbackCache::Shard& FallbackCache::shard_for(std::size_t hash) const noexcept {
  return shards_[shard_index(hash)];
}

bool FallbackCache::set(std::string_view key, std::string_view value,
                        std::optional<milliseconds> ttl) {
  if (ttl) {
    require_positive_ttl("FallbackCache::set", *ttl);
  }
  const std::size_t hash = hash_of(key);
  Shard& shard = shard_for(hash);
  const std::size_t cost = entry_bytes(key.size(), value.size());
  Graveyard graveyard;
  constexpr std::size_t kMaxPartSize = std::numeric_limits<std::uint32_t>::max();
  if (cost > shard_max_bytes_ || key.size() > kMaxPartSize || value.size() > kMaxPartSize) {
    const std::lock_guard lock(shard.mutex);
    if (const auto slot = shard.find(key, hash); slot != Shard::kNotFound) {
      shard.remove_at(slot, graveyard);
    }
    return false;
  }

  const TimePoint now = clock_.now();
  // Allocated and filled before taking the lock.
  Node* node = Node::create(key, value, hash, ttl ? deadline_after(now, *ttl) : kNoDeadline);

  const std::lock_guard lock(shard.mutex);
  try {
    shard.insert(node, cost, shard_max_entries_, shard_max_bytes_, now, graveyard);
  } catch (...) {
    Node::destroy(node);
    throw;
  }
  return true;
}

std::size_t FallbackCache::set_many(std::span<const Item> items) {
  for (const Item& item : items) {
    if (item.ttl) {
      require_positive_ttl("FallbackCache::set_many", *item.ttl);
    }
  }
  constexpr std::size_t kMaxPartSize = std::numeric_limits<std::uint32_t>::max();
  // One per item, sorted by shard; node is null for an item too big to store, which set() would
  // refuse and whose older value it would remove.
  struct Pending {
    std::size_t shard;
    std::size_t hash;
    std::size_t cost;
    std::size_t item;
    Node* node;
  };
  std::vector<Pending> pending;
  pending.reserve(items.size());
  const TimePoint now = clock_.now();
  // Nodes not yet owned by a shard are destroyed on every way out, an exception included.
  struct Unplaced {
    std::vector<Pending>& pending;
    ~Unplaced() {
      for (const Pending& entry : pending) {
        if (entry.node != nullptr) {
          Node::destroy(entry.node);
        }
      }
    }
  } unplaced{pending};
  for (std::size_t i = 0; i < items.size(); ++i) {
    const Item& item = items[i];
    const std::size_t hash = hash_of(item.key);
    const std::size_t cost = entry_bytes(item.key.size(), item.value.size());
    pending.push_back({shard_index(hash), hash, cost, i, nullptr});
    if (cost <= shard_max_bytes_ && item.key.size() <= kMaxPartSize &&
        item.value.size() <= kMaxPartSize) {
      pending.back().node = Node::create(item.key, item.value, hash,
                                         item.ttl ? deadline_after(now, *item.ttl) : kNoDeadline);
    }
  }
  // Stable: within a shard the items keep the caller's order, so a later item of a key wins as
  // it does with repeated set(). Shards are independent, so their order does not matter.
  std::stable_sort(pending.begin(), pending.end(),
                   [](const Pending& a, const Pending& b) { return a.shard < b.shard; });

  std::size_t stored = 0;
  Graveyard graveyard;  // freed after the last lock is released
  for (auto begin = pending.begin(); begin != pending.end();) {
    const auto end = std::find_if(
        begin, pending.end(), [&](const Pending& entry) { return entry.shard != begin->shard; });
    Shard& shard = shards_[begin->shard];
    const std::lock_guard lock(shard.mutex);
    for (auto entry = begin; entry != end; ++entry) {
      if (entry->node == nullptr) {
        if (const auto slot = shard.find(items[entry->item].key, entry->hash);
            slot != Shard::kNotFound) {
          shard.remove_at(slot, graveyard);
        }
        continue;
      }
      shard.insert(entry->node, entry->cost, shard_max_entries_, shard_max_bytes_, now, graveyard);
      entry->node = nullptr;  // the shard owns it now
      ++stored;
    }
    begin = end;
  }
  return stored;
}

std::optional<std::string> FallbackCache::get(std::string_view key) {
  const std::size_t hash = hash_of(key);
  Shard& shard = shard_for(hash);
  Graveyard graveyard;
  const std::lock_guard lock(shard.mutex);
  const auto slot = shard.find(key, hash);
  if (slot == Shard::kNotFound) {
    ++shard.misses;
    return std::nullopt;
  }
  Node* node = shard.slots[slot].node();
  // Entries without expiry do not read the clock.
  if (node->deadline != kNoDeadline && is_expired(*node, clock_.now())) {
    shard.remove_at(slot, graveyard);
    ++shard.expirations;
    ++shard.misses;
    return std::nullopt;
  }
  std::optional<std::string> value{std::in_place, node->value()};
  // Tested first so that a hot entry's line is only read, never written, by later gets.
  if (!node->referenced) {
    node->referenced = true;
  }
  ++shard.hits;
  return value;
}

bool FallbackCache::exists(std::string_view key) {
  const std::size_t hash = hash_of(key);
  Shard& shard = shard_for(hash);
  Graveyard graveyard;
  const std::lock_guard lock(shard.mutex);
  return shard.find_live(key, hash, clock_, graveyard) != Shard::kNotFound;
}

std::optional<milliseconds> FallbackCache::ttl(std::string_view key) {
  const std::size_t hash = hash_of(key);
  Shard& shard = shard_for(hash);
  Graveyard graveyard;
  const std::lock_guard lock(shard.mutex);
  const auto slot = shard.find_live(key, hash, clock_, graveyard);
  if (slot == Shard::kNotFound) {
    return std::nullopt;
  }
  const TimePoint deadline = shard.slots[slot].node()->deadline;
  if (deadline == kNoDeadline) {
    return milliseconds{-1};
  }
  return std::chrono::ceil<milliseconds>(deadline - clock_.now());
}

bool FallbackCache::erase(std::string_view key) {
  const std::size_t hash = hash_of(key);
  Shard& shard = shard_for(hash);
  Graveyard graveyard;
  const std::lock_guard lock(shard.mutex);
  const auto slot = shard.find_live(key, hash, clock_, graveyard);
  if (slot == Shard::kNotFound) {
    return false;
  }
  shard.remove_at(slot, graveyard);
  return true;
}

bool FallbackCache::expire(std::string_view key, milliseconds ttl) {
  require_positive_ttl("FallbackCache::expire", ttl);
  const std::size_t hash = hash_of(key);
  Shard& shard = shard_for(hash);
  Graveyard graveyard;
  const std::lock_guard lock(shard.mutex);
  const auto slot = shard.find_live(key, hash, clock_, graveyard);
  if (slot == Shard::kNotFound) {
    return false;
  }
  shard.slots[slot].node()->deadline = deadline_after(clock_.now(), ttl);
  return true;
}

template <typename KeyPredicate>
std::size_t FallbackCache::remove_expired_and(KeyPredicate remove_live) {
  std::size_t expired = 0;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    Graveyard graveyard;
    const std::lock_guard lock(shard.mutex);
    const TimePoint now = clock_.now();
    shard.remove_if(
        [&](const Node& node) {
          if (is_expired(node, now)) {
            ++shard.expirations;
            ++expired;
            return true;
          }
          return remove_live(node.key());
        },
        graveyard);
  }
  return expired;
}

std::size_t FallbackCache::erase_matching(std::string_view glob_pattern) {
  if (glob_pattern.find_first_of("*?[\\") == std::string_view::npos) {
    return erase(glob_pattern) ? 1 : 0;
  }
  std::size_t removed = 0;
  remove_expired_and([&](std::string_view key) {
    const bool matches = glob_match(glob_pattern, key);
    removed += matches ? 1 : 0;
    return matches;
  });
  return removed;
}

std::size_t FallbackCache::remove_expired() {
  return remove_expired_and([](std::string_view) { return false; });
}

void FallbackCache::clear() {
  for (std::size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    Graveyard graveyard;
    std::vector<Slot> old_slots;
    const std::lock_guard lock(shard.mutex);
    shard.take_all(graveyard, old_slots);
  }
}

FallbackCache::Stats FallbackCache::stats() const {
  Stats stats;
  stats.max_entries = max_entries_;
  stats.max_bytes = max_bytes_;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    const Shard& shard = shards_[i];
    const std::lock_guard lock(shard.mutex);
    stats.entries += shard.count;
    stats.bytes += shard.bytes;
    stats.hits += shard.hits;
    stats.misses += shard.misses;
    stats.evictions += shard.evictions;
    stats.expirations += shard.expirations;
  }
  return stats;
}

std::size_t FallbackCache::size() const {
  return stats().entries;
}

std::size_t FallbackCache::bytes() const {
  return stats().bytes;
}

namespace {

/// Whether the single-byte token of `pattern` at `at` (anything but `*`) matches `byte`; sets
/// `next` to the position after the token. Follows Redis's stringmatchlen().
bool token_matches(std::string_view pattern, std::size_t at, unsigned char byte,
                   std::size_t& next) noexcept {
  const std::size_t end = pattern.size();
  const auto byte_at = [&](std::size_t i) { return static_cast<unsigned char>(pattern[i]); };
  switch (pattern[at]) {
    case '?':
      next = at + 1;
      return true;
    case '\\':
      // A trailing backslash is a literal backslash.
      if (at + 1 < end) {
        next = at + 2;
        return byte_at(at + 1) == byte;
      }
      next = at + 1;
      return byte == '\\';
    case '[': {
      std::size_t i = at + 1;
      const bool negated = i < end && pattern[i] == '^';
      if (negated) {
        ++i;
      }
      bool matched = false;
      while (i < end && pattern[i] != ']') {
        if (pattern[i] == '\\' && i + 1 < end) {
          matched = matched || byte_at(i + 1) == byte;
          i += 2;
        } else if (i + 2 < end && pattern[i + 1] == '-') {
          // By value: std::minmax would return references to these temporaries.
          const unsigned char first = byte_at(i);
          const unsigned char last = byte_at(i + 2);
          const unsigned char low = std::min(first, last);
          const unsigned char high = std::max(first, last);
          matched = matched || (low <= byte && byte <= high);
          i += 3;
        } else {
          matched = matched || byte_at(i) == byte;
          i += 1;
        }
      }
      next = i < end ? i + 1 : end;  // an unclosed set runs to the end of the pattern
      return matched != negated;
    }
    default:
      next = at + 1;
      return byte_at(at) == byte;
  }
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text) noexcept {
  // Every token but `*` matches exactly one byte, so remembering only the last star and
  // retrying it one byte further on a mismatch is complete (the classic wildcard two-pointer
  // walk), with none of the exponential recursion of a naive matcher.
  constexpr std::size_t kNoStar = std::string_view::npos;
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star_p = kNoStar;
  std::size_t star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      while (p < pattern.size() && pattern[p] == '*') {
        ++p;
      }
      if (p == pattern.size()) {
        return true;
      }
      star_p = p;
      star_t = t;
      continue;
    }
    std::size_t next = p;
    if (p < pattern.size() &&
        token_matches(pattern, p, static_cast<unsigned char>(text[t]), next)) {
      p = next;
      ++t;
      continue;
    }
    if (star_p == kNoStar) {
      return false;
    }
    p = star_p;
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

}  // namespace airport::cache
