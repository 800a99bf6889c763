// SPDX-License-Identifier: BSD-3-Clause
// TTLCalculator's generators and jitter, and the XFetch rule.
#include "airport/cache/ttl.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

namespace airport::cache {
namespace {

// SplitMix64 (Steele, Lea, Flood, "Fast Splittable Pseudorandom Number Generators", OOPSLA
// 2014): one add and a few multiply/xor-shifts per number, good enough for jitter, and its
// state is a single word so a seeded sequence can live in one atomic.
constexpr std::uint64_t splitmix_gamma = 0x9E3779B97F4A7C15ULL;

constexpr std::uint64_t splitmix_mix(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::uint64_t random_seed() {
  std::random_device device;
  return (std::uint64_t{device()} << 32) ^ device();
}

// One generator per thread for unseeded calculators: no sharing, so no contention.
std::uint64_t thread_random() noexcept {
  thread_local std::uint64_t state = random_seed();
  state += splitmix_gamma;
  return splitmix_mix(state);
}

double checked_ratio(double ratio) {
  // Written so that NaN fails too.
  if (!(ratio >= 0.0 && ratio < 1.0)) {
    throw std::invalid_argument("TTL jitter ratio must be in [0, 1), got " + std::to_string(ratio));
  }
  return ratio;
}

void check_base(std::chrono::milliseconds base) {
  if (base.count() <= 0) {
    throw std::invalid_argument("TTL must be positive, got " + std::to_string(base.count()) +
                                " ms");
  }
}

}  // namespace

TTLCalculator::TTLCalculator(double jitter_ratio) : ratio_(checked_ratio(jitter_ratio)) {}

TTLCalculator::TTLCalculator(double jitter_ratio, std::uint64_t seed)
    : ratio_(checked_ratio(jitter_ratio)), seeded_(true), state_(seed) {}

TTLCalculator::TTLCalculator(const TTLCalculator& other) noexcept
    : ratio_(other.ratio_),
      seeded_(other.seeded_),
      state_(other.state_.load(std::memory_order_relaxed)) {}

TTLCalculator& TTLCalculator::operator=(const TTLCalculator& other) noexcept {
  ratio_ = other.ratio_;
  seeded_ = other.seeded_;
  state_.store(other.state_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  return *this;
}

std::uint64_t TTLCalculator::next_random() const noexcept {
  if (!seeded_) {
    return thread_random();
  }
  // Relaxed is enough: only the uniqueness of each step matters, not ordering with other data.
  return splitmix_mix(state_.fetch_add(splitmix_gamma, std::memory_order_relaxed) + splitmix_gamma);
}

std::chrono::milliseconds TTLCalculator::jittered(std::chrono::milliseconds base) const {
  check_base(base);
  using Rep = std::chrono::milliseconds::rep;
  const Rep b = base.count();
  // Integer bounds: b - floor(b*r) == ceil(b*(1-r)), so [low, high] is exactly the whole
  // milliseconds inside [b*(1-r), b*(1+r)], and the interval is symmetric around b (mean b).
  const auto spread = static_cast<Rep>(std::floor(static_cast<double>(b) * ratio_));
  if (spread <= 0) {
    return base;
  }
  // low >= 1 because r < 1; the max() guards against rounding of b*r for huge b.
  const Rep low = std::max<Rep>(b - spread, 1);
  const Rep high =
      spread > std::numeric_limits<Rep>::max() - b ? std::numeric_limits<Rep>::max() : b + spread;
  const auto width = static_cast<std::uint64_t>(high - low) + 1;
  // Modulo bias is at most width / 2^64, far below anything observable for TTLs.
  return std::chrono::milliseconds{low + static_cast<Rep>(next_random() % width)};
}

std::chrono::milliseconds TTLCalculator::exact(std::chrono::milliseconds base) {
  check_base(base);
  return base;
}

bool TTLCalculator::should_refresh_early(std::chrono::nanoseconds remaining,
                                         std::chrono::nanoseconds delta, double beta) const {
  const double uniform01 = static_cast<double>((next_random() >> 11) + 1) * 0x1.0p-53;
  return xfetch_should_refresh(remaining, delta, beta, uniform01);
}

bool xfetch_should_refresh(std::chrono::nanoseconds remaining, std::chrono::nanoseconds delta,
                           double beta, double uniform01) {
  if (delta.count() < 0) {
    throw std::invalid_argument("xfetch_should_refresh: delta must be >= 0, got " +
                                std::to_string(delta.count()) + " ns");
  }
  if (!(beta >= 0.0) || !std::isfinite(beta)) {
    throw std::invalid_argument("xfetch_should_refresh: beta must be finite and >= 0, got " +
                                std::to_string(beta));
  }
  if (!(uniform01 > 0.0 && uniform01 <= 1.0)) {
    throw std::invalid_argument("xfetch_should_refresh: uniform01 must be in (0, 1], got " +
                                std::to_string(uniform01));
  }
  if (remaining.count() <= 0) {
    return true;  // expired: now >= expiry
  }
  // -ln(u) >= 0, so the gap is >= 0; compared in double nanoseconds to avoid overflow when u is
  // tiny and delta large.
  const double gap_ns = static_cast<double>(delta.count()) * beta * -std::log(uniform01);
  return static_cast<double>(remaining.count()) <= gap_ns;
}

}  // namespace airport::cache
