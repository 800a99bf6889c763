// SPDX-License-Identifier: BSD-3-Clause
// The cluster client against the standalone one, on the run's local cluster (bench_main.cpp
// starts it on first use: 3 primaries, 3 replicas, every hot key): GET throughput from 1 and 16
// threads paired with ValkeyClient on the standalone server, redis-benchmark --cluster's GET
// rate as the reference, and what a slot move costs a client that keeps reading it.
#include <airport/cache/cluster_client.hpp>
#include <airport/cache/cluster_slot.hpp>
#include <airport/cache/valkey_client.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "paired.hpp"
#include "redis_benchmark.hpp"

namespace airport::cache::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::unique_ptr<ClusterClient> make_cluster_client(std::size_t max_connections = 1) {
  ValkeyConfig config = quiet_cluster_config();
  config.max_connections = max_connections;
  auto client = std::make_unique<ClusterClient>(config, ClientOptions{.logger = quiet_logger()});
  // A read on every primary: each node's pool has a connection before anything is timed.
  for (std::size_t i = 0; i < 64; ++i)
    (void)client->get(hot_keys()[i]);
  return client;
}

double median(std::vector<double> values) {
  if (values.empty())
    return 0;
  const auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

double nanoseconds(Clock::duration elapsed) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
}

// --- GET: cluster against standalone, 1 and 16 threads -------------------------------------------
//
// Paired by phases (PairedPhases, paired.hpp): all threads read through the standalone
// ValkeyClient, then all through the ClusterClient, alternating, so ratio_p50 is the cluster's
// total GET throughput ÷ the standalone's under the same machine state. Both clients have a
// pool of one connection per thread (per node for the cluster), and read the same hot keys,
// each thread its own stretch of them.

constexpr std::size_t kPhaseBatch = 16;  // GETs per thread per phase

struct GetRun {
  std::string error;  // why the run cannot start; empty when it can
  std::unique_ptr<ValkeyClient> standalone;
  std::unique_ptr<ClusterClient> cluster;
  std::unique_ptr<PairedPhases> phases;
};
std::unique_ptr<GetRun> get_run;

void open_get_run(const benchmark::State& state) {
  get_run = std::make_unique<GetRun>();
  try {
    const auto pool = static_cast<std::size_t>(state.threads());
    ValkeyConfig standalone = quiet_config();
    standalone.max_connections = pool;
    get_run->standalone =
        std::make_unique<ValkeyClient>(standalone, ClientOptions{.logger = quiet_logger()});
    get_run->cluster = make_cluster_client(pool);
    get_run->phases = std::make_unique<PairedPhases>(state.threads(), kPhaseBatch);
  } catch (const std::exception& error) {
    get_run->error = error.what();
  }
}

void close_get_run(const benchmark::State&) {
  get_run.reset();
}

// A GET of a hot key that must hit: a miss would mean the cluster was filled wrong.
void get_hit(Client& client, const std::string& key) {
  std::optional<std::string> value = client.get(key);
  if (!value)
    throw std::runtime_error("GET " + key + ": missing on " + client.endpoint());
  benchmark::DoNotOptimize(value);
}

void BM_Cluster_Get(benchmark::State& state) {
  GetRun& run = *get_run;
  if (!run.error.empty()) {
    state.SkipWithError(run.error.c_str());
    return;
  }
  const auto key = [&](int thread, std::size_t i) -> const std::string& {
    return hot_key_of_thread(thread, state.threads(), i);
  };
  run.phases->run(
      state, [&](int thread, std::size_t i) { get_hit(*run.standalone, key(thread, i)); },
      [&](int thread, std::size_t i) { get_hit(*run.cluster, key(thread, i)); });
}
BENCHMARK(BM_Cluster_Get)
    ->Setup(open_get_run)
    ->Teardown(close_get_run)
    ->Threads(1)
    ->Threads(16)
    ->UseRealTime();

// The routing alone: the ClusterClient reads keys that all live on one primary, paired call by
// call (run_paired, paired.hpp) with a ValkeyClient connected to that primary directly, so both
// wake the same server process and ratio_p50 is what finding the slot's node costs a GET.
// BM_Cluster_Get's keys are spread over three server processes, which on one machine adds the
// cost of waking a different process for successive GETs.
void BM_Cluster_GetOneNode(benchmark::State& state) {
  guarded(state, [&] {
    auto routed = make_cluster_client();
    const testing::ServerProcess& node = *cluster().primaries().front();
    const std::vector<std::string> keys = keys_on(node, hot_keys());
    if (keys.empty())
      throw std::runtime_error("bench: no hot key on " + node.host() + ":" +
                               std::to_string(node.port()));
    ValkeyConfig config = quiet_config();
    config.host = node.host();
    config.port = node.port();
    ValkeyClient direct{config, ClientOptions{.logger = quiet_logger()}};
    run_paired(
        state, [&](std::size_t i) { get_hit(direct, keys[i % keys.size()]); },
        [&](std::size_t i) { get_hit(*routed, keys[i % keys.size()]); });
  });
}
BENCHMARK(BM_Cluster_GetOneNode)->UseRealTime();

