// SPDX-License-Identifier: BSD-3-Clause
// The typed command API, pipelines, transactions and scripts against a real spawned server,
// over plaintext and over TLS.
#include <gtest/gtest.h>
#include <airport/cache/errors.hpp>
#include <airport/cache/valkey_client.hpp>

#include <algorithm>
#include <array>
#include <set>

#include "support/server.hpp"
#include "support/wire.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::ServerProcess;
using testing::Wire;

class ClientCommands : public ::testing::TestWithParam<Wire> {
 protected:
  ServerProcess server{testing::on_wire(GetParam())};
  ValkeyClient client{testing::config_on_wire(GetParam(), server)};
};

INSTANTIATE_TEST_SUITE_P(Wires, ClientCommands, ::testing::ValuesIn(testing::kWires),
                         [](const auto& info) { return testing::to_string(info.param); });

TEST_P(ClientCommands, GetReturnsNulloptForAMissingKeyAndTheValueAfterSet) {
  EXPECT_EQ(client.get("missing"), std::nullopt);
  EXPECT_TRUE(client.set("flight:UA123", "on time"));
  EXPECT_EQ(client.get("flight:UA123"), "on time");
  EXPECT_EQ(server.client().get("flight:UA123"), "on time");
}

TEST_P(ClientCommands, SetIfNotExistsReportsWhetherItWrote) {
  EXPECT_TRUE(client.set("seat", "alice", {.condition = SetCondition::IfNotExists}));
  EXPECT_FALSE(client.set("seat", "bob", {.condition = SetCondition::IfNotExists}));
  EXPECT_EQ(client.get("seat"), "alice");
  EXPECT_FALSE(client.set("absent", "x", {.condition = SetCondition::IfExists}));
  EXPECT_TRUE(client.set("seat", "carol", {.condition = SetCondition::IfExists}));
  EXPECT_EQ(client.get("seat"), "carol");
}

TEST_P(ClientCommands, SetWithTtlExpiresAndKeepTtlKeepsIt) {
  client.set("status", "boarding", {.ttl = 60s});
  const auto ttl = client.pttl("status");
  ASSERT_TRUE(ttl.has_value());
  EXPECT_GT(*ttl, 59s);
  EXPECT_LE(*ttl, 60s);
  client.set("status", "departed", {.keep_ttl = true});
  EXPECT_GT(*client.pttl("status"), 58s);
  EXPECT_THROW(client.set("status", "x", {.ttl = 0ms}), std::invalid_argument);
  EXPECT_THROW(client.set("status", "x", {.ttl = 5s, .keep_ttl = true}), std::invalid_argument);
}

