// SPDX-License-Identifier: BSD-3-Clause
// LatencyHistogram: an always-on, lock-free histogram of operation durations (HdrHistogram-style
// log-linear buckets), cheap enough to time every cache operation. CacheStats keeps one per kind.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace airport::cache {

/// Durations in nanoseconds, counted in log-linear buckets. Safe for concurrent use.
///
/// Buckets: every power-of-two range [2^k, 2^(k+1)) is split into 32 equal sub-buckets
/// (5 sub-bucket bits), and values below 64 ns get one bucket per nanosecond. A bucket is thus
/// never wider than 1/32 of its lower bound, so any value read back from a bucket is within
/// 3.125% (1/32) of the recorded one. The trackable range is 0 to kMaxTrackable = 2^42 - 1 ns
/// (about 73 minutes) in 1216 buckets (9.5 KiB). A negative duration is recorded as 0 and a
/// longer one as kMaxTrackable, in the buckets, the sum and the max alike.
///
/// Cost: record() is one relaxed fetch_add on the value's bucket, one on the running sum, and a
/// relaxed load of the max (plus a compare-and-swap only when the max grows): no lock, no
/// allocation, about 5-15 ns uncontended on x86-64. The count is not a separate counter: it is
/// the sum of the buckets, computed by snapshot().
///
/// Consistency: snapshot() reads the buckets, the sum and the max one after the other, so a
/// snapshot taken while other threads record may see a sample in one of them and not yet in the
/// other (the mean and the max can be off by the samples in flight). reset() is not atomic with
/// respect to concurrent record() calls either: a sample recorded during reset() may be kept in
/// part. Neither ever tears a single counter.
class LatencyHistogram {
 public:
  /// Sub-bucket bits: 2^5 = 32 sub-buckets per power of two.
  static constexpr unsigned kSubBucketBits = 5;
  /// Values needing at most this many bits are tracked; larger ones are clamped.
  static constexpr unsigned kMaxValueBits = 42;
  /// The largest duration the histogram tells apart, 2^42 - 1 ns (about 73 minutes).
  static constexpr std::chrono::nanoseconds kMaxTrackable{(std::int64_t{1} << kMaxValueBits) - 1};
  /// Number of buckets: 64 one-nanosecond buckets, then 32 per power of two up to 2^42.
  static constexpr std::size_t kBucketCount = (kMaxValueBits - kSubBucketBits + 1)
                                              << kSubBucketBits;
  /// Upper bound on (reported - recorded) / recorded for percentile(): 1/32 = 3.125%.
  static constexpr double kMaxRelativeError = 1.0 / (1U << kSubBucketBits);

  /// The bucket a value of `ns` nanoseconds falls in; `ns` must be <= kMaxTrackable.
  [[nodiscard]] static constexpr std::size_t bucket_index(std::uint64_t ns) noexcept {
    // shift is 0 below 2^(S+1) (one bucket per value), else bit_width - (S+1); the top S+1 bits
    // of the value then pick the bucket, as in HdrHistogram's log-linear layout.
    const auto shift =
        static_cast<unsigned>(std::bit_width(ns | kLinearMask)) - (kSubBucketBits + 1);
    return (std::size_t{shift} << kSubBucketBits) + static_cast<std::size_t>(ns >> shift);
  }
  /// The smallest value in bucket `index`.
  [[nodiscard]] static constexpr std::uint64_t bucket_lower_bound(std::size_t index) noexcept {
    const auto shift = bucket_shift(index);
    return (std::uint64_t{index} - (std::uint64_t{shift} << kSubBucketBits)) << shift;
  }
  /// The largest value in bucket `index` (inclusive).
  [[nodiscard]] static constexpr std::uint64_t bucket_upper_bound(std::size_t index) noexcept {
    return bucket_lower_bound(index) + (std::uint64_t{1} << bucket_shift(index)) - 1;
  }

