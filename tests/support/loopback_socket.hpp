// SPDX-License-Identifier: BSD-3-Clause
// What the loopback test servers (FaultProxy, LyingServer) share: a listening socket on
// 127.0.0.1 with an eventfd to wake their poll() thread, and small fd helpers.
#pragma once

#include <string>
#include <string_view>

namespace airport::cache::testing {

/// The message of an errno value.
[[nodiscard]] std::string errno_text(int error);

/// Closes `fd` if it is open and sets it to -1.
void close_fd(int& fd) noexcept;

/// A non-blocking listening socket on 127.0.0.1:<free port> and a non-blocking eventfd.
struct LoopbackListener {
  int listen_fd = -1;
  int wake_fd = -1;
  int port = 0;
};

/// Opens both, or throws std::runtime_error("<owner>: cannot listen on 127.0.0.1: <reason>")
/// with nothing left open.
[[nodiscard]] LoopbackListener open_loopback_listener(std::string_view owner);

}  // namespace airport::cache::testing
