// SPDX-License-Identifier: BSD-3-Clause
#include "airport/cache/stats.hpp"

#include "airport/cache/version.hpp"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace airport::cache {
namespace {

using namespace std::chrono_literals;

// --- Prometheus text format 0.0.4, checked line by line -------------------------------------

const std::string kName = R"([a-zA-Z_:][a-zA-Z0-9_:]*)";
const std::string kLabel = R"([a-zA-Z_][a-zA-Z0-9_]*="(?:\\[\\"n]|[^"\\\n])*")";
const std::string kValue =
    R"((?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]Inf|NaN))";
const std::regex kSampleLine{"^(" + kName + ")(\\{" + kLabel + "(?:," + kLabel + ")*\\})? (" +
                             kValue + ")$"};
const std::regex kHelpLine{"^# HELP (" + kName + ") (.*)$"};
const std::regex kTypeLine{"^# TYPE (" + kName + ") (counter|gauge|histogram|summary|untyped)$"};
const std::regex kLabelPair{R"re(([a-zA-Z_][a-zA-Z0-9_]*)="((?:\\[\\"n]|[^"\\\n])*)")re"};

struct Sample {
  std::string name;
  std::string family;
  std::map<std::string, std::string> labels;
  double value = 0.0;
};

double parse_value(const std::string& text) {
  if (text == "+Inf") {
    return HUGE_VAL;
  }
  if (text == "-Inf") {
    return -HUGE_VAL;
  }
  return std::strtod(text.c_str(), nullptr);
}

// Checks the structural rules and returns the samples, each tagged with its family: every line
// is a HELP, a TYPE or a well-formed sample; each family has exactly one HELP then one TYPE, both
// before its samples, and all its lines together; counters end in _total.
std::vector<Sample> parse_exposition(const std::string& text) {
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n') << "the last line must end with a newline";
  std::map<std::string, std::string> types;  // family -> type
  std::set<std::string> helps;
  std::set<std::string> finished;  // families whose group of lines is over
  std::string current;             // the family whose lines come now
  std::vector<Sample> samples;
  const auto enter = [&](const std::string& family) {
    if (family == current) {
      return;
    }
    EXPECT_EQ(finished.count(family), 0U) << family << ": lines of one family must be together";
    if (!current.empty()) {
      finished.insert(current);
    }
    current = family;
  };
  std::istringstream lines{text};
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch match;
    if (std::regex_match(line, match, kHelpLine)) {
      const std::string family = match[1];
      enter(family);
      EXPECT_TRUE(helps.insert(family).second) << "second HELP for " << family;
      EXPECT_EQ(types.count(family), 0U) << "HELP after TYPE for " << family;
      continue;
    }
    if (std::regex_match(line, match, kTypeLine)) {
      const std::string family = match[1];
      enter(family);
      EXPECT_EQ(helps.count(family), 1U) << "TYPE without HELP for " << family;
      EXPECT_TRUE(types.emplace(family, match[2]).second) << "second TYPE for " << family;
      if (match[2] == "counter") {
        EXPECT_TRUE(family.ends_with("_total")) << "counter without _total: " << family;
      } else {
        EXPECT_FALSE(family.ends_with("_total")) << "non-counter with _total: " << family;
      }
      continue;
    }
    if (!std::regex_match(line, match, kSampleLine)) {
      ADD_FAILURE() << "malformed line: [" << line << "]";
      continue;
    }
    Sample sample;
    sample.name = match[1];
    const std::string labels = match[2];
    for (auto it = std::sregex_iterator{labels.begin(), labels.end(), kLabelPair};
         it != std::sregex_iterator{}; ++it) {
      EXPECT_TRUE(sample.labels.emplace((*it)[1], (*it)[2]).second)
          << "duplicate label in " << line;
    }
    sample.value = parse_value(match[3]);
    // A histogram's samples are <family>_bucket, _sum and _count; any other sample is named
    // after its family.
    sample.family = sample.name;
    if (types.count(current) != 0 && types.at(current) == "histogram") {
      EXPECT_TRUE(sample.name == current + "_bucket" || sample.name == current + "_sum" ||
                  sample.name == current + "_count")
          << sample.name << " inside histogram " << current;
      sample.family = current;
    }
    EXPECT_EQ(sample.family, current) << "sample outside its family's group: " << line;
    EXPECT_EQ(helps.count(sample.family), 1U) << "no HELP before " << line;
    EXPECT_EQ(types.count(sample.family), 1U) << "no TYPE before " << line;
    samples.push_back(std::move(sample));
  }
  for (const auto& [family, type] : types) {
    bool found = false;
    for (const auto& sample : samples) {
      found = found || sample.family == family;
    }
    EXPECT_TRUE(found) << "family without samples: " << family;
  }
  return samples;
}

