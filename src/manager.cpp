// SPDX-License-Identifier: BSD-3-Clause
#include "airport/cache/manager.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <limits>
#include <mutex>
#include <numeric>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <spdlog/logger.h>

#include "airport/cache/cluster_client.hpp"
#include "airport/cache/cluster_slot.hpp"
#include "airport/cache/deadline.hpp"
#include "airport/cache/errors.hpp"
#include "airport/cache/fallback_cache.hpp"
#include "airport/cache/logging.hpp"
#include "airport/cache/patterns/lock.hpp"
#include "airport/cache/valkey_client.hpp"
#include "invalidation_journal.hpp"
#include "log_limiter.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using Milliseconds = std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

// How many keys one journal replay step UNLINKs, and how many one namespace SCAN step asks for.
constexpr std::size_t replay_batch_size = 500;

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

// The key that holds get_or_compute's cached "not found", apart from the value, so that get()
// and exists() never see it.
std::string not_found_key(std::string_view key, std::size_t max_key_length) {
  return shorten_key(std::string{key} + ":not-found", max_key_length);
}

// One in-flight loader run, shared by every caller waiting for the same key.
struct Flight {
  std::mutex mutex;
  std::condition_variable done_signal;
  bool done = false;
  std::optional<std::string> value;
  std::exception_ptr error;
};

// The keys whose loader runs on this thread, per manager: a loader that asks for its own key
// again would wait for itself for ever.
thread_local std::vector<std::pair<const void*, std::string>> keys_loading_here;

class LoadingHere {
 public:
  LoadingHere(const void* manager, std::string_view key) {
    keys_loading_here.emplace_back(manager, key);
  }
  ~LoadingHere() { keys_loading_here.pop_back(); }
  LoadingHere(const LoadingHere&) = delete;
  LoadingHere& operator=(const LoadingHere&) = delete;

  static bool contains(const void* manager, std::string_view key) {
    return std::any_of(keys_loading_here.begin(), keys_loading_here.end(), [&](const auto& entry) {
      return entry.first == manager && entry.second == key;
    });
  }
};

}  // namespace

nlohmann::json CacheHealth::to_json() const {
  nlohmann::json json{{"status", to_string(level)},
                      {"circuit", to_string(circuit)},
                      {"server_up", server.up},
                      {"server", server.server_name},
                      {"server_version", server.server_version},
                      {"role", server.role},
                      {"round_trip_us", server.round_trip.count()},
                      {"last_error", server.last_error},
                      {"refusal", server.refusal},
                      {"pool_open", server.pool_open},
                      {"pool_idle", server.pool_idle},
                      {"journal_pending", journal_pending},
                      {"fallback_enabled", fallback_enabled}};
  if (!nodes.empty()) {
    StatsSnapshot only_nodes;
    only_nodes.nodes = nodes;
    json["nodes"] = only_nodes.to_json()["nodes"];
  }
  return json;
}

struct CacheManager::Impl {
  // The outcome of one guarded call to the server.
  enum class Outcome { Ok, Unavailable, ServerRefused };

  // An Outcome with, when Unavailable, why: every degraded operation is counted under the cause
  // its guarded call reports. Compares with an Outcome, so call sites read `result == Ok`.
  struct Guarded {
    Outcome outcome = Outcome::Ok;
    DegradedCause cause = DegradedCause::Connection;  // meaningful when Unavailable
    friend bool operator==(const Guarded& guarded, Outcome outcome) {
      return guarded.outcome == outcome;
    }
  };

  static Guarded unavailable(DegradedCause cause) { return {Outcome::Unavailable, cause}; }

  // The cause of a degradation that ended with a client error of `category`.
  static DegradedCause cause_of(ErrorCategory category) {
    switch (category) {
      case ErrorCategory::Connection:
        return DegradedCause::Connection;
      case ErrorCategory::Timeout:
        return DegradedCause::Timeout;
      case ErrorCategory::Pool:
        return DegradedCause::Pool;
      case ErrorCategory::Config:
        return DegradedCause::Refused;
      case ErrorCategory::Reply:
      case ErrorCategory::Protocol:
      case ErrorCategory::Serialization:
        break;
    }
    return DegradedCause::Protocol;
  }

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
        keys{config},
        journal{config.fallback.journal_max_entries,
                options.journal_overflow == JournalOverflow::InvalidateNamespace,
                config.key_prefix} {
    breaker.set_listener([this](CircuitState from, CircuitState to) {
      on_transition(from, to, config.endpoint(), "");
    });
  }

  // Called once the client is in place: on a cluster, breakers and journal work per shard.
  void adopt(std::shared_ptr<Client> chosen) {
    client = std::move(chosen);
    known_epoch = client->server_epoch();
    if (client->is_cluster()) {
      journal.set_grouping([](std::string_view key) { return cluster_slot(key); });
      clustered.store(true, std::memory_order_release);
    }
  }

  void on_transition(CircuitState from, CircuitState to, std::string_view where,
                     std::string_view shard) {
    if (to == CircuitState::Open) {
      logger->warn("circuit {} -> open: Valkey at {} unavailable; serving {}from the fallback",
                   to_string(from), where, shard.empty() ? "" : "its keys ");
    } else {
      logger->info("circuit {} -> {} ({})", to_string(from), to_string(to), where);
    }
    if (options.on_circuit_change)
      options.on_circuit_change(from, to);
  }

