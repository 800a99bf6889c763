// SPDX-License-Identifier: BSD-3-Clause
// LatencyHistogram's snapshot side: off the hot path (record() stays inline in the header), and
// out of line so that the umbrella header does not make every includer instantiate the vector
// and algorithm code these walks use.
#include "airport/cache/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace airport::cache {

std::chrono::duration<double, std::nano> LatencyHistogram::Snapshot::mean() const noexcept {
  if (count == 0) {
    return std::chrono::duration<double, std::nano>{0.0};
  }
  return std::chrono::duration<double, std::nano>{static_cast<double>(sum.count()) /
                                                  static_cast<double>(count)};
}

std::chrono::nanoseconds LatencyHistogram::Snapshot::percentile(double q) const noexcept {
  if (count == 0 || buckets.empty()) {
    return std::chrono::nanoseconds{0};
  }
  if (!(q > 0.0)) {
    q = 0.0;
  } else if (q > 1.0) {
    q = 1.0;
  }
  const auto total = static_cast<double>(count);
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * total)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    seen += buckets[i];
    if (seen >= rank) {
      const auto bound = static_cast<std::int64_t>(bucket_upper_bound(i));
      return std::min(std::chrono::nanoseconds{bound}, max);
    }
  }
  return max;
}

std::uint64_t LatencyHistogram::Snapshot::count_at_or_below(
    std::chrono::nanoseconds bound) const noexcept {
  if (bound.count() < 0) {
    return 0;
  }
  const auto limit = static_cast<std::uint64_t>(bound.count());
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < buckets.size() && bucket_upper_bound(i) <= limit; ++i) {
    total += buckets[i];
  }
  return total;
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const {
  Snapshot result;
  result.buckets.resize(kBucketCount);
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    result.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    result.count += result.buckets[i];
  }
  result.sum =
      std::chrono::nanoseconds{static_cast<std::int64_t>(sum_.load(std::memory_order_relaxed))};
  result.max =
      std::chrono::nanoseconds{static_cast<std::int64_t>(max_.load(std::memory_order_relaxed))};
  if (result.count == 0) {
    result.buckets.clear();
  }
  return result;
}

void LatencyHistogram::reset() noexcept {
  for (auto& bucket : buckets_) {
    bucket.store(0, std::memory_order_relaxed);
  }
  sum_.store(0, std::memory_order_relaxed);
  max_.store(0, std::memory_order_relaxed);
}

}  // namespace airport::cache