double value_of(const std::vector<Sample>& samples, const std::string& name,
                const std::map<std::string, std::string>& labels = {}) {
  for (const auto& sample : samples) {
    if (sample.name == name && sample.labels == labels) {
      return sample.value;
    }
  }
  ADD_FAILURE() << "no sample " << name;
  return -1.0;
}

// A CacheStats with something in every counter and a few latencies.
StatsSnapshot busy_snapshot(const Clock& clock) {
  CacheStats stats{clock};
  for (int i = 0; i < 3; ++i) {
    stats.record_hit();
  }
  stats.record_miss();
  stats.record_set();
  stats.record_set();
  stats.record_delete();
  stats.record_error(ErrorCategory::Timeout);
  stats.record_error(ErrorCategory::Connection);
  stats.record_degraded(DegradedCause::BreakerOpen);
  stats.record_journal_replayed(4);
  stats.record_journal_overflow();
  stats.record_latency(Operation::Get, 120us);
  stats.record_latency(Operation::Get, 80us);
  stats.record_latency(Operation::Get, 3ms);
  stats.record_latency(Operation::Set, 20s);  // past every le bound
  stats.record_latency(Operation::GetOrCompute, 7us);
  auto snapshot = stats.snapshot();
  snapshot.fallback = {.enabled = true,
                       .hits = 5,
                       .misses = 6,
                       .entries = 7,
                       .bytes = 8000,
                       .evictions = 9,
                       .expirations = 10,
                       .max_entries = 100,
                       .max_bytes = 1 << 20};
  snapshot.circuit = {.state = CircuitState::HalfOpen,
                      .consecutive_failures = 0,
                      .opened = 2,
                      .half_opened = 1,
                      .closed = 1,
                      .rejected = 12};
  snapshot.journal.pending = 3;
  return snapshot;
}

// --- Operation -------------------------------------------------------------------------------

TEST(Operation, NamesAreStableSnakeCase) {
  EXPECT_EQ(to_string(Operation::Get), "get");
  EXPECT_EQ(to_string(Operation::Set), "set");
  EXPECT_EQ(to_string(Operation::Delete), "delete");
  EXPECT_EQ(to_string(Operation::Exists), "exists");
  EXPECT_EQ(to_string(Operation::Ttl), "ttl");
  EXPECT_EQ(to_string(Operation::Expire), "expire");
  EXPECT_EQ(to_string(Operation::MGet), "mget");
  EXPECT_EQ(to_string(Operation::MSet), "mset");
  EXPECT_EQ(to_string(Operation::GetOrCompute), "get_or_compute");
  EXPECT_EQ(to_string(Operation::InvalidatePattern), "invalidate_pattern");
  EXPECT_EQ(static_cast<std::size_t>(Operation::InvalidatePattern) + 1, kOperationCount);
}

// --- CacheStats ------------------------------------------------------------------------------

TEST(CacheStats, StartsAtZero) {
  const CacheStats stats;
  const auto snapshot = stats.snapshot();
  EXPECT_EQ(snapshot.hits, 0U);
  EXPECT_EQ(snapshot.misses, 0U);
  EXPECT_EQ(snapshot.hit_ratio, 0.0);
  EXPECT_EQ(snapshot.error_ratio, 0.0);
  EXPECT_EQ(snapshot.operations, 0U);
  EXPECT_EQ(snapshot.errors, ErrorCounts{});
  for (const auto& latency : snapshot.latency) {
    EXPECT_EQ(latency, StatsSnapshot::Latency{});
  }
}

TEST(CacheStats, CountsAScriptedSequenceExactly) {
  ManualClock clock;
  const auto snapshot = busy_snapshot(clock);
  EXPECT_EQ(snapshot.hits, 3U);
  EXPECT_EQ(snapshot.misses, 1U);
  EXPECT_EQ(snapshot.sets, 2U);
  EXPECT_EQ(snapshot.deletes, 1U);
  EXPECT_EQ(snapshot.errors.timeout, 1U);
  EXPECT_EQ(snapshot.errors.connection, 1U);
  EXPECT_EQ(snapshot.errors.total(), 2U);
  EXPECT_EQ(snapshot.degraded_operations, 1U);
  EXPECT_EQ(snapshot.journal.replayed, 4U);
  EXPECT_EQ(snapshot.journal.overflows, 1U);
  EXPECT_EQ(snapshot.operations, 5U);
  EXPECT_EQ(snapshot.latency_of(Operation::Get).count, 3U);
  EXPECT_EQ(snapshot.latency_of(Operation::Set).count, 1U);
  EXPECT_EQ(snapshot.latency_of(Operation::GetOrCompute).count, 1U);
  EXPECT_EQ(snapshot.latency_of(Operation::Delete).count, 0U);
}

