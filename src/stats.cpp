// SPDX-License-Identifier: BSD-3-Clause
// CacheStats snapshots and the JSON and Prometheus renderings of StatsSnapshot: everything off
// the hot path that stats.hpp keeps inline.
#include "airport/cache/stats.hpp"

#include <cmath>
#include <initializer_list>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace airport::cache {
namespace {

// The categories StatsSnapshot counts, in the order they are rendered.
constexpr std::array<ErrorCategory, 6> kCountedCategories = {
    ErrorCategory::Connection, ErrorCategory::Timeout,  ErrorCategory::Pool,
    ErrorCategory::Reply,      ErrorCategory::Protocol, ErrorCategory::Serialization};

constexpr std::array<CircuitState, 3> kCircuitStates = {CircuitState::Closed, CircuitState::Open,
                                                        CircuitState::HalfOpen};

[[nodiscard]] double ratio(std::uint64_t part, std::uint64_t whole) noexcept {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

[[nodiscard]] double to_microseconds(std::chrono::nanoseconds duration) noexcept {
  return static_cast<double>(duration.count()) / 1e3;
}

StatsSnapshot::Latency summarize(const LatencyHistogram::Snapshot& histogram) {
  StatsSnapshot::Latency latency;
  latency.count = histogram.count;
  if (histogram.count == 0) {
    return latency;
  }
  latency.p50_us = to_microseconds(histogram.percentile(0.50));
  latency.p95_us = to_microseconds(histogram.percentile(0.95));
  latency.p99_us = to_microseconds(histogram.percentile(0.99));
  latency.max_us = to_microseconds(histogram.max);
  latency.mean_us = histogram.mean().count() / 1e3;
  latency.sum_seconds = static_cast<double>(histogram.sum.count()) / 1e9;
  // One pass over the log-linear buckets: each goes to the first le bound its whole range fits
  // under (as LatencyHistogram::Snapshot::count_at_or_below does, bound by bound).
  std::uint64_t below = 0;
  std::size_t bucket = 0;
  for (std::size_t i = 0; i < kOperationDurationBounds.size(); ++i) {
    const auto limit = static_cast<std::uint64_t>(kOperationDurationBounds[i].count());
    while (bucket < histogram.buckets.size() &&
           LatencyHistogram::bucket_upper_bound(bucket) <= limit) {
      below += histogram.buckets[bucket];
      ++bucket;
    }
    latency.cumulative_buckets[i] = below;
  }
  return latency;
}

// --- Prometheus text format 0.0.4 -----------------------------------------------------------

constexpr std::string_view kPrefix = "airport_cache_";

// Shortest round-trip form, locale-independent (fmt never uses the global locale for "{}").
[[nodiscard]] std::string format_number(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  return fmt::format("{}", value);
}

[[nodiscard]] std::string format_number(std::uint64_t value) {
  return fmt::format("{}", value);
}

// An le bound as a plain decimal number of seconds: 10 µs is "0.00001", 2.5 s is "2.5".
[[nodiscard]] std::string format_seconds(std::chrono::nanoseconds duration) {
  const auto ns = duration.count();
  auto text = fmt::format("{}.{:09}", ns / 1'000'000'000, ns % 1'000'000'000);
  while (text.back() == '0') {
    text.pop_back();
  }
  if (text.back() == '.') {
    text.pop_back();
  }
  return text;
}

// HELP text escaping: backslash and newline (quotes stay as they are there).
[[nodiscard]] std::string escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

using Label = std::pair<std::string_view, std::string_view>;

class PrometheusWriter {
 public:
  // Starts a family: its one HELP and one TYPE line. Its samples must follow before the next.
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP {}{} {}\n# TYPE {}{} {}\n", kPrefix, name, escape_help(help),
                        kPrefix, name, type);
  }

