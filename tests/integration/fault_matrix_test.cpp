// SPDX-License-Identifier: BSD-3-Clause
// The fault matrix (issue 10, item 8): each row runs 8 threads of mixed traffic on a CacheManager
// while it causes one fault for real, heals it, lets the load run on, and then checks the
// manager's promises: nothing thrown for availability failures, no stale read after an outage,
// no call much longer than operation_timeout, and stats().operations accounting for every call.
// Every row prints one summary line, pass or fail, and no wait is unbounded.
#include <gtest/gtest.h>
#include <airport/cache/manager.hpp>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "support/fault_proxy.hpp"
#include "support/load_generator.hpp"
#include "support/lying_server.hpp"
#include "support/server.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::FaultProxy;
using testing::Lie;
using testing::LoadGenerator;
using testing::LoadOptions;
using testing::LoadReport;
using testing::LyingServer;
using testing::RawClient;
using testing::ServerOptions;
using testing::ServerProcess;
using Clock = std::chrono::steady_clock;

// Every duration of the matrix, in one place. A row: `before` of load, then its fault (which
// usually lasts `fault`), then `after` of load once healed.
struct MatrixTiming {
  std::chrono::milliseconds operation_timeout{500};
  std::chrono::milliseconds before{700};
  std::chrono::milliseconds fault{1500};
  std::chrono::milliseconds after{1500};
  std::chrono::milliseconds sigstop{3000};
  std::chrono::milliseconds debug_sleep{1500};
  std::chrono::milliseconds kill_loop_interval{50};
  // Rows against a LyingServer: the lie lasts the whole row.
  std::chrono::milliseconds lying{1500};
  // How long stop() waits for the threads once the load should end: a call in progress may
  // legitimately take up to operation_timeout.
  std::chrono::milliseconds stop_grace{2000};
  // Calls per second per thread: plenty of traffic without starving a shared 2-core machine.
  double calls_per_second = 250.0;
};
constexpr MatrixTiming kTiming{};

ValkeyConfig matrix_config(ValkeyConfig config) {
  config.operation_timeout = kTiming.operation_timeout;
  config.health_check_interval = 100ms;
  config.reconnect_base_delay = 20ms;
  config.reconnect_max_delay = 200ms;
  // Short enough that the breaker probes again within the `after` phase.
  config.circuit_breaker.recovery_timeout = 1s;
  config.log_level = LogLevel::Warn;
  return config;
}

ValkeyConfig matrix_config(const ServerProcess& server) {
  return matrix_config(server.config());
}

ValkeyConfig matrix_config(const ServerProcess& server, int port) {
  ValkeyConfig config = matrix_config(server.config());
  config.host = "127.0.0.1";
  config.port = port;
  return config;
}

ValkeyConfig matrix_config(const LyingServer& lying) {
  ValkeyConfig config;
  config.host = "127.0.0.1";
  config.port = lying.port();
  config.connect_timeout = 1s;
  config.socket_timeout = 1s;
  config.pool_timeout = 1s;
  return matrix_config(config);
}

LoadOptions matrix_load() {
  return {.threads = 8, .calls_per_second = kTiming.calls_per_second};
}

// Sleeps are the point here: each is a phase of load of a fixed length, not a wait on a
// condition.
void run_for(std::chrono::milliseconds duration) {
  std::this_thread::sleep_for(duration);
}

// Calls `action` every `interval` for `duration`.
void repeat_for(std::chrono::milliseconds duration, std::chrono::milliseconds interval,
                const std::function<void()>& action) {
  const auto until = Clock::now() + duration;
  while (Clock::now() < until) {
    action();
    std::this_thread::sleep_for(interval);
  }
}

struct Row {
  std::string_view name;
  /// Causes the fault, lasts while it should, and heals it. Runs on the test thread.
  std::function<void()> fault;
  /// Makes calls that are stuck return (closes the server's sockets), when the load did not stop
  /// within the grace; the row has failed by then.
  std::function<void()> unstick;
  std::chrono::milliseconds before = kTiming.before;
  std::chrono::milliseconds after = kTiming.after;
  LoadOptions load = matrix_load();
};

struct RowResult {
  LoadReport report;
  std::string fault_error;  // what the fault itself threw, if anything
};