TEST(CacheStats, HitRatioIsHitsOverGets) {
  CacheStats stats;
  stats.record_hit();
  stats.record_hit();
  stats.record_hit();
  stats.record_miss();
  EXPECT_DOUBLE_EQ(stats.snapshot().hit_ratio, 0.75);
}

TEST(CacheStats, HitRatioIsZeroBeforeTheFirstGet) {
  CacheStats stats;
  stats.record_set();
  EXPECT_EQ(stats.snapshot().hit_ratio, 0.0);
}

TEST(CacheStats, ErrorRatioIsFailedOverTimedOperations) {
  CacheStats stats;
  for (int i = 0; i < 8; ++i) {
    stats.record_latency(Operation::Get, 100us);
  }
  stats.record_latency(Operation::Set, 1ms);
  stats.record_latency(Operation::Delete, 1ms);
  stats.record_error(ErrorCategory::Timeout);
  stats.record_error(ErrorCategory::Reply);
  const auto snapshot = stats.snapshot();
  EXPECT_EQ(snapshot.operations, 10U);
  EXPECT_DOUBLE_EQ(snapshot.error_ratio, 0.2);
}

TEST(CacheStats, CountsErrorsByCategory) {
  CacheStats stats;
  const std::vector<std::pair<ErrorCategory, int>> script = {
      {ErrorCategory::Connection, 1}, {ErrorCategory::Timeout, 2},
      {ErrorCategory::Pool, 3},       {ErrorCategory::Reply, 4},
      {ErrorCategory::Protocol, 5},   {ErrorCategory::Serialization, 6}};
  for (const auto& [category, times] : script) {
    for (int i = 0; i < times; ++i) {
      stats.record_error(category);
    }
  }
  const auto errors = stats.snapshot().errors;
  for (const auto& [category, times] : script) {
    EXPECT_EQ(errors.count(category), static_cast<std::uint64_t>(times)) << to_string(category);
  }
  EXPECT_EQ(errors.connection, 1U);
  EXPECT_EQ(errors.serialization, 6U);
  EXPECT_EQ(errors.total(), 21U);
}

TEST(CacheStats, ConfigErrorsAreNotOperationErrors) {
  CacheStats stats;
  stats.record_error(ErrorCategory::Config);
  const auto snapshot = stats.snapshot();
  EXPECT_EQ(snapshot.errors.total(), 0U);
  EXPECT_EQ(snapshot.errors.count(ErrorCategory::Config), 0U);
}

TEST(CacheStats, ReportsLatencyInMicrosecondsPerOperation) {
  CacheStats stats;
  stats.record_latency(Operation::Get, 100us);
  stats.record_latency(Operation::Get, 200us);
  stats.record_latency(Operation::Get, 300us);
  const auto snapshot = stats.snapshot();
  const auto& get = snapshot.latency_of(Operation::Get);
  EXPECT_EQ(get.count, 3U);
  EXPECT_DOUBLE_EQ(get.max_us, 300.0);
  EXPECT_DOUBLE_EQ(get.mean_us, 200.0);
  EXPECT_DOUBLE_EQ(get.sum_seconds, 0.0006);
  EXPECT_GE(get.p50_us, 200.0);
  EXPECT_LE(get.p50_us, 200.0 * (1 + LatencyHistogram::kMaxRelativeError));
  EXPECT_DOUBLE_EQ(get.p99_us, 300.0);  // clamped to the max
  // 10 µs, 25, 50, 100 (100 µs sits in a bucket reaching past 100 µs), 250, 500, ...
  EXPECT_EQ(get.cumulative_buckets[3], 0U);
  EXPECT_EQ(get.cumulative_buckets[4], 2U);
  EXPECT_EQ(get.cumulative_buckets[5], 3U);
  EXPECT_EQ(get.cumulative_buckets.back(), 3U);
}

TEST(CacheStats, UptimeFollowsTheClock) {
  ManualClock clock;
  CacheStats stats{clock};
  EXPECT_EQ(stats.snapshot().uptime_seconds, 0.0);
  clock.advance(90s);
  EXPECT_DOUBLE_EQ(stats.snapshot().uptime_seconds, 90.0);
  clock.advance(500ms);
  EXPECT_DOUBLE_EQ(stats.snapshot().uptime_seconds, 90.5);
}