  void sample(std::string_view name, std::initializer_list<Label> labels,
              const std::string& value) {
    out_ += kPrefix;
    out_ += name;
    if (labels.size() != 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [label, label_value] : labels) {
        if (!first) {
          out_ += ',';
        }
        first = false;
        out_ += label;
        out_ += "=\"";
        out_ += detail::escape_prometheus_label_value(label_value);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }

  template <class Number>
  void counter(std::string_view name, std::string_view help, Number value) {
    family(name, "counter", help);
    sample(name, {}, format_number(value));
  }

  template <class Number>
  void gauge(std::string_view name, std::string_view help, Number value) {
    family(name, "gauge", help);
    sample(name, {}, format_number(value));
  }

  [[nodiscard]] std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

namespace detail {

std::string escape_prometheus_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace detail

// --- CacheStats ------------------------------------------------------------------------------

CacheStats::CacheStats(const Clock& clock)
    : clock_(&clock),
      started_(clock.now().time_since_epoch().count()),
      latency_(std::make_unique<std::array<LatencyHistogram, kOperationCount>>()) {}

CacheStats::~CacheStats() = default;

StatsSnapshot CacheStats::snapshot() const {
  StatsSnapshot snapshot;
  snapshot.hits = hits_.value.load(std::memory_order_relaxed);
  snapshot.misses = misses_.value.load(std::memory_order_relaxed);
  snapshot.sets = sets_.value.load(std::memory_order_relaxed);
  snapshot.deletes = deletes_.value.load(std::memory_order_relaxed);
  const auto error_count = [this](ErrorCategory category) {
    return errors_[static_cast<std::size_t>(category)].load(std::memory_order_relaxed);
  };
  snapshot.errors.connection = error_count(ErrorCategory::Connection);
  snapshot.errors.timeout = error_count(ErrorCategory::Timeout);
  snapshot.errors.pool = error_count(ErrorCategory::Pool);
  snapshot.errors.reply = error_count(ErrorCategory::Reply);
  snapshot.errors.protocol = error_count(ErrorCategory::Protocol);
  snapshot.errors.serialization = error_count(ErrorCategory::Serialization);
  snapshot.degraded_operations = degraded_.load(std::memory_order_relaxed);
  snapshot.journal.replayed = journal_replayed_.load(std::memory_order_relaxed);
  snapshot.journal.overflows = journal_overflows_.load(std::memory_order_relaxed);

  for (std::size_t i = 0; i < kOperationCount; ++i) {
    snapshot.latency[i] = summarize((*latency_)[i].snapshot());
    snapshot.operations += snapshot.latency[i].count;
  }

  snapshot.hit_ratio = ratio(snapshot.hits, snapshot.hits + snapshot.misses);
  snapshot.error_ratio = ratio(snapshot.errors.total(), snapshot.operations);

  const Clock::duration up =
      clock_->now().time_since_epoch() - Clock::duration{started_.load(std::memory_order_relaxed)};
  snapshot.uptime_seconds = up.count() <= 0 ? 0.0 : std::chrono::duration<double>(up).count();
  return snapshot;
}

void CacheStats::reset() noexcept {
  hits_.value.store(0, std::memory_order_relaxed);
  misses_.value.store(0, std::memory_order_relaxed);
  sets_.value.store(0, std::memory_order_relaxed);
  deletes_.value.store(0, std::memory_order_relaxed);
  for (auto& errors : errors_) {
    errors.store(0, std::memory_order_relaxed);
  }
  degraded_.store(0, std::memory_order_relaxed);
  journal_replayed_.store(0, std::memory_order_relaxed);
  journal_overflows_.store(0, std::memory_order_relaxed);
  for (auto& histogram : *latency_) {
    histogram.reset();
  }
  started_.store(clock_->now().time_since_epoch().count(), std::memory_order_relaxed);
}

// --- StatsSnapshot ---------------------------------------------------------------------------

nlohmann::json StatsSnapshot::to_json() const {
  auto error_object = nlohmann::json::object();
  for (const auto category : kCountedCategories) {
    error_object[std::string{to_string(category)}] = errors.count(category);
  }

  auto latency_object = nlohmann::json::object();
  for (std::size_t i = 0; i < kOperationCount; ++i) {
    const auto& entry = latency[i];
    if (entry.count == 0) {
      continue;
    }
    latency_object[std::string{to_string(static_cast<Operation>(i))}] = {
        {"count", entry.count},   {"p50_us", entry.p50_us}, {"p95_us", entry.p95_us},
        {"p99_us", entry.p99_us}, {"max_us", entry.max_us}, {"mean_us", entry.mean_us}};
  }

  nlohmann::json json{
      {"hits", hits},
      {"misses", misses},
      {"hit_ratio", hit_ratio},
      {"sets", sets},
      {"deletes", deletes},
      {"errors", std::move(error_object)},
      {"error_ratio", error_ratio},
      {"degraded_operations", degraded_operations},
      {"fallback",
       {{"enabled", fallback.enabled},
        {"hits", fallback.hits},
        {"misses", fallback.misses},
        {"entries", fallback.entries},
        {"bytes", fallback.bytes},
        {"evictions", fallback.evictions},
        {"expirations", fallback.expirations},
        {"max_entries", fallback.max_entries},
        {"max_bytes", fallback.max_bytes}}},
      {"circuit",
       {{"state", std::string{to_string(circuit.state)}},
        {"consecutive_failures", circuit.consecutive_failures},
        {"rejected", circuit.rejected},
        {"transitions",
         {{"open", circuit.opened},
          {"half_open", circuit.half_opened},
          {"closed", circuit.closed}}}}},
      {"journal",
       {{"pending", journal.pending},
        {"replayed", journal.replayed},
        {"overflows", journal.overflows}}},
      {"latency", std::move(latency_object)},
      {"uptime_seconds", uptime_seconds},
  };
  if (!nodes.empty()) {
    auto node_array = nlohmann::json::array();
    for (const Node& node : nodes) {
      node_array.push_back({{"endpoint", node.endpoint},
                            {"role", node.role},
                            {"slots", node.slots},
                            {"up", node.up},
                            {"last_error", node.last_error},
                            {"errors", node.errors},
                            {"circuit", std::string{to_string(node.circuit.state)}},
                            {"consecutive_failures", node.circuit.consecutive_failures},
                            {"opened", node.circuit.opened}});
    }
    json["nodes"] = std::move(node_array);
  }
  return json;
}

void to_json(nlohmann::json& json, const StatsSnapshot& snapshot) {
  json = snapshot.to_json();
}

std::string StatsSnapshot::to_prometheus() const {
  PrometheusWriter out;

  out.counter("hits_total", "Gets that found a value.", hits);
  out.counter("misses_total", "Gets that found no value.", misses);
  out.counter("sets_total", "Values written.", sets);
  out.counter("deletes_total", "Keys deleted.", deletes);
  out.family("errors_total", "counter", "Failed operations by error category.");
  for (const auto category : kCountedCategories) {
    out.sample("errors_total", {{"category", to_string(category)}},
               format_number(errors.count(category)));
  }
  out.counter("degraded_operations_total",
              "Operations served degraded, while Valkey was unavailable or the breaker open.",
              degraded_operations);
  out.gauge("hit_ratio", "Hits over gets since start or reset; 0 before the first get.", hit_ratio);
  out.gauge("error_ratio", "Errors over operations since start or reset.", error_ratio);
  out.gauge("uptime_seconds", "Seconds since the stats were created or reset.", uptime_seconds);

  out.gauge("fallback_enabled", "1 when the in-memory fallback cache is enabled.",
            std::uint64_t{fallback.enabled ? 1U : 0U});
  out.counter("fallback_hits_total", "Fallback cache reads that found a value.", fallback.hits);
  out.counter("fallback_misses_total", "Fallback cache reads that found no value.",
              fallback.misses);
  out.counter("fallback_evictions_total", "Fallback entries evicted to respect the bounds.",
              fallback.evictions);
  out.counter("fallback_expirations_total", "Expired fallback entries removed.",
              fallback.expirations);
  out.gauge("fallback_entries", "Entries held by the fallback cache.",
            std::uint64_t{fallback.entries});
  out.gauge("fallback_bytes", "Bytes charged to the fallback cache's entries.",
            std::uint64_t{fallback.bytes});

  out.family("circuit_state", "gauge",
             "Circuit breaker state: 1 for the current state, 0 for the others.");
  for (const auto state : kCircuitStates) {
    out.sample("circuit_state", {{"state", to_string(state)}}, state == circuit.state ? "1" : "0");
  }
  out.gauge("circuit_consecutive_failures",
            "Consecutive availability failures in the current closed period.",
            static_cast<double>(circuit.consecutive_failures));
  out.family("circuit_transitions_total", "counter",
             "Circuit breaker transitions, by the state moved to.");
  out.sample("circuit_transitions_total", {{"to", to_string(CircuitState::Open)}},
             format_number(circuit.opened));
  out.sample("circuit_transitions_total", {{"to", to_string(CircuitState::HalfOpen)}},
             format_number(circuit.half_opened));
  out.sample("circuit_transitions_total", {{"to", to_string(CircuitState::Closed)}},
             format_number(circuit.closed));
  out.counter("circuit_rejected_total", "Calls the breaker refused without a network call.",
              circuit.rejected);

  out.gauge("journal_pending", "Invalidations waiting to be replayed against Valkey.",
            std::uint64_t{journal.pending});
  out.counter("journal_replayed_total", "Journaled invalidations replayed against Valkey.",
              journal.replayed);
  out.counter("journal_overflows_total",
              "Invalidations that could not be journaled because the journal was full.",
              journal.overflows);

  constexpr std::string_view histogram = "operation_duration_seconds";
  out.family(histogram, "histogram", "Duration of cache operations, by operation.");
  const std::string bucket_name = fmt::format("{}_bucket", histogram);
  const std::string sum_name = fmt::format("{}_sum", histogram);
  const std::string count_name = fmt::format("{}_count", histogram);
  for (std::size_t i = 0; i < kOperationCount; ++i) {
    const auto operation = to_string(static_cast<Operation>(i));
    const auto& entry = latency[i];
    for (std::size_t b = 0; b < kOperationDurationBounds.size(); ++b) {
      const auto le = format_seconds(kOperationDurationBounds[b]);
      out.sample(bucket_name, {{"operation", operation}, {"le", le}},
                 format_number(entry.cumulative_buckets[b]));
    }
    out.sample(bucket_name, {{"operation", operation}, {"le", "+Inf"}}, format_number(entry.count));
    out.sample(sum_name, {{"operation", operation}}, format_number(entry.sum_seconds));
    out.sample(count_name, {{"operation", operation}}, format_number(entry.count));
  }
  return out.take();
}

}  // namespace airport::cache
