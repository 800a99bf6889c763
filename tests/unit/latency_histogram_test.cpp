// SPDX-License-Identifier: BSD-3-Clause
#include "airport/cache/latency_histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using std::chrono::nanoseconds;

// The documented promise: a reported value is never below the true one and at most 1/32 above.
void expect_within_precision(nanoseconds reported, nanoseconds truth) {
  EXPECT_GE(reported.count(), truth.count());
  EXPECT_LE(static_cast<double>(reported.count()),
            static_cast<double>(truth.count()) * (1.0 + LatencyHistogram::kMaxRelativeError));
}

TEST(LatencyHistogram, AnEmptyHistogramReportsZeroes) {
  const LatencyHistogram histogram;
  const auto snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count, 0U);
  EXPECT_EQ(snapshot.sum, 0ns);
  EXPECT_EQ(snapshot.max, 0ns);
  EXPECT_EQ(snapshot.mean().count(), 0.0);
  EXPECT_EQ(snapshot.percentile(0.5), 0ns);
  EXPECT_EQ(snapshot.percentile(1.0), 0ns);
  EXPECT_EQ(snapshot.count_at_or_below(1s), 0U);
}

TEST(LatencyHistogram, EveryValueLiesWithinItsBucketAndBucketsAreAtMostOneThirtySecondWide) {
  std::mt19937_64 random{42};
  std::vector<std::uint64_t> values;
  for (std::uint64_t v = 0; v < 5000; ++v) {
    values.push_back(v);
  }
  for (unsigned bits = 1; bits <= LatencyHistogram::kMaxValueBits; ++bits) {
    const auto top = (std::uint64_t{1} << bits) - 1;
    values.push_back(top);
    values.push_back(top + 1 > static_cast<std::uint64_t>(LatencyHistogram::kMaxTrackable.count())
                         ? top
                         : top + 1);
    for (int i = 0; i < 200; ++i) {
      values.push_back(random() & top);
    }
  }
  for (const auto v : values) {
    const auto index = LatencyHistogram::bucket_index(v);
    ASSERT_LT(index, LatencyHistogram::kBucketCount) << v;
    const auto lower = LatencyHistogram::bucket_lower_bound(index);
    const auto upper = LatencyHistogram::bucket_upper_bound(index);
    ASSERT_LE(lower, v) << v;
    ASSERT_GE(upper, v) << v;
    ASSERT_LE(static_cast<double>(upper - lower),
              static_cast<double>(lower) * LatencyHistogram::kMaxRelativeError)
        << v;
  }
}

TEST(LatencyHistogram, BucketsTileTheWholeRangeWithoutGapsOrOverlap) {
  EXPECT_EQ(LatencyHistogram::bucket_lower_bound(0), 0U);
  for (std::size_t i = 1; i < LatencyHistogram::kBucketCount; ++i) {
    ASSERT_EQ(LatencyHistogram::bucket_lower_bound(i),
              LatencyHistogram::bucket_upper_bound(i - 1) + 1)
        << i;
    ASSERT_EQ(LatencyHistogram::bucket_index(LatencyHistogram::bucket_lower_bound(i)), i);
    ASSERT_EQ(LatencyHistogram::bucket_index(LatencyHistogram::bucket_upper_bound(i)), i);
  }
  EXPECT_EQ(LatencyHistogram::bucket_upper_bound(LatencyHistogram::kBucketCount - 1),
            static_cast<std::uint64_t>(LatencyHistogram::kMaxTrackable.count()));
}

TEST(LatencyHistogram, ValuesBelowSixtyFourNanosecondsAreExact) {
  LatencyHistogram histogram;
  histogram.record(37ns);
  histogram.record(41ns);
  const auto snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.percentile(0.0), 37ns);
  EXPECT_EQ(snapshot.percentile(0.5), 37ns);
  EXPECT_EQ(snapshot.percentile(1.0), 41ns);
}

TEST(LatencyHistogram, PercentilesOfAUniformDistributionAreWithinTheDocumentedPrecision) {
  LatencyHistogram histogram;
  // 1..10000 µs, shuffled so that the order of recording plays no part.
  std::vector<int> micros(10'000);
  for (int i = 0; i < 10'000; ++i) {
    micros[static_cast<std::size_t>(i)] = i + 1;
  }
  std::shuffle(micros.begin(), micros.end(), std::mt19937{7});
  for (const int us : micros) {
    histogram.record(std::chrono::microseconds{us});
  }
  const auto snapshot = histogram.snapshot();
  ASSERT_EQ(snapshot.count, 10'000U);
  expect_within_precision(snapshot.percentile(0.50), 5000us);
  expect_within_precision(snapshot.percentile(0.95), 9500us);
  expect_within_precision(snapshot.percentile(0.99), 9900us);
  expect_within_precision(snapshot.percentile(0.0), 1us);
  EXPECT_EQ(snapshot.percentile(1.0), 10'000us);
}

TEST(LatencyHistogram, PercentilesOfALogNormalDistributionAreWithinTheDocumentedPrecision) {
  LatencyHistogram histogram;
  std::mt19937_64 random{1};
  std::lognormal_distribution<double> distribution{12.0, 1.5};  // median ~160 µs, long tail
  std::vector<std::int64_t> samples;
  for (int i = 0; i < 100'000; ++i) {
    const auto ns = static_cast<std::int64_t>(distribution(random)) + 1;
    samples.push_back(ns);
    histogram.record(nanoseconds{ns});
  }
  std::sort(samples.begin(), samples.end());
  const auto snapshot = histogram.snapshot();
  for (const double q : {0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999}) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size())));
    SCOPED_TRACE(q);
    expect_within_precision(snapshot.percentile(q), nanoseconds{samples[rank - 1]});
  }
}

