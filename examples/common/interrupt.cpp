// SPDX-License-Identifier: BSD-3-Clause
#include "common/interrupt.hpp"

#include <pthread.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <system_error>
#include <vector>

#include "support/server.hpp"

namespace airport::examples {
namespace {

// What the destructor queues to the waiting thread to end it, told apart from a real SIGTERM by
// its sender (this process) and its code (SI_QUEUE).
constexpr int kStopWaiting = 0x57a9;

struct Directories {
  std::mutex mutex;
  std::vector<std::filesystem::path> paths;
};

// Leaked on purpose: the waiting thread may use it while static destructors run at exit.
Directories& directories() {
  static auto* const instance = new Directories;
  return *instance;
}

sigset_t interrupt_signals() {
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGINT);
  ::sigaddset(&set, SIGTERM);
  return set;
}

[[noreturn]] void clean_up_and_exit(const std::string& program, int signal) {
  fmt::print(stderr, "{}: interrupted by {}: stopping the throwaway servers and exiting\n", program,
             signal == SIGINT ? "SIGINT" : "SIGTERM");
  std::fflush(stderr);
  (void)cache::testing::ServerProcess::stop_all_servers();
  {
    Directories& extra = directories();
    const std::lock_guard lock(extra.mutex);
    for (const auto& path : extra.paths) {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  }
  // What the main thread printed so far, unless it is in the middle of printing (it holds
  // stdout's lock then, perhaps blocked on a full pipe, and waiting for it could hang here).
  if (::ftrylockfile(stdout) == 0) {
    ::fflush_unlocked(stdout);
    ::funlockfile(stdout);
  }
  // _exit, not exit: static destructors would run while the main thread still works.
  ::_exit(128 + signal);
}

}  // namespace

InterruptCleanup::InterruptCleanup(std::string program) : program_{std::move(program)} {
  const sigset_t set = interrupt_signals();
  if (const int error = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); error != 0)
    throw std::system_error{error, std::generic_category(), "pthread_sigmask"};
  waiter_ = std::thread{[this, set] {
    for (;;) {
      siginfo_t info{};
      const int signal = ::sigwaitinfo(&set, &info);
      if (signal < 0)
        continue;  // EINTR
      if (info.si_code == SI_QUEUE && info.si_pid == ::getpid() &&
          info.si_value.sival_int == kStopWaiting)
        return;
      clean_up_and_exit(program_, signal);
    }
  }};
}

InterruptCleanup::~InterruptCleanup() {
  sigval value{};
  value.sival_int = kStopWaiting;
  // SIGTERM is blocked in every thread, so this one stays pending until the waiter takes it.
  if (::pthread_sigqueue(waiter_.native_handle(), SIGTERM, value) == 0)
    waiter_.join();
  else
    waiter_.detach();
}

void remove_on_interrupt(const std::filesystem::path& directory) {
  Directories& extra = directories();
  const std::lock_guard lock(extra.mutex);
  extra.paths.push_back(directory);
}

void forget_on_interrupt(const std::filesystem::path& directory) {
  Directories& extra = directories();
  const std::lock_guard lock(extra.mutex);
  extra.paths.erase(std::remove(extra.paths.begin(), extra.paths.end(), directory),
                    extra.paths.end());
}

}  // namespace airport::examples