TEST(CacheStats, StartTimeIsTheWallClockAtConstructionAndReset) {
  ManualClock clock;
  const auto unix_now = [] {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const double before = unix_now();
  CacheStats stats{clock};
  const double after = unix_now();
  const double started = stats.snapshot().start_time_seconds;
  EXPECT_GE(started, before - 1e-6);
  EXPECT_LE(started, after + 1e-6);
  clock.advance(1h);  // the injected clock moves the uptime, not the start time
  EXPECT_EQ(stats.snapshot().start_time_seconds, started);
  std::this_thread::sleep_for(2ms);
  const double before_reset = unix_now();
  stats.reset();
  EXPECT_GE(stats.snapshot().start_time_seconds, before_reset - 1e-6);
  EXPECT_GT(stats.snapshot().start_time_seconds, started);
}

TEST(CacheStats, DegradedOperationsAreTheSumOverTheirCauses) {
  CacheStats stats;
  stats.record_degraded(DegradedCause::BreakerOpen);
  stats.record_degraded(DegradedCause::BreakerOpen);
  stats.record_degraded(DegradedCause::Timeout);
  const auto snapshot = stats.snapshot();
  EXPECT_EQ(snapshot.degraded.breaker_open, 2U);
  EXPECT_EQ(snapshot.degraded.timeout, 1U);
  EXPECT_EQ(snapshot.degraded.connection, 0U);
  EXPECT_EQ(snapshot.degraded_operations, 3U);
  EXPECT_EQ(snapshot.errors.total(), 0U) << "a degraded operation is not an error by itself";
}

TEST(DegradedCause, NamesAreStableSnakeCase) {
  EXPECT_EQ(to_string(DegradedCause::BreakerOpen), "breaker_open");
  EXPECT_EQ(to_string(DegradedCause::Connection), "connection");
  EXPECT_EQ(to_string(DegradedCause::Timeout), "timeout");
  EXPECT_EQ(to_string(DegradedCause::Pool), "pool");
  EXPECT_EQ(to_string(DegradedCause::Protocol), "protocol");
  EXPECT_EQ(to_string(DegradedCause::Refused), "refused");
  EXPECT_EQ(to_string(DegradedCause::Recovering), "recovering");
}

TEST(CacheStats, ResetZeroesEveryCounterAndRestartsTheUptime) {
  ManualClock clock;
  CacheStats stats{clock};
  stats.record_hit();
  stats.record_miss();
  stats.record_set();
  stats.record_delete();
  stats.record_error(ErrorCategory::Pool);
  stats.record_degraded(DegradedCause::Pool);
  stats.record_journal_replayed(2);
  stats.record_journal_overflow();
  stats.record_latency(Operation::MGet, 1ms);
  clock.advance(1h);

  stats.reset();
  auto snapshot = stats.snapshot();
  EXPECT_EQ(snapshot.hits, 0U);
  EXPECT_EQ(snapshot.misses, 0U);
  EXPECT_EQ(snapshot.sets, 0U);
  EXPECT_EQ(snapshot.deletes, 0U);
  EXPECT_EQ(snapshot.errors.total(), 0U);
  EXPECT_EQ(snapshot.degraded_operations, 0U);
  EXPECT_EQ(snapshot.degraded, DegradedCounts{});
  EXPECT_EQ(snapshot.journal.replayed, 0U);
  EXPECT_EQ(snapshot.journal.overflows, 0U);
  EXPECT_EQ(snapshot.operations, 0U);
  EXPECT_EQ(snapshot.latency_of(Operation::MGet), StatsSnapshot::Latency{});
  EXPECT_EQ(snapshot.uptime_seconds, 0.0);

  clock.advance(5s);
  stats.record_hit();
  snapshot = stats.snapshot();
  EXPECT_EQ(snapshot.hits, 1U);
  EXPECT_DOUBLE_EQ(snapshot.uptime_seconds, 5.0);
}

TEST(CacheStats, ConcurrentRecordingFromFourThreadsCountsExactly) {
  CacheStats stats;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&stats] {
      for (int i = 0; i < kPerThread; ++i) {
        if (i % 4 == 0) {
          stats.record_miss();
        } else {
          stats.record_hit();
        }
        stats.record_latency(Operation::Get, std::chrono::nanoseconds{1000 + i});
        if (i % 100 == 0) {
          stats.record_error(ErrorCategory::Timeout);
        }
      }
    });
  }
  for (int i = 0; i < 10; ++i) {
    (void)stats.snapshot();  // readers alongside the writers
  }
  for (auto& thread : threads) {
    thread.join();
  }
  const auto snapshot = stats.snapshot();
  EXPECT_EQ(snapshot.hits, std::uint64_t{kThreads} * kPerThread * 3 / 4);
  EXPECT_EQ(snapshot.misses, std::uint64_t{kThreads} * kPerThread / 4);
  EXPECT_EQ(snapshot.errors.timeout, std::uint64_t{kThreads} * kPerThread / 100);
  EXPECT_EQ(snapshot.latency_of(Operation::Get).count, std::uint64_t{kThreads} * kPerThread);
  EXPECT_DOUBLE_EQ(snapshot.latency_of(Operation::Get).max_us, (1000.0 + kPerThread - 1) / 1e3);
}