RowResult run_row(const std::shared_ptr<CacheManager>& cache, const Row& row) {
  RowResult result;
  LoadGenerator load{cache, row.load};
  load.start();
  run_for(row.before);
  try {
    if (row.fault) {
      row.fault();
    }
  } catch (const std::exception& error) {
    result.fault_error = error.what();
  }
  run_for(row.after);
  if (!load.stop(kTiming.stop_grace)) {
    result.report = load.report();  // before unstick, so that the stuck calls' ages count
    if (row.unstick) {
      row.unstick();
    }
    (void)load.stop(kTiming.stop_grace);
  } else {
    result.report = load.report();
  }
  std::cout << "[ fault matrix ] " << row.name << ": " << result.report.summary()
            << (result.fault_error.empty() ? "" : " fault_error=\"" + result.fault_error + "\"")
            << std::endl;
  return result;
}

struct Promises {
  /// Whether the reference model's verdict is asserted; rows without real data turn it off.
  bool no_stale_reads = true;
};

void expect_promises(const RowResult& result, Promises promises = {}) {
  const LoadReport& report = result.report;
  EXPECT_TRUE(result.fault_error.empty()) << "the fault itself failed: " << result.fault_error;
  EXPECT_GT(report.calls, 0U);
  EXPECT_EQ(report.exceptions, 0U) << "escaped a CacheManager call: " << report.first_exception;
  EXPECT_EQ(report.hung_threads, 0U) << "threads still inside a call after the load stopped";
  EXPECT_LE(report.worst_call, 2 * kTiming.operation_timeout)
      << "worst call: " << report.worst_call_kind;
  if (promises.no_stale_reads) {
    EXPECT_EQ(report.verdict.stale_reads, 0U) << report.details();
  }
  if (report.hung_threads == 0) {
    EXPECT_EQ(report.operations_counted(), report.calls)
        << "stats().operations should grow by one per call";
  }
}

std::shared_ptr<CacheManager> make_cache(const ValkeyConfig& config) {
  return std::make_shared<CacheManager>(config);
}

// --- a real server, no fault: the harness itself finds nothing on a healthy path -----------

TEST(FaultMatrix, NoFaultBaseline) {
  ServerProcess server;
  auto cache = make_cache(matrix_config(server));
  const auto result = run_row(cache, {.name = "NoFaultBaseline",
                                      .fault = [] { run_for(kTiming.fault); },
                                      .unstick = [&] { server.kill(); }});
  expect_promises(result);
}

// --- the server process ------------------------------------------------------------------

TEST(FaultMatrix, SigkillAndRestartEmpty) {
  ServerProcess server;
  auto cache = make_cache(matrix_config(server));
  const auto result = run_row(cache, {.name = "SigkillAndRestartEmpty",
                                      .fault =
                                          [&] {
                                            server.kill();
                                            run_for(kTiming.fault);
                                            server.restart();
                                          },
                                      .unstick = [&] { server.kill(); }});
  expect_promises(result);
}

// Full speed, not paced: the journal's bound is crossed within milliseconds (the journal holds
// 16 keys here, fewer than the load's 64, so it surely overflows), and the namespace sweep must
// still leave no stale read. The server comes back from an RDB holding older values.
TEST(FaultMatrix, TwoSecondOutageAtFullSpeedOverflowsTheJournal) {
  ServerProcess server;
  ValkeyConfig config = matrix_config(server);
  config.fallback.journal_max_entries = 16;
  auto cache = make_cache(config);
  LoadOptions unpaced = matrix_load();
  unpaced.calls_per_second = 0;
  const auto result = run_row(cache, {.name = "TwoSecondOutageAtFullSpeedOverflowsTheJournal",
                                      .fault =
                                          [&] {
                                            server.save();
                                            server.kill();
                                            run_for(2s);
                                            server.restart();
                                          },
                                      .unstick = [&] { server.kill(); },
                                      .load = unpaced});
  expect_promises(result);
  EXPECT_GE(cache->stats().journal.overflows, 1U) << "the row meant to overflow the journal";
}

TEST(FaultMatrix, RestartFromAnRdbHoldingOlderValues) {
  ServerProcess server;
  auto cache = make_cache(matrix_config(server));
  const auto result = run_row(cache, {.name = "RestartFromAnRdbHoldingOlderValues",
                                      .fault =
                                          [&] {
                                            server.save();
                                            run_for(kTiming.fault / 2);  // newer values written
                                            server.kill();
                                            server.restart();  // loads the older values
                                          },
                                      .unstick = [&] { server.kill(); }});
  expect_promises(result);
}