TEST_P(ClientCommands, KeyCommandsReportTtlExistenceAndType) {
  EXPECT_EQ(client.ttl("nothing"), std::nullopt);
  client.set("k", "v");
  EXPECT_EQ(client.ttl("k"), -1s);
  EXPECT_TRUE(client.expire("k", 100s));
  EXPECT_GT(*client.ttl("k"), 98s);
  EXPECT_TRUE(client.pexpire("k", 50'000ms));
  EXPECT_LE(*client.pttl("k"), 50'000ms);
  EXPECT_TRUE(client.persist("k"));
  EXPECT_EQ(client.ttl("k"), -1s);
  EXPECT_TRUE(client.exists("k"));
  const std::array<std::string_view, 3> keys{"k", "k", "none"};
  EXPECT_EQ(client.exists(keys), 2);
  EXPECT_EQ(client.type("k"), "string");
  EXPECT_EQ(client.type("none"), "none");
  EXPECT_EQ(client.getdel("k"), "v");
  EXPECT_FALSE(client.exists("k"));
}

TEST_P(ClientCommands, CountersIncrementAndDecrement) {
  EXPECT_EQ(client.incr("bookings"), 1);
  EXPECT_EQ(client.incrby("bookings", 41), 42);
  EXPECT_EQ(client.decr("bookings"), 41);
  EXPECT_EQ(client.get("bookings"), "41");
}

TEST_P(ClientCommands, MsetAndMgetKeepOrderAndMisses) {
  const std::array<std::pair<std::string_view, std::string_view>, 2> items{
      {{"a", "1"}, {"b", "2"}}};
  client.mset(items);
  const std::array<std::string_view, 3> keys{"a", "missing", "b"};
  const auto values = client.mget(keys);
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[0], "1");
  EXPECT_EQ(values[1], std::nullopt);
  EXPECT_EQ(values[2], "2");
  EXPECT_EQ(client.del(keys), 2);
  const std::array<std::string_view, 1> gone{"a"};
  EXPECT_EQ(client.unlink(gone), 0);
}

TEST_P(ClientCommands, ScanVisitsEveryMatchingKeyWithoutKeys) {
  for (int i = 0; i < 250; ++i)
    client.set("scan:" + std::to_string(i), "x");
  client.set("other", "x");
  std::set<std::string> seen;
  client.scan_all(
      "scan:*",
      [&](const std::vector<std::string>& batch) { seen.insert(batch.begin(), batch.end()); }, 50);
  EXPECT_EQ(seen.size(), 250u);
  EXPECT_FALSE(seen.contains("other"));
}

TEST_P(ClientCommands, HashCommandsRoundTrip) {
  const std::array<std::pair<std::string_view, std::string_view>, 2> fields{
      {{"gate", "B12"}, {"terminal", "4"}}};
  EXPECT_EQ(client.hset("flight:UA1", fields), 2);
  EXPECT_FALSE(client.hset("flight:UA1", "gate", "B14"));
  EXPECT_EQ(client.hget("flight:UA1", "gate"), "B14");
  EXPECT_EQ(client.hget("flight:UA1", "nope"), std::nullopt);
  const std::array<std::string_view, 2> names{"terminal", "nope"};
  EXPECT_EQ(client.hmget("flight:UA1", names),
            (std::vector<std::optional<std::string>>{"4", std::nullopt}));
  EXPECT_EQ(client.hincrby("flight:UA1", "delay", 15), 15);
  const auto all = client.hgetall("flight:UA1");
  EXPECT_EQ(all.size(), 3u);
  EXPECT_EQ(all.at("delay"), "15");
  const std::array<std::string_view, 1> gate{"gate"};
  EXPECT_EQ(client.hdel("flight:UA1", gate), 1);
}

TEST_P(ClientCommands, SetCommandsRoundTrip) {
  const std::array<std::string_view, 3> members{"LAX", "JFK", "LAX"};
  EXPECT_EQ(client.sadd("hubs", members), 2);
  EXPECT_TRUE(client.sismember("hubs", "JFK"));
  EXPECT_FALSE(client.sismember("hubs", "SFO"));
  auto all = client.smembers("hubs");
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<std::string>{"JFK", "LAX"}));
  const std::array<std::string_view, 1> jfk{"JFK"};
  EXPECT_EQ(client.srem("hubs", jfk), 1);
}

TEST_P(ClientCommands, SortedSetCommandsRankAndPaginate) {
  const std::array<ScoredMember, 3> members{{{"alice", 10}, {"bob", 30}, {"carol", 20}}};
  EXPECT_EQ(client.zadd("board", members), 3);
  EXPECT_DOUBLE_EQ(client.zincrby("board", 5.5, "alice"), 15.5);
  EXPECT_EQ(client.zscore("board", "alice"), 15.5);
  EXPECT_EQ(client.zscore("board", "nobody"), std::nullopt);
  EXPECT_EQ(client.zrank("board", "alice"), 0);
  EXPECT_EQ(client.zrevrank("board", "bob"), 0);
  EXPECT_EQ(client.zrevrank("board", "nobody"), std::nullopt);
  EXPECT_EQ(client.zrevrange("board", 0, 1),
            (std::vector<ScoredMember>{{"bob", 30}, {"carol", 20}}));
  EXPECT_EQ(client.zrange("board", 0, 0), (std::vector<ScoredMember>{{"alice", 15.5}}));
  EXPECT_EQ(client.zcard("board"), 3);
  const std::array<std::string_view, 1> bob{"bob"};
  EXPECT_EQ(client.zrem("board", bob), 1);
  EXPECT_EQ(client.zadd("board", "dave", 1), 1);
}

TEST_P(ClientCommands, BitmapsTrackSeats) {
  EXPECT_FALSE(client.setbit("seats", 17, true));
  EXPECT_TRUE(client.setbit("seats", 17, true));
  EXPECT_TRUE(client.getbit("seats", 17));
  EXPECT_FALSE(client.getbit("seats", 16));
  client.setbit("seats", 200, true);
  EXPECT_EQ(client.bitcount("seats"), 2);
}

TEST_P(ClientCommands, ServerCommandsAnswer) {
  EXPECT_GT(client.ping().count(), 0);
  EXPECT_NE(client.info("server").find("redis_version:"), std::string::npos);
  client.set("a", "1");
  EXPECT_EQ(client.dbsize(), 1);
  client.flushdb();
  EXPECT_EQ(client.dbsize(), 0);
  EXPECT_EQ(client.publish("nobody-listens", "hello"), 0);
}

TEST_P(ClientCommands, TypedCommandsThrowReplyErrorNamingTheServerError) {
  client.hset("hash", "f", "v");
  try {
    (void)client.get("hash");
    FAIL() << "GET of a hash did not throw";
  } catch (const ReplyError& error) {
    EXPECT_NE(std::string{error.what()}.find("WRONGTYPE"), std::string::npos) << error.what();
    EXPECT_NE(std::string{error.what()}.find(client.endpoint()), std::string::npos);
  }
}

