// SPDX-License-Identifier: BSD-3-Clause
// Pub/sub on a dedicated connection: delivery, patterns, unsubscribe, resubscription after a
// real server restart, and the liveness PING that notices a link that went silent.
#include <gtest/gtest.h>
#include <airport/cache/subscriber.hpp>
#include <airport/cache/valkey_client.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "support/fault_proxy.hpp"
#include "support/lying_server.hpp"
#include "support/server.hpp"
#include "support/wait.hpp"
#include "support/wire.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::FaultProxy;
using testing::Lie;
using testing::LyingServer;
using testing::ServerProcess;
using testing::wait_until;
using testing::Wire;

struct Inbox {
  std::mutex mutex;
  std::vector<Message> messages;
  MessageHandler handler() {
    return [this](const Message& message) {
      std::lock_guard lock{mutex};
      messages.push_back(message);
    };
  }
  std::size_t size() {
    std::lock_guard lock{mutex};
    return messages.size();
  }
  Message at(std::size_t i) {
    std::lock_guard lock{mutex};
    return messages.at(i);
  }
};

// Every test with a real server runs over plaintext and over TLS.
class SubscriberOnWire : public ::testing::TestWithParam<Wire> {};

INSTANTIATE_TEST_SUITE_P(Wires, SubscriberOnWire, ::testing::ValuesIn(testing::kWires),
                         [](const auto& info) { return testing::to_string(info.param); });

TEST_P(SubscriberOnWire, DeliversMessagesOnASubscribedChannel) {
  ServerProcess server{testing::on_wire(GetParam())};
  Subscriber subscriber{testing::config_on_wire(GetParam(), server)};
  Inbox inbox;
  subscriber.subscribe("flight:status:UA123", inbox.handler());
  ASSERT_TRUE(subscriber.wait_subscribed(5s));
  ValkeyClient client{testing::config_on_wire(GetParam(), server)};
  EXPECT_EQ(client.publish("flight:status:UA123", "boarding"), 1);
  EXPECT_EQ(client.publish("flight:status:OTHER", "ignored"), 0);
  ASSERT_TRUE(wait_until([&] { return inbox.size() == 1; }, 5s));
  EXPECT_EQ(inbox.at(0).channel, "flight:status:UA123");
  EXPECT_EQ(inbox.at(0).payload, "boarding");
  EXPECT_TRUE(inbox.at(0).pattern.empty());
}

TEST_P(SubscriberOnWire, PatternSubscriptionsSeeEveryMatchingChannel) {
  ServerProcess server{testing::on_wire(GetParam())};
  Subscriber subscriber{testing::config_on_wire(GetParam(), server)};
  Inbox inbox;
  subscriber.psubscribe("flight:status:*", inbox.handler());
  ASSERT_TRUE(subscriber.wait_subscribed(5s));
  ValkeyClient client{testing::config_on_wire(GetParam(), server)};
  client.publish("flight:status:UA1", std::string{"a\0b", 3});
  client.publish("flight:status:DL2", "delayed");
  ASSERT_TRUE(wait_until([&] { return inbox.size() == 2; }, 5s));
  EXPECT_EQ(inbox.at(0).payload, std::string("a\0b", 3));
  EXPECT_EQ(inbox.at(0).pattern, "flight:status:*");
  EXPECT_EQ(inbox.at(1).channel, "flight:status:DL2");
}

TEST_P(SubscriberOnWire, UnsubscribeStopsDelivery) {
  ServerProcess server{testing::on_wire(GetParam())};
  Subscriber subscriber{testing::config_on_wire(GetParam(), server)};
  Inbox inbox;
  subscriber.subscribe("c", inbox.handler());
  ASSERT_TRUE(subscriber.wait_subscribed(5s));
  subscriber.unsubscribe("c");
  ValkeyClient client{testing::config_on_wire(GetParam(), server)};
  ASSERT_TRUE(wait_until([&] { return client.publish("c", "x") == 0; }, 5s));
  EXPECT_EQ(inbox.size(), 0u);
}

TEST_P(SubscriberOnWire, ResubscribesByItselfAfterAServerRestart) {
  ServerProcess server{testing::on_wire(GetParam())};
  ValkeyConfig config = testing::config_on_wire(GetParam(), server);
  config.reconnect_base_delay = 20ms;
  config.reconnect_max_delay = 200ms;
  Subscriber subscriber{config};
  Inbox inbox;
  subscriber.subscribe("gate:B12", inbox.handler());
  subscriber.psubscribe("gate:*:changes", inbox.handler());
  ASSERT_TRUE(subscriber.wait_subscribed(5s));

  server.kill();
  ASSERT_TRUE(wait_until([&] { return !subscriber.connected(); }, 5s));
  server.restart();
  const auto restarted = std::chrono::steady_clock::now();
  ASSERT_TRUE(subscriber.wait_subscribed(10s));
  std::cout << "[ measure  ] resubscribed "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - restarted)
                   .count()
            << " ms after the restart\n";
  EXPECT_EQ(subscriber.reconnects(), 1u);

  ValkeyClient client{config};
  EXPECT_EQ(client.publish("gate:B12", "open"), 1);
  EXPECT_EQ(client.publish("gate:B12:changes", "moved"), 1);
  ASSERT_TRUE(wait_until([&] { return inbox.size() == 2; }, 5s));
}

