// SPDX-License-Identifier: BSD-3-Clause
// What the library's log lines may carry (docs/security.md): keys, key parts such as a flight
// number, and channel names at debug level only; values at no level. Each test causes real
// warnings and errors against a real server, captures every line at every level, and checks
// both sides: the identifiers are absent above debug, and present at debug (so the events were
// logged and the check can fail).
#include <gtest/gtest.h>
#include <airport/cache/logging.hpp>
#include <airport/cache/manager.hpp>
#include <airport/cache/patterns/flight_status.hpp>
#include <airport/cache/subscriber.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::ServerProcess;
using testing::wait_until;

struct Line {
  spdlog::level::level_enum level;
  std::string text;
};

// Every line at every level, read under the sink's lock (the subscriber and health check
// threads log meanwhile).
class CapturedLog {
 public:
  CapturedLog() : logger_{std::make_shared<spdlog::logger>(std::string{logger_name}, sink_)} {
    logger_->set_level(spdlog::level::trace);
  }

  [[nodiscard]] const std::shared_ptr<spdlog::logger>& logger() const { return logger_; }

  [[nodiscard]] std::vector<Line> lines() const {
    std::vector<Line> lines;
    for (const auto& message : sink_->last_raw())
      lines.push_back({message.level, std::string{message.payload.data(), message.payload.size()}});
    return lines;
  }

  // Lines at info or above (warn and error included) that contain `text`.
  [[nodiscard]] std::vector<std::string> above_debug_with(std::string_view text) const {
    std::vector<std::string> found;
    for (const Line& line : lines())
      if (line.level >= spdlog::level::info && line.text.find(text) != std::string::npos)
        found.push_back(line.text);
    return found;
  }

  [[nodiscard]] std::size_t count(spdlog::level::level_enum level, std::string_view text) const {
    std::size_t n = 0;
    for (const Line& line : lines())
      n += line.level == level && line.text.find(text) != std::string::npos;
    return n;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_ =
      std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096);
  std::shared_ptr<spdlog::logger> logger_;
};

FlightStatusUpdate update_of(std::string flight) {
  return {std::move(flight), "delayed", "B12", 25min,
          std::chrono::sys_days{std::chrono::year{2024} / std::chrono::January / 15} + 10h};
}

TEST(LogPrivacy, FlightStatusWarningsAndErrorsNameNoFlightAndNoValue) {
  ServerProcess server;
  CapturedLog log;
  // FlightStatusChannel takes no logger: it finds the one registered under the library's name.
  spdlog::register_logger(log.logger());
  struct Unregister {
    ~Unregister() { spdlog::drop(std::string{logger_name}); }
  } unregister;

  CacheManager cache{server.config(), {.logger = log.logger()}};
  FlightStatusListener listener{
      cache,
      {.on_update =
           [](const FlightStatusUpdate& update) {
             if (update.flight == "PX9932")
               throw std::runtime_error("the departures board is offline");
           },
       .logger = log.logger()}};
  ASSERT_TRUE(listener.wait_ready(5s));
  const auto publish_raw = [&](std::string_view flight, std::string_view payload) {
    server.client().command({"PUBLISH", cache.keys().flight_status_channel(flight), payload});
  };

  // Three rejected messages (warn): not JSON, a bad field value, another flight's update.
  publish_raw("PX9931", "\"VALUE-MARKER-1");  // a parse error would quote it: "last read"
  nlohmann::json bad_time = update_of("PX9931");
  bad_time["updated_at"] = "VALUE-MARKER-2";
  publish_raw("PX9931", bad_time.dump());
  publish_raw("PX9931", nlohmann::json(update_of("PX9934")).dump());
  // on_update throws (error).
  publish_raw("PX9932", nlohmann::json(update_of("PX9932")).dump());
  // The server refuses the cached write: the flight's key holds a hash (WRONGTYPE, error).
  server.client().command(
      {"HSET", cache.keys().flight_status_key("PX9935"), "f", "VALUE-MARKER-3"});
  FlightStatusChannel{cache}.publish(update_of("PX9935"));

  // Waits on levels, not wording, so that the checks below judge any wording.
  ASSERT_TRUE(wait_until(
      [&] {
        return log.count(spdlog::level::warn, "flight status") == 3 &&
               log.count(spdlog::level::err, "on_update threw") == 1 &&
               log.count(spdlog::level::err, "flight status") >= 2;
      },
      5s));
  EXPECT_EQ(listener.malformed(), 3u);

  EXPECT_EQ(log.above_debug_with("PX993"), std::vector<std::string>{});
  std::string channels = cache.keys().flight_status_channel_pattern();  // "...:updates:*"
  channels.pop_back();
  EXPECT_EQ(log.above_debug_with(channels), std::vector<std::string>{});
  for (const Line& line : log.lines())
    EXPECT_EQ(line.text.find("VALUE-MARKER"), std::string::npos) << line.text;
  // The identifiers are there for whoever turns debug on.
  for (const std::string_view flight : {"PX9931", "PX9932", "PX9935"})
    EXPECT_GE(log.count(spdlog::level::debug, flight), 1u) << flight;
}

