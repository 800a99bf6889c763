#include "airport/cache/manager.hpp"

#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "airport/cache/errors.hpp"
#include "airport/cache/fallback_cache.hpp"
#include "airport/cache/logging.hpp"
#include "airport/cache/valkey_client.hpp"

namespace airport::cache {
namespace {

using Milliseconds = std::chrono::milliseconds;

// A cached "not found" of get_or_compute's negative caching. NUL bytes at both ends keep it
// apart from any JSON, decimal or text a codec writes.
constexpr std::string_view not_found_marker{"\0airport-cache:not-found\0", 25};

const Script& release_lock_script() {
  static const Script script{
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) "
      "else return 0 end"};
  return script;
}

std::string random_token() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return fmt::format("{:016x}{:016x}", generator(), generator());
}

// The manager's own client: its connections never wait longer than one operation may take.
ValkeyConfig client_config(ValkeyConfig config) {
  config.socket_timeout = std::min(config.socket_timeout, config.operation_timeout);
  config.connect_timeout = std::min(config.connect_timeout, config.operation_timeout);
  config.pool_timeout = std::min(config.pool_timeout, config.operation_timeout);
  return config;
}

ValkeyConfig validated(ValkeyConfig config) {
  config.validate();
  return config;
}

// An invalidation made while Valkey was unavailable, replayed when it is back.
struct JournalEntry {
  enum class Kind { Delete, Pattern, ExpireAt } kind;
  std::string key;  // the key, or the pattern
  std::chrono::system_clock::time_point expire_at{};
};

// One in-flight loader run, shared by every caller waiting for the same key.
struct Flight {
  std::mutex mutex;
  std::condition_variable done_signal;
  bool done = false;
  std::optional<std::string> value;
  std::exception_ptr error;
};

}  // namespace

nlohmann::json CacheHealth::to_json() const {
  return {{"status", to_string(level)},
          {"circuit", to_string(circuit)},
          {"server_up", server.up},
          {"server", server.server_name},
          {"server_version", server.server_version},
          {"role", server.role},
          {"round_trip_us", server.round_trip.count()},
          {"last_error", server.last_error},
          {"pool_open", server.pool_open},
          {"pool_idle", server.pool_idle},
          {"journal_pending", journal_pending},
          {"fallback_enabled", fallback_enabled}};
}

struct CacheManager::Impl {
  // The outcome of one guarded call to the server.
  enum class Outcome { Ok, Unavailable, ServerRefused };

  Impl(ValkeyConfig valkey_config, CacheManagerOptions manager_options)
      : config{validated(std::move(valkey_config))},
        options{std::move(manager_options)},
        clock{*options.clock},
        logger{resolve_logger(options.logger, config.log_level)},
        stats{clock},
        breaker{config.circuit_breaker, options.circuit_rate, clock},
        retry{config.retry},
        budget{options.retry_budget, clock},
        fallback{config.fallback, clock},
        jitter{config.ttl_jitter},
        keys{config} {
    breaker.set_listener([this](CircuitState from, CircuitState to) { on_transition(from, to); });
  }

  void on_transition(CircuitState from, CircuitState to) {
    if (to == CircuitState::Open) {
      logger->warn("circuit {} -> open: Valkey at {} unavailable; serving from the fallback",
                   to_string(from), config.endpoint());
    } else {
      logger->info("circuit {} -> {} ({})", to_string(from), to_string(to), config.endpoint());
    }
    // Back to closed: before normal traffic, replay the journal and drop the fallback's copies.
    if (to == CircuitState::Closed)
      recovery_pending.store(true, std::memory_order_release);
    if (options.on_circuit_change)
      options.on_circuit_change(from, to);
  }

  void validate_key(std::string_view key) const {
    if (key.empty())
      throw std::invalid_argument("CacheManager: the key is empty");
    if (key.size() > config.max_key_length) {
      throw std::invalid_argument(fmt::format(
          "CacheManager: key of {} bytes is longer than max_key_length {} (build keys with "
          "CacheKeyBuilder, which shortens long keys)",
          key.size(), config.max_key_length));
    }
  }

