// SPDX-License-Identifier: BSD-3-Clause
// Ctrl-C and SIGTERM for the example programs: the throwaway servers they started are stopped
// and their temporary directories removed before the program exits with 128 + the signal.
#pragma once

#include <filesystem>
#include <string>
#include <thread>

namespace airport::examples {

/// While it lives, SIGINT and SIGTERM are handled on a thread of its own that sigwait()s for
/// them (no signal handler, so the cleanup may take locks and allocate): it prints one line to
/// stderr, stops every ServerProcess of the program (ServerProcess::stop_all_servers(): the
/// throwaway server, every node of a throwaway cluster) by pid, removes their directories and
/// the directories given to remove_on_interrupt(), and exits with 128 + the signal (130 for
/// SIGINT, 143 for SIGTERM) without running destructors, which would race with the main thread.
/// The normal destructors find nothing left to do if they run first or meanwhile.
///
/// Construct it in main() before any other thread starts: the signals are blocked in the
/// constructing thread, and only threads created afterwards inherit that. One per program.
class InterruptCleanup {
 public:
  /// Blocks SIGINT and SIGTERM and starts the waiting thread. `program` prefixes the line it
  /// prints.
  explicit InterruptCleanup(std::string program);
  /// Stops the waiting thread. The signals stay blocked: one that arrives from now on is
  /// ignored, as the program is returning from main() and cleaning up by itself.
  ~InterruptCleanup();
  InterruptCleanup(const InterruptCleanup&) = delete;
  InterruptCleanup& operator=(const InterruptCleanup&) = delete;

 private:
  std::string program_;
  std::thread waiter_;
};

/// Also removes `directory` (recursively) if the program is interrupted, until
/// forget_on_interrupt(directory). For temporary directories that are not a ServerProcess's,
/// such as the throwaway TLS certificates. Safe for concurrent use.
void remove_on_interrupt(const std::filesystem::path& directory);
/// Undoes remove_on_interrupt(), before the owner removes the directory itself.
void forget_on_interrupt(const std::filesystem::path& directory);

}  // namespace airport::examples
