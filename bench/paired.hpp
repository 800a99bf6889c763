// Paired measurement: every iteration runs a baseline call and a layer call back to back, in
// alternating order, and times each on its own, so both see the same machine state. Used by
// paired_bench.cpp (layers against raw hiredis) and tls_bench.cpp (TLS against plaintext).
//
// Counters: base_p50_ns / layer_p50_ns (median call), ratio_p50 = base_p50 / layer_p50 (the
// layer's throughput relative to the baseline: 1.0 is parity, above 1 is faster), and the same
// for the means (base_mean_ns, layer_mean_ns, ratio_mean).
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <numeric>
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

}  // namespace airport::cache::bench