TEST(FaultMatrix, SigstopForThreeSeconds) {
  ServerProcess server;
  auto cache = make_cache(matrix_config(server));
  const auto result = run_row(cache, {.name = "SigstopForThreeSeconds",
                                      .fault =
                                          [&] {
                                            server.pause();
                                            run_for(kTiming.sigstop);
                                            server.resume();
                                          },
                                      .unstick = [&] { server.kill(); }});
  expect_promises(result);
}

TEST(FaultMatrix, DebugSleep) {
  ServerProcess server;
  RawClient admin = server.client();
  auto cache = make_cache(matrix_config(server));
  std::string reply;
  const auto result = run_row(
      cache, {.name = "DebugSleep",
              .fault =
                  [&] {
                    // Blocks the server (and this thread) for the whole sleep.
                    const auto seconds = std::chrono::duration<double>(kTiming.debug_sleep);
                    reply = admin.command({"DEBUG", "SLEEP", std::to_string(seconds.count())});
                  },
              .unstick = [&] { server.kill(); }});
  EXPECT_EQ(reply, "OK") << "DEBUG SLEEP needs --enable-debug-command (ServerProcess adds it "
                            "when the server knows it)";
  expect_promises(result);
}

// --- the server's own limits and commands ---------------------------------------------------

TEST(FaultMatrix, ClientKillInALoop) {
  ServerProcess server;
  RawClient admin = server.client();
  auto cache = make_cache(matrix_config(server));
  long long killed = 0;
  const auto result = run_row(
      cache, {.name = "ClientKillInALoop",
              .fault =
                  [&] {
                    // SKIPME yes is the default: the admin connection survives.
                    repeat_for(kTiming.fault, kTiming.kill_loop_interval, [&] {
                      const std::string count = admin.command({"CLIENT", "KILL", "TYPE", "normal"});
                      killed += std::atoll(count.c_str());
                    });
                  },
              .unstick = [&] { server.kill(); }});
  std::cout << "[ fault matrix ] ClientKillInALoop: " << killed << " connections killed"
            << std::endl;
  EXPECT_GT(killed, 0);
  expect_promises(result);
}

TEST(FaultMatrix, MaxclientsBelowThePoolSize) {
  // Three slots: the admin connection takes one before the manager starts, the pool (10) and
  // 8 threads get two.
  ServerProcess server{ServerOptions{.extra_args = {"--maxclients", "3"}}};
  RawClient admin = server.client();
  ASSERT_EQ(admin.command({"PING"}), "PONG");
  auto cache = make_cache(matrix_config(server));
  std::string reply;
  const auto result =
      run_row(cache, {.name = "MaxclientsBelowThePoolSize",
                      .fault =
                          [&] {
                            run_for(kTiming.fault);  // the limit was there from the start
                            reply = admin.command({"CONFIG", "SET", "maxclients", "1000"});
                          },
                      .unstick = [&] { server.kill(); }});
  EXPECT_EQ(reply, "OK");
  expect_promises(result);
}

TEST(FaultMatrix, MaxmemoryWithNoeviction) {
  ServerProcess server;
  RawClient admin = server.client();
  auto cache = make_cache(matrix_config(server));
  std::string replies;
  const auto result = run_row(
      cache, {.name = "MaxmemoryWithNoeviction",
              .fault =
                  [&] {
                    // Far below what is used: every write is refused with OOM, reads and DEL
                    // still work.
                    replies += admin.command({"CONFIG", "SET", "maxmemory-policy", "noeviction"});
                    replies += admin.command({"CONFIG", "SET", "maxmemory", "1"});
                    run_for(kTiming.fault);
                    replies += admin.command({"CONFIG", "SET", "maxmemory", "0"});
                  },
              .unstick = [&] { server.kill(); }});
  EXPECT_EQ(replies, "OKOKOK");
  EXPECT_GT(result.report.failed_sets, 0U) << "the server should have refused writes (OOM)";
  expect_promises(result);
}

