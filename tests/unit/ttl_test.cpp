// SPDX-License-Identifier: BSD-3-Clause
// Unit tests of ttl.hpp: presets, jitter bounds and distribution, determinism, thread safety and
// the XFetch early-refresh rule.
#include "airport/cache/ttl.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

static_assert(ttl_of(TTLPreset::SearchResults) == 1h);
static_assert(to_string(TTLPreset::SearchResults) == "search_results");

TEST(TTLPreset, HasTheWorkshopDurations) {
  EXPECT_EQ(ttl_of(TTLPreset::NearRealtime), 30s);
  EXPECT_EQ(ttl_of(TTLPreset::FlightStatus), 300s);
  EXPECT_EQ(ttl_of(TTLPreset::SeatReservation), 60s);
  EXPECT_EQ(ttl_of(TTLPreset::WeatherData), 900s);
  EXPECT_EQ(ttl_of(TTLPreset::Leaderboard), 600s);
  EXPECT_EQ(ttl_of(TTLPreset::FlightManifest), 1800s);
  EXPECT_EQ(ttl_of(TTLPreset::SearchResults), 3600s);
  EXPECT_EQ(ttl_of(TTLPreset::FlightSchedule), 21600s);
  EXPECT_EQ(ttl_of(TTLPreset::AirportInfo), 86400s);
  EXPECT_EQ(ttl_of(TTLPreset::AirlineInfo), 86400s);
  EXPECT_EQ(ttl_of(TTLPreset::PassengerInfo), 604800s);
  EXPECT_EQ(ttl_of(TTLPreset::Configuration), 2592000s);
}

TEST(TTLPreset, HasDistinctSnakeCaseNames) {
  std::set<std::string_view> names;
  for (const auto preset : all_ttl_presets) {
    const auto name = to_string(preset);
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_NE(name, "unknown");
    for (const char c : name) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << name;
    }
  }
  EXPECT_EQ(to_string(TTLPreset::NearRealtime), "near_realtime");
  EXPECT_EQ(to_string(TTLPreset::Configuration), "configuration");
}

// Samples `count` jittered TTLs and checks each lies in [base(1-r), base(1+r)] and >= 1 ms.
// Returns the mean.
double check_bounds(const TTLCalculator& calculator, milliseconds base, int count) {
  const double r = calculator.jitter_ratio();
  const double b = static_cast<double>(base.count());
  // Whole milliseconds inside the real interval; the epsilon absorbs rounding in b*(1-r).
  const auto low = std::max(1.0, std::ceil(b * (1.0 - r) - 1e-6));
  const auto high = std::floor(b * (1.0 + r) + 1e-6);
  double sum = 0;
  for (int i = 0; i < count; ++i) {
    const auto ttl = static_cast<double>(calculator.jittered(base).count());
    EXPECT_GE(ttl, low) << "base " << base.count() << " ratio " << r;
    EXPECT_LE(ttl, high) << "base " << base.count() << " ratio " << r;
    if (ttl < low || ttl > high) {
      break;  // one report is enough
    }
    sum += ttl;
  }
  return sum / count;
}

TEST(TTLCalculator, JitterStaysWithinBoundsForSeveralRatios) {
  for (const double ratio : {0.0, 0.01, 0.1, 0.25, 0.5, 0.9, 0.999}) {
    const TTLCalculator calculator{ratio};
    for (const milliseconds base : {1ms, 2ms, 10ms, 999ms, milliseconds{1s}, milliseconds{1h}}) {
      check_bounds(calculator, base, ratio == 0.1 ? 100'000 : 10'000);
    }
  }
}

TEST(TTLCalculator, RatioZeroIsExact) {
  const TTLCalculator calculator{0.0};
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(calculator.jittered(12'345ms), 12'345ms);
  }
}

TEST(TTLCalculator, OneSecondIsNotStretchedToThirtySeconds) {
  // The original raised every TTL under 30 s to 30 s, so a 1 s TTL lived 30 s.
  const TTLCalculator calculator;
  for (int i = 0; i < 100'000; ++i) {
    const auto ttl = calculator.jittered(1s);
    ASSERT_GE(ttl, 900ms);
    ASSERT_LE(ttl, 1100ms);
  }
}

TEST(TTLCalculator, OneMillisecondNeverBecomesZero) {
  for (const double ratio : {0.0, 0.5, 0.99, 0.999999}) {
    const TTLCalculator calculator{ratio};
    for (int i = 0; i < 10'000; ++i) {
      ASSERT_EQ(calculator.jittered(1ms), 1ms) << "ratio " << ratio;
    }
  }
}