  // The breaker of the shard that serves `key` now. On a cluster each primary has its own, so
  // one shard's outage degrades only the keys it serves; the manager's own breaker covers a
  // single server, keyless calls (invalidate_pattern) and slots with no known owner.
  CircuitBreaker& breaker_for(std::string_view key) {
    if (key.empty() || !clustered.load(std::memory_order_acquire))
      return breaker;
    std::string shard = client->shard_of(key);
    if (shard.empty())
      return breaker;
    {
      const std::shared_lock lock{shard_breakers_mutex};
      if (const auto found = shard_breakers.find(shard); found != shard_breakers.end())
        return *found->second;
    }
    const std::unique_lock lock{shard_breakers_mutex};
    auto& made = shard_breakers[shard];
    if (!made) {
      made = std::make_unique<CircuitBreaker>(config.circuit_breaker, options.circuit_rate, clock);
      made->set_listener([this, shard](CircuitState from, CircuitState to) {
        on_transition(from, to, "shard " + shard, shard);
      });
    }
    return *made;
  }

  static int severity(CircuitState state) {
    return state == CircuitState::Open ? 2 : state == CircuitState::HalfOpen ? 1 : 0;
  }

  static StatsSnapshot::Circuit circuit_of(const CircuitBreaker::Snapshot& snapshot) {
    return {.state = snapshot.state,
            .consecutive_failures = snapshot.consecutive_failures,
            .opened = snapshot.opened,
            .half_opened = snapshot.half_opened,
            .closed = snapshot.closed,
            .rejected = snapshot.rejected};
  }

  // The manager's breaker together with every shard's: the worst state, the most consecutive
  // failures, the transitions and rejections summed.
  StatsSnapshot::Circuit circuit_summary() const {
    StatsSnapshot::Circuit summary = circuit_of(breaker.snapshot());
    const std::shared_lock lock{shard_breakers_mutex};
    for (const auto& [shard, shard_breaker] : shard_breakers) {
      const StatsSnapshot::Circuit one = circuit_of(shard_breaker->snapshot());
      if (severity(one.state) > severity(summary.state))
        summary.state = one.state;
      summary.consecutive_failures =
          std::max(summary.consecutive_failures, one.consecutive_failures);
      summary.opened += one.opened;
      summary.half_opened += one.half_opened;
      summary.closed += one.closed;
      summary.rejected += one.rejected;
    }
    return summary;
  }

  // On a cluster, every node with its shard's breaker; empty on a single server.
  std::vector<StatsSnapshot::Node> node_states() const {
    std::vector<StatsSnapshot::Node> states;
    const auto* cluster = dynamic_cast<const ClusterClient*>(client.get());
    if (cluster == nullptr)
      return states;
    const std::shared_lock lock{shard_breakers_mutex};
    for (const ClusterNodeStatus& node : cluster->nodes()) {
      StatsSnapshot::Node state{.endpoint = node.endpoint,
                                .role = node.role,
                                .slots = node.slots,
                                .up = node.health.up,
                                .last_error = node.health.last_error,
                                .errors = node.errors};
      if (const auto found = shard_breakers.find(node.endpoint); found != shard_breakers.end())
        state.circuit = circuit_of(found->second->snapshot());
      states.push_back(std::move(state));
    }
    return states;
  }

  // The health check of `endpoint` answered: an open breaker covering it may try again early
  // (half-open; its probes decide).
  void server_answered(std::string_view endpoint) {
    if (breaker.state() == CircuitState::Open)
      breaker.expire_open_period();
    const std::shared_lock lock{shard_breakers_mutex};
    if (const auto found = shard_breakers.find(std::string{endpoint});
        found != shard_breakers.end() && found->second->state() == CircuitState::Open) {
      found->second->expire_open_period();
    }
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
    const Milliseconds base = std::min(ttl.base(), Ttl::longest);
    return std::min(ttl.jittered() ? jitter.jittered(base) : base, Ttl::longest);
  }

  // The deadline of the call this thread is in: its DeadlineScope, else operation_timeout from
  // now. Every public operation opens a scope, so retries and the client share one budget.
  [[nodiscard]] Steady::time_point call_deadline() const {
    return DeadlineScope::bound(Steady::now(), config.operation_timeout);
  }

  template <class Operation>
  Guarded guarded(Operation&& operation, bool idempotent, std::string_view key) {
    const std::array<std::string_view, 1> keys{key};
    return guarded(std::forward<Operation>(operation), idempotent,
                   std::span<const std::string_view>{keys});
  }

