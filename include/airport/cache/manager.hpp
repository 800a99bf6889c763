// SPDX-License-Identifier: BSD-3-Clause
// CacheManager: the resilient cache a service talks to. It wraps a Client with a circuit
// breaker, retries with jitter, an in-memory fallback with an invalidation journal, stats, typed
// values and stampede-safe get_or_compute. Availability failures never throw out of it.
#pragma once

#include <chrono>
#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <spdlog/fwd.h>
#include <nlohmann/json_fwd.hpp>

#include "airport/cache/circuit_breaker.hpp"
#include "airport/cache/client.hpp"
#include "airport/cache/clock.hpp"
#include "airport/cache/config.hpp"
#include "airport/cache/health.hpp"
#include "airport/cache/keys.hpp"
#include "airport/cache/observer.hpp"
#include "airport/cache/retry.hpp"
#include "airport/cache/serialization.hpp"
#include "airport/cache/stats.hpp"
#include "airport/cache/ttl.hpp"

namespace airport::cache {

/// A TTL given as a preset or as any std::chrono duration. It goes through the manager's
/// TTLCalculator jitter unless made with Ttl::exact(). Zero or negative durations are a
/// programming error (std::invalid_argument when used).
class Ttl {
 public:
  /// The preset's duration (ttl_of()), jittered; implicit so that a preset can be passed as is.
  Ttl(TTLPreset preset) noexcept : base_{ttl_of(preset)} {}  // NOLINT: implicit by design
  /// Any duration, jittered. Beyond `longest` it saturates there, so hours::max() means
  /// "never" instead of overflowing.
  template <class Rep, class Period>
  Ttl(std::chrono::duration<Rep, Period> duration) noexcept  // NOLINT: implicit by design
      : base_{saturated(duration)} {}
  /// No jitter: the key expires after exactly this long.
  template <class Rep, class Period>
  [[nodiscard]] static Ttl exact(std::chrono::duration<Rep, Period> duration) noexcept {
    Ttl ttl{duration};
    ttl.jitter_ = false;
    return ttl;
  }
  /// The preset's duration with no jitter.
  [[nodiscard]] static Ttl exact(TTLPreset preset) noexcept { return exact(ttl_of(preset)); }

  /// The duration before jitter, in whole milliseconds (truncated), saturated at `longest`.
  [[nodiscard]] std::chrono::milliseconds base() const noexcept { return base_; }
  /// Whether the manager's TTLCalculator spreads it; false only when made with exact().
  [[nodiscard]] bool jittered() const noexcept { return jitter_; }

  /// The longest TTL sent to the server, about 73 million years: whatever is longer (up to
  /// hours::max()) means "never" and saturates here instead of overflowing on the way.
  static constexpr std::chrono::milliseconds longest{std::chrono::milliseconds::max() / 4};

 private:
  template <class Rep, class Period>
  static constexpr std::chrono::milliseconds saturated(
      std::chrono::duration<Rep, Period> duration) noexcept {
    // Compared in floating point: converting hours::max() to milliseconds would overflow.
    const std::chrono::duration<double, std::milli> exact{duration};
    if (exact.count() >= static_cast<double>(longest.count()))
      return longest;
    if (exact.count() <= -static_cast<double>(longest.count()))
      return -longest;
    return std::chrono::duration_cast<std::chrono::milliseconds>(duration);
  }