TEST(LatencyHistogram, MaxIsExact) {
  LatencyHistogram histogram;
  histogram.record(3ms);
  histogram.record(nanoseconds{123'456'789});
  histogram.record(17us);
  const auto snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.max, nanoseconds{123'456'789});
  EXPECT_EQ(snapshot.percentile(1.0), nanoseconds{123'456'789});
}

TEST(LatencyHistogram, MeanIsTheExactSumOverTheCount) {
  LatencyHistogram histogram;
  histogram.record(1000ns);
  histogram.record(2001ns);
  histogram.record(3ms);
  const auto snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count, 3U);
  EXPECT_EQ(snapshot.sum, nanoseconds{3'003'001});
  EXPECT_DOUBLE_EQ(snapshot.mean().count(), 3'003'001.0 / 3.0);
}

TEST(LatencyHistogram, PercentileIsClampedToTheRecordedMax) {
  LatencyHistogram histogram;
  histogram.record(1'000'001ns);  // its bucket reaches up to 1'015'807 ns
  const auto snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.percentile(0.5), 1'000'001ns);
  EXPECT_EQ(snapshot.percentile(0.99), 1'000'001ns);
}

TEST(LatencyHistogram, PercentileClampsQIntoZeroToOne) {
  LatencyHistogram histogram;
  histogram.record(10ns);
  histogram.record(20ns);
  const auto snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.percentile(-1.0), 10ns);
  EXPECT_EQ(snapshot.percentile(std::nan("")), 10ns);
  EXPECT_EQ(snapshot.percentile(2.0), 20ns);
}

TEST(LatencyHistogram, ZeroAndNegativeDurationsRecordAsZero) {
  LatencyHistogram histogram;
  histogram.record(0ns);
  histogram.record(-5ms);
  const auto snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count, 2U);
  EXPECT_EQ(snapshot.sum, 0ns);
  EXPECT_EQ(snapshot.max, 0ns);
  EXPECT_EQ(snapshot.percentile(1.0), 0ns);
}

TEST(LatencyHistogram, HugeDurationsClampToTheTrackableRange) {
  LatencyHistogram histogram;
  histogram.record(std::chrono::hours{24 * 365});
  histogram.record(nanoseconds::max());
  const auto snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count, 2U);
  EXPECT_EQ(snapshot.max, LatencyHistogram::kMaxTrackable);
  EXPECT_EQ(snapshot.sum, 2 * LatencyHistogram::kMaxTrackable);
  EXPECT_EQ(snapshot.percentile(0.5), LatencyHistogram::kMaxTrackable);
  EXPECT_GT(LatencyHistogram::kMaxTrackable, std::chrono::hours{1});
}

TEST(LatencyHistogram, CountAtOrBelowNeverCountsALargerSample) {
  LatencyHistogram histogram;
  histogram.record(9us);
  histogram.record(10us);      // exactly on the bound, but its bucket reaches past it
  histogram.record(10'300ns);  // above the bound
  histogram.record(1ms);
  const auto snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count_at_or_below(9'300ns), 1U);
  EXPECT_EQ(snapshot.count_at_or_below(10us), 1U);
  EXPECT_EQ(snapshot.count_at_or_below(11us), 3U);
  EXPECT_EQ(snapshot.count_at_or_below(LatencyHistogram::kMaxTrackable), 4U);
  EXPECT_EQ(snapshot.count_at_or_below(-1ns), 0U);
}

TEST(LatencyHistogram, ConcurrentRecordsFromFourThreadsAreAllCounted) {
  LatencyHistogram histogram;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&histogram, t] {
      for (int i = 0; i < kPerThread; ++i) {
        histogram.record(nanoseconds{1 + (i % 1000) + t * 1000});
      }
    });
  }
  // A reader alongside the writers: snapshots must be safe to take at any time.
  std::uint64_t last_count = 0;
  for (int i = 0; i < 20; ++i) {
    const auto count = histogram.snapshot().count;
    EXPECT_GE(count, last_count);
    last_count = count;
  }
  for (auto& thread : threads) {
    thread.join();
  }
  const auto snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count, std::uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(snapshot.max, nanoseconds{1000 + (kThreads - 1) * 1000});
  // Each thread records 50 rounds of t*1000 + (1..1000).
  std::int64_t expected_sum = 0;
  for (int t = 0; t < kThreads; ++t) {
    expected_sum += (kPerThread / 1000) * (1000 * t * 1000 + 1000 * 1001 / 2);
  }
  EXPECT_EQ(snapshot.sum, nanoseconds{expected_sum});
}

TEST(LatencyHistogram, ResetForgetsEverySample) {
  LatencyHistogram histogram;
  histogram.record(5ms);
  histogram.record(7us);
  histogram.reset();
  auto snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count, 0U);
  EXPECT_EQ(snapshot.sum, 0ns);
  EXPECT_EQ(snapshot.max, 0ns);
  EXPECT_EQ(snapshot.percentile(0.99), 0ns);

  histogram.record(3us);
  snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.count, 1U);
  EXPECT_EQ(snapshot.max, 3us);
}

}  // namespace
}  // namespace airport::cache
