// SPDX-License-Identifier: BSD-3-Clause
// Weather: caching a slow, flaky external API. Fresh values live for TTLPreset::WeatherData
// (15 min, jittered so cities do not all expire together); a "last good" copy lives for a day,
// so when the API fails the caller still gets an answer, marked stale.
#include <fmt/format.h>
#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include "common/scenario.hpp"

namespace airport::examples {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Weather {
  std::string city;
  int temperature_c = 0;
  std::string conditions;
};
void to_json(nlohmann::json& json, const Weather& weather) {
  json = {{"city", weather.city},
          {"temperature_c", weather.temperature_c},
          {"conditions", weather.conditions}};
}
void from_json(const nlohmann::json& json, Weather& weather) {
  json.at("city").get_to(weather.city);
  json.at("temperature_c").get_to(weather.temperature_c);
  json.at("conditions").get_to(weather.conditions);
}

// The external API, simulated in-process with the original workshop's behaviour: 250-500 ms
// per call and a 5% failure rate. Every knob is an environment variable for experiments.
class WeatherApi {
 public:
  WeatherApi()
      : min_latency_{setting("AIRPORT_WEATHER_MIN_LATENCY_MS", 250)},
        max_latency_{setting("AIRPORT_WEATHER_MAX_LATENCY_MS", 500)},
        failure_rate_{setting("AIRPORT_WEATHER_FAILURE_PERCENT", 5) / 100.0} {}

  Weather fetch(const std::string& city) {
    ++calls_;
    std::uniform_int_distribution<int> latency{min_latency_, std::max(min_latency_, max_latency_)};
    std::uniform_real_distribution<double> chance{0.0, 1.0};
    int delay = 0;
    bool fails = false;
    int temperature = 0;
    {
      std::lock_guard lock{mutex_};
      delay = latency(random_);
      fails = outage_ || chance(random_) < failure_rate_;
      temperature = static_cast<int>(random_() % 35);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{delay});
    if (fails) {
      ++failures_;
      throw std::runtime_error("weather API: 503 Service Unavailable");
    }
    static constexpr std::array<const char*, 4> skies{"sunny", "cloudy", "rain", "fog"};
    return {city, temperature, skies[static_cast<std::size_t>(temperature) % skies.size()]};
  }

  void set_outage(bool down) { outage_ = down; }
  [[nodiscard]] int calls() const { return calls_; }
  [[nodiscard]] int failures() const { return failures_; }

 private:
  static int setting(const char* name, int fallback) {
    const char* value = std::getenv(name);
    return value != nullptr ? std::atoi(value) : fallback;
  }
  int min_latency_, max_latency_;
  double failure_rate_;
  std::mutex mutex_;
  std::mt19937 random_{15};
  std::atomic<bool> outage_{false};
  std::atomic<int> calls_{0}, failures_{0};
};

struct Answer {
  std::optional<Weather> weather;
  bool stale = false;
};

// Fresh from the cache, else from the API (and remembered twice), else the last good value.
Answer current_weather(cache::CacheManager& cache, WeatherApi& api, const std::string& country,
                       const std::string& city) {
  const std::string key = cache.keys().weather_key(country, city);
  const std::string last_good_key =
      cache.keys().builder().part("weather").part("last-good").part(country).part(city).build();
  try {
    Weather weather = cache.get_or_compute(key, cache::TTLPreset::WeatherData, [&] {
      Weather fetched = api.fetch(city);
      cache.set(last_good_key, fetched, std::chrono::hours{24});
      return fetched;
    });
    return {std::move(weather), false};
  } catch (const std::runtime_error&) {
    return {cache.get<Weather>(last_good_key), true};
  }
}

}  // namespace