TEST(LogPrivacy, ASubscriberHandlerThatThrowsIsLoggedWithoutItsChannel) {
  ServerProcess server;
  CapturedLog log;
  Subscriber subscriber{server.config(), log.logger()};
  subscriber.subscribe("passenger:PX9940:notices",
                       [](const Message&) { throw std::runtime_error("handler failed"); });
  ASSERT_TRUE(subscriber.wait_subscribed(5s));
  server.client().command({"PUBLISH", "passenger:PX9940:notices", "VALUE-MARKER-4"});

  ASSERT_TRUE(wait_until([&] { return log.count(spdlog::level::err, "handler failed") == 1; }, 5s));
  EXPECT_EQ(log.above_debug_with("PX9940"), std::vector<std::string>{});
  for (const Line& line : log.lines())
    EXPECT_EQ(line.text.find("VALUE-MARKER"), std::string::npos) << line.text;
  EXPECT_EQ(log.count(spdlog::level::debug, "passenger:PX9940:notices"), 1u);
}

TEST(LogPrivacy, AValueThatDoesNotDecodeIsLoggedByItsSizeWithItsKeyAtDebugOnly) {
  ServerProcess server;
  CapturedLog log;
  const std::string key = "passenger:PX9960:miles";
  server.client().command({"SET", key, "VALUE-MARKER-5"});  // 14 bytes, not an int
  CacheManager cache{server.config(), {.logger = log.logger()}};

  EXPECT_EQ(cache.get<int>(key), std::nullopt);

  EXPECT_EQ(cache.stats().errors.serialization, 1u);
  EXPECT_EQ(log.count(spdlog::level::warn, "14 bytes"), 1u);
  EXPECT_EQ(log.above_debug_with("PX9960"), std::vector<std::string>{});
  for (const Line& line : log.lines())
    EXPECT_EQ(line.text.find("VALUE-MARKER"), std::string::npos) << line.text;
  EXPECT_GE(log.count(spdlog::level::debug, key), 1u);
}

TEST(LogPrivacy, AGetTheServerRefusesIsLoggedWithoutItsKey) {
  ServerProcess server;
  CapturedLog log;
  const std::string key = "passenger:PX9961:profile";
  server.client().command({"RPUSH", key, "VALUE-MARKER-6"});  // GET on a list: WRONGTYPE

  // A fresh manager for each read: a manager writes one reply warning per 10 s.
  {
    CacheManager cache{server.config(), {.logger = log.logger()}};
    EXPECT_EQ(cache.get(key), std::nullopt);
  }
  {
    // With early refresh, get_or_compute sends its GET in a pipeline of its own.
    CacheManager cache{server.config(), {.logger = log.logger()}};
    EXPECT_EQ(cache.get_or_compute(key, 1min, [] { return std::string{"fresh"}; },
                                   {.early_refresh_beta = 1.0}),
              "fresh");
  }

  EXPECT_EQ(log.count(spdlog::level::warn, "WRONGTYPE"), 2u);
  EXPECT_EQ(log.above_debug_with("PX9961"), std::vector<std::string>{});
  for (const Line& line : log.lines())
    EXPECT_EQ(line.text.find("VALUE-MARKER"), std::string::npos) << line.text;
  EXPECT_GE(log.count(spdlog::level::debug, key), 2u);
}

}  // namespace
}  // namespace airport::cache
