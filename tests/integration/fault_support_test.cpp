// SPDX-License-Identifier: BSD-3-Clause
// Self-tests of the fault matrix's tooling: the LyingServer tells each lie as documented (over a
// raw socket, no library code in between), the ReferenceModel tells stale reads from fresh ones
// in hand-written histories, and the LoadGenerator accounts for a healthy run.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <airport/cache/manager.hpp>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/load_generator.hpp"
#include "support/lying_server.hpp"
#include "support/reference_model.hpp"
#include "support/server.hpp"
#include "support/wait.hpp"

namespace airport::cache::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A blocking-free loopback socket with bounded reads, closed by its destructor.
class RawSocket {
 public:
  explicit RawSocket(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      throw std::runtime_error("RawSocket: cannot connect to 127.0.0.1:" + std::to_string(port));
    }
  }
  ~RawSocket() { ::close(fd_); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  void send(std::string_view bytes) const {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }

  // Everything that arrives within `window`, or until `enough` bytes came.
  std::string read_for(std::chrono::milliseconds window, std::size_t enough = SIZE_MAX) {
    std::string received;
    const auto until = Clock::now() + window;
    while (received.size() < enough && !closed_) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
      if (left <= 0ms) {
        break;
      }
      pollfd fd{fd_, POLLIN, 0};
      if (::poll(&fd, 1, static_cast<int>(left.count())) <= 0) {
        continue;
      }
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n > 0) {
        received.append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        closed_ = true;
      }
    }
    return received;
  }

  // Whether the peer closed the connection (seen by an earlier or this read).
  bool closed_within(std::chrono::milliseconds window) {
    (void)read_for(window);
    return closed_;
  }

 private:
  int fd_ = -1;
  bool closed_ = false;
};

std::string command(std::initializer_list<std::string_view> args) {
  std::string encoded = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto arg : args) {
    encoded += "$" + std::to_string(arg.size()) + "\r\n";
    encoded += arg;
    encoded += "\r\n";
  }
  return encoded;
}

// Whether `reply` starts like one RESP2 reply: a known type byte, and a well-formed integer where
// one is required.
bool starts_like_resp(std::string_view reply) {
  const auto end = reply.find("\r\n");
  if (reply.empty() || end == std::string_view::npos) {
    return false;
  }
  const char type = reply.front();
  const auto line = reply.substr(1, end - 1);
  if (type == '+' || type == '-') {
    return true;
  }
  if (type != ':' && type != '$' && type != '*') {
    return false;
  }
  long long value = 0;
  const auto [ptr, error] = std::from_chars(line.data(), line.data() + line.size(), value);
  if (error != std::errc{} || ptr != line.data() + line.size()) {
    return false;
  }
  return type == ':' || value >= -1;
}

TEST(LyingServer, AnswersTheHandshakeAndPingHonestly) {
  LyingServer server{Lie::Silent};
  RawSocket socket{server.port()};
  socket.send(command({"AUTH", "secret"}) + command({"SELECT", "0"}) +
              command({"CLIENT", "SETNAME", "x"}) + command({"PING"}) + command({"RESET"}) +
              "PING\r\n");
  EXPECT_EQ(socket.read_for(1s, 30), "+OK\r\n+OK\r\n+OK\r\n+PONG\r\n+OK\r\n+PONG\r\n");
  EXPECT_EQ(server.connections_accepted(), 1U);
  EXPECT_EQ(server.commands_received(), 6U);
}

TEST(LyingServer, SilentReadsButNeverAnswers) {
  LyingServer server{Lie::Silent};
  RawSocket socket{server.port()};
  socket.send(command({"GET", "k"}));
  EXPECT_EQ(socket.read_for(100ms), "");
  EXPECT_FALSE(socket.closed_within(1ms));
  EXPECT_TRUE(wait_until([&] { return server.commands_received() == 1; }, 1s));
}

TEST(LyingServer, DripSendsAValidReplyAFewBytesAtATimeAndKeepsTheConnectionOpen) {
  LyingServer server{Lie::Drip, 10ms};
  RawSocket socket{server.port()};
  socket.send(command({"GET", "k"}));
  const std::string first = socket.read_for(50ms);
  EXPECT_GE(first.size(), 1U);
  EXPECT_LE(first.size(), 7U) << "a byte every 10 ms";
  EXPECT_EQ(first, std::string("$100000\r\n").substr(0, first.size()));
  const std::string more = socket.read_for(100ms);
  EXPECT_GE(more.size(), 3U);
  EXPECT_LE(more.size(), 13U);
  EXPECT_FALSE(socket.closed_within(1ms));
}

