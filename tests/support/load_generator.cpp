// SPDX-License-Identifier: BSD-3-Clause
#include "support/load_generator.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <random>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

namespace airport::cache::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kCallNames[kLoadCallCount] = {"get",  "set",   "del", "get_or_compute",
                                                         "mget", "exists"};

std::int64_t ticks(Clock::time_point at) {
  return at.time_since_epoch().count();
}

double as_ms(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

}  // namespace

std::string LoadReport::summary() const {
  return fmt::format(
      "calls={} stale_reads={} (of {} values read, {} misses; {} after a failed write, {} unknown) "
      "worst_call={:.0f} ms ({}) exceptions={} stats_operations={}/{} failed_sets={} "
      "hung_threads={} in {} ms",
      calls, verdict.stale_reads, verdict.reads, verdict.misses, verdict.stale_after_failed_write,
      verdict.unknown_values, as_ms(worst_call), worst_call_kind.empty() ? "-" : worst_call_kind,
      exceptions, operations_counted(), calls, failed_sets, hung_threads, elapsed.count());
}

std::string LoadReport::details() const {
  std::string text = "calls by kind:";
  for (std::size_t i = 0; i < kLoadCallCount; ++i) {
    text += fmt::format(" {}={}", kCallNames[i], calls_by_kind[i]);
  }
  if (!first_exception.empty()) {
    text += "\nfirst exception: " + first_exception;
  }
  for (const auto& stale : verdict.examples) {
    text += "\nstale: " + stale.reason;
  }
  return text;
}

// One thread's record. The atomics are read live by other threads; the rest is written by the
// thread alone and read only after it has finished (published by `finished` under the mutex).
struct alignas(64) ThreadSlot {
  std::atomic<std::uint64_t> done_calls{0};
  std::atomic<std::int64_t> call_started{0};  // Clock ticks; 0 while between calls
  std::atomic<int> current_kind{0};
  std::atomic<std::int64_t> worst_ns{0};
  bool finished = false;  // guarded by Shared::mutex
  std::uint64_t calls_by_kind[kLoadCallCount] = {};
  std::uint64_t failed_sets = 0;
  std::uint64_t exceptions = 0;
  std::string first_exception;
  std::string worst_kind;
};

struct LoadGenerator::Shared {
  Shared(std::shared_ptr<CacheManager> manager, LoadOptions load)
      : cache(std::move(manager)), options(std::move(load)), model(options.threads) {
    for (std::size_t i = 0; i < options.keys; ++i) {
      keys.push_back(options.key_prefix + std::to_string(i));
    }
    for (std::size_t i = 0; i < options.threads; ++i) {
      slots.push_back(std::make_unique<ThreadSlot>());
    }
  }

  void run(std::size_t index) noexcept;

  std::shared_ptr<CacheManager> cache;
  LoadOptions options;
  ReferenceModel model;
  std::vector<std::string> keys;
  std::vector<std::unique_ptr<ThreadSlot>> slots;
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::condition_variable finished_changed;
  std::size_t finished = 0;  // guarded by mutex
  std::uint64_t operations_before = 0;
  std::uint64_t operations_after = 0;
};