// --- redis-benchmark --cluster: the reference ----------------------------------------------------
//
// redis-benchmark --cluster --threads 1 -t get -c <clients> -P 1 on the same cluster: it reads
// the slot map with CLUSTER NODES, gives the connections to the primaries in turn, and keeps one
// GET in flight on each. --threads 1: one event loop for every connection, as redis-benchmark
// runs without --cluster. Its default in cluster mode, a thread per primary, stops the threads
// that finish first only at their next 250 ms timer tick, so a run of 20k GETs reported 1.006 s
// at every try, a rate set by the tick. Its GET test reads "key{<tag>}:__rand_int__" (no -r:
// that very key), the tag naming the first slot of the connection's primary; a run of its SET
// test with -d 100 over 16 connections first gives those keys, on every primary, 100-byte
// values, as the hot keys have. One iteration is one run of the GET test; its time is what
// redis-benchmark measured itself, so starting it and connecting are not in it.

constexpr int kClusterBenchmarkRequests = 20'000;

void BM_RedisBenchmark_ClusterGet(benchmark::State& state) {
  guarded(state, [&] {
    const ValkeyConfig seed = cluster().seed_config();
    std::vector<std::string> common{redis_benchmark_binary(), "-h", seed.host, "-p",
                                    std::to_string(seed.port)};
    common.insert(common.end(), {"--cluster", "--threads", "1", "-P", "1", "-d", "100", "--csv"});
    // 16 connections, so that every primary's keys get written.
    std::vector<std::string> fill = common;
    fill.insert(fill.end(), {"-c", "16", "-t", "set", "-n", "1000"});
    (void)run_to_completion(fill, std::chrono::minutes{2});
    std::vector<std::string> get = common;
    get.insert(get.end(), {"-c", std::to_string(state.range(0)), "-t", "get", "-n",
                           std::to_string(kClusterBenchmarkRequests)});
    for (auto _ : state) {
      const double rps =
          csv_get_requests_per_second(run_to_completion(get, std::chrono::minutes{2}));
      state.SetIterationTime(kClusterBenchmarkRequests / rps);
    }
  });
  state.SetItemsProcessed(state.iterations() * kClusterBenchmarkRequests);
}
BENCHMARK(BM_RedisBenchmark_ClusterGet)
    ->ArgName("clients")
    ->Arg(1)
    ->Arg(16)
    ->Iterations(1)
    ->UseManualTime();

// --- what a slot move costs ----------------------------------------------------------------------

// `count` keys of one slot (one hash tag per `name`), written to the slot's current owner.
std::vector<std::string> slot_keys(const std::string& name, std::size_t count) {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < count; ++i)
    keys.push_back("{airport:bench:" + name + "}:" + search_key(i));
  const testing::ServerProcess& owner = cluster().node_for_slot(cluster_slot(keys.front()));
  fill_keys(owner.host(), owner.port(), keys);
  return keys;
}

// The slot's owner and the primary after it in start order (wrapping): a move's two ends.
std::pair<testing::ServerProcess*, testing::ServerProcess*> move_ends(int slot) {
  testing::ServerProcess& from = cluster().node_for_slot(slot);
  const auto primaries = cluster().primaries();
  const auto at = std::find(primaries.begin(), primaries.end(), &from);
  if (at == primaries.end() || primaries.size() < 2)
    throw std::runtime_error("bench: no second primary to move slot " + std::to_string(slot) +
                             " to");
  return {&from, std::next(at) == primaries.end() ? primaries.front() : *std::next(at)};
}

// One GET and what the client saw during it.
struct Read {
  Clock::time_point start;
  Clock::time_point end;
  std::uint64_t redirects = 0;  // MOVED and ASK followed by this GET
};

// Reads `keys` in turn through `client` on a thread of its own until stop(), recording every
// GET: a client that keeps working while the slot map changes under it. Only this thread uses
// the client meanwhile, so redirects() before and after a GET tell that GET's redirects.
class KeyReader {
 public:
  KeyReader(ClusterClient& client, const std::vector<std::string>& keys)
      : client_{client}, keys_{keys}, thread_{[this](const std::stop_token& stop) {
          read_until(stop);
        }} {}
  ~KeyReader() { thread_.request_stop(); }  // std::jthread joins
  KeyReader(const KeyReader&) = delete;
  KeyReader& operator=(const KeyReader&) = delete;

  /// GETs made so far.
  [[nodiscard]] std::size_t count() const { return count_.load(std::memory_order_acquire); }

