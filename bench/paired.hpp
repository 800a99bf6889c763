// SPDX-License-Identifier: BSD-3-Clause
// Paired measurement: every iteration runs a baseline call and a layer call back to back, in
// alternating order, and times each on its own, so both see the same machine state. Used by
// paired_bench.cpp (layers against raw hiredis) and tls_bench.cpp (TLS against plaintext);
// PairedPhases does the same for the throughput of many threads (cluster_bench.cpp).
//
// Counters: base_p50_ns / layer_p50_ns (median call), ratio_p50 = base_p50 / layer_p50 (the
// layer's throughput relative to the baseline: 1.0 is parity, above 1 is faster), and the same
// for the means (base_mean_ns, layer_mean_ns, ratio_mean).
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstddef>
#include <exception>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

namespace airport::cache::bench {

/// The two calls' times of each iteration of a paired benchmark. One thread at a time.
class PairedSamples {
 public:
  using Clock = std::chrono::steady_clock;

  explicit PairedSamples(std::size_t expected) {
    base_.reserve(expected);
    layer_.reserve(expected);
  }
  void add(Clock::duration base, Clock::duration layer) {
    base_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(base).count());
    layer_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(layer).count());
  }
  /// Sets the counters listed at the top of this file on `state`.
  void report(benchmark::State& state) {
    if (base_.empty())
      return;
    const double base_mean = mean(base_), layer_mean = mean(layer_);
    const double base_p50 = median(base_), layer_p50 = median(layer_);
    state.counters["base_p50_ns"] = base_p50;
    state.counters["layer_p50_ns"] = layer_p50;
    state.counters["ratio_p50"] = base_p50 / layer_p50;
    state.counters["base_mean_ns"] = base_mean;
    state.counters["layer_mean_ns"] = layer_mean;
    state.counters["ratio_mean"] = base_mean / layer_mean;
  }

 private:
  static double mean(const std::vector<long long>& values) {
    return static_cast<double>(std::accumulate(values.begin(), values.end(), 0LL)) /
           static_cast<double>(values.size());
  }
  static double median(std::vector<long long>& values) {
    auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
    std::nth_element(values.begin(), middle, values.end());
    return static_cast<double>(*middle);
  }
  std::vector<long long> base_;
  std::vector<long long> layer_;
};

/// Runs `base(i)` and `layer(i)` once per iteration, alternating which goes first, and reports
/// the PairedSamples counters.
template <class Base, class Layer>
void run_paired(benchmark::State& state, Base base, Layer layer) {
  using Clock = PairedSamples::Clock;
  const auto timed = [](auto& call, std::size_t i) {
    const auto start = Clock::now();
    call(i);
    return Clock::now() - start;
  };
  PairedSamples samples{static_cast<std::size_t>(state.max_iterations)};
  std::size_t i = 0;
  for (auto _ : state) {
    Clock::duration base_time{}, layer_time{};
    if (i % 2 == 0) {
      base_time = timed(base, i);
      layer_time = timed(layer, i);
    } else {
      layer_time = timed(layer, i);
      base_time = timed(base, i);
    }
    samples.add(base_time, layer_time);
    ++i;
  }
  samples.report(state);
}

/// Paired throughput of a multi-threaded benchmark. Every iteration is two phases: all threads
/// make `batch` baseline calls each, wait for one another, then `batch` layer calls each, and
/// wait again (alternating which goes first). A phase lasts from the moment the last thread
/// reaches one barrier to the moment the last thread reaches the next, so it is the wall time
/// of threads × batch calls of one kind with every thread busy on that kind; divided by that
/// count it is the inverse of the total throughput. The PairedSamples counters (set by thread 0)
/// then hold the time per call of the total throughput, and ratio_p50 is the layer's throughput
/// relative to the baseline's.
///
/// Share one object between all threads of one benchmark run (make it in Setup()); each thread
/// calls run(). A call that throws stops the calls of every thread (each still reaches every
/// barrier, so none waits for ever), and thread 0 reports the first error with SkipWithError.
class PairedPhases {
 public:
  using Clock = std::chrono::steady_clock;

  PairedPhases(int threads, std::size_t batch)
      : threads_{threads}, batch_{batch}, barrier_{threads, Stamp{&stamps_}} {}

  /// `base(thread, i)` and `layer(thread, i)` make one call each; i counts this thread's calls
  /// of that kind. Every thread first makes `batch` calls of each kind untimed, so that pools
  /// are filled before the first phase.
  template <class Base, class Layer>
  void run(benchmark::State& state, Base base, Layer layer) {
    const int thread = state.thread_index();
    const auto phase = [&](auto& call, std::size_t first) {
      for (std::size_t n = 0; n < batch_ && !failed_.load(std::memory_order_relaxed); ++n) {
        try {
          call(thread, first + n);
        } catch (const std::exception& error) {
          const std::lock_guard lock{error_mutex_};
          if (!failed_.exchange(true))
            error_ = error.what();
        }
      }
    };
    if (thread == 0) {
      failed_ = false;
      error_.clear();
    }
    barrier_.arrive_and_wait();  // the error state is reset before anyone calls
    if (thread == 0) {
      // No stamp is written before every thread, this one included, reaches the next barrier.
      stamps_.clear();
      stamps_.reserve(2 * static_cast<std::size_t>(state.max_iterations) + 1);
    }
    phase(base, 0);
    phase(layer, 0);
    barrier_.arrive_and_wait();  // the first stamp: the timed phases start here
    std::size_t i = 0;
    for (auto _ : state) {
      const std::size_t first = (i + 1) * batch_;
      if (i % 2 == 0)
        phase(base, first);
      else
        phase(layer, first);
      barrier_.arrive_and_wait();
      if (i % 2 == 0)
        phase(layer, first);
      else
        phase(base, first);
      barrier_.arrive_and_wait();
      ++i;
    }
    if (thread != 0)
      return;
    // Every thread has passed the last barrier: the stamps are complete.
    if (failed_) {
      state.SkipWithError(error_.c_str());
      return;
    }
    const auto calls = static_cast<Clock::rep>(batch_) * threads_;
    PairedSamples samples{i};
    for (std::size_t k = 0; k < i && 2 * k + 2 < stamps_.size(); ++k) {
      const auto first = (stamps_[2 * k + 1] - stamps_[2 * k]) / calls;
      const auto second = (stamps_[2 * k + 2] - stamps_[2 * k + 1]) / calls;
      if (k % 2 == 0)
        samples.add(first, second);
      else
        samples.add(second, first);
    }
    samples.report(state);
  }

 private:
  // The barrier's completion step: runs once per phase, after the last thread arrived and
  // before any is released.
  struct Stamp {
    std::vector<Clock::time_point>* stamps;
    void operator()() noexcept { stamps->push_back(Clock::now()); }
  };

  int threads_;
  std::size_t batch_;
  std::vector<Clock::time_point> stamps_;
  std::barrier<Stamp> barrier_;
  std::atomic<bool> failed_{false};
  std::mutex error_mutex_;
  std::string error_;
};

}  // namespace airport::cache::bench