  void validate_value(std::string_view key, std::string_view value) const {
    if (value.size() > config.max_value_size) {
      throw std::invalid_argument(
          fmt::format("CacheManager: value of {} bytes for key '{}' exceeds max_value_size {}",
                      value.size(), key, config.max_value_size));
    }
  }

  Milliseconds resolve(Ttl ttl) const {
    if (ttl.base() <= Milliseconds::zero()) {
      throw std::invalid_argument(
          fmt::format("CacheManager: TTL must be positive, got {} ms", ttl.base().count()));
    }
    return ttl.jittered() ? jitter.jittered(ttl.base()) : ttl.base();
  }

  // Runs `operation` against the server under the breaker, with retries inside the operation
  // deadline and the retry budget. Never throws for availability failures.
  template <class Operation>
  Outcome guarded(Operation&& operation, bool idempotent) {
    const CircuitBreaker::Permit permit = breaker.try_acquire();
    if (!permit)
      return Outcome::Unavailable;  // open: no syscall at all
    if (recovery_pending.load(std::memory_order_acquire) && !recover()) {
      breaker.record_failure(permit);
      return Outcome::Unavailable;
    }
    budget.record_request();
    const auto deadline = clock.now() + config.operation_timeout;
    for (int attempts = 1;; ++attempts) {
      try {
        operation(*client);
        breaker.record_success(permit);
        return Outcome::Ok;
      } catch (const ReplyError& error) {
        breaker.record_success(permit);  // the server answered: it is up
        stats.record_error(ErrorCategory::Reply);
        logger->warn("{}", error.what());
        return Outcome::ServerRefused;
      } catch (const Error& error) {
        const auto delay =
            retry.next_delay(attempts, error.category(), idempotent, false, clock.now(), deadline);
        if (!delay || !budget.try_spend()) {
          // Counted once per operation, by the error that ended it.
          stats.record_error(error.category());
          logger->debug("giving up after {} attempts: {}", attempts, error.what());
          breaker.record_failure(permit);
          return Outcome::Unavailable;
        }
        std::this_thread::sleep_for(*delay);
      }
    }
  }

  // Records an operation's latency from `start`.
  void timed(Operation kind, Clock::time_point start) {
    stats.record_latency(kind, clock.now() - start);
  }

  void journal_add(JournalEntry entry) {
    {
      std::lock_guard lock{journal_mutex};
      if (journal.size() >= config.fallback.journal_max_entries) {
        ++journal_overflowed;
        stats.record_journal_overflow();
        if (journal_overflowed == 1) {
          logger->error(
              "invalidation journal full ({} entries): later invalidations made while Valkey is "
              "unavailable cannot be replayed; affected keys may be stale until they expire",
              config.fallback.journal_max_entries);
        }
      } else {
        journal.push_back(std::move(entry));
      }
    }
    recovery_pending.store(true, std::memory_order_release);
  }

  // Replays the journal to Valkey and drops the fallback's entries: Valkey is the source of
  // truth again. Runs once; concurrent callers wait for it. Returns false when Valkey failed.
  bool recover() {
    std::lock_guard replay_lock{recovery_mutex};
    if (!recovery_pending.load(std::memory_order_acquire))
      return true;
    std::deque<JournalEntry> entries;
    std::size_t overflowed = 0;
    {
      std::lock_guard lock{journal_mutex};
      entries.swap(journal);
      overflowed = std::exchange(journal_overflowed, 0);
    }
    std::size_t replayed = 0;
    try {
      while (replayed < entries.size())
        replayed += replay_from(entries, replayed);
    } catch (const Error& error) {
      logger->warn("journal replay to {} stopped after {} of {} entries: {}", config.endpoint(),
                   replayed, entries.size(), error.what());
      std::lock_guard lock{journal_mutex};
      journal.insert(journal.begin(), entries.begin() + static_cast<std::ptrdiff_t>(replayed),
                     entries.end());
      journal_overflowed += overflowed;
      stats.record_journal_replayed(replayed);
      return false;
    }
    stats.record_journal_replayed(replayed);
    fallback.clear();
    recovery_pending.store(false, std::memory_order_release);
    if (replayed > 0 || overflowed > 0) {
      logger->info("recovered: replayed {} invalidations to {}{}", replayed, config.endpoint(),
                   overflowed > 0 ? fmt::format(", {} were lost to journal overflow", overflowed)
                                  : std::string{});
    }
    return true;
  }

