// SPDX-License-Identifier: BSD-3-Clause
// LoadGenerator: N threads of mixed cache traffic (get, set, del, get_or_compute, mget, exists)
// on one CacheManager, recording every call's duration, every escaping exception and, through a
// ReferenceModel, every value read, so a fault test can check the manager's promises.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <airport/cache/manager.hpp>

#include "support/reference_model.hpp"

namespace airport::cache::testing {

/// What the threads do. Every member has an initializer, so designated initializers compile.
struct LoadOptions {
  /// Threads calling the manager at once.
  std::size_t threads = 8;
  /// Size of the key space; small, so that threads contend on the same keys.
  std::size_t keys = 64;
  /// Keys are key_prefix + index.
  std::string key_prefix = "fm:";
  /// TTL of every write: long enough that nothing expires during a test.
  std::chrono::milliseconds ttl{std::chrono::minutes{10}};
  /// Extra bytes per value, e.g. to fill a server's memory.
  std::size_t value_padding = 0;
  /// Calls per second per thread; 0 means as fast as the manager answers.
  double calls_per_second = 0.0;
  /// Relative weights of the operations.
  struct Mix {
    unsigned get = 35;
    unsigned set = 20;
    unsigned del = 5;
    unsigned get_or_compute = 15;
    unsigned mget = 15;
    unsigned exists = 10;
  } mix{};
  /// Keys per mget.
  std::size_t mget_keys = 4;
  /// Stale reads quoted in the report.
  std::size_t stale_examples = 3;
};

/// The operations the generator calls, for the per-kind counts of a report.
enum class LoadCall { Get, Set, Del, GetOrCompute, MGet, Exists };
inline constexpr std::size_t kLoadCallCount = 6;

/// What a run did and saw. Plain values, copyable.
struct LoadReport {
  /// Manager calls made (an mget of several keys is one call), and by LoadCall.
  std::uint64_t calls = 0;
  std::uint64_t calls_by_kind[kLoadCallCount] = {};
  /// Sets that returned false (only the fallback took them, or the server refused them): shows
  /// that a fault reached the writers.
  std::uint64_t failed_sets = 0;
  /// Exceptions that escaped a manager call, and the first one's what().
  std::uint64_t exceptions = 0;
  std::string first_exception;
  /// The longest call, including calls still running when the report was made, and its kind.
  std::chrono::nanoseconds worst_call{0};
  std::string worst_call_kind;
  /// The reference model's verdict: values read and checked, misses, stale reads.
  ReferenceModel::Verdict verdict;
  /// Threads still inside a manager call when stop() gave up waiting; their calls are not in
  /// `calls` and their histories are not checked.
  std::size_t hung_threads = 0;
  /// stats().operations when the load started and when it stopped.
  std::uint64_t operations_before = 0;
  std::uint64_t operations_after = 0;
  /// Wall time of the run.
  std::chrono::milliseconds elapsed{0};

  /// The increase of stats().operations over the run.
  [[nodiscard]] std::uint64_t operations_counted() const {
    return operations_after - operations_before;
  }
  /// One line: calls, stale reads, worst call, exceptions, accounting.
  [[nodiscard]] std::string summary() const;
  /// The stale-read examples and the first exception, one per line, for failure messages.
  [[nodiscard]] std::string details() const;
};

/// Runs the load on its own threads between start() and stop(). The threads share the manager
/// (kept alive through the shared_ptr) and nothing else: each records into its own slot, merged
/// in report(). start(), stop() and report() are one thread at a time; progress() may be called
/// from any thread.
class LoadGenerator {
 public:
  explicit LoadGenerator(std::shared_ptr<CacheManager> cache, LoadOptions options = {});
  /// Stops the threads (as stop() with a 10 s grace). Threads that are still stuck in a manager
  /// call after that are detached; they own what they use, so they finish safely whenever the
  /// call returns.
  ~LoadGenerator();
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  /// Records stats().operations and starts the threads. Throws std::logic_error when already
  /// started.
  void start();
  /// Asks the threads to stop after their current call and waits up to `grace` for them. Returns
  /// whether all of them stopped. Later calls wait again for the ones still running.
  bool stop(std::chrono::milliseconds grace = std::chrono::seconds{5});
  /// Calls completed so far, over every thread.
  [[nodiscard]] std::uint64_t progress() const;
  /// The longest call so far, including calls in progress. Any thread.
  [[nodiscard]] std::chrono::nanoseconds worst_call_so_far() const;
  /// The report; call after stop(). Threads that have not stopped are counted as hung and left
  /// out, except for the age of their current call, which counts towards worst_call.
  [[nodiscard]] LoadReport report() const;

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> threads_;
  std::chrono::steady_clock::time_point started_at_{};
  std::chrono::steady_clock::time_point stopped_at_{};
};

}  // namespace airport::cache::testing