  std::chrono::milliseconds base_;
  bool jitter_ = true;
};

/// How get_or_compute protects the loader.
struct ComputeOptions {
  /// Across processes: a rebuild lock (SET NX PX with a random token, released by an
  /// owner-checked script) so that only one instance runs the loader; the others wait for the
  /// value for up to lock_wait, then compute anyway. Default off.
  bool rebuild_lock = false;
  /// Lifetime of the rebuild lock, so a crashed holder cannot block rebuilds. Default 10 s.
  std::chrono::milliseconds lock_ttl{10'000};
  /// How long a process that lost the lock polls for the winner's value. Default 2 s.
  std::chrono::milliseconds lock_wait{2'000};
  /// XFetch beta (Vattani et al., VLDB 2015): > 0 enables probabilistic early refresh of hot
  /// keys before they expire; 1.0 is the paper's default. Costs a PTTL in the same round trip
  /// as the GET. Default 0 (off).
  double early_refresh_beta = 0.0;
  /// Loaders returning std::optional<T>: how long a "not found" (nullopt) is cached, under
  /// `<key>:not-found` beside the value (so get() never returns it). Zero
  /// (default) caches nothing, so every miss runs the loader again.
  std::chrono::milliseconds negative_ttl{0};
};

/// Overall state for health endpoints.
enum class HealthLevel { Healthy, Degraded, Unavailable };

[[nodiscard]] constexpr std::string_view to_string(HealthLevel level) noexcept {
  switch (level) {
    case HealthLevel::Healthy:
      return "healthy";
    case HealthLevel::Degraded:
      return "degraded";
    case HealthLevel::Unavailable:
      return "unavailable";
  }
  return "unknown";
}

/// What cache.health() reports: healthy (server up, breaker closed), degraded (serving from the
/// fallback, or catching up on the journal), unavailable (server down and no fallback).
struct CacheHealth {
  /// The summary: healthy only when the breaker is closed, nothing is journaled, the server is
  /// not known to be down and does not refuse the client; else degraded with a fallback,
  /// unavailable without one.
  HealthLevel level = HealthLevel::Healthy;
  /// The breaker's state (see CacheManager::circuit_state()).
  CircuitState circuit = CircuitState::Closed;
  /// What the client's last background health check saw of the server.
  HealthStatus server;
  /// Invalidations journaled during an outage and not yet replayed to Valkey; the manager
  /// stays degraded until they are.
  std::size_t journal_pending = 0;
  /// Whether an in-memory fallback serves reads while Valkey is unavailable (config.fallback).
  bool fallback_enabled = true;
  /// On a cluster, every node with its shard's breaker (see StatsSnapshot::nodes); `circuit` is
  /// then the worst of them.
  std::vector<StatsSnapshot::Node> nodes;
  /// For a health endpoint: `status` (to_string(level)), `circuit`, the server's fields
  /// (server_up, server, server_version, role, round_trip_us, last_error, refusal, pool_open,
  /// pool_idle), journal_pending, fallback_enabled, and `nodes` on a cluster.
  [[nodiscard]] nlohmann::json to_json() const;
};

/// What the invalidation journal does when more keys wait than fallback.journal_max_entries.
enum class JournalOverflow {
  /// Safe: on recovery, remove every key under the manager's key_prefix (the whole database
  /// when it has none, or when a journaled key lies outside it) with SCAN + UNLINK before
  /// traffic resumes. Valkey loses its cached copies, never serves an outdated one.
  InvalidateNamespace,
  /// Keep what is journaled and drop later invalidations: those keys may be stale in Valkey
  /// until they expire. Only for a namespace too large to sweep.
  AcceptStale,
};

/// Run-time hooks and settings of a CacheManager that are not plain configuration.
struct CacheManagerOptions {
  /// Logger for the manager and its client; see resolve_logger() for the default.
  std::shared_ptr<spdlog::logger> logger;
  /// Time source of the breaker, retry budget and fallback expiry. Must outlive the manager.
  const Clock* clock = &steady_clock();
  /// Optional failure-rate rule of the breaker (off by default).
  CircuitBreakerRateOptions circuit_rate{};
  /// Retry budget: retries at most ~20% of recent traffic plus a small floor per second.
  RetryBudgetOptions retry_budget{};
  /// Called after every command the manager's own client sends, with the command name
  /// (argv[0], "PIPELINE" for a pipeline), its duration and, when it failed, the error category
  /// (an error reply is ErrorCategory::Reply). Handed to the ValkeyClient, or on a cluster to
  /// every node's ValkeyClient (so a redirected command reports once per node it was sent to, and
  /// the slot-map queries report too). Calls the breaker refused send nothing and report
  /// nothing: they are in stats().degraded.breaker_open. Runs on the thread that made the call,
  /// after the command's connection is back in the pool, and never while the manager holds a
  /// lock that stats(), health() or circuit_state() take, so it may call them; it must not
  /// throw, should be cheap (it adds to every call's latency), and should not call the
  /// manager's cache operations (they would nest inside the one being reported). Ignored by the
  /// constructor that takes a user-supplied Client: give that client its own
  /// ClientOptions::observer. Default none (no timing cost).
  CommandObserver observer;
  /// Called once per breaker transition, after it is logged and counted.
  std::function<void(CircuitState from, CircuitState to)> on_circuit_change;
  /// Let the client's background PING end an open period early when the server answers again.
  /// The breaker then goes half-open and its probes decide; it never closes on a PING alone.
  bool health_check_closes_circuit = true;
  /// When the client notices that the server restarted (a new run_id behind the endpoint), treat
  /// everything it holds under the namespace as suspect: it may have come back from a snapshot
  /// older than writes it acknowledged. The namespace is swept (SCAN + UNLINK, as on a journal
  /// overflow) before traffic resumes, and calls served by the new process before the sweep are
  /// served degraded instead. Default true; false trusts a restarted server's data.
  bool forget_on_server_restart = true;
  /// See JournalOverflow. Default InvalidateNamespace.
  JournalOverflow journal_overflow = JournalOverflow::InvalidateNamespace;
  /// What a typed get<T> does with bytes that do not decode as T. Default false: they stay on
  /// the server (they may be another service's value, or a value an older or newer deploy of
  /// this one reads fine) and the call is a miss, counted as a serialization error. true deletes
  /// them, for everybody: only for a cache no other program or version shares. get_or_compute
  /// overwrites such a value with the loader's either way.
  bool delete_undecodable = false;
};

/// The resilient cache. Safe for concurrent use; one per service.
///
/// Failure semantics: while Valkey is unavailable (connection, timeout, pool exhaustion, after
/// retries) reads become misses or fallback hits and writes land in the fallback and return
/// false; nothing throws. Programming errors throw std::invalid_argument: an empty or too long
/// key, a zero or negative TTL, a value over max_value_size. Server error replies (WRONGTYPE,
/// OOM) are logged and counted, do not trip the breaker, and read as misses / failed writes.
///
/// Keys are used verbatim: build them with keys() (which applies the configured key_prefix) or
/// key_manager().
class CacheManager {
 public:
  /// Creates and owns a ValkeyClient for `config` (validated: ConfigError). Connects lazily.
  explicit CacheManager(ValkeyConfig config, CacheManagerOptions options = {});
  /// Wraps an existing client (a cluster client, or one shared with other code). Without an
  /// owned ValkeyClient the health check cannot close the breaker early; probes still do.
  /// options.observer is not used: the client was built with its own ClientOptions::observer
  /// (or none), and the manager cannot add one to it; std::invalid_argument when it is set, so
  /// that it is not silently ignored.
  CacheManager(std::shared_ptr<Client> client, ValkeyConfig config,
               CacheManagerOptions options = {});
  ~CacheManager();
  CacheManager(const CacheManager&) = delete;
  CacheManager& operator=(const CacheManager&) = delete;

  // --- bytes ------------------------------------------------------------------------------

  /// The value, or nullopt on a miss. While Valkey is unavailable: the fallback's value.
  [[nodiscard]] std::optional<std::string> get(std::string_view key);
  /// Stores the value with a TTL. Returns true when Valkey stored it; false when it only landed
  /// in the fallback (Valkey unavailable) or the server refused it (e.g. OOM).
  bool set(std::string_view key, std::string_view value, Ttl ttl);
  /// Removes the key. Returns whether it existed (in the fallback, while degraded).
  bool del(std::string_view key);
  /// Whether the key exists, without fetching its value. While Valkey is unavailable: whether
  /// the fallback holds it.
  [[nodiscard]] bool exists(std::string_view key);
  /// Remaining time to live; nullopt when missing; -1 ms when the key has no expiry.
  [[nodiscard]] std::optional<std::chrono::milliseconds> ttl(std::string_view key);
  /// Sets a new TTL (exact, no jitter). Returns whether the key existed.
  bool expire(std::string_view key, std::chrono::milliseconds ttl);
  /// One MGET round trip; values in the order of the keys.
  [[nodiscard]] std::vector<std::optional<std::string>> mget(
      std::span<const std::string_view> keys);
  /// Pipelined SETs with the same TTL (jittered per key) in one round trip. Returns true when
  /// Valkey stored all of them.
  bool mset(std::span<const std::pair<std::string_view, std::string_view>> items, Ttl ttl);
  /// Deletes every key matching a glob pattern with SCAN + UNLINK in batches (never KEYS).
  /// Returns how many keys were removed.
  std::size_t invalidate_pattern(std::string_view pattern);

  // --- typed values (codec<T>: strings verbatim, integers as decimal, JSON otherwise) -------
  // The bytes are shared with the workshop's Python services: docs/interop.md has the table.

  /// The value as T, or nullopt on a miss. Bytes that do not decode as T are a miss for this
  /// caller: counted as a serialization error and logged (once per key per minute), but left on
  /// the server unless CacheManagerOptions::delete_undecodable asks otherwise. `None` or `null`
  /// (a stored Python None) is no value: a miss, not an error. Read get<std::optional<U>> to tell
  /// None apart from a miss.
  template <Cacheable T>
  [[nodiscard]] std::optional<T> get(std::string_view key) {
    std::optional<std::string> bytes = get(key);
    if (!bytes)
      return std::nullopt;
    std::optional<T> value = codec<T>::decode(*bytes);
    if (!value)
      undecodable(key, *bytes, true);
    return value;
  }

  /// The value as T, else `default_value`: on a miss, on None and on bytes that are not a T
  /// (counted and logged as get<T> does). Replaces the original's `get(key, default)`.
  template <class T>
  requires(std::same_as<T, std::string> ||
           (!std::convertible_to<const T&, std::string_view> && Cacheable<T>)) [[nodiscard]] T
      get(std::string_view key, T default_value) {
    std::optional<T> value = get<T>(key);
    return value ? std::move(*value) : std::move(default_value);
  }
  /// The bytes, else `default_value` (`cache.get("k", "none")`).
  [[nodiscard]] std::string get(std::string_view key, std::string_view default_value) {
    std::optional<std::string> value = get(key);
    return value ? std::move(*value) : std::string{default_value};
  }

  /// Stores codec<T>'s bytes for the value (the same bytes the Python services write), as the
  /// bytes overload does; returns what it returns.
  template <class T>
  requires(!std::convertible_to<const T&, std::string_view> &&
           Cacheable<T>) bool set(std::string_view key, const T& value, Ttl ttl) {
    return set(key, std::string_view{codec<T>::encode(value)}, ttl);
  }

  /// Cache-aside with stampede protection: returns the cached value, else runs `loader` once
  /// per key in this process (concurrent callers wait for that one result), stores and returns
  /// it. A cached value that does not decode as the loader's type (or is None) is a miss: the
  /// loader's value overwrites it. A loader exception reaches every waiting caller and nothing
  /// is cached. When Valkey is
  /// down the loader's value is still returned (and kept in the fallback). A loader returning
  /// std::optional<T> may have its nullopt cached for options.negative_ttl, under a key of its
  /// own (`<key>:not-found`) that get() and exists() never see. The read and the write share one
  /// operation_timeout; the loader's own time is not charged to it. A loader that asks for its
  /// own key again on the same thread gets std::logic_error instead of waiting for itself.
  template <class Loader, class Result = std::invoke_result_t<Loader&>>
  Result get_or_compute(std::string_view key, Ttl ttl, Loader&& loader,
                        const ComputeOptions& options = {}) {
    if constexpr (is_optional<Result>::value) {
      using T = typename Result::value_type;
      static_assert(Cacheable<T>, "get_or_compute: the loader's value type needs a codec<T>");
      std::optional<std::string> bytes = compute_bytes(
          key, ttl, options,
          [&]() -> std::optional<std::string> {
            Result result = loader();
            if (!result)
              return std::nullopt;
            return codec<T>::encode(*result);
          },
          &decodes<T>);
      return decode_computed<T>(key, bytes);
    } else {
      static_assert(Cacheable<Result>, "get_or_compute: the loader's value type needs a codec<T>");
      // A loader that always returns a value has no "not found" to cache or look for.
      ComputeOptions with_value = options;
      with_value.negative_ttl = std::chrono::milliseconds::zero();
      std::optional<std::string> bytes = compute_bytes(
          key, ttl, with_value,
          [&]() -> std::optional<std::string> { return codec<Result>::encode(loader()); },
          &decodes<Result>);
      std::optional<Result> value = decode_computed<Result>(key, bytes);
      if (!value)
        return loader();  // another caller's loader produced another type for this key
      return std::move(*value);
    }
  }

  // --- state --------------------------------------------------------------------------------

  /// Counters, latency percentiles, breaker, fallback and journal state.
  [[nodiscard]] StatsSnapshot stats() const;
  /// Zeroes every counter and histogram (for tests and demos).
  void reset_stats();
  /// The state for a health endpoint. No network call: it reads the client's last background
  /// check, the breaker and the journal.
  [[nodiscard]] CacheHealth health() const;
  /// The breaker's state; on a cluster, the worst of the shards' breakers (each shard has its
  /// own, so one shard's outage degrades only the keys it serves).
  [[nodiscard]] CircuitState circuit_state() const;
  /// Keys with the configured prefix.
  [[nodiscard]] const CacheKeyManager& keys() const;
  /// The client underneath, for commands the manager does not wrap (the patterns use it).
  [[nodiscard]] Client& client();
  /// The configuration in use, as validated at construction.
  [[nodiscard]] const ValkeyConfig& config() const;

 private:
  template <class T>
  struct is_optional : std::false_type {};
  template <class T>
  struct is_optional<std::optional<T>> : std::true_type {};

  template <class T>
  std::optional<T> decode_computed(std::string_view key, const std::optional<std::string>& bytes) {
    if (!bytes)
      return std::nullopt;
    std::optional<T> value = codec<T>::decode(*bytes);
    if (!value)
      undecodable(key, *bytes, false);
    return value;
  }

  template <class T>
  static bool decodes(std::string_view bytes) {
    return codec<T>::decode(bytes).has_value();
  }

  // `readable` says whether cached bytes decode as the caller's type; those that do not are a
  // miss, which the loader's value overwrites.
  std::optional<std::string> compute_bytes(
      std::string_view key, Ttl ttl, const ComputeOptions& options,
      const std::function<std::optional<std::string>()>& loader,
      bool (*readable)(std::string_view));
  // Bytes at `key` that do not decode as the requested type: counted and logged (rate-limited),
  // unless they are None; deleted when `may_delete` and the options ask for it.
  void undecodable(std::string_view key, std::string_view bytes, bool may_delete);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The opt-in process-wide CacheManager, built from ValkeyConfig::from_env() on first use,
/// mirroring the original workshop's get_cache_manager(). Prefer passing a CacheManager
/// explicitly; this exists for scripts and demos. Safe to call from several threads; throws
/// ConfigError when the environment is invalid (and builds nothing).
[[nodiscard]] CacheManager& get_cache_manager();

/// Destroys the process-wide CacheManager (closing its connections and health thread), so that
/// the next get_cache_manager() builds a new one from the environment; a no-op when there is
/// none. The original's close_global_cache_manager(). Every reference get_cache_manager()
/// returned dangles afterwards: call it only when no other thread uses the manager or will
/// until it returns (at shutdown, or between tests).
void close_global_cache_manager();

}  // namespace airport::cache