  // Runs `operation` against the server under the breaker of the keys' shard (every key on one
  // shard; none for a keyless call), with retries inside the operation deadline and the retry
  // budget. Never throws for availability failures.
  template <class Operation>
  Guarded guarded(Operation&& operation, bool idempotent,
                  std::span<const std::string_view> keys = {}) {
    CircuitBreaker& breaker = keys.empty() ? this->breaker : breaker_for(keys.front());
    const CircuitBreaker::Permit permit = breaker.try_acquire();
    if (!permit)
      return unavailable(DegradedCause::BreakerOpen);  // open: no syscall at all
    const DeadlineScope scope{call_deadline()};
    // Read before the journal: a restart noted by another caller journals its sweep first.
    const std::uint64_t epoch_before = known_epoch.load(std::memory_order_acquire);
    if (!journal.empty()) {
      ErrorCategory replay_error = ErrorCategory::Connection;
      switch (recover_for(keys, replay_error)) {
        case Recovery::Done:
          break;
        case Recovery::Unfinished:
          // Another caller replays, or this call's time went to the replay: serve degraded
          // until Valkey owes nothing. Not the server's fault, so not the breaker's business.
          breaker.record_unanswered(permit);
          return unavailable(DegradedCause::Recovering);
        case Recovery::Failed:
          // The replay this call made reached the network and failed: the call's error.
          stats.record_error(replay_error);
          breaker.record_failure(permit);
          return unavailable(cause_of(replay_error));
        case Recovery::NotAttempted:
          // The replay could not even begin (the pool's reconnect backoff): the call's error
          // all the same, but nothing new about the server, so the breaker hears nothing.
          stats.record_error(replay_error);
          breaker.record_unanswered(permit);
          return unavailable(cause_of(replay_error));
      }
    }
    budget.record_request();
    // The retry policy reasons in the manager's clock (a ManualClock in tests); the scope's
    // remaining time converts into it.
    const auto deadline = clock.now() + (*DeadlineScope::current() - Steady::now());
    // Whether an attempt of this call reached the server and failed: only that tells the
    // breaker something. Our own fast-fails (reconnect backoff, a busy pool) do not.
    bool server_failed = false;
    for (int attempts = 1;; ++attempts) {
      try {
        operation(*client);
        breaker.record_success(permit);
        if (options.forget_on_server_restart && client->server_epoch() != epoch_before) {
          // The answer may come from a restarted server holding older data: not to be trusted
          // until the namespace is swept.
          note_restart();
          return unavailable(DegradedCause::Recovering);
        }
        return {};
      } catch (const RefusedError& error) {
        // Not an outage: the server refuses our credentials or database. Degrade, say so loudly
        // (rate-limited), and keep the breaker from hammering it.
        stats.record_error(ErrorCategory::Config);
        log_limited(spdlog::level::err, "refused", error.what());
        breaker.record_failure(permit);
        return unavailable(DegradedCause::Refused);
      } catch (const ReplyError& error) {
        breaker.record_success(permit);  // the server answered: it is up
        stats.record_error(ErrorCategory::Reply);
        log_limited(spdlog::level::warn, "reply", error.what());
        // Which key the server refused (a WRONGTYPE names none), for debug level only.
        if (!keys.empty()) {
          logger->debug("{} (key '{}'{})", error.what(), keys.front(),
                        keys.size() > 1 ? fmt::format(" and {} more", keys.size() - 1) : "");
        }
        return {Outcome::ServerRefused};
      } catch (const Error& error) {
        // Our own queue (every pooled connection busy) and the pool's reconnect backoff say
        // nothing about the server; the backoff is not worth waiting out either, since it
        // fails the same way until its attempt is due.
        const bool backoff = dynamic_cast<const ReconnectBackoffError*>(&error) != nullptr;
        if (!backoff && error.category() != ErrorCategory::Pool)
          server_failed = true;
        const auto delay = backoff ? std::nullopt
                                   : retry.next_delay(attempts, error.category(), idempotent, false,
                                                      clock.now(), deadline);
        if (!delay || !budget.try_spend()) {
          // Counted once per operation, by the error that ended it.
          stats.record_error(error.category());
          logger->debug("giving up after {} attempts: {}", attempts, error.what());
          // Once per call, and only when the server itself failed an attempt.
          if (server_failed) {
            breaker.record_failure(permit);
          } else {
            breaker.record_unanswered(permit);
          }
          return unavailable(cause_of(error.category()));
        }
        std::this_thread::sleep_for(*delay);
      }
    }
  }

  void note_restart() {
    const std::uint64_t now_epoch = client->server_epoch();
    std::uint64_t seen = known_epoch.load(std::memory_order_acquire);
    while (seen < now_epoch) {
      // The sweep is journaled before the epoch is published: whoever reads the new epoch
      // finds the journal non-empty.
      journal.sweep_namespace();
      if (known_epoch.compare_exchange_weak(seen, now_epoch, std::memory_order_acq_rel)) {
        logger->warn(
            "Valkey at {} restarted: removing every key under '{}' before serving from "
            "it again, since it may hold values older than it acknowledged",
            config.endpoint(), config.key_prefix.empty() ? "*" : config.key_prefix);
        return;
      }
    }
  }

  void log_limited(spdlog::level::level_enum level, std::string_view cause,
                   std::string_view message) {
    if (const auto repeats = log_limiter.admit(cause)) {
      if (*repeats > 0) {
        logger->log(level, "{} ({} more like it since the last line)", message, *repeats);
      } else {
        logger->log(level, "{}", message);
      }
    }
  }

  // Records an operation's latency from `start`: exactly once per public call.
  void timed(Operation kind, Clock::time_point start) {
    stats.record_latency(kind, clock.now() - start);
  }

  void journal_key(std::string_view key) {
    if (journal.add_key(key))
      log_overflow();
  }

  void journal_pattern(std::string_view pattern) {
    if (journal.add_pattern(pattern))
      log_overflow();
  }

  void log_overflow() {
    stats.record_journal_overflow();
    if (options.journal_overflow == JournalOverflow::InvalidateNamespace) {
      logger->error(
          "invalidation journal full ({} keys): on recovery every key under '{}' is removed from "
          "Valkey (SCAN + UNLINK) before traffic resumes",
          config.fallback.journal_max_entries, config.key_prefix.empty() ? "*" : config.key_prefix);
    } else {
      logger->error(
          "invalidation journal full ({} keys): later invalidations made while Valkey is "
          "unavailable are dropped (journal_overflow = AcceptStale); those keys may be stale "
          "until they expire",
          config.fallback.journal_max_entries);
    }
  }

