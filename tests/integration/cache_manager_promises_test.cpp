// SPDX-License-Identifier: BSD-3-Clause
// The CacheManager's promises, attacked: no invalidation stranded by a replay, no caller held by
// one, a breaker that counts the server and not our own queue, a rebuild lock freed on every
// path, "not found" apart from values, no refused value in the fallback, one timing per call,
// durations that saturate, and a journal that neither overflows into stale reads nor dies with
// the manager. Interleavings that no real fault can time are forced with ScriptedClient.
#include <gtest/gtest.h>
#include <airport/cache/manager.hpp>
#include <airport/cache/valkey_client.hpp>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <future>
#include <sstream>
#include <thread>

#include "support/fault_proxy.hpp"
#include "support/scripted_client.hpp"
#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::FaultProxy;
using testing::ScriptedClient;
using testing::ServerProcess;
using testing::wait_until;
using Action = ScriptedClient::Action;
using Steady = std::chrono::steady_clock;

// A breaker that never opens and no retries: the tests decide every failure themselves.
ValkeyConfig scripted_config(const ServerProcess& server) {
  ValkeyConfig config = server.config();
  config.circuit_breaker.failure_threshold = 1'000'000;
  config.retry.max_attempts = 1;
  return config;
}

struct Scripted {
  explicit Scripted(const ServerProcess& server, CacheManagerOptions options = {})
      : real{std::make_shared<ValkeyClient>(server.config())},
        client{std::make_shared<ScriptedClient>(real)},
        cache{client, scripted_config(server), std::move(options)} {}
  std::shared_ptr<ValkeyClient> real;
  std::shared_ptr<ScriptedClient> client;
  CacheManager cache;
};

TEST(CacheManagerJournal, AWriteThatFailsDuringAReplayIsReplayedToo) {
  ServerProcess server;
  Scripted s{server};
  server.client().set("k2", "old");

  // An outage leaves k1 in the journal.
  s.client->on("SET", "k1", Action::Fail);
  EXPECT_FALSE(s.cache.set("k1", "v", 60s));
  // A write of k2 is in flight, past the recovery check (it replays k1 on its way).
  auto write_k2 = s.client->on("SET", "k2", Action::Hold);
  std::atomic<bool> k2_stored{true};
  std::thread writer{[&] { k2_stored = s.cache.set("k2", "new", 60s); }};
  ASSERT_TRUE(write_k2->wait_reached());
  // Another failed write journals k3, and a reader starts replaying it; its UNLINK is held.
  s.client->on("SET", "k3", Action::Fail);
  EXPECT_FALSE(s.cache.set("k3", "v", 60s));
  auto replay_k3 = s.client->on("UNLINK", "k3", Action::Hold);
  std::thread reader{[&] { (void)s.cache.get("k9"); }};
  ASSERT_TRUE(replay_k3->wait_reached());
  // The k2 write fails while the replay is in flight: journaled during the replay.
  write_k2->release(/*fail=*/true);
  writer.join();
  EXPECT_FALSE(k2_stored.load());
  replay_k3->release();
  reader.join();

  // Valkey must forget k2 before anyone reads it there again.
  EXPECT_NE(s.cache.get("k2"), "old") << "the invalidation of k2 was stranded";
  ASSERT_TRUE(wait_until(
      [&] {
        (void)s.cache.get("k9");
        return s.cache.health().journal_pending == 0;
      },
      5s));
  EXPECT_EQ(server.client().get("k2"), std::nullopt);
  EXPECT_EQ(s.cache.health().level, HealthLevel::Healthy);
}

TEST(CacheManagerJournal, AReplayNeverHoldsOtherCallers) {
  ServerProcess server;
  Scripted s{server};
  ASSERT_TRUE(s.cache.set("hot", "v1", 60s));
  s.client->on("SET", "k1", Action::Fail);
  EXPECT_FALSE(s.cache.set("k1", "v", 60s));
  auto replay = s.client->on("UNLINK", "k1", Action::Hold);
  std::thread replayer{[&] { (void)s.cache.get("k9"); }};
  ASSERT_TRUE(replay->wait_reached());

  // While the replay hangs, every other caller is served at once, as if degraded. The replay
  // is let go after 2 s at the latest, so a caller that waits for it shows as a 2 s call.
  Steady::duration worst{};
  auto callers = std::async(std::launch::async, [&] {
    for (int i = 0; i < 20; ++i) {
      const auto start = Steady::now();
      EXPECT_EQ(s.cache.get("hot"), "v1");
      worst = std::max(worst, Steady::now() - start);
    }
  });
  (void)callers.wait_for(2s);
  replay->release();
  callers.get();
  replayer.join();
  std::cout << "[ measure  ] slowest get during a held replay: "
            << std::chrono::duration_cast<std::chrono::microseconds>(worst).count() << " us\n";
  EXPECT_LT(worst, 50ms) << "a caller waited for another caller's replay";
}