// --- StatsSnapshot::to_json ------------------------------------------------------------------

TEST(StatsSnapshot, ToJsonHasExactlyTheDocumentedTopLevelKeys) {
  ManualClock clock;
  const auto json = busy_snapshot(clock).to_json();
  std::set<std::string> keys;
  for (const auto& [key, value] : json.items()) {
    keys.insert(key);
  }
  const std::set<std::string> expected = {"hits",
                                          "misses",
                                          "hit_ratio",
                                          "sets",
                                          "deletes",
                                          "errors",
                                          "error_ratio",
                                          "degraded_operations",
                                          "degraded",
                                          "fallback",
                                          "circuit",
                                          "journal",
                                          "latency",
                                          "uptime_seconds",
                                          "start_time_seconds",
                                          "build"};
  EXPECT_EQ(keys, expected);
  // The same keys for an empty snapshot.
  keys.clear();
  const auto empty = StatsSnapshot{}.to_json();
  for (const auto& [key, value] : empty.items()) {
    keys.insert(key);
  }
  EXPECT_EQ(keys, expected);
}

TEST(StatsSnapshot, ToJsonListsAllSixErrorCategoriesEvenAtZero) {
  const auto errors = StatsSnapshot{}.to_json().at("errors");
  std::set<std::string> keys;
  for (const auto& [key, value] : errors.items()) {
    keys.insert(key);
    EXPECT_EQ(value, 0);
  }
  EXPECT_EQ(keys, (std::set<std::string>{"connection", "timeout", "pool", "reply", "protocol",
                                         "serialization"}));
}

TEST(StatsSnapshot, ToJsonCarriesTheCountsAndSubObjects) {
  ManualClock clock;
  const auto json = busy_snapshot(clock).to_json();
  EXPECT_EQ(json.at("hits"), 3);
  EXPECT_EQ(json.at("misses"), 1);
  EXPECT_DOUBLE_EQ(json.at("hit_ratio").get<double>(), 0.75);
  EXPECT_EQ(json.at("sets"), 2);
  EXPECT_EQ(json.at("deletes"), 1);
  EXPECT_EQ(json.at("errors").at("timeout"), 1);
  EXPECT_EQ(json.at("errors").at("connection"), 1);
  EXPECT_DOUBLE_EQ(json.at("error_ratio").get<double>(), 2.0 / 5.0);
  EXPECT_EQ(json.at("degraded_operations"), 1);
  EXPECT_EQ(json.at("degraded").at("breaker_open"), 1);
  EXPECT_EQ(json.at("degraded").at("connection"), 0);
  EXPECT_EQ(json.at("build").at("version"), AIRPORT_CACHE_VERSION);
  EXPECT_EQ(json.at("build").at("hiredis"), AIRPORT_CACHE_HIREDIS_VERSION);
  EXPECT_EQ(json.at("fallback").at("enabled"), true);
  EXPECT_EQ(json.at("fallback").at("entries"), 7);
  EXPECT_EQ(json.at("fallback").at("max_bytes"), 1 << 20);
  EXPECT_EQ(json.at("circuit").at("state"), "half_open");
  EXPECT_EQ(json.at("circuit").at("consecutive_failures"), 0);
  EXPECT_EQ(json.at("circuit").at("transitions").at("open"), 2);
  EXPECT_EQ(json.at("circuit").at("transitions").at("half_open"), 1);
  EXPECT_EQ(json.at("circuit").at("transitions").at("closed"), 1);
  EXPECT_EQ(json.at("journal").at("pending"), 3);
  EXPECT_EQ(json.at("journal").at("replayed"), 4);
  EXPECT_EQ(json.at("journal").at("overflows"), 1);
  EXPECT_TRUE(json.at("uptime_seconds").is_number());
}

