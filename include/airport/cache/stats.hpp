// SPDX-License-Identifier: BSD-3-Clause
// CacheStats: the CacheManager's always-on counters and per-operation latency histograms, and
// StatsSnapshot, the plain values users get from cache.stats(), rendered as JSON or Prometheus.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Declared only; include <nlohmann/json.hpp> (serialization.hpp and the umbrella header do) to
// use what to_json() returns.
#include <nlohmann/json_fwd.hpp>

#include "airport/cache/circuit_breaker.hpp"
#include "airport/cache/clock.hpp"
#include "airport/cache/errors.hpp"
#include "airport/cache/latency_histogram.hpp"

namespace airport::cache {

// clang-format off
/// The kinds of CacheManager operation that are timed, one latency histogram each.
enum class Operation { Get, Set, Delete, Exists, Ttl, Expire, MGet, MSet, GetOrCompute, InvalidatePattern };

/// Number of Operation values; Operation{i} for i in [0, kOperationCount) are all of them.
inline constexpr std::size_t kOperationCount = 10;

static_assert(static_cast<std::size_t>(Operation::InvalidatePattern) + 1 == kOperationCount);

/// A stable snake_case name: "get", "set", "delete", "exists", "ttl", "expire", "mget", "mset",
/// "get_or_compute", "invalidate_pattern". Used as JSON key and Prometheus label value.
[[nodiscard]] constexpr std::string_view to_string(Operation operation) noexcept {
  switch (operation) {
    case Operation::Get: return "get";
    case Operation::Set: return "set";
    case Operation::Delete: return "delete";
    case Operation::Exists: return "exists";
    case Operation::Ttl: return "ttl";
    case Operation::Expire: return "expire";
    case Operation::MGet: return "mget";
    case Operation::MSet: return "mset";
    case Operation::GetOrCompute: return "get_or_compute";
    case Operation::InvalidatePattern: return "invalidate_pattern";
  }
  return "unknown";
}
// clang-format on

/// The fixed `le` bounds of the Prometheus histogram airport_cache_operation_duration_seconds:
/// 10 µs to 10 s in 1-2.5-5 steps (rendered as 0.00001 ... 10), then +Inf.
inline constexpr std::array<std::chrono::nanoseconds, 19> kOperationDurationBounds = {
    std::chrono::microseconds{10},  std::chrono::microseconds{25},   std::chrono::microseconds{50},
    std::chrono::microseconds{100}, std::chrono::microseconds{250},  std::chrono::microseconds{500},
    std::chrono::milliseconds{1},   std::chrono::microseconds{2500}, std::chrono::milliseconds{5},
    std::chrono::milliseconds{10},  std::chrono::milliseconds{25},   std::chrono::milliseconds{50},
    std::chrono::milliseconds{100}, std::chrono::milliseconds{250},  std::chrono::milliseconds{500},
    std::chrono::seconds{1},        std::chrono::milliseconds{2500}, std::chrono::seconds{5},
    std::chrono::seconds{10}};

/// Failed operations by ErrorCategory. Config is not among them: a configuration error is
/// thrown at construction, never the outcome of a cache operation.
struct ErrorCounts {
  std::uint64_t connection = 0;     ///< server unreachable, or the connection broke
  std::uint64_t timeout = 0;        ///< no reply within the configured timeout
  std::uint64_t pool = 0;           ///< no pooled connection came free in time
  std::uint64_t reply = 0;          ///< the server answered with an error (WRONGTYPE, OOM, ...)
  std::uint64_t protocol = 0;       ///< invalid RESP, or a reply of an unexpected shape
  std::uint64_t serialization = 0;  ///< stored bytes that did not decode as the type asked for