  // Replays entries[first]; a run of deletes goes as batched UNLINKs (order among deletes does
  // not matter; order against expires and patterns is kept). Returns how many it replayed.
  std::size_t replay_from(const std::deque<JournalEntry>& entries, std::size_t first) {
    const JournalEntry& entry = entries[first];
    switch (entry.kind) {
      case JournalEntry::Kind::Delete: {
        std::vector<std::string_view> keys;
        for (std::size_t i = first;
             i < entries.size() && entries[i].kind == JournalEntry::Kind::Delete &&
             keys.size() < 500;
             ++i) {
          keys.push_back(entries[i].key);
        }
        client->unlink(keys);
        return keys.size();
      }
      case JournalEntry::Kind::Pattern:
        unlink_matching(entry.key);
        return 1;
      case JournalEntry::Kind::ExpireAt: {
        const auto at =
            std::chrono::duration_cast<Milliseconds>(entry.expire_at.time_since_epoch()).count();
        client->command("PEXPIREAT", entry.key, std::to_string(at));
        return 1;
      }
    }
    return 1;
  }

  std::size_t unlink_matching(std::string_view pattern) {
    std::size_t removed = 0;
    client->scan_all(
        pattern,
        [&](const std::vector<std::string>& batch) {
          std::vector<std::string_view> keys(batch.begin(), batch.end());
          removed += static_cast<std::size_t>(client->unlink(keys));
        },
        500);
    return removed;
  }

  void remember(std::string_view key, std::string_view value, Milliseconds ttl) {
    if (config.fallback.enabled)
      fallback.set(key, value, ttl);
  }

  ValkeyConfig config;
  CacheManagerOptions options;
  const Clock& clock;
  std::shared_ptr<spdlog::logger> logger;
  CacheStats stats;
  CircuitBreaker breaker;
  RetryPolicy retry;
  RetryBudget budget;
  FallbackCache fallback;
  TTLCalculator jitter;
  CacheKeyManager keys;

  mutable std::mutex journal_mutex;
  std::deque<JournalEntry> journal;
  std::size_t journal_overflowed = 0;
  std::mutex recovery_mutex;
  std::atomic<bool> recovery_pending{false};

  std::mutex flights_mutex;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights;
  // XFetch needs the last recompute time of a key; bounded so it cannot grow without limit.
  std::mutex compute_times_mutex;
  std::unordered_map<std::string, std::chrono::nanoseconds> compute_times;

  // Last: destroyed first, so its health thread never calls into a half-destroyed manager.
  std::shared_ptr<Client> client;
};

CacheManager::CacheManager(ValkeyConfig config, CacheManagerOptions options)
    : impl_{std::make_unique<Impl>(std::move(config), std::move(options))} {
  Impl& impl = *impl_;
  ClientOptions client_options{.logger = impl.logger};
  if (impl.options.health_check_closes_circuit) {
    // Every check, not only changes: the breaker may open after the server already came back.
    client_options.on_health_check = [&impl](const HealthStatus& status) {
      if (status.up && impl.breaker.state() != CircuitState::Closed)
        impl.breaker.force_close();
    };
  }
  impl.client = std::make_shared<ValkeyClient>(client_config(impl.config), client_options);
}