TEST(CacheManagerJournal, AFailedReplayKeepsWhatItDidNotSendAndTwoRecoveriesInARowWork) {
  ServerProcess server;
  Scripted s{server};
  auto admin = server.client();
  for (const char* key : {"a", "b", "c"})
    admin.set(key, "old");

  s.client->fail_everything(true);
  for (const char* key : {"a", "b"})
    EXPECT_FALSE(s.cache.set(key, "new", 60s));
  s.client->fail_everything(false);
  // The first replay fails mid-way: nothing is lost, and nothing old is served meanwhile.
  s.client->on("UNLINK", "", Action::Fail);
  EXPECT_NE(s.cache.get("a"), "old");
  EXPECT_EQ(s.cache.health().journal_pending, 2u);
  EXPECT_NE(s.cache.get("b"), "old");  // this one replays both
  EXPECT_EQ(s.cache.health().journal_pending, 0u);
  EXPECT_EQ(admin.get("a"), std::nullopt);
  EXPECT_EQ(admin.get("b"), std::nullopt);

  // A second outage right after the first recovery.
  s.client->fail_everything(true);
  EXPECT_FALSE(s.cache.set("c", "new", 60s));
  EXPECT_EQ(s.cache.get("c"), "new");  // the fallback's value, never Valkey's old one
  s.client->fail_everything(false);
  EXPECT_NE(s.cache.get("c"), "old");
  EXPECT_EQ(admin.get("c"), std::nullopt);
  EXPECT_EQ(s.cache.stats().journal.replayed, 3u);
}

TEST(CacheManagerBreaker, AnExhaustedPoolIsNotAServerFailure) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.max_connections = 1;
  config.pool_timeout = 20ms;
  config.circuit_breaker.failure_threshold = 3;
  config.retry.max_attempts = 1;
  CacheManager cache{config};
  ASSERT_TRUE(cache.set("k", "v", 60s));
  {
    // Our own queue is full: the one connection is held by a session.
    const std::unique_ptr<Session> held = cache.client().session();
    for (int i = 0; i < 10; ++i)
      (void)cache.get("k");
    EXPECT_EQ(cache.stats().errors.pool, 10u);
  }
  EXPECT_EQ(cache.circuit_state(), CircuitState::Closed)
      << "a healthy server was cut off because our pool was busy";
  EXPECT_TRUE(cache.set("k", "v2", 60s));
  EXPECT_EQ(server.client().get("k"), "v2");
}

TEST(CacheManagerCompute, TheRebuildLockIsFreedWhenTheLoaderThrows) {
  ServerProcess server;
  CacheManager first{server.config()};
  CacheManager second{server.config()};
  const ComputeOptions locked{.rebuild_lock = true, .lock_wait = 2s};
  EXPECT_THROW(first.get_or_compute(
                   "k", 60s, []() -> int { throw std::runtime_error{"database down"}; }, locked),
               std::runtime_error);
  const auto start = Steady::now();
  EXPECT_EQ(second.get_or_compute(
                "k", 60s, [] { return 7; }, locked),
            7);
  const auto took = Steady::now() - start;
  std::cout << "[ measure  ] get_or_compute after a throwing loader: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  EXPECT_LT(took, 1s) << "the lock of the throwing loader was left behind";
}

TEST(CacheManagerCompute, ACachedNotFoundIsNeverAValue) {
  ServerProcess server;
  CacheManager cache{server.config()};
  const ComputeOptions negative{.negative_ttl = 30s};
  EXPECT_EQ(cache.get_or_compute(
                "k", 60s, []() -> std::optional<int> { return {}; }, negative),
            std::nullopt);
  EXPECT_EQ(cache.get("k"), std::nullopt);
  EXPECT_FALSE(cache.exists("k"));
  int loads = 0;
  const auto seven = [&] {
    ++loads;
    return 7;
  };
  EXPECT_EQ(cache.get_or_compute("k", 60s, seven, negative), 7);
  EXPECT_EQ(cache.get_or_compute("k", 60s, seven, negative), 7);
  EXPECT_EQ(loads, 1) << "a loader that always has a value ran again";
}