ScenarioResult run_weather(ScenarioContext& context) {
  const Output& out = context.out;
  out.header("weather", "a slow (250-500 ms), flaky (5% errors) API behind TTLPreset::WeatherData");
  ScenarioResult result{.name = "weather"};
  cache::CacheManager cache{example_config(context.server)};
  WeatherApi api;
  const std::vector<std::pair<std::string, std::string>> cities{{"US", "Los Angeles"},
                                                                {"US", "New York"},
                                                                {"GB", "London"},
                                                                {"FR", "Paris"},
                                                                {"JP", "Tokyo"}};
  cache.invalidate_pattern(cache.keys().builder().part("weather").any().pattern());

  // Cold: every city goes to the API (in parallel, as a web server would).
  auto start = Clock::now();
  std::vector<std::thread> fetches;
  std::vector<Answer> cold(cities.size());
  for (std::size_t i = 0; i < cities.size(); ++i) {
    fetches.emplace_back(
        [&, i] { cold[i] = current_weather(cache, api, cities[i].first, cities[i].second); });
  }
  for (auto& fetch : fetches)
    fetch.join();
  const auto cold_time = Clock::now() - start;

  // Warm: 200 requests for the same cities.
  cache.reset_stats();
  start = Clock::now();
  int answered = 0;
  for (int i = 0; i < 200; ++i) {
    const auto& [country, city] = cities[static_cast<std::size_t>(i) % cities.size()];
    if (current_weather(cache, api, country, city).weather)
      ++answered;
  }
  const auto warm_time = Clock::now() - start;
  const cache::StatsSnapshot warm_stats = cache.stats();

  std::vector<std::vector<std::string>> rows{{"city", "°C", "sky", "TTL (jittered)"}};
  for (const auto& [country, city] : cities) {
    const auto weather = cache.get<Weather>(cache.keys().weather_key(country, city));
    const auto ttl = cache.ttl(cache.keys().weather_key(country, city));
    rows.push_back({city, weather ? std::to_string(weather->temperature_c) : "-",
                    weather ? weather->conditions : "(API failed)",
                    ttl ? fmt::format("{} s", ttl->count() / 1000) : "-"});
  }
  out.table(rows);
  const double saved_ms = std::chrono::duration<double, std::milli>(375ms).count() * 200 -
                          std::chrono::duration<double, std::milli>(warm_time).count();
  out.line(fmt::format("cold: {} cities in {} (API calls: {}, failures: {})", cities.size(),
                       format_duration(cold_time), api.calls(), api.failures()));
  out.line(fmt::format(
      "warm: 200 requests in {}, hit ratio {:.1f}%: about {:.0f} s of API latency saved",
      format_duration(warm_time), warm_stats.hit_ratio * 100, saved_ms / 1000));

  // The API goes down while a city's fresh value has expired: the last good value is served.
  api.set_outage(true);
  cache.del(cache.keys().weather_key("GB", "London"));
  const Answer during_outage = current_weather(cache, api, "GB", "London");
  api.set_outage(false);
  out.line(
      during_outage.weather
          ? fmt::format(
                "API outage: London served from the last good value ({} °C, {}), marked stale",
                during_outage.weather->temperature_c, during_outage.weather->conditions)
          : std::string{"API outage: London had no last good value (its first fetch failed too)"});

  take_stats(result, warm_stats);
  result.ok = answered == 200 && warm_stats.hit_ratio > 0.9 &&
              (during_outage.weather.has_value() || !cold[2].weather.has_value());
  result.verdict =
      fmt::format("{} cold vs {} for 200 warm requests; outage served {}",
                  format_duration(cold_time), format_duration(warm_time),
                  during_outage.weather ? "stale data" : "nothing (no last good value)");
  result.details = {{"cold_ms", std::chrono::duration<double, std::milli>(cold_time).count()},
                    {"warm_ms", std::chrono::duration<double, std::milli>(warm_time).count()},
                    {"api_calls", api.calls()},
                    {"api_failures", api.failures()},
                    {"outage_served_stale", during_outage.weather.has_value()}};
  return result;
}

}  // namespace airport::examples
