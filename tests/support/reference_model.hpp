// SPDX-License-Identifier: BSD-3-Clause
// ReferenceModel: finds stale reads in a concurrent history of cache calls. Every write stores a
// value stamped with (key, writer, sequence), so a read names the write it saw, and the model
// checks it against the writes and deletes that finished before the read began.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace airport::cache::testing {

/// The rule ("linearizability-lite"). A read of key k is invoked at r.invoke and returns value v,
/// written by the write w_v. The read is stale when some other write or delete w' of k
///
///     completed before the read was invoked     (w'.response < r.invoke), and
///     was invoked after w_v completed           (w'.invoke   > w_v.response),
///
/// because then every correct execution orders w_v before w' before the read, so the read should
/// have seen w' (or something newer), never v. Overlapping operations may be ordered either way
/// and are never counted. A miss (nullopt) is never stale: a cache may forget. Writes whose call
/// reported failure (a set that returned false: it only reached the fallback, or the server
/// refused it) count like the others: the caller was told about that write, and the cache must
/// not later hand out a value older than it. A value that no write produced, or that carries
/// another key, is counted as stale too ("unknown value"), and so is a value whose write began
/// after the read ended.
///
/// Recording is lock-free: each thread appends to its own Recorder, and check() merges them once
/// every thread is done. Recorders are one thread at a time; check() must not run while any of
/// them is being written.
class ReferenceModel {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  /// One thread's history. Values it hands out are unique across the model.
  class Recorder {
   public:
    /// A fresh value for a write of `key`, stamped with this recorder and the next sequence
    /// number. `padding` extra bytes make it larger (for memory pressure) without changing it.
    [[nodiscard]] std::string next_value(std::string_view key, std::size_t padding = 0);
    /// A write of `value` (made by any recorder's next_value) to `key`, invoked and answered at
    /// the given times; `acknowledged` is what the call reported (set's return value).
    void write(std::string_view key, std::string_view value, TimePoint invoke, TimePoint response,
               bool acknowledged);
    /// A delete of `key`.
    void del(std::string_view key, TimePoint invoke, TimePoint response);
    /// A read of `key` that returned `value` (nullopt: a miss).
    void read(std::string_view key, const std::optional<std::string>& value, TimePoint invoke,
              TimePoint response);

    [[nodiscard]] std::size_t events() const { return events_.size(); }

   private:
    friend class ReferenceModel;
    enum class Kind { Write, Delete, Read };
    struct Event {
      Kind kind;
      std::string key;
      std::optional<std::string> value;  // written or read
      TimePoint invoke;
      TimePoint response;
      bool acknowledged = true;
    };
    explicit Recorder(std::uint32_t id) : id_(id) {}

    std::uint32_t id_;
    std::uint64_t sequence_ = 0;
    // A deque: growing it never copies what is recorded, which for a vector of a million events
    // stalled the recording thread for hundreds of milliseconds.
    std::deque<Event> events_;
  };

  /// One stale read, described for a failure message.
  struct StaleRead {
    std::string key;
    std::string value;  // what the read returned
    std::string reason;
  };

  struct Verdict {
    std::size_t writes = 0;  // writes and deletes
    std::size_t reads = 0;   // reads that returned a value (misses are not checked)
    std::size_t misses = 0;
    std::size_t stale_reads = 0;
    /// Of stale_reads, those whose newer write had reported failure (set returned false).
    std::size_t stale_after_failed_write = 0;
    /// Of stale_reads, values no write produced (or of another key, or from the future).
    std::size_t unknown_values = 0;
    /// The first few, in no particular order.
    std::vector<StaleRead> examples;
  };

  /// A model with `recorders` recorders, numbered 0 .. recorders-1.
  explicit ReferenceModel(std::size_t recorders);

  /// Recorder `index`: give each thread its own.
  [[nodiscard]] Recorder& recorder(std::size_t index) { return recorders_.at(index); }
  [[nodiscard]] std::size_t recorders() const { return recorders_.size(); }

  /// Checks the whole history against the rule above. Cost: O(n log n) in the events. Only the
  /// recorders whose index is in `include` are checked when it is given (a thread still running
  /// cannot be read safely).
  [[nodiscard]] Verdict check(std::size_t max_examples = 5,
                              const std::vector<std::size_t>* include = nullptr) const;

 private:
  std::vector<Recorder> recorders_;
};

}  // namespace airport::cache::testing