  // Failed: a replay step reached the server and failed. NotAttempted: the first step could not
  // go out at all (the pool's reconnect backoff).
  enum class Recovery { Done, Unfinished, Failed, NotAttempted };

  // What the journal owes before `keys` may be served by Valkey again: on a single server (or
  // for a keyless call) everything; on a cluster only what their slots owe, so a shard that is
  // still down holds up nobody else.
  Recovery recover_for(std::span<const std::string_view> keys, ErrorCategory& failed_with) {
    if (keys.empty() || !clustered.load(std::memory_order_acquire))
      return recover({}, &failed_with);
    for (const std::string_view key : keys) {
      const std::uint16_t slot = cluster_slot(key);
      if (!journal.owes(slot))
        continue;
      if (const Recovery result = recover(slot, &failed_with); result != Recovery::Done)
        return result;
    }
    return Recovery::Done;
  }

  // Replays the journal (what `slot` owes, when given) to Valkey within the current deadline,
  // one batch at a time, and drops the fallback's entries once Valkey owes nothing: Valkey is
  // the source of truth again. One caller replays; the others do not wait for it (they are
  // served degraded meanwhile). On Failed, `failed_with` (when given) gets the error's category.
  Recovery recover(std::optional<std::uint16_t> slot, ErrorCategory* failed_with = nullptr) {
    std::unique_lock replay_lock{recovery_mutex, std::try_to_lock};
    if (!replay_lock.owns_lock())
      return Recovery::Unfinished;
    std::size_t replayed = 0;
    Recovery result = Recovery::Done;
    for (;;) {
      if (Steady::now() >= *DeadlineScope::current()) {
        result = Recovery::Unfinished;
        break;
      }
      detail::InvalidationJournal::Batch batch = journal.take(replay_batch_size, slot);
      if (batch.kind == detail::InvalidationJournal::Batch::Kind::None)
        break;
      try {
        std::string next_cursor = replay(batch);
        replayed += batch.kind == detail::InvalidationJournal::Batch::Kind::Keys ? batch.keys.size()
                    : batch.kind == detail::InvalidationJournal::Batch::Kind::Pattern ? 1
                                                                                      : 0;
        journal.done(batch, next_cursor);
        // One slot's keys: what the fallback holds for them (written while their shard was
        // down) is older than nothing, which is what Valkey now has.
        if (slot) {
          for (const std::string& key : batch.keys)
            fallback.erase(key);
        }
      } catch (const Error& error) {
        log_limited(
            spdlog::level::warn, "replay",
            fmt::format("journal replay to {} stopped: {}", config.endpoint(), error.what()));
        journal.put_back(std::move(batch));
        if (failed_with != nullptr)
          *failed_with = error.category();
        result = dynamic_cast<const ReconnectBackoffError*>(&error) != nullptr
                     ? Recovery::NotAttempted
                     : Recovery::Failed;
        break;
      }
    }
    stats.record_journal_replayed(replayed);
    if (result == Recovery::Done) {
      // Entries added after the last take() are still pending: the next caller replays them.
      if (slot && !journal.owes(slot)) {
        if (journal.empty())
          fallback.clear();
        return Recovery::Done;
      }
      if (!journal.empty())
        return Recovery::Unfinished;
      fallback.clear();
      if (replayed > 0)
        logger->info("recovered: replayed {} invalidations to {}", replayed, config.endpoint());
    }
    return result;
  }

  // Sends one batch. Returns the namespace sweep's next cursor ("0" otherwise).
  std::string replay(const detail::InvalidationJournal::Batch& batch) {
    using Kind = detail::InvalidationJournal::Batch::Kind;
    switch (batch.kind) {
      case Kind::Keys: {
        const std::vector<std::string_view> keys(batch.keys.begin(), batch.keys.end());
        client->unlink(keys);
        return "0";
      }
      case Kind::Pattern:
        unlink_matching(batch.pattern);
        return "0";
      case Kind::Namespace: {
        Client::ScanPage page = client->scan(batch.cursor, batch.pattern, replay_batch_size);
        if (!page.keys.empty()) {
          const std::vector<std::string_view> keys(page.keys.begin(), page.keys.end());
          client->unlink(keys);
        }
        return page.cursor;
      }
      case Kind::None:
        break;
    }
    return "0";
  }

  std::size_t unlink_matching(std::string_view pattern) {
    std::size_t removed = 0;
    client->scan_all(
        pattern,
        [&](const std::vector<std::string>& batch) {
          const std::vector<std::string_view> keys(batch.begin(), batch.end());
          removed += static_cast<std::size_t>(client->unlink(keys));
        },
        replay_batch_size);
    return removed;
  }