CacheManager::CacheManager(std::shared_ptr<Client> client, ValkeyConfig config,
                           CacheManagerOptions options)
    : impl_{std::make_unique<Impl>(std::move(config), std::move(options))} {
  if (!client)
    throw std::invalid_argument("CacheManager: the client is null");
  impl_->client = std::move(client);
}

CacheManager::~CacheManager() = default;

std::optional<std::string> CacheManager::get(std::string_view key) {
  Impl& impl = *impl_;
  impl.validate_key(key);
  const auto start = impl.clock.now();
  std::optional<std::string> value;
  const auto outcome = impl.guarded([&](Client& client) { value = client.get(key); }, true);
  if (outcome == Impl::Outcome::Unavailable) {
    impl.stats.record_degraded();
    value = impl.config.fallback.enabled ? impl.fallback.get(key) : std::nullopt;
  }
  value ? impl.stats.record_hit() : impl.stats.record_miss();
  impl.timed(Operation::Get, start);
  return value;
}

bool CacheManager::set(std::string_view key, std::string_view value, Ttl ttl) {
  Impl& impl = *impl_;
  impl.validate_key(key);
  impl.validate_value(key, value);
  const Milliseconds expiry = impl.resolve(ttl);
  const auto start = impl.clock.now();
  const auto outcome =
      impl.guarded([&](Client& client) { client.set(key, value, {.ttl = expiry}); }, true);
  impl.remember(key, value, expiry);
  if (outcome == Impl::Outcome::Unavailable) {
    impl.stats.record_degraded();
    // The write never reached Valkey, which may still hold an older value: invalidate it there
    // on recovery rather than let the old value come back.
    impl.journal_add({JournalEntry::Kind::Delete, std::string{key}});
  }
  if (outcome == Impl::Outcome::Ok)
    impl.stats.record_set();
  impl.timed(Operation::Set, start);
  return outcome == Impl::Outcome::Ok;
}

bool CacheManager::del(std::string_view key) {
  Impl& impl = *impl_;
  impl.validate_key(key);
  const auto start = impl.clock.now();
  long long removed = 0;
  const auto outcome = impl.guarded([&](Client& client) { removed = client.del(key); }, true);
  const bool in_fallback = impl.fallback.erase(key);
  if (outcome == Impl::Outcome::Unavailable) {
    impl.stats.record_degraded();
    impl.journal_add({JournalEntry::Kind::Delete, std::string{key}});
    removed = in_fallback ? 1 : 0;
  }
  impl.stats.record_delete();
  impl.timed(Operation::Delete, start);
  return removed > 0;
}

bool CacheManager::exists(std::string_view key) {
  Impl& impl = *impl_;
  impl.validate_key(key);
  const auto start = impl.clock.now();
  bool found = false;
  const auto outcome = impl.guarded([&](Client& client) { found = client.exists(key); }, true);
  if (outcome == Impl::Outcome::Unavailable) {
    impl.stats.record_degraded();
    found = impl.config.fallback.enabled && impl.fallback.exists(key);
  }
  impl.timed(Operation::Exists, start);
  return found;
}

std::optional<Milliseconds> CacheManager::ttl(std::string_view key) {
  Impl& impl = *impl_;
  impl.validate_key(key);
  const auto start = impl.clock.now();
  std::optional<Milliseconds> remaining;
  const auto outcome = impl.guarded([&](Client& client) { remaining = client.pttl(key); }, true);
  if (outcome == Impl::Outcome::Unavailable) {
    impl.stats.record_degraded();
    remaining = impl.config.fallback.enabled ? impl.fallback.ttl(key) : std::nullopt;
  }
  impl.timed(Operation::Ttl, start);
  return remaining;
}

