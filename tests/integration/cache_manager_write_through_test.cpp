// SPDX-License-Identifier: BSD-3-Clause
// mset's write-through to the fallback happens while the server works on the pipeline, before
// its replies say which items it stored. What the fallback serves afterwards must still be
// what the server accepted: an item the server refuses (here: an ACL that denies its key, a
// real per-command refusal) is not served from the fallback, and the others are.
#include <gtest/gtest.h>
#include <airport/cache/manager.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/raw_client.hpp"
#include "support/server.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
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

  // Without the server, reads come from the fallback: what the server accepted, nothing else.
  server.kill();
  EXPECT_EQ(cache.get("allowed:a"), "1");
  EXPECT_EQ(cache.get("allowed:c"), "3");
  EXPECT_EQ(cache.get("denied:b"), std::nullopt) << "the fallback serves a refused write";
}

}  // namespace
}  // namespace airport::cache