  /// The count of one category; 0 for ErrorCategory::Config.
  [[nodiscard]] std::uint64_t count(ErrorCategory category) const noexcept {
    switch (category) {
      case ErrorCategory::Connection:
        return connection;
      case ErrorCategory::Timeout:
        return timeout;
      case ErrorCategory::Pool:
        return pool;
      case ErrorCategory::Reply:
        return reply;
      case ErrorCategory::Protocol:
        return protocol;
      case ErrorCategory::Serialization:
        return serialization;
      case ErrorCategory::Config:
        break;
    }
    return 0;
  }
  /// The sum over the six categories.
  [[nodiscard]] std::uint64_t total() const noexcept {
    return connection + timeout + pool + reply + protocol + serialization;
  }
  friend bool operator==(const ErrorCounts&, const ErrorCounts&) = default;
};

/// Why an operation was served degraded. Every degraded operation counts under exactly one.
enum class DegradedCause {
  /// The breaker refused the call without a network call (also in circuit.rejected).
  BreakerOpen,
  /// The call failed with a connection error, after retries (also in errors.connection).
  Connection,
  /// The call timed out, after retries (also in errors.timeout).
  Timeout,
  /// No pooled connection came free in time (also in errors.pool).
  Pool,
  /// The server's answer could not be used: a protocol error, or another client error that is
  /// neither of the above (also in errors under its own category).
  Protocol,
  /// The server refused the connection's handshake (credentials, database, ACL): a
  /// configuration problem, logged and shown in health().refusal, and in no error category.
  Refused,
  /// Valkey answered but may not be trusted yet: invalidations journaled during an outage, or
  /// the sweep after a server restart, have not all reached it (another caller is replaying
  /// them, or this call's time ran out). No error is counted.
  Recovering,
};

/// Number of DegradedCause values; DegradedCause{i} for i in [0, kDegradedCauseCount) are all.
inline constexpr std::size_t kDegradedCauseCount = 7;

static_assert(static_cast<std::size_t>(DegradedCause::Recovering) + 1 == kDegradedCauseCount);

/// A stable snake_case name: "breaker_open", "connection", "timeout", "pool", "protocol",
/// "refused", "recovering". Used as JSON key and Prometheus `cause` label value.
[[nodiscard]] constexpr std::string_view to_string(DegradedCause cause) noexcept {
  switch (cause) {
    case DegradedCause::BreakerOpen:
      return "breaker_open";
    case DegradedCause::Connection:
      return "connection";
    case DegradedCause::Timeout:
      return "timeout";
    case DegradedCause::Pool:
      return "pool";
    case DegradedCause::Protocol:
      return "protocol";
    case DegradedCause::Refused:
      return "refused";
    case DegradedCause::Recovering:
      return "recovering";
  }
  return "unknown";
}

/// Degraded operations by DegradedCause; total() is StatsSnapshot::degraded_operations.
struct DegradedCounts {
  /// See DegradedCause::BreakerOpen.
  std::uint64_t breaker_open = 0;
  /// See DegradedCause::Connection.
  std::uint64_t connection = 0;
  /// See DegradedCause::Timeout.
  std::uint64_t timeout = 0;
  /// See DegradedCause::Pool.
  std::uint64_t pool = 0;
  /// See DegradedCause::Protocol.
  std::uint64_t protocol = 0;
  /// See DegradedCause::Refused.
  std::uint64_t refused = 0;
  /// See DegradedCause::Recovering.
  std::uint64_t recovering = 0;

  /// The count of one cause.
  [[nodiscard]] std::uint64_t count(DegradedCause cause) const noexcept {
    switch (cause) {
      case DegradedCause::BreakerOpen:
        return breaker_open;
      case DegradedCause::Connection:
        return connection;
      case DegradedCause::Timeout:
        return timeout;
      case DegradedCause::Pool:
        return pool;
      case DegradedCause::Protocol:
        return protocol;
      case DegradedCause::Refused:
        return refused;
      case DegradedCause::Recovering:
        return recovering;
    }
    return 0;
  }
  /// The sum over every cause.
  [[nodiscard]] std::uint64_t total() const noexcept {
    return breaker_open + connection + timeout + pool + protocol + refused + recovering;
  }
  friend bool operator==(const DegradedCounts&, const DegradedCounts&) = default;
};

/// One metric family of a StatsSnapshot in a neutral form: what to_prometheus() prints and what
/// the prometheus-cpp adapter (airport::cache_prometheus) hands over, so that both always carry
/// the same names, labels, types and values.
struct MetricFamily {
  /// The Prometheus type of the family.
  enum class Type { Counter, Gauge, Histogram };