  // The positions of `keys` grouped by the shard serving them, in first-seen order: one group
  // holding every position on a single server.
  std::vector<std::vector<std::size_t>> by_shard(std::span<const std::string_view> keys) const {
    std::vector<std::vector<std::size_t>> groups;
    if (!clustered.load(std::memory_order_acquire)) {
      groups.emplace_back(keys.size());
      std::iota(groups.back().begin(), groups.back().end(), std::size_t{0});
      return groups;
    }
    std::vector<std::string> shards;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      std::string shard = client->shard_of(keys[i]);
      const auto found = std::find(shards.begin(), shards.end(), shard);
      if (found == shards.end()) {
        shards.push_back(std::move(shard));
        groups.push_back({i});
      } else {
        groups[static_cast<std::size_t>(found - shards.begin())].push_back(i);
      }
    }
    return groups;
  }

  void remember(std::string_view key, std::string_view value, Milliseconds ttl) {
    if (config.fallback.enabled)
      fallback.set(key, value, ttl);
  }

  // --- the operations, untimed: the public members and get_or_compute time them once ------

  std::optional<std::string> read(std::string_view key) {
    std::optional<std::string> value;
    const auto outcome = guarded([&](Client& c) { value = c.get(key); }, true, key);
    if (outcome == Outcome::Unavailable) {
      stats.record_degraded(outcome.cause);
      value = config.fallback.enabled ? fallback.get(key) : std::nullopt;
    } else if (outcome == Outcome::ServerRefused) {
      value.reset();
    }
    value ? stats.record_hit() : stats.record_miss();
    return value;
  }

  bool write(std::string_view key, std::string_view value, Milliseconds expiry) {
    const auto outcome = guarded([&](Client& c) { c.set(key, value, {.ttl = expiry}); }, true, key);
    switch (outcome.outcome) {
      case Outcome::Ok:
        remember(key, value, expiry);
        stats.record_set();
        return true;
      case Outcome::Unavailable:
        stats.record_degraded(outcome.cause);
        remember(key, value, expiry);
        // The write never reached Valkey (or we cannot tell), which may still hold an older
        // value: it must forget it before anyone reads there again.
        journal_key(key);
        return false;
      case Outcome::ServerRefused:
        // Refused (OOM, ...): the value exists nowhere, and the one it was meant to replace
        // must not be served either. DEL needs no memory, so it works under noeviction.
        forget(key);
        return false;
    }
    return false;
  }

  // Removes the key from Valkey and the fallback; journals it when Valkey cannot be told.
  bool forget(std::string_view key) {
    long long removed = 0;
    const auto outcome = guarded([&](Client& c) { removed = c.del(key); }, true, key);
    const bool in_fallback = fallback.erase(key);
    if (outcome == Outcome::Unavailable) {
      stats.record_degraded(outcome.cause);
      journal_key(key);
      removed = in_fallback ? 1 : 0;
    }
    return removed > 0;
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
  detail::InvalidationJournal journal;
  // The client's server_epoch() this manager has acted on (see note_restart()).
  std::atomic<std::uint64_t> known_epoch{0};
  detail::LogLimiter log_limiter{std::chrono::seconds{10}};
  // One line per undecodable key per minute; at most 1024 keys remembered (see LogLimiter).
  detail::LogLimiter undecodable_log{std::chrono::minutes{1}, 1024};
  std::mutex recovery_mutex;
  // On a cluster: true, and one breaker per primary (see breaker_for()).
  std::atomic<bool> clustered{false};
  mutable std::shared_mutex shard_breakers_mutex;
  std::unordered_map<std::string, std::unique_ptr<CircuitBreaker>> shard_breakers;

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
  ClientOptions client_options{.logger = impl.logger, .observer = impl.options.observer};
  if (impl.options.health_check_closes_circuit) {
    // Every check, not only changes: the breaker may open after the server already came back.
    // The check only ends the open period; the half-open probes still decide, with their limit.
    client_options.on_health_check = [&impl](const HealthStatus& status) {
      if (status.up && status.refusal.empty())
        impl.server_answered(status.endpoint);
    };
  }
  // A ClusterClient or a ValkeyClient, as VALKEY_CLUSTER says or the server answers.
  impl.adopt(make_client(client_config(impl.config), client_options));
}

CacheManager::CacheManager(std::shared_ptr<Client> client, ValkeyConfig config,
                           CacheManagerOptions options)
    : impl_{std::make_unique<Impl>(std::move(config), std::move(options))} {
  if (!client)
    throw std::invalid_argument("CacheManager: the client is null");
  if (impl_->options.observer) {
    throw std::invalid_argument(
        "CacheManager: options.observer is set, but a user-supplied client reports only to the "
        "ClientOptions::observer it was built with");
  }
  impl_->adopt(std::move(client));
}

CacheManager::~CacheManager() {
  Impl& impl = *impl_;
  if (impl.journal.empty())
    return;
  // One last replay, bounded like any operation: the next process must not read what this one
  // invalidated. Whatever is left is said loudly, with its count.
  const auto deadline = Steady::now() + impl.config.operation_timeout;
  const DeadlineScope scope{deadline};
  try {
    // The pool may still be in its reconnect backoff after an outage: try again until the
    // deadline rather than give up on the first fast failure.
    while (impl.recover({}) != Impl::Recovery::Done && Steady::now() + 10ms < deadline)
      std::this_thread::sleep_for(10ms);
  } catch (...) {  // NOLINT(bugprone-empty-catch): never throw from a destructor; logged below
  }
  if (const std::size_t left = impl.journal.pending(); left > 0) {
    impl.logger->error(
        "CacheManager destroyed with {} invalidations Valkey at {} never received; those keys "
        "may be stale there until they expire",
        left, impl.config.endpoint());
  }
}

std::optional<std::string> CacheManager::get(std::string_view key) {
  Impl& impl = *impl_;
  impl.validate_key(key);
  const auto start = impl.clock.now();
  std::optional<std::string> value = impl.read(key);
  impl.timed(Operation::Get, start);
  return value;
}