TEST(CacheManagerCompute, ALoaderThatAsksForItsOwnKeyGetsALogicError) {
  ServerProcess server;
  CacheManager cache{server.config()};
  auto outcome = std::async(std::launch::async, [&] {
    try {
      (void)cache.get_or_compute("k", 60s,
                                 [&] { return cache.get_or_compute("k", 60s, [] { return 1; }); });
    } catch (const std::logic_error& error) {
      return std::string{error.what()};
    }
    return std::string{"no error"};
  });
  if (outcome.wait_for(5s) != std::future_status::ready) {
    ADD_FAILURE() << "get_or_compute deadlocked on its own key";
    std::_Exit(1);  // the waiting thread can never be joined
  }
  EXPECT_NE(outcome.get().find("'k'"), std::string::npos);
  // The key is usable afterwards: nothing was left in flight.
  EXPECT_EQ(cache.get_or_compute("k", 60s, [] { return 2; }), 2);
}

TEST(CacheManagerRefusals, ARefusedValueNeverLandsInTheFallbackAndIsLoggedAtARate) {
  ServerProcess server{{.extra_args = {"--maxmemory-policy", "noeviction"}}};
  std::stringstream log_text;
  auto logger = std::make_shared<spdlog::logger>(
      "refusals", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text));
  CacheManager cache{server.config(), {.logger = logger}};
  ASSERT_TRUE(cache.set("k", "old", 600s));
  // Store 4 MiB, then set the limit far below it. Filling up to a limit leaves used memory just
  // over it, and the server's cron shrinking a query buffer then let about 1 write in 20 through
  // under the sanitizers; 3 MiB over, every write is refused.
  auto admin = server.client();
  const std::string filler(64 * 1024, 'x');
  for (int i = 0; i < 64; ++i)
    ASSERT_EQ(admin.command({"SET", "filler:" + std::to_string(i), filler}), "OK");
  ASSERT_EQ(admin.command({"CONFIG", "SET", "maxmemory", "1mb"}), "OK");
  const std::string big(32 * 1024, 'n');
  int refused = 0;
  for (int i = 0; i < 1000; ++i)
    refused += cache.set("k", big, 600s) ? 0 : 1;
  EXPECT_EQ(refused, 1000);
  EXPECT_EQ(cache.stats().errors.reply, 1000u);

  // Neither the refused value nor the one it was to replace is served, even degraded.
  EXPECT_EQ(cache.get("k"), std::nullopt);
  server.kill();
  EXPECT_EQ(cache.get("k"), std::nullopt) << "the fallback served a value Valkey refused";
  std::size_t lines = 0;
  for (std::string line; std::getline(log_text, line);)
    lines += line.find("OOM") != std::string::npos ? 1 : 0;
  std::cout << "[ measure  ] 1000 refused writes logged in " << lines << " lines\n";
  EXPECT_LE(lines, 2u);
}

TEST(CacheManagerStats, OperationsCountCallsWhateverThePath) {
  ServerProcess server;
  CacheManager cache{server.config()};
  const ComputeOptions negative{.negative_ttl = 30s};
  std::uint64_t calls = 0;
  (void)cache.get_or_compute("miss", 60s, [] { return 1; });  // read, load, write: one call
  ++calls;
  (void)cache.get_or_compute("miss", 60s, [] { return 1; });  // a hit
  ++calls;
  (void)cache.get_or_compute(
      "none", 60s, []() -> std::optional<int> { return {}; }, negative);
  ++calls;
  (void)cache.get_or_compute(
      "none", 60s, []() -> std::optional<int> { return {}; }, negative);
  ++calls;  // a cached "not found"
  EXPECT_THROW(cache.get_or_compute("bad", 60s, []() -> int { throw std::runtime_error{"x"}; }),
               std::runtime_error);
  ++calls;
  (void)cache.get("miss");
  ++calls;
  (void)cache.set<int>("typed", 3, 60s);
  ++calls;
  EXPECT_EQ(cache.stats().operations, calls);
}

