// SPDX-License-Identifier: BSD-3-Clause
// LyingServer: a loopback TCP server that passes a client's handshake honestly and then answers
// commands with broken RESP (silence, drips, endless or absurd bulks, garbage, half replies), so
// tests can check that the library bounds every call even when the server is not a real one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <thread>

namespace airport::cache::testing {

/// How the server answers a command that is not part of a handshake, idle check or reset.
enum class Lie {
  /// Reads the command and never answers; the connection stays open.
  Silent,
  /// A valid bulk reply of 100000 bytes, sent one byte every interval: at 10 ms a byte it keeps a
  /// naive client reading for about 17 minutes.
  Drip,
  /// "$1000000000\r\n" and then one chunk of filler every interval, never finished.
  EndlessBulk,
  /// "$1000000000000\r\n" (a 10^12-byte bulk) and then nothing.
  HugeBulkLength,
  /// "*2147483647\r\n" (an array of INT_MAX elements, 16 GiB of element pointers to a reader
  /// that allocates them up front) and then nothing.
  HugeArrayCount,
  /// Bytes that are not RESP ("hello world\r\n", "*-5\r\n", "$abc\r\n", ...), one variant per
  /// lie, in turn.
  Garbage,
  /// The first half of a bulk reply, then the connection is closed.
  CloseMidReply,
};

/// Listens on 127.0.0.1:<free port> and serves every connection from one poll() thread. It parses
/// RESP arrays (and inline commands) and answers AUTH, SELECT, CLIENT *, HELLO, RESET, DISCARD
/// and UNWATCH with +OK, PING with +PONG and INFO with a run_id, so that a client's handshake,
/// health checks and connection reset pass; every other command gets the current lie. Once a
/// connection has been sent a reply that never completes (Silent, Drip, EndlessBulk,
/// HugeBulkLength, HugeArrayCount) it answers nothing more, since any later byte would be read as
/// part of that reply.
///
/// Safe for concurrent use: set_lie() and the counters may be called from any thread.
class LyingServer {
 public:
  /// Starts listening. `interval` paces Drip and EndlessBulk. Throws std::runtime_error when the
  /// socket or thread cannot be set up.
  explicit LyingServer(Lie lie, std::chrono::milliseconds interval = std::chrono::milliseconds{10});
  /// Stops the thread (within milliseconds), closes every socket and joins.
  ~LyingServer();
  LyingServer(const LyingServer&) = delete;
  LyingServer& operator=(const LyingServer&) = delete;

  /// The port clients connect to, on 127.0.0.1.
  [[nodiscard]] int port() const { return port_; }
  /// The lie told to commands received from now on; replies already under way go on as they were.
  void set_lie(Lie lie);
  /// Connections accepted so far.
  [[nodiscard]] std::size_t connections_accepted() const { return accepted_.load(); }
  /// Complete commands parsed so far, honest and lied to alike.
  [[nodiscard]] std::size_t commands_received() const { return commands_.load(); }

 private:
  void wake() const noexcept;
  void run() noexcept;

  std::chrono::milliseconds interval_;
  int port_ = 0;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<Lie> lie_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> accepted_{0};
  std::atomic<std::size_t> commands_{0};
  std::thread thread_;
};

}  // namespace airport::cache::testing
