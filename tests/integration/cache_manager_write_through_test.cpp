// SPDX-License-Identifier: BSD-3-Clause
// mset's write-through to the fallback happens while the server works on the pipeline, before
// its replies say which items it stored. What the fallback serves afterwards must still be
// what the server accepted: an item the server refuses (here: an ACL that denies its key, a
// real per-command refusal) is not served from the fallback, and the others are.
#include <gtest/gtest.h>
#include <airport/cache/manager.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/raw_client.hpp"
#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::ms_since;
using testing::RawClient;
using testing::ServerProcess;

TEST(CacheManagerWriteThrough, AnMsetItemTheServerRefusesIsNotServedFromTheFallback) {
  ServerProcess server;
  RawClient admin{server.host(), server.port()};
  ASSERT_EQ(
      admin.command({"ACL", "SETUSER", "limited", "on", ">limited-pw", "~allowed:*", "+@all"}),
      "OK");
  ValkeyConfig config = server.config();
  config.username = "limited";
  config.password = Secret{"limited-pw"};
  config.cluster.mode = ClusterMode::Off;
  CacheManager cache{config};

  const std::vector<std::pair<std::string_view, std::string_view>> items{
      {"allowed:a", "1"}, {"denied:b", "2"}, {"allowed:c", "3"}};
  EXPECT_FALSE(cache.mset(items, 600s)) << "the denied item was reported stored";
  EXPECT_EQ(admin.get("allowed:a"), "1");
  EXPECT_EQ(admin.get("denied:b"), std::nullopt);
  EXPECT_EQ(admin.get("allowed:c"), "3");

  // Without the server, reads come from the fallback: what the server accepted, nothing else,
  // each within the operation's deadline.
  server.kill();
  long long slowest = 0;
  const auto read = [&](std::string_view key) {
    const auto start = std::chrono::steady_clock::now();
    std::optional<std::string> value = cache.get(key);
    slowest = std::max(slowest, ms_since(start));
    return value;
  };
  EXPECT_EQ(read("allowed:a"), "1");
  EXPECT_EQ(read("allowed:c"), "3");
  EXPECT_EQ(read("denied:b"), std::nullopt) << "the fallback serves a refused write";
  std::cout << "[ measure  ] slowest fallback read after the kill: " << slowest << " ms\n";
  EXPECT_LE(slowest, config.operation_timeout.count() + 100);
}

}  // namespace
}  // namespace airport::cache