TEST(CacheManagerDurations, TtlsAtTheExtremesSaturateInsteadOfOverflowing) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.operation_timeout = 300ms;
  CacheManager cache{config};
  constexpr auto thousand_years = std::chrono::hours{24 * 365 * 1000};
  ASSERT_TRUE(cache.set("k", "v", Ttl::exact(std::chrono::milliseconds::max())));
  ASSERT_TRUE(cache.set("h", "v", std::chrono::hours::max()));
  EXPECT_TRUE(cache.expire("k", thousand_years));
  EXPECT_TRUE(cache.expire("h", std::chrono::milliseconds::max()));
  EXPECT_GT(*cache.ttl("k"), std::chrono::hours{24 * 365 * 999});
  EXPECT_GT(*cache.ttl("h"), std::chrono::hours{24 * 365 * 999});
  // The degraded path: the fallback and the journal get the same extremes.
  server.kill();
  EXPECT_TRUE(cache.expire("k", std::chrono::milliseconds::max()));
  EXPECT_EQ(cache.get("k"), "v");
  EXPECT_FALSE(cache.set("x", "v", std::chrono::hours::max()));
  EXPECT_EQ(cache.get("x"), "v");
}

TEST(CacheManagerJournal, DestroyingTheManagerReplaysWhatItJournaled) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.operation_timeout = 300ms;
  config.circuit_breaker.recovery_timeout = 60s;  // only the destructor may replay in time
  {
    CacheManager cache{config};
    ASSERT_TRUE(cache.set("k", "old", 600s));
    server.save();
    server.kill();
    EXPECT_FALSE(cache.set("k", "new", 600s));
    server.restart();  // back with k = old
    ASSERT_EQ(server.client().get("k"), "old");
  }
  EXPECT_EQ(server.client().get("k"), std::nullopt)
      << "the next process reads what this one invalidated";
}

TEST(CacheManagerJournal, AnOverflowingJournalForgetsTheWholeNamespace) {
  ServerProcess server;
  ValkeyConfig config = server.config();
  config.key_prefix = "ns";
  config.fallback.journal_max_entries = 50;
  config.operation_timeout = 300ms;
  config.circuit_breaker.recovery_timeout = 100ms;
  config.retry.max_attempts = 1;
  CacheManager cache{config};
  std::vector<std::string> keys;
  for (int i = 0; i < 500; ++i)
    keys.push_back(cache.keys().builder().part("item").part(std::to_string(i)).build());
  for (const auto& key : keys)
    ASSERT_TRUE(cache.set(key, "old", 600s));
  server.client().set("other:keep", "kept");  // outside the namespace
  server.save();
  server.kill();
  for (const auto& key : keys)
    EXPECT_FALSE(cache.set(key, "new", 600s));
  EXPECT_GE(cache.stats().journal.overflows, 1u);
  server.restart();  // back with every key = old

  int stale = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        for (const auto& key : keys)
          stale += cache.get(key) == "old" ? 1 : 0;
        return cache.health().journal_pending == 0;
      },
      10s));
  for (const auto& key : keys)
    stale += cache.get(key) == "old" ? 1 : 0;
  EXPECT_EQ(stale, 0);
  EXPECT_EQ(server.client().get("other:keep"), "kept") << "only the namespace is swept";
}

TEST(CacheManagerDeadline, GetOrComputeReadAndWriteShareOneOperationTimeout) {
  ServerProcess server;
  FaultProxy proxy{server.host(), server.port()};
  ValkeyConfig config = server.config();
  config.port = proxy.port();
  config.operation_timeout = 500ms;
  config.retry.max_attempts = 1;
  CacheManager cache{config};
  ASSERT_TRUE(cache.set("warm", "v", 60s));  // the connection is open before the delay
  proxy.set_delay(200ms);                    // every round trip now takes >= 400 ms
  const auto start = Steady::now();
  EXPECT_EQ(cache.get_or_compute("k", 60s, [] { return 1; }), 1);
  const auto took = Steady::now() - start;
  std::cout << "[ measure  ] get_or_compute with 400 ms round trips: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  EXPECT_LE(took, 600ms) << "the read and the write each took a whole operation_timeout";
}

}  // namespace
}  // namespace airport::cache
