// SPDX-License-Identifier: BSD-3-Clause
// Flight status channel and listener against a real server: delivery into the near-real-time
// cache entry and its TTL, a listener in another service, a server restart, and malformed
// messages; plus the JSON wire format.
#include <gtest/gtest.h>
#include <airport/cache/errors.hpp>
#include <airport/cache/manager.hpp>
#include <airport/cache/patterns/flight_status.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::ServerProcess;
using testing::wait_until;
using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

// 2024-01-15T10:30:00.123Z
constexpr Timestamp sample_time{
    std::chrono::sys_days{std::chrono::year{2024} / std::chrono::January / 15} + 10h + 30min +
    123ms};

FlightStatusUpdate delayed(std::string flight = "UA123") {
  return {std::move(flight), "delayed", "B12", 25min, sample_time};
}

// Updates handed to on_update, collected across threads.
struct Inbox {
  std::mutex mutex;
  std::vector<FlightStatusUpdate> updates;
  FlightStatusListenerOptions options() {
    return {.on_update = [this](const FlightStatusUpdate& update) {
      std::lock_guard lock{mutex};
      updates.push_back(update);
    }};
  }
  std::size_t size() {
    std::lock_guard lock{mutex};
    return updates.size();
  }
  FlightStatusUpdate at(std::size_t i) {
    std::lock_guard lock{mutex};
    return updates.at(i);
  }
};

class FlightStatusTest : public ::testing::Test {
 protected:
  static ValkeyConfig fast_reconnect(ValkeyConfig config) {
    config.reconnect_base_delay = 20ms;
    config.reconnect_max_delay = 200ms;
    return config;
  }

  // Publishes bytes on a flight's channel with the admin connection, bypassing the library.
  void publish_raw(std::string_view flight, std::string_view payload) {
    server.client().command({"PUBLISH", cache.keys().flight_status_channel(flight), payload});
  }

  ServerProcess server;
  ValkeyConfig config = fast_reconnect(server.config());
  CacheManager cache{config};
  FlightStatusChannel channel{cache};
};

TEST_F(FlightStatusTest, PublishCachesTheUpdateAndDeliversItToTheListener) {
  Inbox inbox;
  FlightStatusListener listener{cache, inbox.options()};
  ASSERT_TRUE(listener.wait_ready(5s));
  EXPECT_EQ(channel.publish(delayed()), 1);
  EXPECT_EQ(channel.latest("UA123"), delayed());
  ASSERT_TRUE(wait_until([&] { return inbox.size() == 1; }, 5s));
  EXPECT_EQ(inbox.at(0), delayed());
  EXPECT_EQ(listener.received(), 1u);
  EXPECT_EQ(listener.malformed(), 0u);
}

TEST_F(FlightStatusTest, ADeliveredMessageUpdatesTheCacheEntry) {
  FlightStatusListener listener{cache};
  ASSERT_TRUE(listener.wait_ready(5s));
  // Published around the library, so only the listener can have written the entry.
  publish_raw("UA123", nlohmann::json(delayed()).dump());
  ASSERT_TRUE(wait_until([&] { return listener.latest("UA123").has_value(); }, 5s));
  EXPECT_EQ(listener.latest("UA123"), delayed());
  EXPECT_EQ(nlohmann::json::parse(*server.client().get(cache.keys().flight_status_key("UA123"))),
            nlohmann::json(delayed()));
}

