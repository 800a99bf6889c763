// SPDX-License-Identifier: BSD-3-Clause
// DistributedLock against a real server and a real cluster: exclusivity under contention,
// owner-checked release and extend, fencing tokens, expiry, the watchdog, SCRIPT FLUSH, odd keys;
// and, on a server of their own, client failures.
#include <gtest/gtest.h>
#include <airport/cache/errors.hpp>
#include <airport/cache/keys.hpp>
#include <airport/cache/patterns/lock.hpp>
#include <airport/cache/valkey_client.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/backend.hpp"
#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::Backend;
using testing::ServerProcess;
using testing::SharedBackend;
using testing::wait_until;

// Polls `condition` for the whole `duration`; false as soon as it fails once. For "stays true
// past a deadline" checks: the time passing is the point, not a guess for something to happen.
bool stays_true_for(std::chrono::milliseconds duration, const std::function<bool()>& condition) {
  const auto until = Clock::now() + duration;
  while (Clock::now() < until) {
    if (!condition())
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

ValkeyConfig pooled(ValkeyConfig config) {
  config.max_connections = 24;  // the contention tests run 16 threads
  return config;
}

struct Interval {
  Clock::time_point enter;
  Clock::time_point exit;
  std::int64_t fence = 0;
};

// Runs on a single server and on a 3-primary cluster (one of each per test binary, emptied
// before every test). On the cluster a lock and its fencing counter share a slot by
// DistributedLock::fencing_key's tag, so the scripts run there unchanged.
class DistributedLockTest : public ::testing::TestWithParam<Backend> {
 protected:
  static void TearDownTestSuite() { SharedBackend::stop_all(); }

  [[nodiscard]] bool key_exists(const std::string& name) {
    return oracle.integer({"EXISTS", name}) == 1;
  }

  SharedBackend& backend = SharedBackend::fresh(GetParam());
  std::shared_ptr<Client> client_ptr = backend.make_client(pooled(backend.config()));
  Client& client = *client_ptr;
  DistributedLock lock{client};
  testing::Oracle oracle = backend.oracle();
  CacheKeyManager keys{"test"};
  std::string key = keys.builder().part("lock").part("flight-rebuild").part("UA123").build();
};

INSTANTIATE_TEST_SUITE_P(, DistributedLockTest, ::testing::ValuesIn(testing::all_backends),
                         testing::BackendName{});

// Standalone only: these tests pause (SIGSTOP) or kill "the server" to fail the client for
// real. On the shared backends that would break every later test, and on a cluster one node's
// outage is a failover, which the cluster client's own suite covers; each test here gets a
// server of its own.
class DistributedLockStandaloneTest : public ::testing::Test {
 protected:
  ServerProcess server;
  ValkeyClient client{pooled(server.config())};
  DistributedLock lock{client};
  CacheKeyManager keys{"test"};
  std::string key = keys.builder().part("lock").part("flight-rebuild").part("UA123").build();
};

TEST_P(DistributedLockTest, SixteenThreadsNeverHoldTheLockAtTheSameTime) {
  constexpr int threads = 16;
  constexpr int rounds = 16;
  const std::string counter_key = keys.builder().part("counter").build();
  // Read and written in two separate steps while holding the lock: any overlap of two holders
  // loses an update. Relaxed atomics keep that a logic check rather than a data race for TSan,
  // which cannot see the ordering a server round trip provides.
  std::atomic<long> local_counter{0};
  std::vector<std::vector<Interval>> intervals(threads);
  const LockOptions options{
      .ttl = 10s, .wait_timeout = 30s, .retry_base = 1ms, .retry_max = 20ms, .owner = "worker"};

  const auto started = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        for (int round = 0; round < rounds; ++round) {
          LockLease lease = lock.acquire(key, options);
          const auto enter = Clock::now();
          const long seen = local_counter.load(std::memory_order_relaxed);
          std::this_thread::sleep_for(200us);  // widens the window for a second holder
          local_counter.store(seen + 1, std::memory_order_relaxed);
          const std::optional<std::string> stored = client.get(counter_key);
          client.set(counter_key, std::to_string(stored ? std::stol(*stored) + 1 : 1));
          const auto exit = Clock::now();
          intervals[static_cast<std::size_t>(t)].push_back({enter, exit, lease.fencing_token()});
          EXPECT_TRUE(lease.release());
        }
      } catch (const std::exception& error) {
        ADD_FAILURE() << "worker " << t << ": " << error.what();
      }
    });
  }
  for (auto& worker : workers)
    worker.join();
  const auto elapsed = Clock::now() - started;

  std::vector<Interval> all;
  for (const auto& mine : intervals)
    all.insert(all.end(), mine.begin(), mine.end());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(threads * rounds));
  std::sort(all.begin(), all.end(),
            [](const Interval& a, const Interval& b) { return a.enter < b.enter; });
  for (std::size_t i = 1; i < all.size(); ++i) {
    EXPECT_LT(all[i - 1].exit, all[i].enter) << "holders " << i - 1 << " and " << i << " overlap";
    EXPECT_LT(all[i - 1].fence, all[i].fence);
  }
  EXPECT_EQ(local_counter.load(), threads * rounds);
  EXPECT_EQ(oracle.get(counter_key), std::to_string(threads * rounds));
  EXPECT_FALSE(key_exists(key));
  EXPECT_LT(elapsed, 20s);
}