  /// A copy of the histogram at one moment, with plain values.
  struct Snapshot {
    /// Samples recorded (the sum of `buckets`).
    std::uint64_t count = 0;
    /// Sum of the recorded (clamped) durations.
    std::chrono::nanoseconds sum{0};
    /// The largest recorded (clamped) duration, exact; 0 when empty.
    std::chrono::nanoseconds max{0};
    /// Samples per bucket, indexed as bucket_index(); kBucketCount entries, or empty when the
    /// histogram was empty.
    std::vector<std::uint64_t> buckets;

    /// Sum / count, exact up to double rounding; 0 when empty.
    [[nodiscard]] std::chrono::duration<double, std::nano> mean() const noexcept;

    /// The q-quantile, q in [0, 1] (0.5 is the median, 0.99 the p99; values outside are clamped,
    /// NaN counts as 0): the upper bound of the bucket holding the ceil(q * count)-th smallest
    /// sample, clamped to `max`. So it is never below the true sample and at most 3.125% above
    /// it, and percentile(1) == max. 0 when empty. Cost: a walk over the buckets.
    [[nodiscard]] std::chrono::nanoseconds percentile(double q) const noexcept;

    /// Samples whose whole bucket lies at or below `bound`, i.e. bucket_upper_bound <= bound.
    /// Never counts a sample above `bound`; a sample within 3.125% below `bound` whose bucket
    /// straddles it is left out (it counts toward the next larger bound). This is how fixed
    /// Prometheus `le` buckets are derived from the log-linear ones.
    [[nodiscard]] std::uint64_t count_at_or_below(std::chrono::nanoseconds bound) const noexcept;
  };

  LatencyHistogram() noexcept = default;
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  /// Adds one sample. Lock-free; see the class comment for cost and clamping.
  void record(std::chrono::nanoseconds duration) noexcept {
    const auto raw = duration.count();
    const std::uint64_t ns = raw <= 0                       ? 0
                             : raw >= kMaxTrackable.count() ? kMaxTrackableNs
                                                            : static_cast<std::uint64_t>(raw);
    buckets_[bucket_index(ns)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(ns, std::memory_order_relaxed);
    // fetch_max emulation: the load alone is enough on all but the rare new-maximum sample.
    auto current = max_.load(std::memory_order_relaxed);
    while (ns > current && !max_.compare_exchange_weak(current, ns, std::memory_order_relaxed)) {
    }
  }

  /// The samples so far. Allocates the bucket copy; a walk over 1216 counters.
  [[nodiscard]] Snapshot snapshot() const;

  /// Forgets every sample. See the class comment on concurrent record() calls.
  void reset() noexcept;

 private:
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
  static constexpr std::uint64_t kLinearMask = (std::uint64_t{1} << (kSubBucketBits + 1)) - 1;
  static constexpr auto kMaxTrackableNs = static_cast<std::uint64_t>(kMaxTrackable.count());

  [[nodiscard]] static constexpr unsigned bucket_shift(std::size_t index) noexcept {
    const auto group = static_cast<unsigned>(index >> kSubBucketBits);
    return group == 0 ? 0 : group - 1;
  }

  // The sum and the max share a line that every record() writes; the buckets follow.
  alignas(64) std::atomic<std::uint64_t> sum_{0};
  std::atomic<std::uint64_t> max_{0};
  alignas(64) std::array<std::atomic<std::uint64_t>, kBucketCount> buckets_{};
};

static_assert(LatencyHistogram::bucket_index(0) == 0);
static_assert(LatencyHistogram::bucket_index(63) == 63);
static_assert(LatencyHistogram::bucket_index(64) == 64);
static_assert(LatencyHistogram::bucket_index(66) == 65);
static_assert(LatencyHistogram::bucket_index(LatencyHistogram::kMaxTrackable.count()) ==
              LatencyHistogram::kBucketCount - 1);
static_assert(LatencyHistogram::bucket_upper_bound(LatencyHistogram::kBucketCount - 1) ==
              static_cast<std::uint64_t>(LatencyHistogram::kMaxTrackable.count()));

}  // namespace airport::cache
