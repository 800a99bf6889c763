// SPDX-License-Identifier: BSD-3-Clause
// InvalidationJournal: what Valkey must forget once it is back, because writes and deletes made
// while it was unavailable only reached the fallback. One entry per key, however many writes;
// past its bound it falls back to forgetting the manager's whole namespace, never to "maybe
// stale until expiry" unless the user chose that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace airport::cache::detail {

/// Safe for concurrent use. Replays are taken one batch at a time by one recoverer: take() hands
/// out a batch, and done() or put_back() must follow before the next take().
///
/// On a cluster the keys are grouped by slot (set_grouping()): a call on one slot replays only
/// what that slot owes, so a shard that is still down never holds up the others. Patterns and
/// the namespace sweep span every slot and are owed by all of them.
class InvalidationJournal {
 public:
  /// The group of a key: its cluster slot.
  using Grouping = std::function<std::uint16_t(std::string_view key)>;

  /// One unit of replay work.
  struct Batch {
    enum class Kind { None, Keys, Pattern, Namespace } kind = Kind::None;
    std::vector<std::string> keys;  // Keys
    std::string pattern;            // Pattern, or the namespace's pattern
    std::string cursor = "0";       // Namespace: where the SCAN goes on
  };

  /// `namespace_prefix` is the manager's key_prefix: every key it writes normally starts with
  /// it, so forgetting `prefix:*` forgets them all. A journaled key outside it widens the
  /// namespace to the whole database.
  /// `sweep_namespace_on_overflow` false keeps the old entries and drops new ones instead.
  InvalidationJournal(std::size_t max_entries, bool sweep_namespace_on_overflow,
                      std::string_view namespace_prefix)
      : max_entries_{max_entries},
        sweep_namespace_{sweep_namespace_on_overflow},
        prefix_{namespace_prefix} {}

  /// Groups keys by `grouping` from now on; call before the first add_key().
  void set_grouping(Grouping grouping) {
    std::lock_guard lock{mutex_};
    grouping_ = std::move(grouping);
  }

  /// Records that Valkey must forget `key`. Returns true when this call overflowed the journal
  /// for the first time since it was last empty (the caller logs that once).
  bool add_key(std::string_view key) {
    std::lock_guard lock{mutex_};
    if (!key.starts_with(prefix_))
      outside_namespace_ = true;
    if (refuse_locked(keys_.contains(std::string{key})))
      return !std::exchange(overflowed_since_empty_, true);
    if (keys_.emplace(key).second)
      count_locked(key, +1);
    return check_overflow_locked();
  }

  /// Records a SCAN + UNLINK of every key matching `pattern`.
  bool add_pattern(std::string_view pattern) {
    std::lock_guard lock{mutex_};
    outside_namespace_ = outside_namespace_ || !pattern.starts_with(prefix_);
    if (refuse_locked(patterns_.contains(std::string{pattern})))
      return !std::exchange(overflowed_since_empty_, true);
    patterns_.emplace(pattern);
    return check_overflow_locked();
  }

  /// Valkey must forget the whole namespace (it restarted, perhaps from an older snapshot): a
  /// sweep from the start, before the keys journaled since.
  void sweep_namespace() {
    std::lock_guard lock{mutex_};
    whole_namespace_ = true;
    namespace_cursor_ = "0";
  }

  /// Entries waiting or being replayed. Zero means Valkey owes nothing: "recovery pending" is
  /// exactly "this is not zero", read under the journal's lock.
  [[nodiscard]] std::size_t pending() const {
    std::lock_guard lock{mutex_};
    return pending_locked();
  }
  [[nodiscard]] bool empty() const { return pending() == 0; }
  /// Whether anything owed concerns `group` (always the whole journal without a grouping): its
  /// keys, one in flight, a pattern or the namespace sweep.
  [[nodiscard]] bool owes(std::optional<std::uint16_t> group) const {
    std::lock_guard lock{mutex_};
    if (!grouping_ || !group)
      return pending_locked() > 0;
    if (whole_namespace_ || !patterns_.empty())
      return true;
    if (in_flight_ && (!in_flight_group_ || *in_flight_group_ == *group))
      return true;
    const auto found = group_counts_.find(*group);
    return found != group_counts_.end() && found->second > 0;
  }
  /// Invalidations dropped by an AcceptStale overflow, or superseded by a namespace one.
  [[nodiscard]] std::uint64_t overflows() const {
    std::lock_guard lock{mutex_};
    return overflows_;
  }