TEST_P(DistributedLockTest, FencingTokensStrictlyIncreaseAcrossFiftyAcquisitionsByFiveThreads) {
  constexpr int threads = 5;
  constexpr int rounds = 10;
  std::mutex mutex;
  std::vector<Interval> taken;
  const LockOptions options{.ttl = 10s, .wait_timeout = 30s, .retry_base = 1ms, .retry_max = 10ms};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        for (int round = 0; round < rounds; ++round) {
          LockLease lease = lock.acquire(key, options);
          const Interval held{Clock::now(), Clock::now(), lease.fencing_token()};
          const std::lock_guard guard{mutex};
          taken.push_back(held);
        }  // released by the destructor
      } catch (const std::exception& error) {
        ADD_FAILURE() << "worker " << t << ": " << error.what();
      }
    });
  }
  for (auto& worker : workers)
    worker.join();

  ASSERT_EQ(taken.size(), static_cast<std::size_t>(threads * rounds));
  std::sort(taken.begin(), taken.end(),
            [](const Interval& a, const Interval& b) { return a.enter < b.enter; });
  // In acquisition order the tokens are exactly 1..50: strictly increasing, and failed tries
  // (there were many) consumed none.
  for (std::size_t i = 0; i < taken.size(); ++i)
    EXPECT_EQ(taken[i].fence, static_cast<std::int64_t>(i + 1));
  EXPECT_EQ(oracle.get(DistributedLock::fencing_key(key)), "50");
}