TEST(StatsSnapshot, ToJsonLatencyHoldsOnlyTimedOperations) {
  ManualClock clock;
  const auto latency = busy_snapshot(clock).to_json().at("latency");
  std::set<std::string> operations;
  for (const auto& [key, value] : latency.items()) {
    operations.insert(key);
    std::set<std::string> fields;
    for (const auto& [field, number] : value.items()) {
      fields.insert(field);
      EXPECT_TRUE(number.is_number()) << key << "." << field;
    }
    EXPECT_EQ(fields,
              (std::set<std::string>{"count", "p50_us", "p95_us", "p99_us", "max_us", "mean_us"}));
  }
  EXPECT_EQ(operations, (std::set<std::string>{"get", "set", "get_or_compute"}));
  EXPECT_EQ(latency.at("get").at("count"), 3);
  EXPECT_DOUBLE_EQ(latency.at("get").at("max_us").get<double>(), 3000.0);
  EXPECT_TRUE(StatsSnapshot{}.to_json().at("latency").is_object());
  EXPECT_TRUE(StatsSnapshot{}.to_json().at("latency").empty());
}

TEST(StatsSnapshot, ConvertsToJsonThroughTheAdlHook) {
  ManualClock clock;
  const auto snapshot = busy_snapshot(clock);
  const nlohmann::json json = snapshot;
  EXPECT_EQ(json, snapshot.to_json());
}

// --- StatsSnapshot::to_prometheus ------------------------------------------------------------

TEST(StatsSnapshot, ToPrometheusPassesTheLineByLineFormatChecks) {
  ManualClock clock;
  clock.advance(42s);
  const auto text = busy_snapshot(clock).to_prometheus();
  const auto samples = parse_exposition(text);
  EXPECT_FALSE(samples.empty());
  for (const auto& sample : samples) {
    EXPECT_TRUE(sample.name.starts_with("airport_cache_")) << sample.name;
  }
}

// What parse_exposition() reports for `text`, with its failures caught instead of counted.
std::string checker_complaints(const std::string& text) {
  testing::TestPartResultArray results;
  {
    const testing::ScopedFakeTestPartResultReporter reporter{
        testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results};
    (void)parse_exposition(text);
  }
  std::string complaints;
  for (int i = 0; i < results.size(); ++i) {
    complaints += results.GetTestPartResult(i).message();
    complaints += '\n';
  }
  return complaints;
}

TEST(StatsSnapshot, TheFormatCheckerItselfRejectsBrokenExpositions) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"x_total 1\n", "no HELP"},
      {"# HELP x h\n# TYPE x counter\nx 1\n", "counter without _total"},
      {"# HELP x h\n# TYPE x gauge\nx{a=\"\\q\"} 1\n", "malformed line"},
      {"# HELP x h\n# TYPE x gauge\nx{a=\"1\",} 1\n", "malformed line"},
      {"# HELP x h\n# TYPE x gauge\nx 1,5\n", "malformed line"},
      {"# HELP x h\n# TYPE x gauge\nx 1\n# HELP y h\n# TYPE y gauge\ny 1\nx 2\n",
       "outside its family"},
      {"# HELP x h\n# TYPE x gauge\n# TYPE x gauge\nx 1\n", "second TYPE"},
      {"# HELP x h\n# TYPE x gauge\nx 1", "newline"},
  };
  for (const auto& [text, complaint] : cases) {
    EXPECT_NE(checker_complaints(text).find(complaint), std::string::npos) << text;
  }
  EXPECT_EQ(checker_complaints("# HELP x h\n# TYPE x gauge\nx{a=\"\\\"\"} -1.5e+3\n"), "");
}

TEST(StatsSnapshot, ToPrometheusOfAnEmptySnapshotIsWellFormedToo) {
  const auto samples = parse_exposition(StatsSnapshot{}.to_prometheus());
  EXPECT_EQ(value_of(samples, "airport_cache_hits_total"), 0.0);
  EXPECT_EQ(value_of(samples, "airport_cache_degraded_operations_total", {{"cause", "timeout"}}),
            0.0);
}

