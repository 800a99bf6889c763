// SPDX-License-Identifier: BSD-3-Clause
// The prometheus-cpp adapter (target airport::cache_prometheus): a prometheus::Collectable that
// reports CacheManager::stats() with the families of StatsSnapshot::to_prometheus().
#pragma once

#include <memory>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "airport/cache/manager.hpp"
#include "airport/cache/stats.hpp"

namespace airport::cache {

/// `snapshot` as prometheus-cpp metric families: the same names, labels, types and values as
/// snapshot.to_prometheus() (both come from StatsSnapshot::metric_families()), counters as
/// MetricType::Counter, gauges as Gauge and operation_duration_seconds as Histogram. No
/// timestamps. For a caller that takes its own snapshots.
[[nodiscard]] std::vector<prometheus::MetricFamily> to_prometheus_families(
    const StatsSnapshot& snapshot);

/// A Collectable whose Collect() takes manager->stats() and returns to_prometheus_families() of
/// it. Holds the manager weakly: once the manager is destroyed, Collect() returns no families
/// (and never touches freed memory), so the collectable may outlive it. Safe for concurrent
/// Collect() calls; each costs one stats() (see CacheStats::snapshot()).
///
/// prometheus-cpp 1.0's Registry holds only its own families; register this with the exposer or
/// gateway instead, which keeps only a weak_ptr, so keep the returned pointer alive:
///
///     auto metrics = airport::cache::make_prometheus_collectable(manager);
///     exposer.RegisterCollectable(metrics);  // beside exposer.RegisterCollectable(registry)
///
/// Throws std::invalid_argument when `manager` is null.
[[nodiscard]] std::shared_ptr<prometheus::Collectable> make_prometheus_collectable(
    const std::shared_ptr<const CacheManager>& manager);

/// The same for a manager not owned by a shared_ptr (one held by value, or
/// get_cache_manager()'s). The manager must outlive every Collect() call: unregister the
/// collectable (exposer.RemoveCollectable) and let no scrape be running before the manager is
/// destroyed. Prefer the shared_ptr overload when the manager can be shared.
[[nodiscard]] std::shared_ptr<prometheus::Collectable> make_prometheus_collectable(
    const CacheManager& manager);

}  // namespace airport::cache