TEST_P(SubscriberOnWire, NoticesASilentLinkByItsPingAndResubscribesWhenItHeals) {
  // A blackholed proxy keeps the TCP connection open and answers nothing: without a PING of its
  // own the subscriber would wait on that connection for ever and never count a reconnect.
  ServerProcess server{testing::on_wire(GetParam())};
  FaultProxy proxy{server.host(), testing::port_on_wire(GetParam(), server)};
  ValkeyConfig config = testing::config_on_wire(GetParam(), server);
  config.port = proxy.port();
  config.health_check_interval = 100ms;
  config.socket_timeout = 200ms;
  config.reconnect_base_delay = 20ms;
  config.reconnect_max_delay = 100ms;
  Subscriber subscriber{config};
  Inbox inbox;
  subscriber.subscribe("flight:status:BA117", inbox.handler());
  ASSERT_TRUE(subscriber.wait_subscribed(5s));
  // Quiet for several intervals: PINGs are answered, so the connection is kept.
  std::this_thread::sleep_for(450ms);
  EXPECT_EQ(subscriber.reconnects(), 0u);

  proxy.blackhole(true);
  const auto silenced = std::chrono::steady_clock::now();
  // Reconnecting fails meanwhile (the handshake's CLIENT SETNAME is not answered either).
  ASSERT_TRUE(wait_until([&] { return !subscriber.connected(); }, 5s));
  std::cout << "[ measure  ] silent link noticed "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - silenced)
                   .count()
            << " ms after the blackhole (interval 100 ms + PING timeout 200 ms)\n";

  proxy.blackhole(false);
  ASSERT_TRUE(subscriber.wait_subscribed(5s));
  EXPECT_EQ(subscriber.reconnects(), 1u);
  ValkeyClient client{testing::config_on_wire(GetParam(), server)};
  EXPECT_EQ(client.publish("flight:status:BA117", "delayed"), 1);
  ASSERT_TRUE(wait_until([&] { return inbox.size() == 1; }, 5s));
  EXPECT_EQ(inbox.at(0).payload, "delayed");
}

TEST_P(SubscriberOnWire, AThrowingHandlerDoesNotStopLaterMessages) {
  ServerProcess server{testing::on_wire(GetParam())};
  Subscriber subscriber{testing::config_on_wire(GetParam(), server)};
  std::atomic<int> calls{0};
  subscriber.subscribe("c", [&](const Message&) {
    if (++calls == 1)
      throw std::runtime_error("handler bug");
  });
  ASSERT_TRUE(subscriber.wait_subscribed(5s));
  ValkeyClient client{testing::config_on_wire(GetParam(), server)};
  client.publish("c", "1");
  client.publish("c", "2");
  EXPECT_TRUE(wait_until([&] { return calls.load() == 2; }, 5s));
}

TEST_P(SubscriberOnWire, StopsPromptlyWhileTheServerIsDown) {
  ServerProcess server{testing::on_wire(GetParam())};
  server.kill();
  auto subscriber = std::make_unique<Subscriber>(testing::config_on_wire(GetParam(), server));
  subscriber->subscribe("c", [](const Message&) {});
  std::this_thread::sleep_for(50ms);
  const auto start = std::chrono::steady_clock::now();
  subscriber.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
}

TEST_P(SubscriberOnWire, StopsWithin200MsWhileItsHandshakeWaitsOnAPausedServer) {
  ServerProcess server{testing::on_wire(GetParam())};
  ValkeyConfig config = testing::config_on_wire(GetParam(), server);
  config.connect_timeout = 5s;
  config.socket_timeout = 5s;
  server.pause();  // the kernel accepts the connection; CLIENT SETNAME is never answered
  auto subscriber = std::make_unique<Subscriber>(config);
  subscriber->subscribe("c", [](const Message&) {});
  std::this_thread::sleep_for(100ms);  // let the handshake's read start waiting
  const auto start = std::chrono::steady_clock::now();
  subscriber.reset();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  std::cout << "[ measure  ] ~Subscriber during a handshake with a SIGSTOPped server: "
            << took.count() << " ms\n";
  EXPECT_LT(took, 200ms);
  server.resume();
}

TEST(Subscriber, StopsWithin200MsWhileAReplyDrips) {
  LyingServer server{Lie::Drip, 10ms};  // SUBSCRIBE's confirmation comes one byte at a time
  ValkeyConfig config;
  config.host = "127.0.0.1";
  config.port = server.port();
  config.socket_timeout = 5s;
  auto subscriber = std::make_unique<Subscriber>(config);
  subscriber->subscribe("c", [](const Message&) {});
  // CLIENT SETNAME, then SUBSCRIBE: the drip has started.
  ASSERT_TRUE(wait_until([&] { return server.commands_received() >= 2; }, 5s));
  std::this_thread::sleep_for(50ms);
  const auto start = std::chrono::steady_clock::now();
  subscriber.reset();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  std::cout << "[ measure  ] ~Subscriber while a reply drips: " << took.count() << " ms\n";
  EXPECT_LT(took, 200ms);
}

TEST(Subscriber, ADrippingReplyCountsAsALostConnectionAfterTheSocketTimeout) {
  LyingServer server{Lie::Drip, 10ms};
  ValkeyConfig config;
  config.host = "127.0.0.1";
  config.port = server.port();
  config.socket_timeout = 200ms;
  config.reconnect_base_delay = 10ms;
  config.reconnect_max_delay = 50ms;
  Subscriber subscriber{config};
  subscriber.subscribe("c", [](const Message&) {});
  // The drip never completes a reply: each connection is given up after the socket timeout
  // and a new one is made, instead of reading the same reply for 17 minutes.
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return server.connections_accepted() >= 3; }, 5s));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  std::cout << "[ measure  ] three connections to a dripping server within " << took.count()
            << " ms (socket timeout 200 ms)\n";
  // Two timed-out replies plus two backoffs of at most 50 ms each, with room for a busy machine.
  EXPECT_LT(took, 1500ms);
}

}  // namespace
}  // namespace airport::cache