bool CacheManager::expire(std::string_view key, Milliseconds ttl) {
  Impl& impl = *impl_;
  impl.validate_key(key);
  impl.resolve(Ttl::exact(ttl));  // validates
  const auto start = impl.clock.now();
  bool existed = false;
  const auto outcome =
      impl.guarded([&](Client& client) { existed = client.pexpire(key, ttl); }, true);
  const bool in_fallback = impl.fallback.expire(key, ttl);
  if (outcome == Impl::Outcome::Unavailable) {
    impl.stats.record_degraded();
    impl.journal_add(
        {JournalEntry::Kind::ExpireAt, std::string{key}, std::chrono::system_clock::now() + ttl});
    existed = in_fallback;
  }
  impl.timed(Operation::Expire, start);
  return existed;
}

std::vector<std::optional<std::string>> CacheManager::mget(std::span<const std::string_view> keys) {
  Impl& impl = *impl_;
  for (const std::string_view key : keys)
    impl.validate_key(key);
  if (keys.empty())
    return {};
  const auto start = impl.clock.now();
  std::vector<std::optional<std::string>> values;
  const auto outcome = impl.guarded([&](Client& client) { values = client.mget(keys); }, true);
  if (outcome != Impl::Outcome::Ok) {
    if (outcome == Impl::Outcome::Unavailable)
      impl.stats.record_degraded();
    values.clear();
    for (const std::string_view key : keys) {
      values.push_back(outcome == Impl::Outcome::Unavailable && impl.config.fallback.enabled
                           ? impl.fallback.get(key)
                           : std::nullopt);
    }
  }
  for (const auto& value : values)
    value ? impl.stats.record_hit() : impl.stats.record_miss();
  impl.timed(Operation::MGet, start);
  return values;
}

bool CacheManager::mset(std::span<const std::pair<std::string_view, std::string_view>> items,
                        Ttl ttl) {
  Impl& impl = *impl_;
  for (const auto& [key, value] : items) {
    impl.validate_key(key);
    impl.validate_value(key, value);
  }
  if (items.empty())
    return true;
  const auto start = impl.clock.now();
  std::vector<Milliseconds> expiries;
  expiries.reserve(items.size());
  Pipeline pipeline;
  for (const auto& [key, value] : items) {
    expiries.push_back(impl.resolve(ttl));
    const std::string px = std::to_string(expiries.back().count());
    pipeline.add("SET", key, value, "PX", px);
  }
  bool all_stored = true;
  const auto outcome = impl.guarded(
      [&](Client& client) {
        for (const Reply& reply : client.execute(pipeline)) {
          if (reply.is_error())
            throw ReplyError("MSET (pipelined SET) refused: " + reply.text());
        }
      },
      true);
  for (std::size_t i = 0; i < items.size(); ++i) {
    impl.remember(items[i].first, items[i].second, expiries[i]);
    if (outcome == Impl::Outcome::Unavailable) {
      impl.journal_add({JournalEntry::Kind::Delete, std::string{items[i].first}});
    }
  }
  if (outcome == Impl::Outcome::Unavailable)
    impl.stats.record_degraded();
  all_stored = outcome == Impl::Outcome::Ok;
  if (all_stored) {
    for (std::size_t i = 0; i < items.size(); ++i)
      impl.stats.record_set();
  }
  impl.timed(Operation::MSet, start);
  return all_stored;
}

std::size_t CacheManager::invalidate_pattern(std::string_view pattern) {
  Impl& impl = *impl_;
  if (pattern.empty())
    throw std::invalid_argument("CacheManager: the pattern is empty");
  const auto start = impl.clock.now();
  std::size_t removed = 0;
  // SCAN is read-only and UNLINK of the same keys twice is harmless, so a retry is safe.
  const auto outcome =
      impl.guarded([&](Client&) { removed = impl.unlink_matching(pattern); }, true);
  const std::size_t in_fallback = impl.fallback.erase_matching(pattern);
  if (outcome == Impl::Outcome::Unavailable) {
    impl.stats.record_degraded();
    impl.journal_add({JournalEntry::Kind::Pattern, std::string{pattern}});
    removed = in_fallback;
  }
  impl.timed(Operation::InvalidatePattern, start);
  return removed;
}

