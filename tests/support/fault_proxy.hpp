// SPDX-License-Identifier: BSD-3-Clause
// FaultProxy: a loopback TCP proxy between a client and a server that can cut, delay, swallow or
// refuse traffic, so tests can cause network failures for real without root or iptables.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace airport::cache::testing {

/// Listens on 127.0.0.1:<free port> and forwards every accepted connection to the target.
/// Safe for concurrent use: the control methods may be called from any thread, and each one has
/// taken effect when it returns (no data is forwarded under the old setting afterwards).
///
/// When either side closes, pending data towards the other side is delivered and then both
/// sides are closed; half-closed connections are not modelled.
class FaultProxy {
 public:
  /// Starts listening and forwarding. `target_host` must be an IPv4 literal or "localhost".
  /// Throws std::runtime_error when the socket or thread cannot be set up.
  FaultProxy(std::string target_host, int target_port);
  /// Stops the forwarding thread (within milliseconds), closes every socket and joins.
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  /// The port clients connect to, on 127.0.0.1.
  [[nodiscard]] int port() const { return port_; }

  /// Delays every chunk read from now on, in both directions, by `delay` (0 = none). Chunks stay
  /// in order. A round trip through the proxy then takes at least twice this.
  void set_delay(std::chrono::milliseconds delay);
  /// Closes every open connection now, on both sides. New connections are still accepted.
  void cut();
  /// While on, connections are accepted and read from, but nothing is forwarded or answered, and
  /// data not yet delivered is dropped: a server that hangs. Applies to open connections too.
  void blackhole(bool on);
  /// While on, newly accepted connections are closed at once: a server that is down.
  void refuse(bool on);
  /// Connections accepted so far, including those closed at once by refuse().
  [[nodiscard]] std::size_t connections_accepted() const { return accepted_.load(); }

 private:
  struct Settings {
    std::chrono::milliseconds delay{0};
    bool blackhole = false;
    bool refuse = false;
    std::uint64_t cuts = 0;
  };
  // Applies `change` to the settings and waits until the forwarding thread has acted on it.
  template <typename Change>
  void control(Change change);
  void wake() const noexcept;
  void run() noexcept;

  int port_ = 0;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::uint32_t target_address_ = 0;  // IPv4, network byte order
  int target_port_ = 0;
  std::atomic<std::size_t> accepted_{0};

  std::mutex mutex_;
  std::condition_variable applied_changed_;
  Settings settings_;
  std::uint64_t requested_ = 0;  // bumped by every control call
  std::uint64_t applied_ = 0;    // the last request the thread has acted on
  bool stopping_ = false;
  bool finished_ = false;

  std::thread thread_;
};

}  // namespace airport::cache::testing