TEST(StatsSnapshot, ToPrometheusReportsEveryCounterAndGauge) {
  ManualClock clock;
  const auto samples = parse_exposition(busy_snapshot(clock).to_prometheus());
  EXPECT_EQ(value_of(samples, "airport_cache_hits_total"), 3.0);
  EXPECT_EQ(value_of(samples, "airport_cache_misses_total"), 1.0);
  EXPECT_EQ(value_of(samples, "airport_cache_sets_total"), 2.0);
  EXPECT_EQ(value_of(samples, "airport_cache_deletes_total"), 1.0);
  EXPECT_EQ(value_of(samples, "airport_cache_errors_total", {{"category", "timeout"}}), 1.0);
  EXPECT_EQ(value_of(samples, "airport_cache_errors_total", {{"category", "serialization"}}), 0.0);
  EXPECT_EQ(
      value_of(samples, "airport_cache_degraded_operations_total", {{"cause", "breaker_open"}}),
      1.0);
  EXPECT_EQ(value_of(samples, "airport_cache_circuit_rejected_total"), 12.0);
  EXPECT_EQ(value_of(samples, "airport_cache_fallback_hits_total"), 5.0);
  EXPECT_EQ(value_of(samples, "airport_cache_fallback_misses_total"), 6.0);
  EXPECT_EQ(value_of(samples, "airport_cache_fallback_evictions_total"), 9.0);
  EXPECT_EQ(value_of(samples, "airport_cache_fallback_entries"), 7.0);
  EXPECT_EQ(value_of(samples, "airport_cache_fallback_bytes"), 8000.0);
  EXPECT_EQ(value_of(samples, "airport_cache_circuit_transitions_total", {{"to", "open"}}), 2.0);
  EXPECT_EQ(value_of(samples, "airport_cache_circuit_transitions_total", {{"to", "half_open"}}),
            1.0);
  EXPECT_EQ(value_of(samples, "airport_cache_circuit_transitions_total", {{"to", "closed"}}), 1.0);
  EXPECT_EQ(value_of(samples, "airport_cache_journal_replayed_total"), 4.0);
  EXPECT_EQ(value_of(samples, "airport_cache_journal_overflows_total"), 1.0);
  EXPECT_EQ(value_of(samples, "airport_cache_journal_pending"), 3.0);
  EXPECT_EQ(value_of(samples, "airport_cache_circuit_consecutive_failures"), 0.0);
  EXPECT_EQ(value_of(samples, "airport_cache_fallback_enabled"), 1.0);
  EXPECT_GT(value_of(samples, "airport_cache_start_time_seconds"), 1.6e9);  // after 2020
}

TEST(StatsSnapshot, ToPrometheusHasABuildInfoGaugeOfOne) {
  const auto text = StatsSnapshot{}.to_prometheus();
  const auto samples = parse_exposition(text);
  EXPECT_EQ(
      value_of(samples, "airport_cache_build_info",
               {{"version", AIRPORT_CACHE_VERSION}, {"hiredis", AIRPORT_CACHE_HIREDIS_VERSION}}),
      1.0);
  EXPECT_NE(text.find("# TYPE airport_cache_build_info gauge\n"), std::string::npos);
  EXPECT_FALSE(std::string{AIRPORT_CACHE_VERSION}.empty());
  EXPECT_FALSE(std::string{AIRPORT_CACHE_HIREDIS_VERSION}.empty());
}

TEST(StatsSnapshot, ToPrometheusLeavesRatiosAndUptimeToPromql) {
  ManualClock clock;
  const auto text = busy_snapshot(clock).to_prometheus();
  for (const auto* family :
       {"airport_cache_hit_ratio", "airport_cache_error_ratio", "airport_cache_uptime_seconds"}) {
    EXPECT_EQ(text.find(family), std::string::npos) << family;
  }
}

TEST(StatsSnapshot, ToPrometheusDegradedCausesAreAllListedAndSumToTheTotal) {
  CacheStats stats;
  const std::vector<std::pair<DegradedCause, int>> script = {
      {DegradedCause::BreakerOpen, 5}, {DegradedCause::Connection, 1}, {DegradedCause::Timeout, 2},
      {DegradedCause::Pool, 3},        {DegradedCause::Protocol, 4},   {DegradedCause::Refused, 6},
      {DegradedCause::Recovering, 7}};
  for (const auto& [cause, times] : script) {
    for (int i = 0; i < times; ++i) {
      stats.record_degraded(cause);
    }
  }
  const auto snapshot = stats.snapshot();
  EXPECT_EQ(snapshot.degraded_operations, 28U);
  EXPECT_EQ(snapshot.degraded.total(), 28U);
  const auto samples = parse_exposition(snapshot.to_prometheus());
  double sum = 0.0;
  std::set<std::string> causes;
  for (const auto& sample : samples) {
    if (sample.name == "airport_cache_degraded_operations_total") {
      ASSERT_EQ(sample.labels.size(), 1U);
      causes.insert(sample.labels.at("cause"));
      sum += sample.value;
    }
  }
  EXPECT_EQ(sum, 28.0);
  EXPECT_EQ(causes, (std::set<std::string>{"breaker_open", "connection", "timeout", "pool",
                                           "protocol", "refused", "recovering"}));
  for (const auto& [cause, times] : script) {
    EXPECT_EQ(snapshot.degraded.count(cause), static_cast<std::uint64_t>(times))
        << to_string(cause);
    EXPECT_EQ(value_of(samples, "airport_cache_degraded_operations_total",
                       {{"cause", std::string{to_string(cause)}}}),
              static_cast<double>(times));
    EXPECT_EQ(snapshot.to_json().at("degraded").at(std::string{to_string(cause)}), times);
  }
}