TEST_F(FlightStatusTest, TheEntryLivesForTheNearRealtimeTtlWithJitter) {
  FlightStatusListener listener{cache};
  ASSERT_TRUE(listener.wait_ready(5s));
  channel.publish(delayed("UA1"));
  publish_raw("DL2", nlohmann::json(delayed("DL2")).dump());
  ASSERT_TRUE(wait_until([&] { return listener.received() == 2; }, 5s));
  for (const char* flight : {"UA1", "DL2"}) {
    const long long pttl =
        server.client().integer({"PTTL", cache.keys().flight_status_key(flight)});
    EXPECT_GE(pttl, 26'000) << flight;  // 30 s - 10% jitter, minus the time the test took
    EXPECT_LE(pttl, 33'000) << flight;
  }
}

TEST_F(FlightStatusTest, AListenerInAnotherServiceSeesEveryUpdate) {
  CacheManager other_service{config};
  Inbox inbox;
  FlightStatusListener listener{other_service, inbox.options()};
  ASSERT_TRUE(listener.wait_ready(5s));
  channel.publish(delayed("UA1"));
  channel.publish({"UA1", "boarding", "B12", 25min, sample_time + 5min});
  channel.publish({"DL2", "on time", "C3", 0min, sample_time});
  ASSERT_TRUE(wait_until([&] { return inbox.size() == 3; }, 5s));
  EXPECT_EQ(inbox.at(1).status, "boarding");
  EXPECT_EQ(listener.latest("UA1")->status, "boarding");
  EXPECT_EQ(listener.latest("DL2")->gate, "C3");
}

TEST_F(FlightStatusTest, ALateOlderUpdateDoesNotReplaceANewerOne) {
  Inbox inbox;
  FlightStatusListener listener{cache, inbox.options()};
  ASSERT_TRUE(listener.wait_ready(5s));
  const FlightStatusUpdate newer{"UA123", "boarding", "B14", 25min, sample_time + 5min};
  publish_raw("UA123", nlohmann::json(newer).dump());
  publish_raw("UA123", nlohmann::json(delayed()).dump());  // stamped 5 min earlier, heard later
  // One subscriber thread handles the messages in order: once DL2 is stored, UA123 is settled.
  publish_raw("DL2", nlohmann::json(delayed("DL2")).dump());
  ASSERT_TRUE(wait_until([&] { return listener.latest("DL2").has_value(); }, 5s));
  EXPECT_EQ(listener.latest("UA123"), newer);
  EXPECT_EQ(listener.outdated(), 1u);
  EXPECT_EQ(listener.received(), 2u);
  ASSERT_TRUE(wait_until([&] { return inbox.size() == 2; }, 5s));
  EXPECT_EQ(inbox.at(0), newer);  // on_update never went back in time
  EXPECT_EQ(inbox.at(1).flight, "DL2");
}

TEST_F(FlightStatusTest, APublisherInAnotherServiceWithAnOlderUpdateDoesNotReplaceANewerOne) {
  CacheManager other_service{config};
  FlightStatusChannel late_channel{other_service};
  FlightStatusListener listener{other_service};
  ASSERT_TRUE(listener.wait_ready(5s));
  const FlightStatusUpdate newer{"UA123", "boarding", "B14", 25min, sample_time + 5min};
  channel.publish(newer);
  late_channel.publish(delayed());
  EXPECT_EQ(channel.latest("UA123"), newer);
  late_channel.publish(delayed("DL2"));
  ASSERT_TRUE(wait_until([&] { return listener.latest("DL2").has_value(); }, 5s));
  EXPECT_EQ(listener.latest("UA123"), newer);
  EXPECT_EQ(late_channel.latest("UA123"), newer);
}

TEST_F(FlightStatusTest, ALaggingListenerInAnotherServiceDoesNotWriteBackAnOlderUpdate) {
  // Service A's listener is held in on_update while service B's hears everything. When A
  // catches up, its write of the older update comes after B's write of the newer one.
  std::mutex mutex;
  std::condition_variable changed;
  int handed_to_a = 0;
  int released = 0;  // on_update calls of A allowed to return
  CacheManager service_a{config};
  FlightStatusListener lagging{service_a, {.on_update = [&](const FlightStatusUpdate&) {
                                 std::unique_lock lock{mutex};
                                 const int call = ++handed_to_a;
                                 changed.notify_all();
                                 changed.wait(lock, [&] { return released >= call; });
                               }}};
  const auto release_a = [&](int calls) {
    std::lock_guard lock{mutex};
    released = calls;
    changed.notify_all();
  };
  const auto a_is_in_call = [&](int call) {
    std::unique_lock lock{mutex};
    return changed.wait_for(lock, 5s, [&] { return handed_to_a == call; });
  };
  // Lets A go before its destructor joins the thread, whatever assertion ends the test.
  struct LetGo {
    std::function<void()> release;
    ~LetGo() { release(); }
  } let_go{[&] { release_a(1000); }};
  FlightStatusListener prompt{cache};
  ASSERT_TRUE(lagging.wait_ready(5s));
  ASSERT_TRUE(prompt.wait_ready(5s));
  const FlightStatusUpdate newer{"UA123", "boarding", "B14", 25min, sample_time + 5min};

  publish_raw("DL2", nlohmann::json(delayed("DL2")).dump());
  publish_raw("UA123", nlohmann::json(delayed()).dump());
  publish_raw("UA123", nlohmann::json(newer).dump());
  ASSERT_TRUE(a_is_in_call(1));  // A is held on DL2, before it heard UA123
  ASSERT_TRUE(wait_until([&] { return prompt.received() == 3; }, 5s));
  ASSERT_EQ(prompt.latest("UA123"), newer);

  release_a(1);
  ASSERT_TRUE(a_is_in_call(2));  // A wrote the older UA123 update and is held again
  EXPECT_EQ(prompt.latest("UA123"), newer);
  release_a(3);
  ASSERT_TRUE(wait_until([&] { return lagging.received() == 3; }, 5s));
  EXPECT_EQ(prompt.latest("UA123"), newer);
}

TEST_F(FlightStatusTest, OfTwoUpdatesWithTheSameTimestampTheSameOneWinsInEitherOrder) {
  FlightStatusListener listener{cache};
  ASSERT_TRUE(listener.wait_ready(5s));
  const auto update = [](std::string flight, std::string status) {
    return FlightStatusUpdate{std::move(flight), std::move(status), "B12", 25min, sample_time};
  };
  publish_raw("UA1", nlohmann::json(update("UA1", "boarding")).dump());
  publish_raw("UA1", nlohmann::json(update("UA1", "delayed")).dump());
  publish_raw("UA2", nlohmann::json(update("UA2", "delayed")).dump());
  publish_raw("UA2", nlohmann::json(update("UA2", "boarding")).dump());
  publish_raw("DL2", nlohmann::json(delayed("DL2")).dump());
  ASSERT_TRUE(wait_until([&] { return listener.latest("DL2").has_value(); }, 5s));
  ASSERT_TRUE(listener.latest("UA1").has_value());
  ASSERT_TRUE(listener.latest("UA2").has_value());
  EXPECT_EQ(listener.latest("UA1")->status, listener.latest("UA2")->status);
  // The byte-wise greater JSON encoding wins a tie: "delayed" > "boarding".
  EXPECT_EQ(listener.latest("UA1")->status, "delayed");
}

TEST_F(FlightStatusTest, UpdatesStampedByOneChannelKeepTheirOrderWithinAMillisecond) {
  // Published back to back, these often share a millisecond of the clock. Were they stamped
  // alike, the tie rule would keep "on time", the byte-wise greatest.
  Inbox inbox;
  FlightStatusListener listener{cache, inbox.options()};
  ASSERT_TRUE(listener.wait_ready(5s));
  for (const char* status : {"boarding", "departed", "on time", "departed"})
    channel.publish({"UA9", status, "A1", 0min, {}});
  EXPECT_EQ(channel.latest("UA9").value().status, "departed");
  ASSERT_TRUE(wait_until([&] { return inbox.size() == 4; }, 5s));
  for (std::size_t i = 1; i < 4; ++i)
    EXPECT_LT(inbox.at(i - 1).updated_at, inbox.at(i).updated_at) << i;
  EXPECT_EQ(listener.latest("UA9").value().status, "departed");
  EXPECT_EQ(listener.outdated(), 0u);
}

TEST_F(FlightStatusTest, UpdatesStillArriveAfterAServerRestart) {
  Inbox inbox;
  FlightStatusListener listener{cache, inbox.options()};
  ASSERT_TRUE(listener.wait_ready(5s));

  server.kill();
  ASSERT_TRUE(wait_until([&] { return !listener.connected(); }, 5s));
  server.restart();
  ASSERT_TRUE(listener.wait_ready(10s));
  EXPECT_EQ(listener.reconnects(), 1u);

  // Everything in Valkey went with the old process; the listener fills the entry again.
  publish_raw("UA123", nlohmann::json(delayed()).dump());
  ASSERT_TRUE(wait_until([&] { return inbox.size() == 1; }, 5s));
  ASSERT_TRUE(wait_until([&] { return listener.latest("UA123") == delayed(); }, 5s));
  // And the library's own publisher reaches it too, once its client has reconnected.
  ASSERT_TRUE(wait_until(
      [&] {
        try {
          return channel.publish(delayed("DL2")) == 1;
        } catch (const Error&) {
          return false;
        }
      },
      5s, 50ms));
  ASSERT_TRUE(wait_until([&] { return inbox.size() == 2; }, 5s));
  EXPECT_EQ(inbox.at(1).flight, "DL2");
}

TEST_F(FlightStatusTest, MalformedMessagesAreCountedAndIgnored) {
  Inbox inbox;
  FlightStatusListener listener{cache, inbox.options()};
  ASSERT_TRUE(listener.wait_ready(5s));
  nlohmann::json bad_time = delayed("UA1");
  bad_time["updated_at"] = "yesterday";
  nlohmann::json no_gate = delayed("UA1");
  no_gate.erase("gate");
  nlohmann::json text_delay = delayed("UA1");
  text_delay["delay_minutes"] = "25";

  publish_raw("UA1", "{not json");
  publish_raw("UA1", std::string{"\0\xff", 2});
  publish_raw("UA1", bad_time.dump());
  publish_raw("UA1", no_gate.dump());
  publish_raw("UA1", text_delay.dump());
  publish_raw("UA1", nlohmann::json(delayed("DL2")).dump());  // another flight's update
  publish_raw("UA1", nlohmann::json(delayed("UA1")).dump());  // the only valid one
  ASSERT_TRUE(wait_until([&] { return listener.received() == 1; }, 5s));
  EXPECT_EQ(listener.malformed(), 6u);
  EXPECT_EQ(inbox.size(), 1u);
  EXPECT_EQ(listener.latest("UA1"), delayed("UA1"));
  EXPECT_EQ(listener.latest("DL2"), std::nullopt);
  EXPECT_TRUE(listener.connected());
}

TEST_F(FlightStatusTest, AThrowingCallbackDoesNotStopLaterUpdates) {
  std::atomic<int> calls{0};
  FlightStatusListener listener{cache, {.on_update = [&](const FlightStatusUpdate&) {
                                  if (++calls == 1)
                                    throw std::runtime_error("callback bug");
                                }}};
  ASSERT_TRUE(listener.wait_ready(5s));
  channel.publish(delayed("UA1"));
  channel.publish(delayed("UA2"));
  ASSERT_TRUE(wait_until([&] { return calls == 2; }, 5s));
  EXPECT_EQ(listener.received(), 2u);
}

TEST_F(FlightStatusTest, PublishFillsInTheTimeAndRejectsAnEmptyFlight) {
  const auto before =
      std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now());
  channel.publish({"UA9", "boarding", "A1", 0min, {}});
  const auto cached = channel.latest("UA9");
  ASSERT_TRUE(cached.has_value());
  EXPECT_GE(cached->updated_at, before);
  EXPECT_LE(cached->updated_at, std::chrono::system_clock::now());
  EXPECT_THROW(channel.publish({"", "boarding", "A1", 0min, {}}), std::invalid_argument);
  EXPECT_EQ(channel.latest("never"), std::nullopt);
}

TEST(FlightStatusUpdate, HasTheDocumentedJsonWireFormat) {
  EXPECT_EQ(nlohmann::json(delayed()),
            nlohmann::json::parse(R"({"flight": "UA123", "status": "delayed", "gate": "B12",
                                      "delay_minutes": 25,
                                      "updated_at": "2024-01-15T10:30:00.123Z"})"));
  EXPECT_EQ(nlohmann::json(delayed()).get<FlightStatusUpdate>(), delayed());
}

TEST(FlightStatusUpdate, ReadsIso8601TimestampsWithOffsetsAndFractions) {
  const auto read = [](std::string_view at) {
    nlohmann::json json = delayed();
    json["updated_at"] = at;
    return json.get<FlightStatusUpdate>().updated_at;
  };
  EXPECT_EQ(read("2024-01-15T10:30:00.123Z"), sample_time);
  EXPECT_EQ(read("2024-01-15T12:30:00.123+02:00"), sample_time);
  EXPECT_EQ(read("2024-01-15T05:00:00.123456-0530"), sample_time);
  EXPECT_EQ(read("2024-01-15 10:30:00.1234"), sample_time);  // no offset: UTC
  EXPECT_EQ(read("2024-01-15T10:30:00Z"), sample_time - 123ms);
  for (const char* bad : {"2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-01-15",
                          "2024-01-15T10:30:00.Z", "2024-01-15T10:30:00Zjunk"})
    EXPECT_THROW(read(bad), std::invalid_argument) << bad;
}

}  // namespace
}  // namespace airport::cache