void LoadGenerator::Shared::run(std::size_t index) noexcept {
  ThreadSlot& slot = *slots[index];
  ReferenceModel::Recorder& recorder = model.recorder(index);
  std::mt19937_64 random(0x9e3779b97f4a7c15ULL * (index + 1));
  std::uniform_int_distribution<std::size_t> pick_key(0, keys.size() - 1);
  const LoadOptions::Mix& mix = options.mix;
  const unsigned weights[kLoadCallCount] = {mix.get,  mix.set,   mix.del, mix.get_or_compute,
                                            mix.mget, mix.exists};
  std::discrete_distribution<int> pick_call(std::begin(weights), std::end(weights));
  const Ttl ttl = Ttl::exact(options.ttl);
  std::vector<std::string_view> mget_keys;
  std::vector<std::string> loaded;

  std::optional<Clock::duration> period;
  if (options.calls_per_second > 0.0) {
    period = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / options.calls_per_second));
  }
  auto next_call = Clock::now();

  while (!stopping.load(std::memory_order_relaxed)) {
    if (period) {
      // Paced: one call per period; a thread that fell behind (a slow call) does not burst.
      next_call = std::max(next_call + *period, Clock::now() - *period);
      std::this_thread::sleep_until(next_call);
      if (stopping.load(std::memory_order_relaxed)) {
        break;
      }
    }
    const auto kind = static_cast<LoadCall>(pick_call(random));
    const std::string& key = keys[pick_key(random)];
    slot.current_kind.store(static_cast<int>(kind), std::memory_order_relaxed);
    const auto invoke = Clock::now();
    slot.call_started.store(ticks(invoke), std::memory_order_relaxed);
    std::string value;
    loaded.clear();
    bool write_acknowledged = false;
    bool threw = false;
    // Stamped as each call returns: the duration is the library's alone, not the model's
    // bookkeeping after it.
    std::optional<Clock::time_point> returned;
    try {
      switch (kind) {
        case LoadCall::Get: {
          const auto read = cache->get(key);
          returned = Clock::now();
          recorder.read(key, read, invoke, *returned);
          break;
        }
        case LoadCall::Set:
          value = recorder.next_value(key, options.value_padding);
          write_acknowledged = cache->set(key, value, ttl);
          returned = Clock::now();
          break;
        case LoadCall::Del:
          cache->del(key);
          returned = Clock::now();
          recorder.del(key, invoke, *returned);
          break;
        case LoadCall::GetOrCompute: {
          std::string read = cache->get_or_compute(key, ttl, [&] {
            loaded.push_back(recorder.next_value(key, options.value_padding));
            return loaded.back();
          });
          returned = Clock::now();
          recorder.read(key, read, invoke, *returned);
          break;
        }
        case LoadCall::MGet: {
          mget_keys.clear();
          for (std::size_t i = 0; i < options.mget_keys; ++i) {
            mget_keys.push_back(keys[pick_key(random)]);
          }
          const auto values = cache->mget(mget_keys);
          returned = Clock::now();
          for (std::size_t i = 0; i < mget_keys.size() && i < values.size(); ++i) {
            recorder.read(mget_keys[i], values[i], invoke, *returned);
          }
          break;
        }
        case LoadCall::Exists:
          // Not checked by the model: a bool names no write.
          (void)cache->exists(key);
          returned = Clock::now();
          break;
      }
    } catch (const std::exception& error) {
      threw = true;
      if (slot.exceptions++ == 0) {
        slot.first_exception =
            fmt::format("{}: {}", kCallNames[static_cast<int>(kind)], error.what());
      }
    } catch (...) {
      threw = true;
      if (slot.exceptions++ == 0) {
        slot.first_exception =
            fmt::format("{}: a non-std exception", kCallNames[static_cast<int>(kind)]);
      }
    }
    const auto response = returned.value_or(Clock::now());
    // A write that threw may still have been applied, so it is recorded (a value it stored must
    // not read as "unknown"); a delete that threw is not, which can only hide stale reads.
    if (kind == LoadCall::Set) {
      recorder.write(key, value, invoke, response, write_acknowledged && !threw);
      slot.failed_sets += write_acknowledged || threw ? 0 : 1;
    }
    for (const auto& loaded_value : loaded) {
      recorder.write(key, loaded_value, invoke, response, !threw);
    }
    slot.call_started.store(0, std::memory_order_relaxed);
    const auto duration = std::chrono::duration_cast<std::chrono::nanoseconds>(response - invoke);
    if (duration.count() > slot.worst_ns.load(std::memory_order_relaxed)) {
      slot.worst_ns.store(duration.count(), std::memory_order_relaxed);
      slot.worst_kind = kCallNames[static_cast<int>(kind)];
    }
    ++slot.calls_by_kind[static_cast<int>(kind)];
    slot.done_calls.fetch_add(1, std::memory_order_relaxed);
  }

  {
    const std::lock_guard lock(mutex);
    slot.finished = true;
    ++finished;
  }
  finished_changed.notify_all();
}

LoadGenerator::LoadGenerator(std::shared_ptr<CacheManager> cache, LoadOptions options) {
  if (!cache) {
    throw std::invalid_argument("LoadGenerator: cache is null");
  }
  if (options.threads == 0 || options.keys == 0) {
    throw std::invalid_argument("LoadGenerator: threads and keys must be positive");
  }
  shared_ = std::make_shared<Shared>(std::move(cache), std::move(options));
}