TEST(FaultMatrix, RequirepassSetUnderLoad) {
  ServerProcess server;
  RawClient admin = server.client();
  auto cache = make_cache(matrix_config(server));
  std::string replies;
  const auto result =
      run_row(cache, {.name = "RequirepassSetUnderLoad",
                      .fault =
                          [&] {
                            // Open connections stay authenticated; killing them makes the pool
                            // reconnect into the new password.
                            replies += admin.command({"CONFIG", "SET", "requirepass", "fm-pw"});
                            (void)admin.command({"CLIENT", "KILL", "TYPE", "normal"});
                            run_for(kTiming.fault);
                            replies += admin.command({"CONFIG", "SET", "requirepass", ""});
                          },
                      .unstick = [&] { server.kill(); }});
  EXPECT_EQ(replies, "OKOK");
  expect_promises(result);
}

TEST(FaultMatrix, FlushallUnderLoad) {
  ServerProcess server;
  RawClient admin = server.client();
  auto cache = make_cache(matrix_config(server));
  int flushes = 0;
  const auto result = run_row(cache, {.name = "FlushallUnderLoad",
                                      .fault =
                                          [&] {
                                            // A miss is fine after a flush; an older value is not.
                                            repeat_for(kTiming.fault, kTiming.fault / 3, [&] {
                                              flushes += admin.command({"FLUSHALL"}) == "OK";
                                            });
                                          },
                                      .unstick = [&] { server.kill(); }});
  EXPECT_GE(flushes, 3);
  expect_promises(result);
}

// --- the network (FaultProxy between the manager and the server) ---------------------------

TEST(FaultMatrix, ProxyBlackHole) {
  ServerProcess server;
  FaultProxy proxy{server.host(), server.port()};
  auto cache = make_cache(matrix_config(server, proxy.port()));
  const auto result = run_row(cache, {.name = "ProxyBlackHole",
                                      .fault =
                                          [&] {
                                            proxy.blackhole(true);
                                            run_for(kTiming.fault);
                                            proxy.blackhole(false);
                                          },
                                      .unstick = [&] { server.kill(); }});
  expect_promises(result);
}

TEST(FaultMatrix, ProxyDelayOf300Ms) {
  ServerProcess server;
  FaultProxy proxy{server.host(), server.port()};
  auto cache = make_cache(matrix_config(server, proxy.port()));
  const auto result = run_row(cache, {.name = "ProxyDelayOf300Ms",
                                      .fault =
                                          [&] {
                                            // A round trip now takes 600 ms or more.
                                            proxy.set_delay(300ms);
                                            run_for(kTiming.fault);
                                            proxy.set_delay(0ms);
                                          },
                                      .unstick = [&] { server.kill(); }});
  expect_promises(result);
}

TEST(FaultMatrix, ProxyCutsMidTraffic) {
  ServerProcess server;
  FaultProxy proxy{server.host(), server.port()};
  auto cache = make_cache(matrix_config(server, proxy.port()));
  const auto result = run_row(
      cache, {.name = "ProxyCutsMidTraffic",
              .fault = [&] { repeat_for(kTiming.fault, kTiming.fault / 3, [&] { proxy.cut(); }); },
              .unstick = [&] { server.kill(); }});
  expect_promises(result);
}

// --- a server that lies (no data: only exceptions, the time bound and accounting) ----------

void lying_row(std::string_view name, Lie lie) {
  auto lying = std::make_unique<LyingServer>(lie);
  auto cache = make_cache(matrix_config(*lying));
  const auto result = run_row(cache, {.name = name,
                                      .fault = [] { run_for(kTiming.lying); },
                                      .unstick = [&] { lying.reset(); },
                                      .before = 0ms,
                                      .after = 0ms});
  expect_promises(result, {.no_stale_reads = false});
}

TEST(FaultMatrix, LyingBulkLengthOfTenToTheTwelve) {
  lying_row("LyingBulkLengthOfTenToTheTwelve", Lie::HugeBulkLength);
}

TEST(FaultMatrix, LyingArrayCountOfIntMax) {
  lying_row("LyingArrayCountOfIntMax", Lie::HugeArrayCount);
}

TEST(FaultMatrix, LyingDrip) {
  lying_row("LyingDrip", Lie::Drip);
}

TEST(FaultMatrix, LyingEndlessBulk) {
  lying_row("LyingEndlessBulk", Lie::EndlessBulk);
}

TEST(FaultMatrix, LyingGarbage) {
  lying_row("LyingGarbage", Lie::Garbage);
}

TEST(FaultMatrix, LyingCloseMidReply) {
  lying_row("LyingCloseMidReply", Lie::CloseMidReply);
}

}  // namespace
}  // namespace airport::cache