  /// Waits (polling every millisecond, up to 5 s) until the reader has made `reads` GETs in
  /// all. Throws when it stopped on an error or is that slow.
  void wait_for_reads(std::size_t reads) const {
    const auto deadline = Clock::now() + std::chrono::seconds{5};
    while (count() < reads) {
      if (stopped_.load() || Clock::now() > deadline)
        throw std::runtime_error("bench: the reader stopped, or made fewer than " +
                                 std::to_string(reads) + " GETs in 5 s");
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    }
  }

  /// Stops and joins the thread; returns every read, or throws the error that stopped it.
  std::vector<Read> stop() {
    thread_.request_stop();
    thread_.join();
    if (error_)
      std::rethrow_exception(error_);
    return std::move(reads_);
  }

 private:
  void read_until(const std::stop_token& stop) {
    try {
      reads_.reserve(1 << 16);
      for (std::size_t i = 0; !stop.stop_requested(); ++i) {
        const std::uint64_t before = client_.redirects();
        const auto start = Clock::now();
        get_hit(client_, keys_[i % keys_.size()]);
        const auto end = Clock::now();
        reads_.push_back({start, end, client_.redirects() - before});
        count_.store(reads_.size(), std::memory_order_release);
      }
    } catch (...) {
      error_ = std::current_exception();
    }
    stopped_ = true;
  }

  ClusterClient& client_;
  const std::vector<std::string>& keys_;
  std::vector<Read> reads_;
  std::atomic<std::size_t> count_{0};
  std::atomic<bool> stopped_{false};
  std::exception_ptr error_;
  std::jthread thread_;  // last: it starts once the members it uses exist
};

double latency_ns(const Read& read) {
  return nanoseconds(read.end - read.start);
}

// How long the reader goes on after the move is complete: a redirect this late is a client
// that does not settle, and fails the benchmark.
constexpr auto kSettleWindow = std::chrono::milliseconds{200};

// Moves the slot of `keys` (N keys, the slot's only ones apart from a rare hot key) to another
// primary with ClusterProcess::migrate_slot (IMPORTING / MIGRATING, MIGRATE in batches of 100,
// SETSLOT NODE on the target, the source and the third primary, then a wait until every node
// agrees) while a ClusterClient reads those keys in turn on a thread of its own (KeyReader).
// During the move it follows ASK for the keys already moved; the source's SETSLOT NODE turns
// that into one MOVED, which updates the client's slot map (and starts a CLUSTER SLOTS
// refresh), after which the client goes to the new owner directly: the last redirected GET is
// the MOVED one. One iteration is one move; its time is the time to steady state: from the start
// of the move to the end of that last redirected GET, after which none is for the rest of the
// window (kSettleWindow after migrate_slot returned).
//
// Counters (medians over the iterations): steady_ms (the iteration time), migration_ms (the
// whole migrate_slot call, including its wait for all nodes to agree), redirects (ASK and MOVED
// followed by the reader), redirected_gets, gets_to_steady (GETs from the start of the move to
// steady state), first_redirect_ns (the first redirected GET: an ASK, often one that waited for a
// MIGRATE batch to finish on the source), moved_get_ns (the last redirected GET: the MOVED),
// worst_get_ns (the slowest GET from the start of the move on) and normal_get_ns (the median GET
// of the same keys before the move).
void BM_Cluster_SlotMove(benchmark::State& state) {
  guarded(state, [&] {
    const auto count = static_cast<std::size_t>(state.range(0));
    const std::vector<std::string> keys = slot_keys("move:" + std::to_string(count), count);
    const int slot = cluster_slot(keys.front());
    auto client = make_cluster_client();
    std::vector<double> steady, migration, redirects, redirected, gets, first, moved_get, worst,
        normal;
    for (auto _ : state) {
      const auto [from, to] = move_ends(slot);
      KeyReader reader{*client, keys};
      reader.wait_for_reads(200);  // the normal GETs, before the move
      const auto moving = Clock::now();
      cluster().migrate_slot(slot, *from, *to);
      const auto moved = Clock::now();
      std::this_thread::sleep_until(moved + kSettleWindow);
      const std::vector<Read> reads = reader.stop();

      std::vector<double> before;
      const Read* first_redirected = nullptr;
      const Read* last_redirected = nullptr;
      std::uint64_t followed = 0;
      std::size_t redirected_gets = 0;
      double slowest = 0;
      for (const Read& read : reads) {
        if (read.end < moving) {
          before.push_back(latency_ns(read));
          continue;
        }
        slowest = std::max(slowest, latency_ns(read));
        if (read.redirects == 0)
          continue;
        followed += read.redirects;
        ++redirected_gets;
        if (first_redirected == nullptr)
          first_redirected = &read;
        last_redirected = &read;
      }
      if (last_redirected == nullptr)
        throw std::runtime_error("bench: no GET was redirected after slot " + std::to_string(slot) +
                                 " moved");
      if (last_redirected->end > moved + kSettleWindow / 2)
        throw std::runtime_error("bench: GETs were still redirected " +
                                 std::to_string(nanoseconds(last_redirected->end - moved) / 1e6) +
                                 " ms after slot " + std::to_string(slot) + " moved");
      const auto since_move = std::count_if(reads.begin(), reads.end(), [&](const Read& read) {
        return read.end >= moving && read.end <= last_redirected->end;
      });

      const Clock::duration to_steady = last_redirected->end - moving;
      state.SetIterationTime(std::chrono::duration<double>(to_steady).count());
      steady.push_back(nanoseconds(to_steady) / 1e6);
      migration.push_back(nanoseconds(moved - moving) / 1e6);
      redirects.push_back(static_cast<double>(followed));
      redirected.push_back(static_cast<double>(redirected_gets));
      gets.push_back(static_cast<double>(since_move));
      first.push_back(latency_ns(*first_redirected));
      moved_get.push_back(latency_ns(*last_redirected));
      worst.push_back(slowest);
      normal.push_back(median(before));
    }
    state.counters["steady_ms"] = median(steady);
    state.counters["migration_ms"] = median(migration);
    state.counters["redirects"] = median(redirects);
    state.counters["redirected_gets"] = median(redirected);
    state.counters["gets_to_steady"] = median(gets);
    state.counters["first_redirect_ns"] = median(first);
    state.counters["moved_get_ns"] = median(moved_get);
    state.counters["worst_get_ns"] = median(worst);
    state.counters["normal_get_ns"] = median(normal);
  });
}
BENCHMARK(BM_Cluster_SlotMove)
    ->ArgName("keys")
    ->Arg(100)
    ->Arg(1000)
    ->Iterations(3)
    ->UseManualTime();