bool CacheManager::set(std::string_view key, std::string_view value, Ttl ttl) {
  Impl& impl = *impl_;
  impl.validate_key(key);
  impl.validate_value(key, value);
  const Milliseconds expiry = impl.resolve(ttl);
  const auto start = impl.clock.now();
  const bool stored = impl.write(key, value, expiry);
  impl.timed(Operation::Set, start);
  return stored;
}

bool CacheManager::del(std::string_view key) {
  Impl& impl = *impl_;
  impl.validate_key(key);
  const auto start = impl.clock.now();
  const bool removed = impl.forget(key);
  impl.stats.record_delete();
  impl.timed(Operation::Delete, start);
  return removed;
}

bool CacheManager::exists(std::string_view key) {
  Impl& impl = *impl_;
  impl.validate_key(key);
  const auto start = impl.clock.now();
  bool found = false;
  const auto outcome = impl.guarded([&](Client& client) { found = client.exists(key); }, true, key);
  if (outcome == Impl::Outcome::Unavailable) {
    impl.stats.record_degraded(outcome.cause);
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
  const auto outcome =
      impl.guarded([&](Client& client) { remaining = client.pttl(key); }, true, key);
  if (outcome == Impl::Outcome::Unavailable) {
    impl.stats.record_degraded(outcome.cause);
    remaining = impl.config.fallback.enabled ? impl.fallback.ttl(key) : std::nullopt;
  }
  impl.timed(Operation::Ttl, start);
  return remaining;
}

bool CacheManager::expire(std::string_view key, Milliseconds ttl) {
  Impl& impl = *impl_;
  impl.validate_key(key);
  ttl = impl.resolve(Ttl::exact(ttl));  // validates and saturates
  const auto start = impl.clock.now();
  bool existed = false;
  const auto outcome =
      impl.guarded([&](Client& client) { existed = client.pexpire(key, ttl); }, true, key);
  const bool in_fallback = impl.fallback.expire(key, ttl);
  if (outcome == Impl::Outcome::Unavailable) {
    impl.stats.record_degraded(outcome.cause);
    // Replaying an expiry later could keep an old value that was overwritten meanwhile; forgetting
    // the key is always safe for a cache.
    impl.journal_key(key);
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
  std::vector<std::optional<std::string>> values(keys.size());
  // One MGET per shard, each under its shard's breaker: keys on a shard that is down come from
  // the fallback, the others from Valkey.
  // The cause of the first shard that degraded: one degraded operation, whatever the shards.
  std::optional<DegradedCause> degraded;
  for (const std::vector<std::size_t>& group : impl.by_shard(keys)) {
    std::vector<std::string_view> group_keys;
    group_keys.reserve(group.size());
    for (const std::size_t index : group)
      group_keys.push_back(keys[index]);
    std::vector<std::optional<std::string>> found;
    const auto outcome = impl.guarded([&](Client& client) { found = client.mget(group_keys); },
                                      true, std::span<const std::string_view>{group_keys});
    if (!degraded && outcome == Impl::Outcome::Unavailable)
      degraded = outcome.cause;
    for (std::size_t i = 0; i < group.size(); ++i) {
      if (outcome == Impl::Outcome::Ok) {
        values[group[i]] = std::move(found[i]);
      } else if (outcome == Impl::Outcome::Unavailable && impl.config.fallback.enabled) {
        values[group[i]] = impl.fallback.get(group_keys[i]);
      }
    }
  }
  if (degraded)
    impl.stats.record_degraded(*degraded);
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
  std::vector<std::string_view> keys;
  keys.reserve(items.size());
  for (const auto& item : items)
    keys.push_back(item.first);
  bool all_stored = true;
  // The cause of the first shard that degraded: one degraded operation, whatever the shards.
  std::optional<DegradedCause> degraded;
  // One pipeline per shard, each under its shard's breaker (one for a single server).
  for (const std::vector<std::size_t>& group : impl.by_shard(keys)) {
    std::vector<std::string_view> group_keys;
    std::vector<Milliseconds> expiries;
    group_keys.reserve(group.size());
    expiries.reserve(group.size());
    Pipeline pipeline;
    for (const std::size_t index : group) {
      const auto& [key, value] = items[index];
      group_keys.push_back(key);
      expiries.push_back(impl.resolve(ttl));
      const std::string px = std::to_string(expiries.back().count());
      pipeline.add("SET", key, value, "PX", px);
    }
    // The write-through goes in as one batch per group, each fallback shard locked once for
    // all of its items rather than once per item.
    std::vector<FallbackCache::Item> remembered;
    if (impl.config.fallback.enabled)
      remembered.reserve(group.size());
    // Done while the server works on the pipeline, so that it costs no time of its own: every
    // item, as they all go into the fallback unless the server refuses one, which is rare and
    // settled below.
    bool written_through = false;
    const std::function<void()> write_through = [&] {
      if (written_through || !impl.config.fallback.enabled)
        return;
      written_through = true;
      for (std::size_t i = 0; i < group.size(); ++i)
        remembered.push_back({items[group[i]].first, items[group[i]].second, expiries[i]});
      impl.fallback.set_many(remembered);
      remembered.clear();
    };
    std::vector<bool> refused(group.size(), false);
    bool any_refused = false;
    const auto outcome = impl.guarded(
        [&](Client& client) {
          const std::vector<Reply> replies = client.execute_overlapping(pipeline, write_through);
          for (std::size_t i = 0; i < replies.size(); ++i) {
            refused[i] = replies[i].is_error();
            any_refused = any_refused || refused[i];
          }
        },
        true, std::span<const std::string_view>{group_keys});
    all_stored = all_stored && outcome == Impl::Outcome::Ok;
    if (!degraded && outcome == Impl::Outcome::Unavailable)
      degraded = outcome.cause;
    // Stored already, and nothing refused: only the counts are left. Otherwise the items go in
    // (again) in their order, each refused one removed where it stands, so that a later item
    // of the same key still wins.
    const bool store = !written_through || (outcome == Impl::Outcome::Ok && any_refused);
    for (std::size_t i = 0; i < group.size(); ++i) {
      const auto& [key, value] = items[group[i]];
      if (outcome == Impl::Outcome::Ok && refused[i]) {
        // The server refused this one (OOM, ...): neither it nor the value it replaces is
        // served. What came before it goes in first, so that the order stays the items'.
        all_stored = false;
        impl.stats.record_error(ErrorCategory::Reply);
        impl.fallback.set_many(remembered);
        remembered.clear();
        impl.forget(key);
        continue;
      }
      if (store && impl.config.fallback.enabled)
        remembered.push_back({key, value, expiries[i]});
      if (outcome == Impl::Outcome::Unavailable)
        impl.journal_key(key);
      else
        impl.stats.record_set();
    }
    impl.fallback.set_many(remembered);
  }
  if (degraded)
    impl.stats.record_degraded(*degraded);
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
    impl.stats.record_degraded(outcome.cause);
    impl.journal_pattern(pattern);
    removed = in_fallback;
  }
  impl.timed(Operation::InvalidatePattern, start);
  return removed;
}

void CacheManager::undecodable(std::string_view key, std::string_view bytes, bool may_delete) {
  Impl& impl = *impl_;
  // A stored None (the original's str(None), or JSON null) is no value, not a damaged one.
  if (detail::is_none(bytes))
    return;
  impl.stats.record_error(ErrorCategory::Serialization);
  const bool remove = may_delete && impl.options.delete_undecodable;
  // Neither the bytes nor the type are logged: values may be personal data. Nor is the key
  // above debug level: keys carry flight numbers and passenger ids (docs/security.md).
  if (const auto repeats = impl.undecodable_log.admit(key)) {
    impl.logger->warn(
        "a value of {} bytes does not decode as the requested type: a miss for this caller; "
        "{}{}",
        bytes.size(),
        remove ? "deleted (delete_undecodable)" : "left in place for the programs that can read it",
        *repeats > 0
            ? fmt::format(" ({} more undecodable reads of the same key since the last line)",
                          *repeats)
            : std::string{});
    impl.logger->debug("the value of '{}' ({} bytes) does not decode as the requested type", key,
                       bytes.size());
  }
  if (remove)
    impl.forget(key);
}

std::optional<std::string> CacheManager::compute_bytes(
    std::string_view key, Ttl ttl, const ComputeOptions& options,
    const std::function<std::optional<std::string>()>& loader, bool (*readable)(std::string_view)) {
  Impl& impl = *impl_;
  impl.validate_key(key);
  if (LoadingHere::contains(&impl, key)) {
    throw std::logic_error(fmt::format(
        "CacheManager::get_or_compute: the loader of '{}' asked for '{}' again on the same "
        "thread; it would wait for itself for ever",
        key, key));
  }
  const auto start = impl.clock.now();
  // Every exit is timed once, whatever the path: a hit, a cached "not found", a waiter, a
  // loader that throws.
  struct TimeOnExit {
    Impl& impl;
    Clock::time_point start;
    ~TimeOnExit() { impl.timed(Operation::GetOrCompute, start); }
  } time_on_exit{impl, start};

  const std::string key_text{key};
  const bool negative_caching = options.negative_ttl > Milliseconds::zero();
  const std::string negative_key =
      negative_caching ? not_found_key(key, impl.config.max_key_length) : std::string{};
  // The cache I/O of one call (the read, then the write) shares one operation_timeout; the
  // loader's own time is not charged to it.
  auto budget_left = impl.config.operation_timeout;

  // 1. The cache, with an XFetch early-refresh draw and the "not found" marker when asked for.
  std::optional<std::string> cached;
  bool cached_not_found = false;
  bool refresh_early = false;
  {
    const auto read_start = Steady::now();
    const DeadlineScope scope{read_start + budget_left};
    if (options.early_refresh_beta > 0.0 || negative_caching) {
      std::optional<Milliseconds> remaining;
      const std::array<std::string_view, 2> touched{key, negative_key};
      const auto outcome = impl.guarded(
          [&](Client& client) {
            Pipeline pipeline;
            pipeline.add("GET", key);
            if (options.early_refresh_beta > 0.0)
              pipeline.add("PTTL", key);
            if (negative_caching)
              pipeline.add("EXISTS", negative_key);
            auto replies = client.execute(pipeline);
            if (replies[0].is_error())
              throw ReplyError(fmt::format("GET on {}: {}", client.endpoint(), replies[0].text()));
            cached = std::move(replies[0]).as_optional_string();
            std::size_t next = 1;
            if (options.early_refresh_beta > 0.0) {
              if (replies[next].is_integer() && replies[next].as_integer() > 0)
                remaining = Milliseconds{replies[next].as_integer()};
              ++next;
            }
            if (negative_caching)
              cached_not_found = replies[next].is_integer() && replies[next].as_integer() > 0;
          },
          true, std::span<const std::string_view>{touched}.first(negative_caching ? 2 : 1));
      if (outcome == Impl::Outcome::Unavailable) {
        impl.stats.record_degraded(outcome.cause);
        cached = impl.config.fallback.enabled ? impl.fallback.get(key) : std::nullopt;
        cached_not_found =
            negative_caching && impl.config.fallback.enabled && impl.fallback.exists(negative_key);
      }
      cached ? impl.stats.record_hit() : impl.stats.record_miss();
      if (cached && remaining && options.early_refresh_beta > 0.0) {
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
      cached = impl.read(key);
    }
    budget_left -= std::chrono::duration_cast<Milliseconds>(Steady::now() - read_start);
  }
  if (cached && !readable(*cached)) {
    // Another program's value, or another type's: a miss here, overwritten below, never
    // deleted first.
    undecodable(key, *cached, false);
    cached.reset();
    refresh_early = false;
  }
  if (cached && !refresh_early)
    return cached;
  if (!cached && cached_not_found)
    return std::nullopt;

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
      return cached;
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
    // 3. Across processes: only the rebuild lock's holder runs the loader. The lease releases
    // the lock on every way out of this block, a throwing loader included.
    std::optional<LockLease> rebuild_lock;
    const std::string lock_key =
        options.rebuild_lock ? shorten_key(key_text + ":rebuild-lock", impl.config.max_key_length)
                             : std::string{};
    if (options.rebuild_lock) {
      bool held_elsewhere = false;
      const auto outcome = impl.guarded(
          [&](Client& client) {
            rebuild_lock = DistributedLock{client}.try_acquire(
                lock_key, {.ttl = options.lock_ttl, .fencing_ttl = options.lock_ttl});
            held_elsewhere = !rebuild_lock;
          },
          false, lock_key);
      if (outcome == Impl::Outcome::Ok && held_elsewhere) {
        // Another process is loading: wait for its value, then compute anyway.
        const auto give_up = impl.clock.now() + options.lock_wait;
        while (impl.clock.now() < give_up) {
          std::this_thread::sleep_for(Milliseconds{10});
          const DeadlineScope scope{Steady::now() + impl.config.operation_timeout};
          if (std::optional<std::string> loaded = impl.read(key); loaded && readable(*loaded)) {
            finish(loaded, nullptr);
            return loaded;
          }
        }
      }
    }

    const auto load_start = impl.clock.now();
    std::optional<std::string> value;
    {
      const LoadingHere loading{&impl, key};
      value = loader();
    }
    const auto load_time = impl.clock.now() - load_start;
    {
      std::lock_guard lock{impl.compute_times_mutex};
      if (impl.compute_times.size() >= 10'000)
        impl.compute_times.clear();
      impl.compute_times[key_text] =
          std::chrono::duration_cast<std::chrono::nanoseconds>(load_time);
    }
    {
      const DeadlineScope scope{Steady::now() + std::max(budget_left, Milliseconds::zero())};
      if (value) {
        impl.write(key, *value, impl.resolve(ttl));
      } else if (negative_caching) {
        impl.write(negative_key, "1", options.negative_ttl);
      }
      if (rebuild_lock) {
        impl.guarded([&](Client&) { rebuild_lock->release(); }, false, lock_key);
        rebuild_lock.reset();
      }
    }
    finish(value, nullptr);
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
  snapshot.circuit = impl.circuit_summary();
  snapshot.nodes = impl.node_states();
  snapshot.journal.pending = impl.journal.pending();
  return snapshot;
}

void CacheManager::reset_stats() {
  impl_->stats.reset();
}

CacheHealth CacheManager::health() const {
  const Impl& impl = *impl_;
  CacheHealth health;
  health.server = impl.client->health();
  health.circuit = impl.circuit_summary().state;
  health.nodes = impl.node_states();
  health.fallback_enabled = impl.config.fallback.enabled;
  health.journal_pending = impl.journal.pending();
  // Before the first background check the server's state is unknown, not down.
  const bool server_down = health.server.checks > 0 && !health.server.up;
  if (health.circuit == CircuitState::Closed && health.journal_pending == 0 && !server_down &&
      health.server.refusal.empty()) {
    health.level = HealthLevel::Healthy;
  } else if (health.fallback_enabled) {
    health.level = HealthLevel::Degraded;
  } else {
    health.level = HealthLevel::Unavailable;
  }
  return health;
}

CircuitState CacheManager::circuit_state() const {
  return impl_->circuit_summary().state;
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

namespace {

// The process-wide manager of get_cache_manager(). Made on first use, like the function-local
// static it replaces, so it is destroyed at exit in the same order.
struct GlobalManager {
  std::mutex mutex;
  std::unique_ptr<CacheManager> manager;
};

GlobalManager& global_manager() {
  static GlobalManager global;
  return global;
}

}  // namespace

CacheManager& get_cache_manager() {
  GlobalManager& global = global_manager();
  const std::lock_guard lock{global.mutex};
  if (!global.manager)
    global.manager = std::make_unique<CacheManager>(ValkeyConfig::from_env());
  return *global.manager;
}

void close_global_cache_manager() {
  GlobalManager& global = global_manager();
  std::unique_ptr<CacheManager> closing;
  {
    const std::lock_guard lock{global.mutex};
    closing = std::move(global.manager);
  }
  // Destroyed outside the lock: joining its threads must not hold up get_cache_manager().
}

}  // namespace airport::cache