  /// One `le` bucket of a histogram sample.
  struct Bucket {
    /// The bucket's inclusive upper bound (one of kOperationDurationBounds).
    std::chrono::nanoseconds upper_bound{0};
    /// Samples at or below upper_bound (cumulative).
    std::uint64_t cumulative_count = 0;
  };

  /// One sample (one label set) of the family.
  struct Sample {
    /// Label names and values, in the order they are printed.
    std::vector<std::pair<std::string, std::string>> labels;
    /// A counter's or gauge's value.
    double value = 0.0;
    /// A histogram's finite buckets, in increasing order; +Inf is `count`.
    std::vector<Bucket> buckets;
    /// A histogram's sum of observed values, in seconds.
    double sum = 0.0;
    /// A histogram's number of observations.
    std::uint64_t count = 0;
  };

  /// The full name, prefixed airport_cache_; a counter's ends in _total.
  std::string name;
  /// The HELP text.
  std::string help;
  /// Counter, gauge or histogram.
  Type type = Type::Gauge;
  /// Every sample, zeros included.
  std::vector<Sample> samples;
};

/// Everything cache.stats() reports, as plain values. CacheStats::snapshot() fills the counters,
/// ratios, uptime and latency; the CacheManager then fills `fallback`, `circuit` and `journal`
/// from the parts it owns. Copyable; one thread at a time.
struct StatsSnapshot {
  /// The in-memory fallback cache (from FallbackCache::Stats).
  struct Fallback {
    bool enabled = false;           ///< config.fallback.enabled: whether it is used at all
    std::uint64_t hits = 0;         ///< fallback reads that returned a value
    std::uint64_t misses = 0;       ///< fallback reads that found none (absent or expired)
    std::size_t entries = 0;        ///< held now, expired ones not yet reclaimed included
    std::size_t bytes = 0;          ///< memory those entries are charged for
    std::uint64_t evictions = 0;    ///< live entries dropped to stay within the bounds
    std::uint64_t expirations = 0;  ///< expired entries removed
    std::size_t max_entries = 0;    ///< the configured bound on entries
    std::size_t max_bytes = 0;      ///< the configured bound on bytes
    friend bool operator==(const Fallback&, const Fallback&) = default;
  };

  /// The circuit breaker (from CircuitBreaker::Snapshot).
  struct Circuit {
    /// Closed (calls go through), open (refused without a network call) or half-open (a few
    /// probe calls decide whether to close).
    CircuitState state = CircuitState::Closed;
    /// Failures in a row in the current closed period; 0 unless closed.
    int consecutive_failures = 0;
    /// Transitions so far, by target state.
    std::uint64_t opened = 0;
    std::uint64_t half_opened = 0;  ///< transitions to half-open
    std::uint64_t closed = 0;       ///< transitions to closed, force_close() included
    /// Calls refused without touching the network.
    std::uint64_t rejected = 0;
    friend bool operator==(const Circuit&, const Circuit&) = default;
  };

  /// One node of a cluster as the manager sees it: the cluster client's slot map and health
  /// checks, and the breaker the manager keeps for the node's shard (primaries only).
  struct Node {
    /// "host:port".
    std::string endpoint;
    /// "primary" or "replica".
    std::string role;
    /// Slots the node owns as a primary.
    std::size_t slots = 0;
    /// What its client's last health check saw (false before the first).
    bool up = false;
    /// Why the last check failed; empty after a success.
    std::string last_error;
    /// Connection and timeout failures of the cluster client's commands on the node.
    std::uint64_t errors = 0;
    /// The breaker of the node's shard; closed for a replica and before the first call.
    Circuit circuit;
    friend bool operator==(const Node&, const Node&) = default;
  };