// A MOVED alone: a slot moves while the client is between two GETs (no ASK can happen), then
// the client reads other keys (hot keys of every other slot, on every primary) for at least
// 150 ms, and then one key of the moved slot. Its map is stale, so that GET goes to the old
// owner, gets MOVED, patches the map, reads CLUSTER SLOTS again from a primary (in the caller's
// thread) and asks the new owner: one redirect, three round trips. The 150 ms keep the client's
// 100 ms spacing of refreshes from skipping the refresh. One iteration is one move (not timed)
// and that GET (timed).
//
// Counters (medians over the iterations): moved_get_ns (the iteration time), normal_get_ns (the
// GETs of the other keys just before it, the median of each iteration's median) and
// moved_vs_normal = moved_get_ns / normal_get_ns.
void BM_Cluster_MovedGet(benchmark::State& state) {
  guarded(state, [&] {
    const std::vector<std::string> moving_keys = slot_keys("moved-get", 10);
    const int slot = cluster_slot(moving_keys.front());
    std::vector<std::string> other_keys;
    for (const std::string& key : hot_keys()) {
      if (cluster_slot(key) != slot && other_keys.size() < 1000)
        other_keys.push_back(key);
    }
    auto client = make_cluster_client();
    const auto timed_get = [&](const std::string& key) {
      const auto start = Clock::now();
      get_hit(*client, key);
      return Clock::now() - start;
    };
    (void)timed_get(moving_keys.front());
    auto last_moved = Clock::now();
    std::size_t next = 0;
    std::vector<double> moved_gets, normal_gets;
    for (auto _ : state) {
      const auto [from, to] = move_ends(slot);
      cluster().migrate_slot(slot, *from, *to);
      std::vector<double> normal;
      while (normal.size() < 100 || Clock::now() < last_moved + std::chrono::milliseconds{150})
        normal.push_back(nanoseconds(timed_get(other_keys[next++ % other_keys.size()])));
      const std::uint64_t before = client->redirects();
      const Clock::duration moved_get = timed_get(moving_keys.front());
      last_moved = Clock::now();
      if (client->redirects() - before != 1)
        throw std::runtime_error("bench: the first GET after slot " + std::to_string(slot) +
                                 " moved followed " + std::to_string(client->redirects() - before) +
                                 " redirects, not one MOVED");
      state.SetIterationTime(std::chrono::duration<double>(moved_get).count());
      moved_gets.push_back(nanoseconds(moved_get));
      normal_gets.push_back(median(std::move(normal)));
    }
    state.counters["moved_get_ns"] = median(moved_gets);
    state.counters["normal_get_ns"] = median(normal_gets);
    state.counters["moved_vs_normal"] = median(moved_gets) / median(normal_gets);
  });
}
BENCHMARK(BM_Cluster_MovedGet)->Iterations(10)->UseManualTime();

}  // namespace
}  // namespace airport::cache::bench
