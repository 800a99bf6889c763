// SPDX-License-Identifier: BSD-3-Clause
// The prometheus-cpp adapter against a real server: what prometheus::TextSerializer prints from
// the collectable matches manager.stats() (hits, misses, sets, degraded causes) and
// StatsSnapshot::to_prometheus() series for series and type for type, beside a Registry's own
// families; and a collectable outliving its manager collects nothing.
#include <gtest/gtest.h>
#include <airport/cache/prometheus.hpp>
#include <airport/cache/version.hpp>

#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "support/server.hpp"
#include "support/wire.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::ServerProcess;

struct Exposition {
  // "name{a=\"x\",le=\"0.001\"}" (labels sorted, le normalized) -> value.
  std::map<std::string, double> series;
  // family -> type, from the # TYPE lines.
  std::map<std::string, std::string> types;
};

// Parses the text format as both printers write it: no timestamps, label values without commas
// or escapes (ours never have any). `le` values are normalized, since prometheus-cpp prints
// 1e-05 where to_prometheus() prints 0.00001.
Exposition parse(const std::string& text) {
  Exposition out;
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.starts_with("# HELP"))
      continue;
    if (line.starts_with("# TYPE ")) {
      std::istringstream words{line.substr(7)};
      std::string name, type;
      words >> name >> type;
      out.types[name] = type;
      continue;
    }
    const auto space = line.rfind(' ');
    std::string key = line.substr(0, space);
    const double value = std::stod(line.substr(space + 1));
    const auto brace = key.find('{');
    if (brace != std::string::npos) {
      std::set<std::string> labels;
      std::string body = key.substr(brace + 1, key.size() - brace - 2);
      std::istringstream parts{body};
      for (std::string label; std::getline(parts, label, ',');) {
        if (label.starts_with("le=\"")) {
          const std::string bound = label.substr(4, label.size() - 5);
          std::ostringstream normalized;
          normalized << "le=\"" << std::stod(bound) << '"';
          label = normalized.str();
        }
        labels.insert(label);
      }
      key = key.substr(0, brace) + "{";
      for (const auto& label : labels)
        key += label + ",";
      key += "}";
    }
    EXPECT_TRUE(out.series.emplace(key, value).second) << "duplicate series " << key;
  }
  return out;
}

std::string serialize(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, families);
  return out.str();
}

double value(const Exposition& exposition, const std::string& key) {
  const auto found = exposition.series.find(key);
  if (found == exposition.series.end()) {
    ADD_FAILURE() << "no series " << key;
    return -1.0;
  }
  return found->second;
}

ValkeyConfig quick_config(const ServerProcess& server) {
  ValkeyConfig config = testing::config_on_wire(testing::Wire::Plain, server);
  config.operation_timeout = 150ms;
  config.socket_timeout = 150ms;
  config.connect_timeout = 150ms;
  config.retry.max_attempts = 1;
  // Two refused connects in a row open the breaker: every call after the kill reaches the
  // (dead) server, and failures count however close together they come.
  config.circuit_breaker.failure_threshold = 2;
  config.circuit_breaker.failure_spacing = 0ms;
  config.circuit_breaker.recovery_timeout = 60s;
  config.circuit_breaker.initial_recovery_timeout = 60s;
  config.reconnect_base_delay = 1ms;
  config.reconnect_max_delay = 1ms;
  return config;
}