TEST(TTLCalculator, ThirtyDaysAndHugeBasesDoNotOverflow) {
  const TTLCalculator calculator{0.1};
  const milliseconds thirty_days = ttl_of(TTLPreset::Configuration);
  const double mean = check_bounds(calculator, thirty_days, 100'000);
  EXPECT_NEAR(mean, static_cast<double>(thirty_days.count()),
              0.002 * static_cast<double>(thirty_days.count()));

  const milliseconds huge{std::numeric_limits<milliseconds::rep>::max() - 1};
  const TTLCalculator wide{0.9};
  for (int i = 0; i < 10'000; ++i) {
    ASSERT_GT(wide.jittered(huge).count(), 0);
  }
}

TEST(TTLCalculator, MeanIsNearTheBase) {
  const TTLCalculator calculator{0.1, 42};
  const double mean = check_bounds(calculator, 10'000ms, 100'000);
  // Standard error of the mean is 1000/sqrt(3)/sqrt(1e5) ~ 1.8 ms; allow > 10 sigma.
  EXPECT_NEAR(mean, 10'000.0, 20.0);
}

TEST(TTLCalculator, CoversTheWholeRange) {
  const TTLCalculator calculator{0.5, 7};
  std::set<milliseconds::rep> seen;
  for (int i = 0; i < 10'000; ++i) {
    seen.insert(calculator.jittered(10ms).count());
  }
  EXPECT_EQ(seen, (std::set<milliseconds::rep>{5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}));
}

TEST(TTLCalculator, SeededCalculatorsRepeatTheirSequence) {
  const TTLCalculator a{0.2, 12345};
  const TTLCalculator b{0.2, 12345};
  const TTLCalculator c{0.2, 54321};
  int differences = 0;
  for (int i = 0; i < 1000; ++i) {
    const auto from_a = a.jittered(TTLPreset::SearchResults);
    ASSERT_EQ(from_a, b.jittered(TTLPreset::SearchResults));
    differences += from_a != c.jittered(TTLPreset::SearchResults) ? 1 : 0;
  }
  EXPECT_GT(differences, 900);
  const TTLCalculator copy = a;  // a copy continues from the same point
  EXPECT_EQ(copy.jittered(1h), a.jittered(1h));
}

TEST(TTLCalculator, UnseededCalculatorsVary) {
  const TTLCalculator calculator;
  std::set<milliseconds::rep> seen;
  for (int i = 0; i < 100; ++i) {
    seen.insert(calculator.jittered(1h).count());
  }
  EXPECT_GT(seen.size(), 50u);
}

TEST(TTLCalculator, IsSafeForConcurrentUse) {
  const TTLCalculator unseeded{0.1};
  const TTLCalculator seeded{0.1, 99};
  std::vector<std::thread> threads;
  std::vector<int> out_of_bounds(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20'000; ++i) {
        for (const TTLCalculator* calculator : {&unseeded, &seeded}) {
          const auto ttl = calculator->jittered(1s);
          if (ttl < 900ms || ttl > 1100ms) {
            ++out_of_bounds[static_cast<std::size_t>(t)];
          }
        }
        (void)seeded.should_refresh_early(1s, 10ms);
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  for (const int count : out_of_bounds) {
    EXPECT_EQ(count, 0);
  }
}

TEST(TTLCalculator, RejectsInvalidInput) {
  EXPECT_THROW(TTLCalculator{-0.1}, std::invalid_argument);
  EXPECT_THROW(TTLCalculator{1.0}, std::invalid_argument);
  EXPECT_THROW(TTLCalculator{std::nan("")}, std::invalid_argument);
  EXPECT_THROW((TTLCalculator{1.5, 1}), std::invalid_argument);
  const TTLCalculator calculator;
  try {
    (void)calculator.jittered(-5ms);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string{error.what()}.find("-5"), std::string::npos) << error.what();
  }
  EXPECT_THROW((void)calculator.jittered(0ms), std::invalid_argument);
  EXPECT_THROW((void)TTLCalculator::exact(0ms), std::invalid_argument);
  EXPECT_EQ(TTLCalculator::exact(1500ms), 1500ms);
  EXPECT_EQ(TTLCalculator::exact(TTLPreset::SeatReservation), 60s);
}

TEST(Remaining, ClampsAtZero) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point now{1h};
  EXPECT_EQ(remaining(now + 5s, now), Clock::duration{5s});
  EXPECT_EQ(remaining(now - 5s, now), Clock::duration::zero());
  EXPECT_EQ(remaining(now, now), Clock::duration::zero());
}

TEST(ExpirationTime, IsNowPlusTheTtlOnAnyClock) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point now = Clock::now();
  EXPECT_EQ(expiration_time(300s, now), now + 300s);
  const auto wall_before = std::chrono::system_clock::now();
  const auto wall = expiration_time(60s);  // system_clock, as the original's datetime.now()
  EXPECT_GE(wall, wall_before + 60s);
  EXPECT_LE(wall, std::chrono::system_clock::now() + 60s);
}

TEST(RemainingTtl, IsWholeSecondsRoundedDownAndZeroOncePassed) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point now{};
  EXPECT_EQ(remaining_ttl(now + 2999ms, now), 2s);
  EXPECT_EQ(remaining_ttl(now + 3s, now), 3s);
  EXPECT_EQ(remaining_ttl(now + 999ms, now), 0s);
  EXPECT_EQ(remaining_ttl(now - 5s, now), 0s);
  const auto later = remaining_ttl(expiration_time<Clock>(1h));
  EXPECT_GE(later, 3599s);
  EXPECT_LE(later, 3600s);
}