TEST_P(ClientCommands, GenericCommandReturnsErrorRepliesAsValues) {
  const Reply ok = client.command("SET", "x", "1");
  EXPECT_TRUE(ok.is_status());
  EXPECT_EQ(ok.text(), "OK");
  const Reply error = client.command("LPUSH", "x", "y");
  EXPECT_TRUE(error.is_error());
  EXPECT_TRUE(error.text().starts_with("WRONGTYPE"));
  const Reply list = client.command("CONFIG", "GET", "maxmemory-policy");
  ASSERT_TRUE(list.is_array());
  EXPECT_EQ(list.elements().size(), 2u);
}

TEST_P(ClientCommands, PipelineRepliesComeBackInOrderIncludingErrors) {
  client.hset("hash", "f", "v");
  Pipeline pipeline;
  pipeline.add("SET", "p1", "one").add("GET", "hash").add("INCR", "counter").add("GET", "p1");
  const std::vector<Reply> replies = client.execute(pipeline);
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_EQ(replies[0].text(), "OK");
  EXPECT_TRUE(replies[1].is_error());
  EXPECT_EQ(replies[2].as_integer(), 1);
  EXPECT_EQ(replies[3].text(), "one");
}

TEST_P(ClientCommands, TransactionRunsAtomicallyAndReportsErrorsInPlace) {
  client.set("str", "x");
  Pipeline pipeline;
  pipeline.add("INCR", "n").add("LPUSH", "str", "y").add("INCR", "n");
  const auto replies = client.transaction(pipeline);
  ASSERT_TRUE(replies.has_value());
  ASSERT_EQ(replies->size(), 3u);
  EXPECT_EQ((*replies)[0].as_integer(), 1);
  EXPECT_TRUE((*replies)[1].is_error());
  EXPECT_EQ((*replies)[2].as_integer(), 2);
}

TEST_P(ClientCommands, WatchAbortsTheTransactionWhenTheKeyChanged) {
  client.set("balance", "100");
  auto session = client.session();
  session->command("WATCH", "balance");
  server.client().set("balance", "50");  // another client changes it between WATCH and EXEC
  session->command("MULTI");
  session->command("SET", "balance", "90");
  const Reply aborted = session->command("EXEC");
  EXPECT_TRUE(aborted.is_nil());
  EXPECT_EQ(client.get("balance"), "50");

  session->command("WATCH", "balance");
  session->command("MULTI");
  session->command("SET", "balance", "40");
  const Reply committed = session->command("EXEC");
  ASSERT_TRUE(committed.is_array());
  EXPECT_EQ(client.get("balance"), "40");
}

TEST_P(ClientCommands, ScriptFallsBackToEvalAfterScriptFlush) {
  const Script script{"return redis.call('INCRBY', KEYS[1], ARGV[1])"};
  const std::array<std::string_view, 1> keys{"points"};
  const std::array<std::string_view, 1> args{"5"};
  EXPECT_EQ(client.eval(script, keys, args).as_integer(), 5);
  EXPECT_EQ(server.client().command({"SCRIPT", "EXISTS", script.sha1()}), "1");
  EXPECT_EQ(server.client().command({"SCRIPT", "FLUSH"}), "OK");
  EXPECT_EQ(client.eval(script, keys, args).as_integer(), 10);
  EXPECT_EQ(client.eval(script, keys, args).as_integer(), 15);
}

TEST_P(ClientCommands, ScriptErrorsAreReturnedAsErrorReplies) {
  const Script script{"return redis.error_reply('SEAT_TAKEN')"};
  const Reply reply = client.eval(script);
  ASSERT_TRUE(reply.is_error());
  // Redis 7 prefixes a code-less error_reply with ERR; older servers and Valkey may not.
  EXPECT_NE(reply.text().find("SEAT_TAKEN"), std::string::npos) << reply.text();
}

TEST(ClientDatabase, SelectsTheConfiguredDatabase) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.database = 3;
  ValkeyClient client{config};
  client.set("in-db-3", "yes");
  auto admin = server.client();
  EXPECT_EQ(admin.get("in-db-3"), std::nullopt);
  admin.command({"SELECT", "3"});
  EXPECT_EQ(admin.get("in-db-3"), "yes");
}

TEST(ClientName, EveryConnectionCarriesTheConfiguredClientName) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.client_name = "gate-service";
  ValkeyClient client{config};
  client.ping();
  const std::string list = server.client().command({"CLIENT", "LIST"});
  EXPECT_NE(list.find("name=gate-service"), std::string::npos) << list;
}

}  // namespace
}  // namespace airport::cache
