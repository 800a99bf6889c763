// SPDX-License-Identifier: BSD-3-Clause
// The prometheus-cpp adapter: StatsSnapshot::metric_families() converted to prometheus-cpp's
// MetricFamily, and the Collectables that take a manager's stats on every scrape.
#include "airport/cache/prometheus.hpp"

#include <chrono>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>

namespace airport::cache {
namespace {

prometheus::MetricType type_of(MetricFamily::Type type) {
  switch (type) {
    case MetricFamily::Type::Counter:
      return prometheus::MetricType::Counter;
    case MetricFamily::Type::Gauge:
      return prometheus::MetricType::Gauge;
    case MetricFamily::Type::Histogram:
      return prometheus::MetricType::Histogram;
  }
  return prometheus::MetricType::Untyped;
}

prometheus::ClientMetric metric_of(const MetricFamily::Type type,
                                   const MetricFamily::Sample& sample) {
  prometheus::ClientMetric metric;
  metric.label.reserve(sample.labels.size());
  for (const auto& [name, value] : sample.labels)
    metric.label.push_back({name, value});
  switch (type) {
    case MetricFamily::Type::Counter:
      metric.counter.value = sample.value;
      break;
    case MetricFamily::Type::Gauge:
      metric.gauge.value = sample.value;
      break;
    case MetricFamily::Type::Histogram:
      metric.histogram.sample_count = sample.count;
      metric.histogram.sample_sum = sample.sum;
      metric.histogram.bucket.reserve(sample.buckets.size() + 1);
      for (const auto& bucket : sample.buckets) {
        metric.histogram.bucket.push_back(
            {bucket.cumulative_count, std::chrono::duration<double>(bucket.upper_bound).count()});
      }
      // prometheus-cpp prints the buckets it is given: +Inf is one of them, holding the count.
      metric.histogram.bucket.push_back({sample.count, std::numeric_limits<double>::infinity()});
      break;
  }
  return metric;
}

// Collects whatever `stats` returns; an empty optional (the manager is gone) is no families.
class StatsCollectable final : public prometheus::Collectable {
 public:
  explicit StatsCollectable(std::function<std::optional<StatsSnapshot>()> stats)
      : stats_{std::move(stats)} {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    const std::optional<StatsSnapshot> snapshot = stats_();
    if (!snapshot)
      return {};
    return to_prometheus_families(*snapshot);
  }

 private:
  std::function<std::optional<StatsSnapshot>()> stats_;
};

}  // namespace

std::vector<prometheus::MetricFamily> to_prometheus_families(const StatsSnapshot& snapshot) {
  std::vector<prometheus::MetricFamily> families;
  for (MetricFamily& family : snapshot.metric_families()) {
    prometheus::MetricFamily converted{.name = std::move(family.name),
                                       .help = std::move(family.help),
                                       .type = type_of(family.type)};
    converted.metric.reserve(family.samples.size());
    for (const auto& sample : family.samples)
      converted.metric.push_back(metric_of(family.type, sample));
    families.push_back(std::move(converted));
  }
  return families;
}

std::shared_ptr<prometheus::Collectable> make_prometheus_collectable(
    const std::shared_ptr<const CacheManager>& manager) {
  if (!manager)
    throw std::invalid_argument("make_prometheus_collectable: the manager is null");
  return std::make_shared<StatsCollectable>(
      [weak = std::weak_ptr<const CacheManager>{manager}]() -> std::optional<StatsSnapshot> {
        // Held for the duration of the scrape: the manager cannot die under stats().
        const std::shared_ptr<const CacheManager> alive = weak.lock();
        if (!alive)
          return std::nullopt;
        return alive->stats();
      });
}

std::shared_ptr<prometheus::Collectable> make_prometheus_collectable(const CacheManager& manager) {
  return std::make_shared<StatsCollectable>(
      [&manager]() -> std::optional<StatsSnapshot> { return manager.stats(); });
}

}  // namespace airport::cache