TEST(LyingServer, EndlessBulkAnnouncesAGigabyteAndKeepsSendingFiller) {
  LyingServer server{Lie::EndlessBulk, 10ms};
  RawSocket socket{server.port()};
  socket.send(command({"GET", "k"}));
  const std::string header = "$1000000000\r\n";
  const std::string received = socket.read_for(100ms);
  ASSERT_GE(received.size(), header.size());
  EXPECT_EQ(received.substr(0, header.size()), header);
  // About 1 KiB every 10 ms, so ten chunks are due; two show it goes on even when the machine
  // is busy (three arrived under ASan with every CPU taken).
  EXPECT_GE(received.size(), header.size() + 2 * 1024) << "about 1 KiB every 10 ms";
  EXPECT_GT(socket.read_for(50ms).size(), 0U) << "it goes on";
  EXPECT_FALSE(socket.closed_within(1ms));
}

TEST(LyingServer, HugeBulkLengthAnnouncesTenToTheTwelveBytesAndSendsNothingMore) {
  LyingServer server{Lie::HugeBulkLength};
  RawSocket socket{server.port()};
  socket.send(command({"GET", "k"}));
  EXPECT_EQ(socket.read_for(100ms), "$1000000000000\r\n");
  EXPECT_FALSE(socket.closed_within(1ms));
}

TEST(LyingServer, HugeArrayCountAnnouncesIntMaxElementsAndSendsNothingMore) {
  LyingServer server{Lie::HugeArrayCount};
  RawSocket socket{server.port()};
  socket.send(command({"GET", "k"}));
  EXPECT_EQ(socket.read_for(100ms), "*2147483647\r\n");
  EXPECT_FALSE(socket.closed_within(1ms));
}

TEST(LyingServer, GarbageAnswersBytesThatAreNotResp) {
  LyingServer server{Lie::Garbage};
  RawSocket socket{server.port()};
  for (int i = 0; i < 5; ++i) {
    socket.send(command({"GET", "k"}));
    const std::string reply = socket.read_for(1s, 1);
    const std::string rest = socket.read_for(20ms);
    EXPECT_FALSE(starts_like_resp(reply + rest)) << "variant " << i << ": " << reply + rest;
  }
  // Honest commands are still answered in between.
  socket.send(command({"PING"}));
  EXPECT_EQ(socket.read_for(1s, 7), "+PONG\r\n");
}

TEST(LyingServer, CloseMidReplySendsHalfABulkThenCloses) {
  LyingServer server{Lie::CloseMidReply};
  RawSocket socket{server.port()};
  socket.send(command({"GET", "k"}));
  EXPECT_EQ(socket.read_for(1s), "$10\r\nhello");
  EXPECT_TRUE(socket.closed_within(1ms));
}

TEST(LyingServer, SetLieAppliesToLaterCommands) {
  LyingServer server{Lie::Garbage};
  RawSocket garbage{server.port()};
  garbage.send(command({"GET", "k"}));
  EXPECT_EQ(garbage.read_for(1s, 13), "hello world\r\n");
  server.set_lie(Lie::HugeBulkLength);
  RawSocket huge{server.port()};
  huge.send(command({"GET", "k"}));
  EXPECT_EQ(huge.read_for(100ms), "$1000000000000\r\n");
  EXPECT_EQ(server.connections_accepted(), 2U);
}

TEST(LyingServer, StopsWithinMillisecondsWhileDrippingAndClosesItsSockets) {
  auto server = std::make_unique<LyingServer>(Lie::Drip, 10ms);
  RawSocket socket{server->port()};
  socket.send(command({"GET", "k"}));
  EXPECT_FALSE(socket.read_for(1s, 1).empty()) << "the drip has begun";
  const auto start = Clock::now();
  server.reset();
  // Its thread wakes on the eventfd, not at the next drip: milliseconds, with margin for a busy
  // machine under the sanitizers.
  EXPECT_LT(Clock::now() - start, 300ms);
  EXPECT_TRUE(socket.closed_within(500ms));
}

// --- ReferenceModel ------------------------------------------------------------------------

using TimePoint = ReferenceModel::TimePoint;

TimePoint at(int ms) {
  return TimePoint{} + std::chrono::milliseconds{ms};
}

TEST(ReferenceModel, AReadOfTheLatestCompletedWriteIsNotStale) {
  ReferenceModel model{1};
  auto& history = model.recorder(0);
  const std::string v1 = history.next_value("k");
  const std::string v2 = history.next_value("k");
  history.write("k", v1, at(0), at(1), true);
  history.write("k", v2, at(2), at(3), true);
  history.read("k", v2, at(4), at(5));
  const auto verdict = model.check();
  EXPECT_EQ(verdict.writes, 2U);
  EXPECT_EQ(verdict.reads, 1U);
  EXPECT_EQ(verdict.stale_reads, 0U);
}