void CacheManager::discard_undecodable(std::string_view key) {
  Impl& impl = *impl_;
  impl.stats.record_error(ErrorCategory::Serialization);
  impl.logger->warn("value of '{}' does not decode as the requested type; deleted", key);
  del(key);
}

std::optional<std::string> CacheManager::compute_bytes(
    std::string_view key, Ttl ttl, const ComputeOptions& options,
    const std::function<std::optional<std::string>()>& loader) {
  Impl& impl = *impl_;
  impl.validate_key(key);
  const auto start = impl.clock.now();
  const std::string key_text{key};

  // 1. The cache, with an XFetch early-refresh draw when asked for.
  std::optional<std::string> cached;
  bool refresh_early = false;
  if (options.early_refresh_beta > 0.0) {
    std::optional<Milliseconds> remaining;
    const auto outcome = impl.guarded(
        [&](Client& client) {
          Pipeline pipeline;
          pipeline.add("GET", key).add("PTTL", key);
          auto replies = client.execute(pipeline);
          cached = std::move(replies[0]).as_optional_string();
          if (replies[1].is_integer() && replies[1].as_integer() > 0) {
            remaining = Milliseconds{replies[1].as_integer()};
          }
        },
        true);
    if (outcome == Impl::Outcome::Unavailable) {
      impl.stats.record_degraded();
      cached = impl.config.fallback.enabled ? impl.fallback.get(key) : std::nullopt;
    }
    if (cached && remaining) {
      std::chrono::nanoseconds delta{0};
      {
        std::lock_guard lock{impl.compute_times_mutex};
        if (const auto found = impl.compute_times.find(key_text);
            found != impl.compute_times.end()) {
          delta = found->second;
        }
      }
      refresh_early =
          delta > std::chrono::nanoseconds::zero() &&
          impl.jitter.should_refresh_early(*remaining, delta, options.early_refresh_beta);
    }
  } else {
    cached = get(key);
  }
  if (cached && !refresh_early) {
    if (cached == not_found_marker)
      return std::nullopt;
    impl.timed(Operation::GetOrCompute, start);
    return cached;
  }

  // 2. Single flight: one loader run per key in this process; the others wait for it.
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    std::lock_guard lock{impl.flights_mutex};
    auto [found, inserted] = impl.flights.try_emplace(key_text);
    if (inserted)
      found->second = std::make_shared<Flight>();
    flight = found->second;
    leader = inserted;
  }
  if (!leader) {
    // A refresh already running: serve the still-valid value instead of waiting.
    if (cached)
      return cached == not_found_marker ? std::nullopt : cached;
    std::unique_lock lock{flight->mutex};
    flight->done_signal.wait(lock, [&] { return flight->done; });
    if (flight->error)
      std::rethrow_exception(flight->error);
    return flight->value;
  }

  const auto finish = [&](std::optional<std::string> value, std::exception_ptr error) {
    {
      std::lock_guard lock{impl.flights_mutex};
      impl.flights.erase(key_text);
    }
    {
      std::lock_guard lock{flight->mutex};
      flight->value = std::move(value);
      flight->error = error;
      flight->done = true;
    }
    flight->done_signal.notify_all();
  };

  try {
    // 3. Across processes: only the rebuild lock's holder runs the loader.
    std::string lock_key, token;
    bool lock_held = false;
    if (options.rebuild_lock) {
      lock_key = shorten_key(key_text + ":rebuild-lock", impl.config.max_key_length);
      token = random_token();
      const auto outcome = impl.guarded(
          [&](Client& client) {
            lock_held = client.set(
                lock_key, token, {.ttl = options.lock_ttl, .condition = SetCondition::IfNotExists});
          },
          false);
      if (outcome == Impl::Outcome::Ok && !lock_held) {
        // Another process is loading: wait for its value, then compute anyway.
        const auto give_up = impl.clock.now() + options.lock_wait;
        while (impl.clock.now() < give_up) {
          std::this_thread::sleep_for(Milliseconds{10});
          if (std::optional<std::string> loaded = get(key)) {
            std::optional<std::string> result =
                loaded == not_found_marker ? std::nullopt : std::move(loaded);
            finish(result, nullptr);
            impl.timed(Operation::GetOrCompute, start);
            return result;
          }
        }
      }
    }

    const auto load_start = impl.clock.now();
    std::optional<std::string> value = loader();
    const auto load_time = impl.clock.now() - load_start;
    {
      std::lock_guard lock{impl.compute_times_mutex};
      if (impl.compute_times.size() >= 10'000)
        impl.compute_times.clear();
      impl.compute_times[key_text] =
          std::chrono::duration_cast<std::chrono::nanoseconds>(load_time);
    }
    if (value) {
      set(key, *value, ttl);
    } else if (options.negative_ttl > Milliseconds::zero()) {
      set(key, not_found_marker, Ttl::exact(options.negative_ttl));
    }
    if (lock_held) {
      const std::array<std::string_view, 1> keys{lock_key};
      const std::array<std::string_view, 1> args{token};
      impl.guarded([&](Client& client) { client.eval(release_lock_script(), keys, args); }, false);
    }
    finish(value, nullptr);
    impl.timed(Operation::GetOrCompute, start);
    return value;
  } catch (...) {
    finish(std::nullopt, std::current_exception());
    throw;
  }
}

