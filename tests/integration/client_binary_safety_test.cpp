// SPDX-License-Identifier: BSD-3-Clause
// Every byte is data: keys and values with NUL, CRLF, spaces, UTF-8 or RESP framing round-trip
// exactly and can never inject a second command.
#include <gtest/gtest.h>
#include <airport/cache/valkey_client.hpp>

#include <random>

#include "support/server.hpp"

namespace airport::cache {
namespace {

using testing::ServerProcess;

class ClientBinarySafety : public ::testing::Test {
 protected:
  ServerProcess server;
  ValkeyClient client{[this] {
    ValkeyConfig config = server.config();
    config.socket_timeout = std::chrono::seconds{10};  // 16 MiB under the sanitizers
    return config;
  }()};

  void expect_round_trip(std::string_view key, const std::string& value) {
    ASSERT_TRUE(client.set(key, value));
    const std::optional<std::string> back = client.get(key);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->size(), value.size());
    EXPECT_TRUE(*back == value) << "value of " << value.size() << " bytes changed";
    EXPECT_EQ(server.client().command({"STRLEN", key}), std::to_string(value.size()));
  }
};

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 generator{seed};
  std::string bytes(size, '\0');
  for (char& byte : bytes)
    byte = static_cast<char>(generator() & 0xff);
  return bytes;
}

TEST_F(ClientBinarySafety, ValueWithNulAndCrlfRoundTrips) {
  expect_round_trip("nul", std::string{"a\0b\r\nc\0", 7});
}

TEST_F(ClientBinarySafety, KeyWithNulCrlfAndSpacesRoundTrips) {
  const std::string key{"seat\0 map\r\n12A", 14};
  expect_round_trip(key, "taken");
  EXPECT_TRUE(client.exists(key));
  EXPECT_FALSE(client.exists("seat"));
}

TEST_F(ClientBinarySafety, EmptyValueIsAHitNotAMiss) {
  expect_round_trip("empty", "");
  EXPECT_EQ(client.get("empty"), std::string{});
}

TEST_F(ClientBinarySafety, Utf8RoundTrips) {
  expect_round_trip("città:東京:✈", "Zürich → São Paulo ✈ 東京");
}

TEST_F(ClientBinarySafety, EveryByteValueRoundTrips) {
  std::string all;
  for (int byte = 0; byte < 256; ++byte)
    all.push_back(static_cast<char>(byte));
  expect_round_trip(all, all);
}

TEST_F(ClientBinarySafety, OneMebibyteRandomValueRoundTrips) {
  expect_round_trip("1mib", random_bytes(1 << 20, 1));
}

TEST_F(ClientBinarySafety, SixteenMebibyteRandomValueRoundTrips) {
  expect_round_trip("16mib", random_bytes(16 << 20, 2));
}

TEST_F(ClientBinarySafety, CommandInjectionInAKeyStaysOneKey) {
  const std::string attack = "x\r\n*1\r\n$8\r\nFLUSHALL\r\n";
  const std::string inline_attack = "x\r\nFLUSHALL\r\nSET pwned 1";
  server.client().set("survivor", "still here");
  expect_round_trip(attack, "v1");
  expect_round_trip(inline_attack, "v2");
  EXPECT_EQ(server.client().get("survivor"), "still here");
  EXPECT_EQ(server.client().get("pwned"), std::nullopt);
  EXPECT_EQ(client.dbsize(), 3);
}

TEST_F(ClientBinarySafety, PipelinedBinaryArgumentsRoundTrip) {
  const std::string value{"\0\r\n$3\r\n", 8};
  Pipeline pipeline;
  pipeline.add("SET", "p", value).add("GET", "p");
  const auto replies = client.execute(pipeline);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[1].text(), value);
}

}  // namespace
}  // namespace airport::cache