  /// The journal of invalidations made while Valkey was unavailable.
  struct Journal {
    /// Waiting to be replayed (filled by the manager).
    std::size_t pending = 0;
    /// Replayed once Valkey was back.
    std::uint64_t replayed = 0;
    /// Dropped because the journal was full.
    std::uint64_t overflows = 0;
    friend bool operator==(const Journal&, const Journal&) = default;
  };

  /// One operation kind's measured durations. Percentiles follow LatencyHistogram: the bucket's
  /// upper bound clamped to the max, so within 3.125% above the true value.
  struct Latency {
    std::uint64_t count = 0;  ///< operations timed
    double p50_us = 0.0;      ///< median, in microseconds
    double p95_us = 0.0;      ///< 95th percentile, in microseconds
    double p99_us = 0.0;      ///< 99th percentile, in microseconds
    double max_us = 0.0;      ///< slowest, in microseconds (exact, not bucketed)
    double mean_us = 0.0;     ///< sum_seconds / count, in microseconds
    /// Sum of all durations, for Prometheus' _sum.
    double sum_seconds = 0.0;
    /// Samples at or below each of kOperationDurationBounds (cumulative, non-decreasing; see
    /// LatencyHistogram::Snapshot::count_at_or_below). +Inf is `count`.
    std::array<std::uint64_t, kOperationDurationBounds.size()> cumulative_buckets{};
    friend bool operator==(const Latency&, const Latency&) = default;
  };

  /// Gets that found a value (in Valkey or, degraded, in the fallback cache).
  std::uint64_t hits = 0;
  /// Gets that found none.
  std::uint64_t misses = 0;
  /// hits / (hits + misses) since start or reset; 0 before the first get. A lifetime ratio, for
  /// JSON readers: Prometheus gets only the counters (rate() them in PromQL instead).
  double hit_ratio = 0.0;
  /// Values Valkey stored (set, mset, get_or_compute); a write that only reached the fallback
  /// is not counted.
  std::uint64_t sets = 0;
  /// del() calls, whether or not the key existed or Valkey was reachable.
  std::uint64_t deletes = 0;
  /// Operations that failed, one count each by the error that ended them (after retries):
  /// connection, timeout, pool and protocol errors from a call that went to the client (and so,
  /// except for pool, to the network), error replies (reply) and undecodable values
  /// (serialization). A call the breaker refused is not an error: it is
  /// degraded.breaker_open and circuit.rejected.
  ErrorCounts errors;
  /// errors.total() / operations since start or reset; 0 before the first operation. A lifetime
  /// ratio, for JSON readers only (see hit_ratio).
  double error_ratio = 0.0;
  /// Operations timed, over every kind: the sum of latency[i].count. The manager times each
  /// public operation once, whatever its outcome, so this is the number of operations.
  std::uint64_t operations = 0;
  /// Operations served while degraded (Valkey unavailable or the breaker open): always
  /// degraded.total().
  std::uint64_t degraded_operations = 0;
  /// degraded_operations by cause. A degraded operation whose cause was a client error
  /// (connection, timeout, pool, protocol) is in errors too; breaker_open, refused and
  /// recovering are not. On a cluster, an mget or mset that degrades on several shards is one
  /// degraded operation (under its first shard's cause) but one error per shard.
  DegradedCounts degraded;
  /// Seconds since the CacheStats was constructed or last reset, by its Clock.
  double uptime_seconds = 0.0;
  /// When the CacheStats was constructed or last reset, in seconds since the Unix epoch (the
  /// system clock), as Prometheus' process_start_time_seconds.
  double start_time_seconds = 0.0;
  /// The in-memory fallback cache used while Valkey is unavailable.
  Fallback fallback;
  /// The circuit breaker in front of Valkey.
  Circuit circuit;
  /// Invalidations waiting for Valkey to come back, and what became of earlier ones.
  Journal journal;
  /// On a cluster, every node of the current slot map, primaries first (empty on a single
  /// server). `circuit` above is then the worst of the shards' breakers, with their transitions
  /// summed.
  std::vector<Node> nodes;
  /// Indexed by static_cast<std::size_t>(Operation).
  std::array<Latency, kOperationCount> latency{};