TEST(StatsSnapshot, ToPrometheusPrintsExactlyTheMetricFamilies) {
  ManualClock clock;
  const auto snapshot = busy_snapshot(clock);
  const auto text = snapshot.to_prometheus();
  std::string expected_types;
  for (const auto& family : snapshot.metric_families()) {
    const char* type = family.type == MetricFamily::Type::Counter ? "counter"
                       : family.type == MetricFamily::Type::Gauge ? "gauge"
                                                                  : "histogram";
    expected_types += "# TYPE " + family.name + " " + type + "\n";
    EXPECT_TRUE(family.name.starts_with("airport_cache_")) << family.name;
    EXPECT_EQ(family.type == MetricFamily::Type::Counter, family.name.ends_with("_total"))
        << family.name;
    EXPECT_FALSE(family.samples.empty()) << family.name;
  }
  std::string types;
  std::istringstream lines{text};
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("# TYPE ")) {
      types += line + "\n";
    }
  }
  EXPECT_EQ(types, expected_types);
}

TEST(StatsSnapshot, ToPrometheusCircuitStateIsOneForTheCurrentStateOnly) {
  ManualClock clock;
  const auto samples = parse_exposition(busy_snapshot(clock).to_prometheus());
  EXPECT_EQ(value_of(samples, "airport_cache_circuit_state", {{"state", "half_open"}}), 1.0);
  EXPECT_EQ(value_of(samples, "airport_cache_circuit_state", {{"state", "open"}}), 0.0);
  EXPECT_EQ(value_of(samples, "airport_cache_circuit_state", {{"state", "closed"}}), 0.0);
}

TEST(StatsSnapshot, ToPrometheusHistogramBucketsAreCumulativeAndEndWithTheCount) {
  ManualClock clock;
  const auto snapshot = busy_snapshot(clock);
  const auto samples = parse_exposition(snapshot.to_prometheus());
  const std::string family = "airport_cache_operation_duration_seconds";
  std::map<std::string, std::vector<std::pair<double, double>>> buckets;  // operation -> (le, n)
  for (const auto& sample : samples) {
    if (sample.name == family + "_bucket") {
      ASSERT_EQ(sample.labels.size(), 2U);
      buckets[sample.labels.at("operation")].emplace_back(parse_value(sample.labels.at("le")),
                                                          sample.value);
    }
  }
  ASSERT_EQ(buckets.size(), kOperationCount);  // every operation, timed or not
  for (const auto& [operation, series] : buckets) {
    SCOPED_TRACE(operation);
    ASSERT_EQ(series.size(), kOperationDurationBounds.size() + 1);
    for (std::size_t i = 1; i < series.size(); ++i) {
      EXPECT_LT(series[i - 1].first, series[i].first) << "le bounds must increase";
      EXPECT_LE(series[i - 1].second, series[i].second) << "buckets must be cumulative";
    }
    EXPECT_EQ(series.back().first, HUGE_VAL);
    EXPECT_EQ(series.back().second,
              value_of(samples, family + "_count", {{"operation", operation}}));
  }
  EXPECT_EQ(buckets.at("get").front().first, 0.00001);
  EXPECT_EQ(buckets.at("get")[kOperationDurationBounds.size() - 1].first, 10.0);
  EXPECT_EQ(value_of(samples, family + "_count", {{"operation", "get"}}), 3.0);
  EXPECT_NEAR(value_of(samples, family + "_sum", {{"operation", "get"}}), 0.0032, 1e-12);
  // 20 s is past every finite bound: only +Inf holds it.
  EXPECT_EQ(buckets.at("set")[kOperationDurationBounds.size() - 1].second, 0.0);
  EXPECT_EQ(buckets.at("set").back().second, 1.0);
  // 80 µs and 120 µs are at or below 250 µs, 3 ms is not.
  EXPECT_EQ(buckets.at("get")[4].first, 0.00025);
  EXPECT_EQ(buckets.at("get")[4].second, 2.0);
}

TEST(StatsSnapshot, PrometheusLabelValuesAreEscaped) {
  EXPECT_EQ(detail::escape_prometheus_label_value("plain"), "plain");
  EXPECT_EQ(detail::escape_prometheus_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  const std::string line = "x{l=\"" + detail::escape_prometheus_label_value("q\"\\\n") + "\"} 1";
  EXPECT_TRUE(std::regex_match(line, kSampleLine)) << line;
}

}  // namespace
}  // namespace airport::cache