TEST_P(DistributedLockTest, ASecondContenderCannotAcquireReleaseOrExtendAHeldLock) {
  std::optional<LockLease> first = lock.try_acquire(key, {.ttl = 10s, .owner = "alice"});
  ASSERT_TRUE(first);
  EXPECT_EQ(first->token().size(), 32u);
  EXPECT_EQ(first->fencing_token(), 1);
  EXPECT_FALSE(lock.try_acquire(key, {.owner = "bob"}));

  const LockHolder impostor{"bob", DistributedLock::make_token()};
  EXPECT_NE(impostor.token, first->token());
  EXPECT_FALSE(lock.release(key, impostor));
  EXPECT_FALSE(lock.extend(key, impostor, 60s));
  // The owner's name alone is not enough either: the token is the proof.
  EXPECT_FALSE(lock.release(key, LockHolder{"alice", impostor.token}));

  EXPECT_EQ(oracle.get(key), "alice:" + first->token());
  EXPECT_LE(oracle.integer({"PTTL", key}), 10'000);
  EXPECT_EQ(lock.holder(key), first->holder());
  EXPECT_TRUE(first->owned());
  EXPECT_TRUE(first->release());
  EXPECT_EQ(lock.holder(key), std::nullopt);
}

TEST_P(DistributedLockTest, AnExpiredLeaseCannotReleaseOrExtendTheNextOwnersLock) {
  std::optional<LockLease> first = lock.try_acquire(key, {.ttl = 100ms, .owner = "first"});
  ASSERT_TRUE(first);
  ASSERT_TRUE(wait_until([&] { return !key_exists(key); }, 3s));
  EXPECT_FALSE(first->owned());  // its lease time ran out locally too

  std::optional<LockLease> second = lock.try_acquire(key, {.ttl = 10s, .owner = "second"});
  ASSERT_TRUE(second);
  EXPECT_GT(second->fencing_token(), first->fencing_token());
  EXPECT_FALSE(first->release());
  EXPECT_FALSE(first->extend(10s));
  EXPECT_EQ(oracle.get(key), "second:" + second->token());
  EXPECT_TRUE(second->owned());
}

TEST_P(DistributedLockTest, DestroyingAnExpiredLeaseLeavesTheNextOwnersLockAlone) {
  std::optional<LockLease> first = lock.try_acquire(key, {.ttl = 100ms});
  ASSERT_TRUE(first);
  ASSERT_TRUE(wait_until([&] { return !key_exists(key); }, 3s));
  std::optional<LockLease> second = lock.try_acquire(key, {.ttl = 10s});
  ASSERT_TRUE(second);
  first.reset();  // its destructor runs the owner-checked release
  EXPECT_EQ(oracle.get(key), second->token());
  second.reset();
  EXPECT_FALSE(key_exists(key));
}

TEST_P(DistributedLockTest, AnExpiredLockLetsAWaitingAcquirerIn) {
  std::optional<LockLease> first = lock.try_acquire(key, {.ttl = 200ms});
  ASSERT_TRUE(first);
  EXPECT_FALSE(lock.try_acquire(key));  // wait_timeout 0: one try

  const auto started = Clock::now();
  std::optional<LockLease> second = lock.try_acquire(key, {.ttl = 10s, .wait_timeout = 5s});
  const auto waited = Clock::now() - started;
  ASSERT_TRUE(second);
  EXPECT_LT(waited, 4s);
  EXPECT_GT(second->fencing_token(), first->fencing_token());
  EXPECT_FALSE(first->owned());
}

TEST_P(DistributedLockTest, AcquireThrowsLockNotAcquiredNamingTheKeyAfterTheWait) {
  LockLease held = lock.acquire(key);
  const auto started = Clock::now();
  try {
    (void)lock.acquire(key, {.wait_timeout = 200ms});
    ADD_FAILURE() << "acquire succeeded on a held lock";
  } catch (const LockNotAcquired& error) {
    EXPECT_EQ(error.key(), key);
    EXPECT_EQ(error.waited(), 200ms);
    EXPECT_NE(std::string{error.what()}.find(key), std::string::npos) << error.what();
    EXPECT_NE(std::string{error.what()}.find("200 ms"), std::string::npos) << error.what();
  }
  const auto waited = Clock::now() - started;
  EXPECT_GE(waited, 200ms);
  EXPECT_LT(waited, 2s);
  EXPECT_TRUE(held.owned());
}

TEST_P(DistributedLockTest, ExtendKeepsTheLockAlivePastItsOriginalTtl) {
  std::optional<LockLease> lease = lock.try_acquire(key, {.ttl = 200ms});
  ASSERT_TRUE(lease);
  EXPECT_TRUE(lease->extend(3s));
  EXPECT_GT(oracle.integer({"PTTL", key}), 2000);
  const std::string value = lease->token();
  EXPECT_TRUE(stays_true_for(600ms, [&] { return oracle.get(key) == value; }));
  EXPECT_TRUE(lease->owned());
  EXPECT_TRUE(lease->release());
  EXPECT_FALSE(key_exists(key));
}

TEST_P(DistributedLockTest, WatchdogKeepsTheLockAliveForThreeTtlsAndStopsOnRelease) {
  std::optional<LockLease> lease = lock.try_acquire(key, {.ttl = 300ms, .auto_extend = true});
  ASSERT_TRUE(lease);
  const std::string value = lease->token();
  EXPECT_TRUE(stays_true_for(1000ms, [&] { return oracle.get(key) == value; }));
  EXPECT_TRUE(lease->owned());
  EXPECT_FALSE(lease->lost());
  EXPECT_TRUE(lease->release());
  EXPECT_FALSE(key_exists(key));  // gone right after, not after the ttl
  EXPECT_FALSE(lease->owned());
  EXPECT_FALSE(lease->lost());
}

TEST_P(DistributedLockTest, ReleasingOrDestroyingAWatchedLeaseDoesNotWaitForTheNextTick) {
  // The watchdog would tick every 20 s: stopping it must wake it, not wait the tick out.
  std::optional<LockLease> released = lock.try_acquire(key, {.ttl = 60s, .auto_extend = true});
  ASSERT_TRUE(released);
  auto started = Clock::now();
  EXPECT_TRUE(released->release());
  EXPECT_LT(Clock::now() - started, 1s);

  std::optional<LockLease> destroyed = lock.try_acquire(key, {.ttl = 60s, .auto_extend = true});
  ASSERT_TRUE(destroyed);
  started = Clock::now();
  destroyed.reset();
  EXPECT_LT(Clock::now() - started, 1s);
  EXPECT_FALSE(key_exists(key));
}

TEST_P(DistributedLockTest, WatchdogReportsTheLockLostWhenTheKeyIsDeletedBehindItsBack) {
  std::atomic<int> lost_calls{0};
  std::string lost_key;  // written by the callback before lost_calls is incremented
  std::optional<LockLease> lease = lock.try_acquire(
      key, {.ttl = 300ms, .auto_extend = true, .on_lost = [&](std::string_view which) {
              lost_key = which;
              ++lost_calls;
            }});
  ASSERT_TRUE(lease);
  oracle.command({"DEL", key});
  ASSERT_TRUE(wait_until([&] { return lease->lost(); }, 3s));
  ASSERT_TRUE(wait_until([&] { return lost_calls.load() == 1; }, 3s));
  EXPECT_EQ(lost_key, key);
  EXPECT_FALSE(lease->owned());
  EXPECT_FALSE(lease->extend());
  EXPECT_FALSE(lease->release());
  EXPECT_EQ(lost_calls.load(), 1);
}

TEST_P(DistributedLockTest, OnLostMayReleaseItsOwnLeaseOnTheWatchdogThread) {
  std::optional<LockLease> lease;
  std::atomic<int> released{-1};
  lease =
      lock.try_acquire(key, {.ttl = 300ms, .auto_extend = true, .on_lost = [&](std::string_view) {
                               released = lease->release() ? 1 : 0;
                             }});
  ASSERT_TRUE(lease);
  oracle.command({"DEL", key});
  ASSERT_TRUE(wait_until([&] { return released.load() != -1; }, 3s));
  EXPECT_EQ(released.load(), 0);  // lost, so nothing to free
  EXPECT_FALSE(lease->owned());
  lease.reset();  // joins the watchdog, which has returned from the callback
}

TEST_P(DistributedLockTest, WatchdogReportsTheLockLostWhenAnotherOwnerTookTheKey) {
  std::optional<LockLease> lease = lock.try_acquire(key, {.ttl = 300ms, .auto_extend = true});
  ASSERT_TRUE(lease);
  oracle.set(key, "intruder:0123");
  ASSERT_TRUE(wait_until([&] { return lease->lost(); }, 3s));
  lease.reset();  // known lost: the destructor must not touch the other owner's key
  EXPECT_EQ(oracle.get(key), "intruder:0123");
}

TEST_F(DistributedLockStandaloneTest, WatchdogGivesUpAfterAWholeTtlWithoutReachingTheServer) {
  std::atomic<int> lost_calls{0};
  std::optional<LockLease> lease = lock.try_acquire(
      key, {.ttl = 300ms, .auto_extend = true, .on_lost = [&](std::string_view) { ++lost_calls; }});
  ASSERT_TRUE(lease);
  server.pause();  // extends now time out after the client's 1 s socket timeout
  const bool gave_up = wait_until([&] { return lease->lost(); }, 5s);
  server.resume();
  ASSERT_TRUE(gave_up);
  EXPECT_TRUE(wait_until([&] { return lost_calls.load() == 1; }, 1s));
  EXPECT_FALSE(lease->owned());
}

TEST_P(DistributedLockTest, ScriptsSurviveScriptFlush) {
  std::optional<LockLease> lease = lock.try_acquire(key);
  ASSERT_TRUE(lease);
  oracle.on_every_primary({"SCRIPT", "FLUSH"});
  EXPECT_TRUE(lease->extend(5s));
  oracle.on_every_primary({"SCRIPT", "FLUSH"});
  EXPECT_TRUE(lease->release());
  EXPECT_FALSE(key_exists(key));
  oracle.on_every_primary({"SCRIPT", "FLUSH"});
  std::optional<LockLease> again = lock.try_acquire(key);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->fencing_token(), 2);
}