  /// latency[] of one operation kind, without the cast.
  [[nodiscard]] const Latency& latency_of(Operation operation) const noexcept {
    return latency[static_cast<std::size_t>(operation)];
  }

  /// The snapshot as JSON, with exactly these top-level keys: hits, misses, hit_ratio
  /// (lifetime), sets, deletes, errors (all six categories, always), error_ratio (lifetime),
  /// degraded_operations (the total), degraded (all seven causes by to_string(DegradedCause),
  /// always; they sum to degraded_operations), fallback, circuit ({state:
  /// "closed"|"open"|"half_open", consecutive_failures, rejected, transitions: {open, half_open,
  /// closed}}), journal, latency, uptime_seconds, start_time_seconds, build ({version, hiredis});
  /// and on a cluster `nodes` (endpoint, role, slots, up, last_error, errors, circuit,
  /// consecutive_failures, opened per node). `latency` holds only the operations timed at least
  /// once, keyed by to_string(Operation), each with count, p50_us, p95_us, p99_us, max_us and
  /// mean_us.
  [[nodiscard]] nlohmann::json to_json() const;

  /// The snapshot as metric families, in to_prometheus() order. Counters (names end in _total):
  /// hits, misses, sets, deletes, errors{category} (the six ErrorCounts categories),
  /// degraded_operations{cause} (the seven DegradedCause values, summing to
  /// degraded_operations), fallback_hits, fallback_misses, fallback_evictions,
  /// fallback_expirations, circuit_transitions{to}, circuit_rejected, journal_replayed,
  /// journal_overflows. Gauges, for current state only: build_info{version,hiredis} (always 1),
  /// start_time_seconds, fallback_enabled, fallback_entries, fallback_bytes,
  /// circuit_state{state} (1 for the current state and 0 for the other two, the OpenMetrics
  /// state-set style), circuit_consecutive_failures, journal_pending. Histogram:
  /// operation_duration_seconds{operation} with the kOperationDurationBounds le buckets, for
  /// all ten operations (zeros included, so that rate() sees the first sample). No ratios: they
  /// are for PromQL (rate(hits) / (rate(hits) + rate(misses))), not lifetime gauges.
  [[nodiscard]] std::vector<MetricFamily> metric_families() const;

  /// metric_families() in the Prometheus text exposition format 0.0.4, every family prefixed
  /// airport_cache_ and preceded by one # HELP and one # TYPE line. No timestamps.
  [[nodiscard]] std::string to_prometheus() const;
};

/// ADL hook, so that `nlohmann::json j = snapshot;` works.
void to_json(nlohmann::json& json, const StatsSnapshot& snapshot);

/// The CacheManager's counters and latency histograms. Safe for concurrent use: every counter is
/// a relaxed atomic and nothing takes a lock. Each record_*() is one relaxed fetch_add (hot
/// counters sit on cache lines of their own); record_latency() is LatencyHistogram::record().
class CacheStats {
 public:
  /// `clock` (which must outlive the stats) measures the uptime.
  explicit CacheStats(const Clock& clock = steady_clock());
  ~CacheStats();
  CacheStats(const CacheStats&) = delete;
  CacheStats& operator=(const CacheStats&) = delete;