TEST(ReferenceModel, AReadOfAValueOverwrittenBeforeTheReadBeganIsStale) {
  ReferenceModel model{2};
  const std::string v1 = model.recorder(0).next_value("k");
  const std::string v2 = model.recorder(1).next_value("k");
  model.recorder(0).write("k", v1, at(0), at(1), true);
  model.recorder(1).write("k", v2, at(2), at(3), true);
  model.recorder(0).read("k", v1, at(4), at(5));
  const auto verdict = model.check();
  EXPECT_EQ(verdict.stale_reads, 1U);
  EXPECT_EQ(verdict.stale_after_failed_write, 0U);
  ASSERT_EQ(verdict.examples.size(), 1U);
  EXPECT_EQ(verdict.examples[0].key, "k");
  EXPECT_EQ(verdict.examples[0].value, v1);
  EXPECT_NE(verdict.examples[0].reason.find("acknowledged set of " + v2), std::string::npos)
      << verdict.examples[0].reason;
}

TEST(ReferenceModel, OverlappingWritesMayBeOrderedEitherWay) {
  ReferenceModel model{2};
  const std::string v1 = model.recorder(0).next_value("k");
  const std::string v2 = model.recorder(1).next_value("k");
  // v2 began before v1 completed: the store may have applied v2 first.
  model.recorder(0).write("k", v1, at(0), at(3), true);
  model.recorder(1).write("k", v2, at(2), at(5), true);
  model.recorder(0).read("k", v1, at(6), at(7));
  model.recorder(1).read("k", v2, at(6), at(7));
  EXPECT_EQ(model.check().stale_reads, 0U);
}

TEST(ReferenceModel, AWriteStillInFlightWhenTheReadBeganDoesNotMakeItStale) {
  ReferenceModel model{2};
  const std::string v1 = model.recorder(0).next_value("k");
  const std::string v2 = model.recorder(1).next_value("k");
  model.recorder(0).write("k", v1, at(0), at(1), true);
  model.recorder(1).write("k", v2, at(2), at(6), true);
  model.recorder(0).read("k", v1, at(4), at(5));
  EXPECT_EQ(model.check().stale_reads, 0U);
}

TEST(ReferenceModel, AValueBackAfterACompletedDeleteIsStaleButAMissNeverIs) {
  ReferenceModel model{2};
  const std::string v1 = model.recorder(0).next_value("k");
  model.recorder(0).write("k", v1, at(0), at(1), true);
  model.recorder(1).del("k", at(2), at(3));
  model.recorder(0).read("k", v1, at(4), at(5));
  model.recorder(1).read("k", std::nullopt, at(4), at(5));
  model.recorder(1).read("k", std::nullopt, at(0), at(9));
  const auto verdict = model.check();
  EXPECT_EQ(verdict.stale_reads, 1U);
  EXPECT_EQ(verdict.misses, 2U);
  ASSERT_EQ(verdict.examples.size(), 1U);
  EXPECT_NE(verdict.examples[0].reason.find("newer del"), std::string::npos);
}

TEST(ReferenceModel, AFailedWriteStillCountsAndIsReportedAsSuch) {
  ReferenceModel model{1};
  auto& history = model.recorder(0);
  const std::string v1 = history.next_value("k");
  const std::string v2 = history.next_value("k");
  history.write("k", v1, at(0), at(1), true);
  history.write("k", v2, at(2), at(3), false);  // e.g. only the fallback took it
  history.read("k", v1, at(4), at(5));
  const auto verdict = model.check();
  EXPECT_EQ(verdict.stale_reads, 1U);
  EXPECT_EQ(verdict.stale_after_failed_write, 1U);
}

TEST(ReferenceModel, WritesToOtherKeysDoNotMatter) {
  ReferenceModel model{1};
  auto& history = model.recorder(0);
  const std::string a = history.next_value("a");
  const std::string b = history.next_value("b");
  history.write("a", a, at(0), at(1), true);
  history.write("b", b, at(2), at(3), true);
  history.del("b", at(4), at(5));
  history.read("a", a, at(6), at(7));
  EXPECT_EQ(model.check().stale_reads, 0U);
}