TEST_P(DistributedLockTest, KeysAndOwnersWithSpacesAndColonsWork) {
  const std::string built = keys.builder().part("rebuild lock").part("flight:UA 123").build();
  for (const std::string& odd : {built, std::string{"lock: gate B12:terminal 4"}}) {
    SCOPED_TRACE(odd);
    std::optional<LockLease> lease = lock.try_acquire(odd, {.owner = "ops team:night shift"});
    ASSERT_TRUE(lease);
    EXPECT_EQ(lease->key(), odd);
    const std::optional<LockHolder> holder = lock.holder(odd);
    ASSERT_TRUE(holder);
    EXPECT_EQ(holder->owner, "ops team:night shift");
    EXPECT_EQ(holder->token, lease->token());
    EXPECT_EQ(oracle.get(odd + ":fence{" + odd + "}"), "1");
    EXPECT_FALSE(lock.try_acquire(odd));
    EXPECT_TRUE(lease->release());
    EXPECT_FALSE(key_exists(odd));
  }
}

TEST_P(DistributedLockTest, FencingTtlBoundsTheCounterAndEveryAcquireRefreshesIt) {
  std::optional<LockLease> lease = lock.try_acquire(key, {.fencing_ttl = 60s});
  ASSERT_TRUE(lease);
  const long long first_ttl = oracle.integer({"PTTL", DistributedLock::fencing_key(key)});
  EXPECT_GT(first_ttl, 50'000);
  EXPECT_LE(first_ttl, 60'000);
  EXPECT_TRUE(lease->release());
  // Without fencing_ttl the counter is kept forever.
  std::optional<LockLease> other = lock.try_acquire(key + "-forever");
  ASSERT_TRUE(other);
  EXPECT_EQ(oracle.integer({"PTTL", DistributedLock::fencing_key(key + "-forever")}), -1);
}

TEST_P(DistributedLockTest, DestructorAndMoveReleaseExactlyOnce) {
  {
    LockLease lease = lock.acquire(key);
    LockLease moved = std::move(lease);
    EXPECT_FALSE(lease.owned());  // NOLINT(bugprone-use-after-move): documented moved-from state
    EXPECT_TRUE(lease.key().empty());
    EXPECT_EQ(lease.fencing_token(), 0);
    EXPECT_FALSE(lease.release());
    EXPECT_TRUE(moved.owned());
    EXPECT_TRUE(key_exists(key));
  }
  EXPECT_FALSE(key_exists(key));

  const std::string other_key = key + "-other";
  LockLease target = lock.acquire(key);
  LockLease source = lock.acquire(other_key);
  target = std::move(source);  // releases what target held
  EXPECT_FALSE(key_exists(key));
  EXPECT_TRUE(key_exists(other_key));
  EXPECT_EQ(target.key(), other_key);
  EXPECT_TRUE(target.release());
}

TEST_F(DistributedLockStandaloneTest, ClientErrorsPropagateFromAcquireButNotFromTheDestructor) {
  std::optional<LockLease> lease = lock.try_acquire(key);
  ASSERT_TRUE(lease);
  server.kill();
  EXPECT_THROW((void)lock.try_acquire(key + "-2"), ConnectionError);
  EXPECT_THROW((void)lease->extend(5s), ConnectionError);
  EXPECT_NO_THROW(lease.reset());
}

TEST_P(DistributedLockTest, InvalidOptionsAreRejectedNamingTheField) {
  const auto message_of = [&](const LockOptions& options) -> std::string {
    try {
      (void)lock.try_acquire(key, options);
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "no exception";
  };
  EXPECT_NE(message_of({.ttl = 0ms}).find("LockOptions::ttl"), std::string::npos);
  EXPECT_NE(message_of({.wait_timeout = -1ms}).find("LockOptions::wait_timeout"),
            std::string::npos);
  EXPECT_NE(message_of({.retry_base = 0ms}).find("LockOptions::retry_base"), std::string::npos);
  EXPECT_NE(message_of({.retry_base = 50ms, .retry_max = 10ms}).find("LockOptions::retry_max"),
            std::string::npos);
  EXPECT_NE(message_of({.fencing_ttl = 0ms}).find("LockOptions::fencing_ttl"), std::string::npos);
  EXPECT_THROW((void)lock.try_acquire(""), std::invalid_argument);
  EXPECT_EQ(oracle.dbsize(), 0);
}

TEST(LockHolder, ValueAndParseRoundTripWithColonsInTheOwner) {
  const LockHolder plain{"", "00ff"};
  EXPECT_EQ(plain.value(), "00ff");
  EXPECT_EQ(LockHolder::parse("00ff"), plain);
  const LockHolder labelled{"passenger:P 42", "abcd"};
  EXPECT_EQ(labelled.value(), "passenger:P 42:abcd");
  EXPECT_EQ(LockHolder::parse(labelled.value()), labelled);
  EXPECT_NE(DistributedLock::make_token(), DistributedLock::make_token());
}

}  // namespace
}  // namespace airport::cache