  /// A get found a value (in Valkey or, degraded, in the fallback cache).
  void record_hit() noexcept { hits_.value.fetch_add(1, std::memory_order_relaxed); }
  /// A get found nothing.
  void record_miss() noexcept { misses_.value.fetch_add(1, std::memory_order_relaxed); }
  /// A value was written to Valkey.
  void record_set() noexcept { sets_.value.fetch_add(1, std::memory_order_relaxed); }
  /// A delete was asked for, whatever its outcome.
  void record_delete() noexcept { deletes_.value.fetch_add(1, std::memory_order_relaxed); }
  /// An operation failed with an error of `category`; count each failed operation once.
  /// ErrorCategory::Config is ignored (see ErrorCounts).
  void record_error(ErrorCategory category) noexcept {
    const auto index = static_cast<std::size_t>(category);
    if (category != ErrorCategory::Config && index < errors_.size()) {
      errors_[index].fetch_add(1, std::memory_order_relaxed);
    }
  }
  /// An operation was served degraded (fallback cache, journal, or refused by the breaker),
  /// because of `cause`; count each degraded operation once.
  void record_degraded(DegradedCause cause) noexcept {
    const auto index = static_cast<std::size_t>(cause);
    if (index < kDegradedCauseCount) {
      degraded_[index].fetch_add(1, std::memory_order_relaxed);
    }
  }
  /// How long one `operation` took, whatever its outcome. Lock-free, ~5-15 ns.
  void record_latency(Operation operation, std::chrono::nanoseconds duration) noexcept {
    const auto index = static_cast<std::size_t>(operation);
    if (index < kOperationCount) {
      (*latency_)[index].record(duration);
    }
  }
  /// `count` journaled invalidations were replayed against Valkey.
  void record_journal_replayed(std::size_t count) noexcept {
    journal_replayed_.fetch_add(count, std::memory_order_relaxed);
  }
  /// An invalidation could not be journaled because the journal was full.
  void record_journal_overflow() noexcept {
    journal_overflows_.fetch_add(1, std::memory_order_relaxed);
  }

  /// Fills everything the stats own: counters, ratios, uptime, start time and latency. `fallback`,
  /// `circuit` and `journal.pending` are left at their defaults for the manager to fill.
  /// Cost: a walk over every histogram's buckets (~12k counters) and a few small allocations.
  [[nodiscard]] StatsSnapshot snapshot() const;

  /// Zeroes every counter and histogram and restarts the uptime. Samples recorded concurrently
  /// may be kept in part.
  void reset() noexcept;

 private:
  // One slot per ErrorCategory value, indexed by the enum; the Config slot stays 0.
  static constexpr std::size_t kErrorSlots = 7;
  static_assert(static_cast<std::size_t>(ErrorCategory::Serialization) < kErrorSlots &&
                static_cast<std::size_t>(ErrorCategory::Config) < kErrorSlots);

  struct alignas(64) PaddedCounter {
    std::atomic<std::uint64_t> value{0};
  };

  const Clock* clock_;
  std::atomic<Clock::duration::rep> started_;
  PaddedCounter hits_;
  PaddedCounter misses_;
  PaddedCounter sets_;
  PaddedCounter deletes_;
  // Rare events share one line.
  alignas(64) std::array<std::atomic<std::uint64_t>, kErrorSlots> errors_{};
  std::array<std::atomic<std::uint64_t>, kDegradedCauseCount> degraded_{};
  // Unix time of construction or reset, in the system clock's nanoseconds.
  std::atomic<std::int64_t> started_unix_ns_{0};
  std::atomic<std::uint64_t> journal_replayed_{0};
  std::atomic<std::uint64_t> journal_overflows_{0};
  // ~95 KiB of buckets: on the heap, so that a CacheStats (and a CacheManager) stays small
  // enough for any stack.
  std::unique_ptr<std::array<LatencyHistogram, kOperationCount>> latency_;
};

namespace detail {
/// A Prometheus label value escaped per the text format: backslash, double quote and newline
/// become \\, \" and \n. Exposed for tests.
[[nodiscard]] std::string escape_prometheus_label_value(std::string_view value);
}  // namespace detail

}  // namespace airport::cache