TEST(ReferenceModel, UnknownForeignAndFutureValuesAreCounted) {
  ReferenceModel model{1};
  auto& history = model.recorder(0);
  const std::string a = history.next_value("a");
  const std::string late = history.next_value("b");
  history.write("a", a, at(0), at(1), true);
  history.write("b", late, at(10), at(11), true);
  history.read("a", std::string("not a stamped value"), at(2), at(3));
  history.read("b", a, at(2), at(3));     // a's value under key b
  history.read("b", late, at(2), at(3));  // written after the read ended
  const auto verdict = model.check(10);
  EXPECT_EQ(verdict.stale_reads, 3U);
  EXPECT_EQ(verdict.unknown_values, 3U);
  EXPECT_EQ(verdict.examples.size(), 3U);
}

TEST(ReferenceModel, PaddedValuesAreIdentifiedByTheirStamp) {
  ReferenceModel model{1};
  auto& history = model.recorder(0);
  const std::string v1 = history.next_value("k", 1000);
  const std::string v2 = history.next_value("k", 1000);
  EXPECT_GE(v1.size(), 1000U);
  EXPECT_NE(v1, v2);
  history.write("k", v1, at(0), at(1), true);
  history.write("k", v2, at(2), at(3), true);
  history.read("k", v2, at(4), at(5));
  history.read("k", v1, at(4), at(5));
  const auto verdict = model.check();
  EXPECT_EQ(verdict.reads, 2U);
  EXPECT_EQ(verdict.stale_reads, 1U);
  EXPECT_EQ(verdict.unknown_values, 0U);
}

TEST(ReferenceModel, CheckingOnlySomeRecordersIgnoresTheOthers) {
  ReferenceModel model{2};
  const std::string v1 = model.recorder(0).next_value("k");
  const std::string v2 = model.recorder(1).next_value("k");
  model.recorder(0).write("k", v1, at(0), at(1), true);
  model.recorder(1).write("k", v2, at(2), at(3), true);
  model.recorder(0).read("k", v1, at(4), at(5));
  const std::vector<std::size_t> only_first{0};
  EXPECT_EQ(model.check(5, &only_first).stale_reads, 0U);
  EXPECT_EQ(model.check().stale_reads, 1U);
}

// --- LoadGenerator -------------------------------------------------------------------------

TEST(LoadGenerator, AHealthyRunMakesCallsOfEveryKindWithNoStaleReadAndFullAccounting) {
  ServerProcess server;
  auto cache = std::make_shared<CacheManager>(server.config());
  LoadGenerator load{cache, {.threads = 4, .keys = 8}};
  load.start();
  EXPECT_TRUE(wait_until([&] { return load.progress() >= 2000; }, 10s));
  EXPECT_TRUE(load.stop(5s));
  const LoadReport report = load.report();
  std::cout << "[ load ] " << report.summary() << "\n";
  EXPECT_GE(report.calls, 2000U);
  for (const auto calls : report.calls_by_kind) {
    EXPECT_GT(calls, 0U) << report.details();
  }
  EXPECT_EQ(report.exceptions, 0U) << report.first_exception;
  EXPECT_EQ(report.hung_threads, 0U);
  EXPECT_GT(report.verdict.reads, 100U);
  EXPECT_EQ(report.verdict.stale_reads, 0U) << report.details();
  EXPECT_EQ(report.operations_counted(), report.calls);
  EXPECT_GT(report.worst_call, 0ns);
}

TEST(LoadGenerator, PacingBoundsTheCallRate) {
  ServerProcess server;
  auto cache = std::make_shared<CacheManager>(server.config());
  LoadGenerator load{cache, {.threads = 2, .calls_per_second = 100.0}};
  load.start();
  std::this_thread::sleep_for(500ms);  // the run's length, not a wait for a condition
  EXPECT_TRUE(load.stop(5s));
  const LoadReport report = load.report();
  // 2 threads x 100/s x 0.5 s = 100 calls. The bound that matters is the upper one (pacing);
  // the lower one only shows the threads ran, since a thread that falls behind (54 calls under
  // ASan on a busy machine) skips what it missed instead of bursting.
  EXPECT_GE(report.calls, 30U);
  EXPECT_LE(report.calls, 130U);
}

TEST(LoadGenerator, ACallStuckOnASilentServerIsReportedWhileItRuns) {
  LyingServer lying{Lie::Silent};
  ValkeyConfig config;
  config.host = "127.0.0.1";
  config.port = lying.port();
  auto cache = std::make_shared<CacheManager>(config);
  LoadGenerator load{cache, {.threads = 1}};
  load.start();
  EXPECT_TRUE(wait_until([&] { return load.worst_call_so_far() >= 100ms; }, 5s));
  EXPECT_TRUE(load.stop(5s)) << "operation_timeout (500 ms) ends every call";
  EXPECT_EQ(load.report().hung_threads, 0U);
}

}  // namespace
}  // namespace airport::cache::testing