TEST(XFetch, BetaZeroNeverRefreshesBeforeExpiry) {
  for (const double u : {1e-300, 1e-9, 0.01, 0.5, 1.0}) {
    EXPECT_FALSE(xfetch_should_refresh(1ns, 1h, 0.0, u)) << u;
    EXPECT_FALSE(xfetch_should_refresh(1s, 1h, 0.0, u)) << u;
  }
}

TEST(XFetch, AlwaysRefreshesAtOrAfterExpiry) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point expiry{10h};
  for (const double beta : {0.0, 1.0, 5.0}) {
    for (const double u : {1e-9, 0.5, 1.0}) {
      EXPECT_TRUE(xfetch_should_refresh(expiry, expiry, 100ms, beta, u));
      EXPECT_TRUE(xfetch_should_refresh(expiry + 1s, expiry, 100ms, beta, u));
      EXPECT_TRUE(xfetch_should_refresh(0ns, 100ms, beta, u));
      EXPECT_TRUE(xfetch_should_refresh(-1s, 100ms, beta, u));
    }
  }
}

TEST(XFetch, SmallRandomNumbersRefreshEarly) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point expiry{10h};
  // delta 100 ms, beta 1, u = e^-50: the gap is 5 s, so 4 s before expiry refreshes.
  EXPECT_TRUE(xfetch_should_refresh(expiry - 4s, expiry, 100ms, 1.0, std::exp(-50.0)));
  EXPECT_FALSE(xfetch_should_refresh(expiry - 6s, expiry, 100ms, 1.0, std::exp(-50.0)));
  // u = 1 means -ln(u) = 0: never early.
  EXPECT_FALSE(xfetch_should_refresh(expiry - 1ns, expiry, 100ms, 1.0, 1.0));
  // A larger beta refreshes earlier.
  EXPECT_FALSE(xfetch_should_refresh(1s, 100ms, 1.0, 0.5));
  EXPECT_TRUE(xfetch_should_refresh(1s, 100ms, 100.0, 0.5));
}

TEST(XFetch, RefreshProbabilityGrowsAsExpiryNears) {
  // P(refresh) = P(-ln u >= remaining / (delta beta)) = exp(-remaining / (delta beta)).
  std::mt19937_64 generator{2024};
  double previous = -1.0;
  for (const auto remaining_time : {2000ms, 1000ms, 500ms, 200ms, 100ms, 50ms, 10ms, 0ms}) {
    int refreshes = 0;
    constexpr int samples = 20'000;
    for (int i = 0; i < samples; ++i) {
      refreshes += xfetch_should_refresh(remaining_time, 200ms, 1.0, generator) ? 1 : 0;
    }
    const double probability = static_cast<double>(refreshes) / samples;
    EXPECT_GE(probability, previous) << remaining_time.count() << " ms";
    EXPECT_NEAR(probability, std::exp(-static_cast<double>(remaining_time.count()) / 200.0), 0.02)
        << remaining_time.count() << " ms";
    previous = probability;
  }
}

TEST(XFetch, SeededCalculatorDrawsDeterministically) {
  const TTLCalculator a{0.1, 5};
  const TTLCalculator b{0.1, 5};
  int refreshes = 0;
  for (int i = 0; i < 1000; ++i) {
    const bool from_a = a.should_refresh_early(100ms, 100ms);
    ASSERT_EQ(from_a, b.should_refresh_early(100ms, 100ms));
    refreshes += from_a ? 1 : 0;
  }
  // exp(-1) ~ 0.37
  EXPECT_GT(refreshes, 300);
  EXPECT_LT(refreshes, 440);
}

TEST(XFetch, UniformOpenClosedIsNeverZero) {
  std::minstd_rand small_range{1};
  std::mt19937 thirty_two{1};
  for (int i = 0; i < 100'000; ++i) {
    const double a = uniform_open_closed(small_range);
    const double b = uniform_open_closed(thirty_two);
    ASSERT_GT(a, 0.0);
    ASSERT_LE(a, 1.0);
    ASSERT_GT(b, 0.0);
    ASSERT_LE(b, 1.0);
  }
}

TEST(XFetch, RejectsInvalidInput) {
  EXPECT_THROW((void)xfetch_should_refresh(1s, -1ms, 1.0, 0.5), std::invalid_argument);
  EXPECT_THROW((void)xfetch_should_refresh(1s, 1ms, -1.0, 0.5), std::invalid_argument);
  EXPECT_THROW((void)xfetch_should_refresh(1s, 1ms, std::nan(""), 0.5), std::invalid_argument);
  EXPECT_THROW((void)xfetch_should_refresh(1s, 1ms, 1.0, 0.0), std::invalid_argument);
  EXPECT_THROW((void)xfetch_should_refresh(1s, 1ms, 1.0, 1.5), std::invalid_argument);
}

}  // namespace
}  // namespace airport::cache