StatsSnapshot CacheManager::stats() const {
  const Impl& impl = *impl_;
  StatsSnapshot snapshot = impl.stats.snapshot();
  const FallbackCache::Stats fallback = impl.fallback.stats();
  snapshot.fallback.enabled = impl.config.fallback.enabled;
  snapshot.fallback.hits = fallback.hits;
  snapshot.fallback.misses = fallback.misses;
  snapshot.fallback.entries = fallback.entries;
  snapshot.fallback.bytes = fallback.bytes;
  snapshot.fallback.evictions = fallback.evictions;
  snapshot.fallback.expirations = fallback.expirations;
  snapshot.fallback.max_entries = fallback.max_entries;
  snapshot.fallback.max_bytes = fallback.max_bytes;
  const CircuitBreaker::Snapshot circuit = impl.breaker.snapshot();
  snapshot.circuit.state = circuit.state;
  snapshot.circuit.consecutive_failures = circuit.consecutive_failures;
  snapshot.circuit.opened = circuit.opened;
  snapshot.circuit.half_opened = circuit.half_opened;
  snapshot.circuit.closed = circuit.closed;
  snapshot.circuit.rejected = circuit.rejected;
  {
    std::lock_guard lock{impl.journal_mutex};
    snapshot.journal.pending = impl.journal.size();
  }
  return snapshot;
}

void CacheManager::reset_stats() {
  impl_->stats.reset();
}

CacheHealth CacheManager::health() const {
  const Impl& impl = *impl_;
  CacheHealth health;
  health.server = impl.client->health();
  health.circuit = impl.breaker.state();
  health.fallback_enabled = impl.config.fallback.enabled;
  {
    std::lock_guard lock{impl.journal_mutex};
    health.journal_pending = impl.journal.size();
  }
  // Before the first background check the server's state is unknown, not down.
  const bool server_down = health.server.checks > 0 && !health.server.up;
  if (health.circuit == CircuitState::Closed && health.journal_pending == 0 && !server_down) {
    health.level = HealthLevel::Healthy;
  } else if (health.fallback_enabled) {
    health.level = HealthLevel::Degraded;
  } else {
    health.level = HealthLevel::Unavailable;
  }
  return health;
}

CircuitState CacheManager::circuit_state() const {
  return impl_->breaker.state();
}

const CacheKeyManager& CacheManager::keys() const {
  return impl_->keys;
}

Client& CacheManager::client() {
  return *impl_->client;
}

const ValkeyConfig& CacheManager::config() const {
  return impl_->config;
}

CacheManager& get_cache_manager() {
  static CacheManager manager{ValkeyConfig::from_env()};
  return manager;
}

}  // namespace airport::cache