TEST(PrometheusAdapter, ServesTheManagersStatsWithTheSameFamiliesAsToPrometheus) {
  ServerProcess server;
  const auto cache = std::make_shared<CacheManager>(quick_config(server));
  const auto collectable = make_prometheus_collectable(cache);

  // The application's own metrics live in a Registry; both go out in one exposition.
  const auto registry = std::make_shared<prometheus::Registry>();
  auto& requests = prometheus::BuildCounter()
                       .Name("app_requests_total")
                       .Help("Requests served.")
                       .Register(*registry)
                       .Add({});
  requests.Increment(3);

  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(cache->set("k" + std::to_string(i), "v", 600s));
  for (int i = 0; i < 6; ++i)
    (void)cache->get("k" + std::to_string(i));  // 4 hits, 2 misses
  server.kill();
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(cache->get("k0"), "v");  // degraded: connection errors, then the breaker

  std::vector<prometheus::MetricFamily> families = registry->Collect();
  for (auto& family : collectable->Collect())
    families.push_back(std::move(family));
  const Exposition scraped = parse(serialize(families));
  const StatsSnapshot stats = cache->stats();  // nothing ran in between: the same counters

  EXPECT_EQ(value(scraped, "app_requests_total"), 3.0);
  EXPECT_EQ(value(scraped, "airport_cache_hits_total"), static_cast<double>(stats.hits));
  EXPECT_EQ(value(scraped, "airport_cache_misses_total"), static_cast<double>(stats.misses));
  EXPECT_EQ(value(scraped, "airport_cache_sets_total"), static_cast<double>(stats.sets));
  EXPECT_EQ(stats.hits, 4u + 5u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.sets, 4u);
  double degraded_sum = 0.0;
  for (std::size_t i = 0; i < kDegradedCauseCount; ++i) {
    const auto cause = static_cast<DegradedCause>(i);
    const double scraped_value = value(scraped, "airport_cache_degraded_operations_total{cause=\"" +
                                                    std::string{to_string(cause)} + "\",}");
    EXPECT_EQ(scraped_value, static_cast<double>(stats.degraded.count(cause))) << to_string(cause);
    degraded_sum += scraped_value;
  }
  EXPECT_EQ(degraded_sum, 5.0);
  EXPECT_GT(stats.degraded.breaker_open, 0u);
  EXPECT_EQ(value(scraped, "airport_cache_circuit_rejected_total"),
            static_cast<double>(stats.circuit.rejected));
  EXPECT_EQ(value(scraped, "airport_cache_circuit_state{state=\"open\",}"), 1.0);
  EXPECT_EQ(value(scraped, "airport_cache_build_info{hiredis=\"" AIRPORT_CACHE_HIREDIS_VERSION
                           "\",version=\"" AIRPORT_CACHE_VERSION "\",}"),
            1.0);
  EXPECT_EQ(value(scraped, "airport_cache_operation_duration_seconds_count{operation=\"get\",}"),
            static_cast<double>(stats.latency_of(Operation::Get).count));

  // Series for series and type for type what to_prometheus() prints for the same snapshot.
  const Exposition adapter = parse(serialize(to_prometheus_families(stats)));
  const Exposition text = parse(stats.to_prometheus());
  EXPECT_EQ(adapter.types, text.types);
  EXPECT_EQ(adapter.series.size(), text.series.size());
  for (const auto& [series, number] : text.series) {
    const auto found = adapter.series.find(series);
    ASSERT_NE(found, adapter.series.end()) << series;
    // prometheus-cpp prints 16 significant digits (start_time_seconds loses its last ones).
    EXPECT_NEAR(found->second, number, std::abs(number) * 1e-15) << series;
  }
  EXPECT_EQ(text.types.at("airport_cache_hits_total"), "counter");
  EXPECT_EQ(text.types.at("airport_cache_degraded_operations_total"), "counter");
  EXPECT_EQ(text.types.at("airport_cache_circuit_state"), "gauge");
  EXPECT_EQ(text.types.at("airport_cache_build_info"), "gauge");
  EXPECT_EQ(text.types.at("airport_cache_operation_duration_seconds"), "histogram");
  for (const auto& [family, type] : text.types)
    EXPECT_EQ(type == "counter", family.ends_with("_total")) << family;
  for (const auto& family : collectable->Collect()) {
    const auto expected = text.types.at(family.name);
    const auto type = family.type == prometheus::MetricType::Counter     ? "counter"
                      : family.type == prometheus::MetricType::Gauge     ? "gauge"
                      : family.type == prometheus::MetricType::Histogram ? "histogram"
                                                                         : "other";
    EXPECT_EQ(type, expected) << family.name;
  }
}

TEST(PrometheusAdapter, ACollectableOutlivingItsManagerCollectsNothing) {
  ServerProcess server;
  auto cache = std::make_shared<CacheManager>(quick_config(server));
  const auto collectable = make_prometheus_collectable(cache);
  ASSERT_TRUE(cache->set("k", "v", 60s));
  EXPECT_FALSE(collectable->Collect().empty());
  cache.reset();  // the last owner: the manager is destroyed
  EXPECT_TRUE(collectable->Collect().empty());
  EXPECT_THROW((void)make_prometheus_collectable(std::shared_ptr<const CacheManager>{}),
               std::invalid_argument);
}

TEST(PrometheusAdapter, ABorrowedManagerIsCollectedWhileItLives) {
  ServerProcess server;
  CacheManager cache{quick_config(server)};
  const auto collectable = make_prometheus_collectable(cache);
  ASSERT_TRUE(cache.set("k", "v", 60s));
  (void)cache.get("k");
  const Exposition scraped = parse(serialize(collectable->Collect()));
  EXPECT_EQ(value(scraped, "airport_cache_sets_total"), 1.0);
  EXPECT_EQ(value(scraped, "airport_cache_hits_total"), 1.0);
}

}  // namespace
}  // namespace airport::cache