LoadGenerator::~LoadGenerator() {
  if (threads_.empty()) {
    return;
  }
  (void)stop(std::chrono::seconds{10});
  for (auto& thread : threads_) {
    if (thread.joinable()) {
      thread.detach();  // stuck in a call; it holds shared_ and finishes on its own
    }
  }
}

void LoadGenerator::start() {
  if (!threads_.empty()) {
    throw std::logic_error("LoadGenerator: already started");
  }
  shared_->operations_before = shared_->cache->stats().operations;
  started_at_ = Clock::now();
  for (std::size_t i = 0; i < shared_->options.threads; ++i) {
    threads_.emplace_back([shared = shared_, i] { shared->run(i); });
  }
}

bool LoadGenerator::stop(std::chrono::milliseconds grace) {
  shared_->stopping.store(true);
  bool all = false;
  {
    std::unique_lock lock(shared_->mutex);
    all = shared_->finished_changed.wait_for(lock, grace,
                                             [&] { return shared_->finished == threads_.size(); });
  }
  if (stopped_at_ == Clock::time_point{}) {
    stopped_at_ = Clock::now();
  }
  for (std::size_t i = 0; i < threads_.size(); ++i) {
    bool finished = false;
    {
      const std::lock_guard lock(shared_->mutex);
      finished = shared_->slots[i]->finished;
    }
    if (finished && threads_[i].joinable()) {
      threads_[i].join();
    }
  }
  shared_->operations_after = shared_->cache->stats().operations;
  return all;
}

std::uint64_t LoadGenerator::progress() const {
  std::uint64_t total = 0;
  for (const auto& slot : shared_->slots) {
    total += slot->done_calls.load(std::memory_order_relaxed);
  }
  return total;
}

std::chrono::nanoseconds LoadGenerator::worst_call_so_far() const {
  const auto now = ticks(Clock::now());
  std::int64_t worst = 0;
  for (const auto& slot : shared_->slots) {
    worst = std::max(worst, slot->worst_ns.load(std::memory_order_relaxed));
    if (const auto started = slot->call_started.load(std::memory_order_relaxed); started != 0) {
      worst = std::max<std::int64_t>(worst, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                Clock::duration{now - started})
                                                .count());
    }
  }
  return std::chrono::nanoseconds{worst};
}

LoadReport LoadGenerator::report() const {
  LoadReport report;
  report.operations_before = shared_->operations_before;
  report.operations_after = shared_->operations_after;
  report.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      (stopped_at_ == Clock::time_point{} ? Clock::now() : stopped_at_) - started_at_);
  std::vector<std::size_t> finished;
  const auto now = ticks(Clock::now());
  for (std::size_t i = 0; i < shared_->slots.size() && i < threads_.size(); ++i) {
    const ThreadSlot& slot = *shared_->slots[i];
    bool done = false;
    {
      const std::lock_guard lock(shared_->mutex);
      done = slot.finished;
    }
    if (!done) {
      ++report.hung_threads;
      const auto started = slot.call_started.load(std::memory_order_relaxed);
      const std::chrono::nanoseconds age =
          started == 0 ? std::chrono::nanoseconds{0} : Clock::duration{now - started};
      if (age > report.worst_call) {
        report.worst_call = age;
        report.worst_call_kind = fmt::format(
            "{}, still running", kCallNames[slot.current_kind.load(std::memory_order_relaxed)]);
      }
      continue;
    }
    finished.push_back(i);
    for (std::size_t kind = 0; kind < kLoadCallCount; ++kind) {
      report.calls_by_kind[kind] += slot.calls_by_kind[kind];
      report.calls += slot.calls_by_kind[kind];
    }
    report.failed_sets += slot.failed_sets;
    if (slot.exceptions > 0 && report.exceptions == 0) {
      report.first_exception = slot.first_exception;
    }
    report.exceptions += slot.exceptions;
    const std::chrono::nanoseconds worst{slot.worst_ns.load(std::memory_order_relaxed)};
    if (worst > report.worst_call) {
      report.worst_call = worst;
      report.worst_call_kind = slot.worst_kind;
    }
  }
  report.verdict = shared_->model.check(shared_->options.stale_examples, &finished);
  return report;
}

}  // namespace airport::cache::testing
