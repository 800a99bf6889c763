// SPDX-License-Identifier: BSD-3-Clause
// CacheStats snapshots and the JSON and Prometheus renderings of StatsSnapshot: everything off
// the hot path that stats.hpp keeps inline.
#include "airport/cache/stats.hpp"

#include <cmath>
#include <initializer_list>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "airport/cache/version.hpp"

namespace airport::cache {
namespace {

// The categories StatsSnapshot counts, in the order they are rendered.
constexpr std::array<ErrorCategory, 6> kCountedCategories = {
    ErrorCategory::Connection, ErrorCategory::Timeout,  ErrorCategory::Pool,
    ErrorCategory::Reply,      ErrorCategory::Protocol, ErrorCategory::Serialization};

constexpr std::array<DegradedCause, kDegradedCauseCount> kDegradedCauses = {
    DegradedCause::BreakerOpen, DegradedCause::Connection, DegradedCause::Timeout,
    DegradedCause::Pool,        DegradedCause::Protocol,   DegradedCause::Refused,
    DegradedCause::Recovering};

constexpr std::array<CircuitState, 3> kCircuitStates = {CircuitState::Closed, CircuitState::Open,
                                                        CircuitState::HalfOpen};

[[nodiscard]] double ratio(std::uint64_t part, std::uint64_t whole) noexcept {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

// The system clock, not the stats' Clock: a start time is for people and dashboards, and a
// ManualClock in tests has no epoch.
[[nodiscard]] std::int64_t unix_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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

// Counts go out as doubles, as Prometheus stores them: exact up to 2^53.
[[nodiscard]] double as_double(std::uint64_t value) noexcept {
  return static_cast<double>(value);
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

// Builds the families in order; each counter or gauge helper adds a one-sample family.
class FamilyList {
 public:
  MetricFamily& family(std::string_view name, MetricFamily::Type type, std::string_view help) {
    families_.push_back(
        {.name = fmt::format("{}{}", kPrefix, name), .help = std::string{help}, .type = type});
    return families_.back();
  }

  void counter(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, MetricFamily::Type::Counter, help).samples.push_back({.value = as_double(value)});
  }

  void gauge(std::string_view name, std::string_view help, double value) {
    family(name, MetricFamily::Type::Gauge, help).samples.push_back({.value = value});
  }

  [[nodiscard]] std::vector<MetricFamily> take() { return std::move(families_); }

 private:
  std::vector<MetricFamily> families_;
};

[[nodiscard]] std::string_view type_name(MetricFamily::Type type) {
  switch (type) {
    case MetricFamily::Type::Counter:
      return "counter";
    case MetricFamily::Type::Gauge:
      return "gauge";
    case MetricFamily::Type::Histogram:
      return "histogram";
  }
  return "untyped";
}

using Labels = std::vector<std::pair<std::string, std::string>>;

void append_sample(std::string& out, std::string_view name, const Labels& labels,
                   const std::pair<std::string_view, std::string>* extra,
                   const std::string& value) {
  out += name;
  if (!labels.empty() || extra != nullptr) {
    out += '{';
    bool first = true;
    const auto label = [&](std::string_view label_name, std::string_view label_value) {
      if (!first) {
        out += ',';
      }
      first = false;
      out += label_name;
      out += "=\"";
      out += detail::escape_prometheus_label_value(label_value);
      out += '"';
    };
    for (const auto& [label_name, label_value] : labels) {
      label(label_name, label_value);
    }
    if (extra != nullptr) {
      label(extra->first, extra->second);
    }
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

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
      started_unix_ns_(unix_now_ns()),
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
  const auto degraded_count = [this](DegradedCause cause) {
    return degraded_[static_cast<std::size_t>(cause)].load(std::memory_order_relaxed);
  };
  snapshot.degraded.breaker_open = degraded_count(DegradedCause::BreakerOpen);
  snapshot.degraded.connection = degraded_count(DegradedCause::Connection);
  snapshot.degraded.timeout = degraded_count(DegradedCause::Timeout);
  snapshot.degraded.pool = degraded_count(DegradedCause::Pool);
  snapshot.degraded.protocol = degraded_count(DegradedCause::Protocol);
  snapshot.degraded.refused = degraded_count(DegradedCause::Refused);
  snapshot.degraded.recovering = degraded_count(DegradedCause::Recovering);
  // The total is the sum, by construction: no cause can be left out of it.
  snapshot.degraded_operations = snapshot.degraded.total();
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
  snapshot.start_time_seconds =
      static_cast<double>(started_unix_ns_.load(std::memory_order_relaxed)) / 1e9;
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
  for (auto& degraded : degraded_) {
    degraded.store(0, std::memory_order_relaxed);
  }
  journal_replayed_.store(0, std::memory_order_relaxed);
  journal_overflows_.store(0, std::memory_order_relaxed);
  for (auto& histogram : *latency_) {
    histogram.reset();
  }
  started_.store(clock_->now().time_since_epoch().count(), std::memory_order_relaxed);
  started_unix_ns_.store(unix_now_ns(), std::memory_order_relaxed);
}

// --- StatsSnapshot ---------------------------------------------------------------------------

nlohmann::json StatsSnapshot::to_json() const {
  auto error_object = nlohmann::json::object();
  for (const auto category : kCountedCategories) {
    error_object[std::string{to_string(category)}] = errors.count(category);
  }

  auto degraded_object = nlohmann::json::object();
  for (const auto cause : kDegradedCauses) {
    degraded_object[std::string{to_string(cause)}] = degraded.count(cause);
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
      {"degraded", std::move(degraded_object)},
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
      {"start_time_seconds", start_time_seconds},
      {"build", {{"version", AIRPORT_CACHE_VERSION}, {"hiredis", AIRPORT_CACHE_HIREDIS_VERSION}}},
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

std::vector<MetricFamily> StatsSnapshot::metric_families() const {
  using Type = MetricFamily::Type;
  FamilyList out;

  out.counter("hits_total", "Gets that found a value.", hits);
  out.counter("misses_total", "Gets that found no value.", misses);
  out.counter("sets_total", "Values written.", sets);
  out.counter("deletes_total", "Keys deleted.", deletes);
  auto& error_family = out.family(
      "errors_total", Type::Counter,
      "Failed operations by the error that ended them; breaker refusals are not errors.");
  for (const auto category : kCountedCategories) {
    error_family.samples.push_back({.labels = {{"category", std::string{to_string(category)}}},
                                    .value = as_double(errors.count(category))});
  }
  auto& degraded_family =
      out.family("degraded_operations_total", Type::Counter,
                 "Operations served degraded, by cause; the causes sum to the total.");
  for (const auto cause : kDegradedCauses) {
    degraded_family.samples.push_back({.labels = {{"cause", std::string{to_string(cause)}}},
                                       .value = as_double(degraded.count(cause))});
  }
  out.family("build_info", Type::Gauge,
             "Always 1; the labels name the library version and the hiredis it was built with.")
      .samples.push_back({.labels = {{"version", AIRPORT_CACHE_VERSION},
                                     {"hiredis", AIRPORT_CACHE_HIREDIS_VERSION}},
                          .value = 1.0});
  out.gauge("start_time_seconds",
            "When the stats were created or last reset, in seconds since the Unix epoch.",
            start_time_seconds);

  out.gauge("fallback_enabled", "1 when the in-memory fallback cache is enabled.",
            fallback.enabled ? 1.0 : 0.0);
  out.counter("fallback_hits_total", "Fallback cache reads that found a value.", fallback.hits);
  out.counter("fallback_misses_total", "Fallback cache reads that found no value.",
              fallback.misses);
  out.counter("fallback_evictions_total", "Fallback entries evicted to respect the bounds.",
              fallback.evictions);
  out.counter("fallback_expirations_total", "Expired fallback entries removed.",
              fallback.expirations);
  out.gauge("fallback_entries", "Entries held by the fallback cache.", as_double(fallback.entries));
  out.gauge("fallback_bytes", "Bytes charged to the fallback cache's entries.",
            as_double(fallback.bytes));

  auto& state_family =
      out.family("circuit_state", Type::Gauge,
                 "Circuit breaker state: 1 for the current state, 0 for the others.");
  for (const auto state : kCircuitStates) {
    state_family.samples.push_back({.labels = {{"state", std::string{to_string(state)}}},
                                    .value = state == circuit.state ? 1.0 : 0.0});
  }
  out.gauge("circuit_consecutive_failures",
            "Consecutive availability failures in the current closed period.",
            static_cast<double>(circuit.consecutive_failures));
  auto& transition_family = out.family("circuit_transitions_total", Type::Counter,
                                       "Circuit breaker transitions, by the state moved to.");
  for (const auto& [state, count] : {std::pair{CircuitState::Open, circuit.opened},
                                     std::pair{CircuitState::HalfOpen, circuit.half_opened},
                                     std::pair{CircuitState::Closed, circuit.closed}}) {
    transition_family.samples.push_back(
        {.labels = {{"to", std::string{to_string(state)}}}, .value = as_double(count)});
  }
  out.counter("circuit_rejected_total", "Calls the breaker refused without a network call.",
              circuit.rejected);

  out.gauge("journal_pending", "Invalidations waiting to be replayed against Valkey.",
            as_double(journal.pending));
  out.counter("journal_replayed_total", "Journaled invalidations replayed against Valkey.",
              journal.replayed);
  out.counter("journal_overflows_total",
              "Invalidations that could not be journaled because the journal was full.",
              journal.overflows);

  auto& histogram = out.family("operation_duration_seconds", Type::Histogram,
                               "Duration of cache operations, by operation.");
  for (std::size_t i = 0; i < kOperationCount; ++i) {
    const auto& entry = latency[i];
    MetricFamily::Sample sample{
        .labels = {{"operation", std::string{to_string(static_cast<Operation>(i))}}},
        .sum = entry.sum_seconds,
        .count = entry.count};
    sample.buckets.reserve(kOperationDurationBounds.size());
    for (std::size_t b = 0; b < kOperationDurationBounds.size(); ++b) {
      sample.buckets.push_back({kOperationDurationBounds[b], entry.cumulative_buckets[b]});
    }
    histogram.samples.push_back(std::move(sample));
  }
  return out.take();
}

std::string StatsSnapshot::to_prometheus() const {
  std::string out;
  for (const MetricFamily& family : metric_families()) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", family.name, escape_help(family.help),
                       family.name, type_name(family.type));
    if (family.type != MetricFamily::Type::Histogram) {
      for (const auto& sample : family.samples) {
        append_sample(out, family.name, sample.labels, nullptr, format_number(sample.value));
      }
      continue;
    }
    const std::string bucket_name = family.name + "_bucket";
    const std::string sum_name = family.name + "_sum";
    const std::string count_name = family.name + "_count";
    for (const auto& sample : family.samples) {
      for (const auto& bucket : sample.buckets) {
        const std::pair<std::string_view, std::string> le{"le", format_seconds(bucket.upper_bound)};
        append_sample(out, bucket_name, sample.labels, &le,
                      fmt::format("{}", bucket.cumulative_count));
      }
      const std::pair<std::string_view, std::string> inf{"le", "+Inf"};
      append_sample(out, bucket_name, sample.labels, &inf, fmt::format("{}", sample.count));
      append_sample(out, sum_name, sample.labels, nullptr, format_number(sample.sum));
      append_sample(out, count_name, sample.labels, nullptr, fmt::format("{}", sample.count));
    }
  }
  return out;
}

}  // namespace airport::cache