  /// The next unit of work: the namespace first (a SCAN step from its cursor), then patterns,
  /// then up to `max_keys` keys (of `group` only, when given and the journal is grouped).
  /// Kind::None when nothing is waiting.
  [[nodiscard]] Batch take(std::size_t max_keys, std::optional<std::uint16_t> group = {}) {
    std::lock_guard lock{mutex_};
    Batch batch;
    in_flight_group_.reset();
    if (whole_namespace_) {
      batch.kind = Batch::Kind::Namespace;
      batch.pattern = namespace_pattern_locked();
      batch.cursor = namespace_cursor_;
    } else if (!patterns_.empty()) {
      batch.kind = Batch::Kind::Pattern;
      batch.pattern = std::move(patterns_.extract(patterns_.begin()).value());
    } else if (grouping_ && group) {
      if (const auto found = group_counts_.find(*group);
          found == group_counts_.end() || found->second == 0) {
        return batch;
      }
      batch.kind = Batch::Kind::Keys;
      for (auto at = keys_.begin(); at != keys_.end() && batch.keys.size() < max_keys;) {
        if (grouping_(*at) == *group) {
          count_locked(*at, -1);
          batch.keys.push_back(std::move(keys_.extract(at++).value()));
        } else {
          ++at;
        }
      }
      in_flight_group_ = group;
    } else if (!keys_.empty()) {
      batch.kind = Batch::Kind::Keys;
      while (!keys_.empty() && batch.keys.size() < max_keys) {
        count_locked(*keys_.begin(), -1);
        batch.keys.push_back(std::move(keys_.extract(keys_.begin()).value()));
      }
    } else {
      return batch;
    }
    in_flight_ = true;
    return batch;
  }

  /// The batch reached Valkey. For a namespace batch, `next_cursor` is where the SCAN stands
  /// now; "0" means the whole namespace was swept.
  void done(const Batch& batch, std::string_view next_cursor = "0") {
    std::lock_guard lock{mutex_};
    in_flight_ = false;
    in_flight_group_.reset();
    // An overflow during the sweep restarted it from "0": that cursor wins.
    if (batch.kind == Batch::Kind::Namespace && namespace_cursor_ == batch.cursor) {
      if (next_cursor == "0") {
        whole_namespace_ = false;
      } else {
        namespace_cursor_ = next_cursor;
      }
    }
    if (pending_locked() == 0) {
      overflowed_since_empty_ = false;
      outside_namespace_ = false;
      namespace_cursor_ = "0";
    }
  }

  /// The batch did not reach Valkey: it waits again (merged with what came meanwhile).
  void put_back(Batch batch) {
    std::lock_guard lock{mutex_};
    in_flight_ = false;
    in_flight_group_.reset();
    if (batch.kind == Batch::Kind::Keys) {
      for (std::string& key : batch.keys) {
        if (!keys_.contains(key))
          count_locked(key, +1);
        keys_.insert(std::move(key));
      }
    } else if (batch.kind == Batch::Kind::Pattern) {
      patterns_.insert(std::move(batch.pattern));
    }
    check_overflow_locked();
  }

 private:
  [[nodiscard]] std::size_t pending_locked() const {
    return keys_.size() + patterns_.size() + (whole_namespace_ ? 1 : 0) + (in_flight_ ? 1 : 0);
  }

  // AcceptStale: a full journal drops the new entry (an old one is never lost for a new one).
  bool refuse_locked(bool already_present) {
    if (sweep_namespace_ || already_present || keys_.size() + patterns_.size() < max_entries_) {
      return false;
    }
    ++overflows_;
    return true;
  }

  bool check_overflow_locked() {
    if (keys_.size() + patterns_.size() <= max_entries_)
      return false;
    overflows_ += keys_.size() + patterns_.size();
    keys_.clear();
    group_counts_.clear();
    patterns_.clear();
    // Everything journaled so far is covered by a sweep that starts after it was written;
    // later entries go to the key set again and are replayed after the sweep.
    whole_namespace_ = true;
    namespace_cursor_ = "0";
    return !std::exchange(overflowed_since_empty_, true);
  }

  void count_locked(std::string_view key, int change) {
    if (!grouping_)
      return;
    std::size_t& count = group_counts_[grouping_(key)];
    count = change > 0 ? count + 1 : count - 1;
  }

  [[nodiscard]] std::string namespace_pattern_locked() const {
    if (outside_namespace_ || prefix_.empty())
      return "*";
    std::string pattern;
    for (const char c : prefix_) {
      if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\')
        pattern.push_back('\\');
      pattern.push_back(c);
    }
    pattern.push_back('*');
    return pattern;
  }

  const std::size_t max_entries_;
  const bool sweep_namespace_;
  const std::string prefix_;
  mutable std::mutex mutex_;
  std::unordered_set<std::string> keys_;
  std::unordered_set<std::string> patterns_;
  bool whole_namespace_ = false;
  bool outside_namespace_ = false;
  std::string namespace_cursor_ = "0";
  bool in_flight_ = false;
  // The group of the keys in flight; none for a pattern, a sweep or ungrouped keys.
  std::optional<std::uint16_t> in_flight_group_;
  Grouping grouping_;
  std::unordered_map<std::uint16_t, std::size_t> group_counts_;
  bool overflowed_since_empty_ = false;
  std::uint64_t overflows_ = 0;
};

}  // namespace airport::cache::detail
