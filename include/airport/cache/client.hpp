// SPDX-License-Identifier: BSD-3-Clause
// Client: the interface the CacheManager and the patterns talk to. A few virtual primitives
// (one command, a pipeline, a transaction, a pinned session, health) carry everything; the typed
// commands below are plain functions on top of them, so a cluster client only has to route.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "airport/cache/health.hpp"
#include "airport/cache/pipeline.hpp"
#include "airport/cache/reply.hpp"
#include "airport/cache/script.hpp"

namespace airport::cache {

/// argv of one command; every element is sent as a binary-safe bulk string.
using CommandArgs = std::span<const std::string_view>;

/// When SET writes.
enum class SetCondition { Always, IfNotExists, IfExists };

/// Options of Client::set.
struct SetOptions {
  /// Expiry (sent as PX); none keeps the key forever (or its old TTL with keep_ttl).
  std::optional<std::chrono::milliseconds> ttl;
  /// NX / XX.
  SetCondition condition = SetCondition::Always;
  /// KEEPTTL: keep the key's current expiry. Not combinable with ttl.
  bool keep_ttl = false;
};

/// One member of a sorted set with its score.
struct ScoredMember {
  /// The member's bytes.
  std::string member;
  /// Its score; sorted sets order by it, ties by member.
  double score = 0;
  friend bool operator==(const ScoredMember&, const ScoredMember&) = default;
};

/// Commands on one connection held for the session's lifetime: WATCH / MULTI / EXEC and anything
/// else that needs the same connection. RAII: the connection goes back when it is destroyed.
/// One thread at a time.
class Session {
 public:
  virtual ~Session() = default;
  /// Runs one command on this session's connection. Error replies are returned, not thrown.
  /// SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and MONITOR throw std::invalid_argument: use a
  /// Subscriber. Whatever the session changes (MULTI, WATCH, SELECT, CLIENT SETNAME, ...) is
  /// undone before its connection serves anyone else.
  virtual Reply execute(CommandArgs argv) = 0;
  /// execute() with string-like arguments: command("WATCH", key). Error replies are returned.
  template <class... Args>
  Reply command(const Args&... args) {
    const std::array<std::string_view, sizeof...(Args)> argv{std::string_view{args}...};
    return execute(argv);
  }
};

/// The client interface. Implementations are safe for concurrent use.
///
/// Errors: I/O problems throw ConnectionError, TimeoutError or PoolExhaustedError; a server
/// that refuses the client's handshake or credentials throws RefusedError; a bad reply stream
/// throws ProtocolError. Typed commands throw ReplyError for an error reply (WRONGTYPE, OOM,
/// ...), RefusedError for NOAUTH / WRONGPASS, and ProtocolError for a reply of the wrong kind (a
/// status such as QUEUED where a value belongs); execute() and command() return error replies
/// as Reply values instead.
///
/// Deadlines: a DeadlineScope on the calling thread bounds the whole call, each step (pool
/// wait, connect, handshake, write, the whole reply, retries) getting what is left of it.
class Client {
 public:
  virtual ~Client() = default;

  // --- primitives -------------------------------------------------------------------------

  /// Runs one command; error replies are returned as Reply::error. SUBSCRIBE, PSUBSCRIBE,
  /// SSUBSCRIBE and MONITOR throw std::invalid_argument: use a Subscriber.
  virtual Reply execute(CommandArgs argv) = 0;
  /// Sends every queued command in one round trip; replies come back in order, error replies in
  /// place, so one failing command loses none of the others.
  virtual std::vector<Reply> execute(const Pipeline& pipeline) = 0;
  /// execute(pipeline), running `while_waiting` once the commands are written and before their
  /// replies are read, so that the caller's own work overlaps the round trip (the CacheManager
  /// writes an mset's items through to its fallback there). It runs at most once per call, and
  /// not when the call fails before anything was sent; what it throws, the call throws. The
  /// default runs it after execute(pipeline) returns.
  virtual std::vector<Reply> execute_overlapping(const Pipeline& pipeline,
                                                 const std::function<void()>& while_waiting);
  /// MULTI, the commands, EXEC, in one round trip. Returns EXEC's replies, or nullopt when EXEC
  /// was aborted (a WATCHed key changed: use a session for WATCH).
  virtual std::optional<std::vector<Reply>> transaction(const Pipeline& pipeline) = 0;
  /// A connection held for several commands (WATCH ... MULTI ... EXEC).
  virtual std::unique_ptr<Session> session() = 0;
  /// What the background health check last saw.
  [[nodiscard]] virtual HealthStatus health() const = 0;
  /// Where the commands go, for messages: "host:port" (or a cluster's seed list).
  [[nodiscard]] virtual std::string endpoint() const = 0;
  /// Counts the server restarts this client has noticed (a new server process behind the same
  /// endpoint, learnt when a connection opens, before it runs a command). A restarted server
  /// may have come back from an older snapshot, so the CacheManager forgets its namespace when
  /// this moves. 0 for a client that cannot tell.
  [[nodiscard]] virtual std::uint64_t server_epoch() const noexcept { return 0; }
  /// Whether keys are spread over the slots of a Valkey Cluster (commands used together then
  /// need a common {hash tag}).
  [[nodiscard]] virtual bool is_cluster() const noexcept { return false; }
  /// Which server answers for `key` now: "" for a single server; on a cluster, the primary that
  /// owns the key's slot ("host:port"), or "" while the slot map is unknown. The CacheManager
  /// keeps one circuit breaker per answer, so one shard's outage degrades only that shard.
  [[nodiscard]] virtual std::string shard_of(std::string_view /*key*/) const { return {}; }

  /// Generic command: command("OBJECT", "ENCODING", key). Error replies are returned.
  template <class... Args>
  requires(sizeof...(Args) > 0 && (std::is_convertible_v<const Args&, std::string_view> &&
                                   ...)) Reply command(const Args&... args) {
    const std::array<std::string_view, sizeof...(Args)> argv{std::string_view{args}...};
    return execute(CommandArgs{argv});
  }

  /// EVALSHA, falling back to EVAL when the server does not know the script (NOSCRIPT).
  /// Error replies from the script are returned, not thrown.
  Reply eval(const Script& script, std::span<const std::string_view> keys = {},
             std::span<const std::string_view> args = {});

  // --- strings ----------------------------------------------------------------------------
  /// The value's bytes; nullopt when the key does not exist.
  std::optional<std::string> get(std::string_view key);
  /// Returns whether the value was written (false only when NX/XX prevented it).
  bool set(std::string_view key, std::string_view value, const SetOptions& options = {});
  /// GETDEL: the value, deleted in the same step; nullopt when the key does not exist.
  std::optional<std::string> getdel(std::string_view key);
  /// One value per key, in order; nullopt for a missing key.
  std::vector<std::optional<std::string>> mget(std::span<const std::string_view> keys);
  /// Sets every pair at once, without expiry (MSET).
  void mset(std::span<const std::pair<std::string_view, std::string_view>> items);
  /// INCR: the value after adding 1 (a missing key counts as 0). ReplyError for a value that is
  /// not an integer.
  long long incr(std::string_view key);
  /// INCRBY: the value after adding `by`; as incr().
  long long incrby(std::string_view key, long long by);
  /// DECR: the value after subtracting 1; as incr().
  long long decr(std::string_view key);
  /// Number of keys removed.
  long long del(std::span<const std::string_view> keys);
  /// One key: 1 if it was removed, 0 if it did not exist.
  long long del(std::string_view key);
  /// UNLINK: like DEL but reclaims memory in the background.
  long long unlink(std::span<const std::string_view> keys);

  // --- keys ---------------------------------------------------------------------------------
  /// How many of `keys` exist (a key given twice counts twice, as EXISTS counts).
  long long exists(std::span<const std::string_view> keys);
  /// Whether one key exists.
  bool exists(std::string_view key);
  /// Whether the key existed and got the expiry.
  bool expire(std::string_view key, std::chrono::seconds ttl);
  /// expire() with millisecond precision (PEXPIRE).
  bool pexpire(std::string_view key, std::chrono::milliseconds ttl);
  /// Remaining time to live; nullopt when the key does not exist; a negative duration (-1 s)
  /// when it exists without expiry.
  std::optional<std::chrono::seconds> ttl(std::string_view key);
  /// ttl() with millisecond precision (PTTL); -1 ms for a key without expiry.
  std::optional<std::chrono::milliseconds> pttl(std::string_view key);
  /// Removes the key's expiry; false when the key does not exist or had none.
  bool persist(std::string_view key);
  /// "string", "hash", ..., or "none".
  std::string type(std::string_view key);

  /// One SCAN step: the next cursor ("0" when the iteration is complete) and a batch of keys.
  struct ScanPage {
    /// Pass it to the next scan(); "0" ends the iteration.
    std::string cursor;
    /// The keys of this step; may be empty while the iteration goes on.
    std::vector<std::string> keys;
  };
  /// One SCAN step from `cursor` ("0" to start) over keys matching the glob `match`; `count` is
  /// the server's hint of how much to look at per step, not a limit on the keys returned.
  ScanPage scan(std::string_view cursor, std::string_view match = "*", std::size_t count = 100);
  /// Calls on_batch for every non-empty SCAN batch until the iteration completes; never KEYS.
  /// Keys may repeat across batches (SCAN's guarantee); every key present for the whole scan is
  /// seen at least once.
  template <class OnBatch>
  void scan_all(std::string_view match, OnBatch&& on_batch, std::size_t count = 100) {
    std::string cursor = "0";
    do {
      ScanPage page = scan(cursor, match, count);
      if (!page.keys.empty())
        on_batch(page.keys);
      cursor = std::move(page.cursor);
    } while (cursor != "0");
  }

  // --- hashes -------------------------------------------------------------------------------
  /// Number of new fields.
  long long hset(std::string_view key,
                 std::span<const std::pair<std::string_view, std::string_view>> fields);
  /// One field: whether it is new (false when an existing field was overwritten).
  bool hset(std::string_view key, std::string_view field, std::string_view value);
  /// The field's value; nullopt when the key or the field does not exist.
  std::optional<std::string> hget(std::string_view key, std::string_view field);
  /// One value per field, in order; nullopt for a missing field.
  std::vector<std::optional<std::string>> hmget(std::string_view key,
                                                std::span<const std::string_view> fields);
  /// Every field and value; empty when the key does not exist.
  std::unordered_map<std::string, std::string> hgetall(std::string_view key);
  /// Number of fields removed.
  long long hdel(std::string_view key, std::span<const std::string_view> fields);
  /// HINCRBY: the field's value after adding `by` (a missing field counts as 0).
  long long hincrby(std::string_view key, std::string_view field, long long by);

  // --- sets ---------------------------------------------------------------------------------
  /// Number of members added (those already present do not count).
  long long sadd(std::string_view key, std::span<const std::string_view> members);
  /// Number of members removed.
  long long srem(std::string_view key, std::span<const std::string_view> members);
  /// Every member, in no particular order; empty when the key does not exist.
  std::vector<std::string> smembers(std::string_view key);
  /// Whether `member` is in the set.
  bool sismember(std::string_view key, std::string_view member);

  // --- sorted sets --------------------------------------------------------------------------
  /// Number of new members.
  long long zadd(std::string_view key, std::span<const ScoredMember> members);
  /// One member: 1 if it is new, 0 if only its score changed.
  long long zadd(std::string_view key, std::string_view member, double score);
  /// The member's score after adding `by` (a new member starts at 0).
  double zincrby(std::string_view key, double by, std::string_view member);
  /// The member's score; nullopt when it is not a member.
  std::optional<double> zscore(std::string_view key, std::string_view member);
  /// 0-based rank by ascending / descending score; nullopt when not a member.
  std::optional<long long> zrank(std::string_view key, std::string_view member);
  /// As zrank(), counted from the highest score.
  std::optional<long long> zrevrank(std::string_view key, std::string_view member);
  /// Members in rank range [start, stop] (inclusive, negative counts from the end), with scores.
  std::vector<ScoredMember> zrange(std::string_view key, long long start, long long stop);
  /// As zrange(), ranked from the highest score.
  std::vector<ScoredMember> zrevrange(std::string_view key, long long start, long long stop);
  /// Number of members removed.
  long long zrem(std::string_view key, std::span<const std::string_view> members);
  /// Number of members; 0 when the key does not exist.
  long long zcard(std::string_view key);

  // --- bitmaps ------------------------------------------------------------------------------
  /// Returns the previous bit.
  bool setbit(std::string_view key, std::uint64_t offset, bool value);
  /// The bit at `offset`; false beyond the end of the string or for a missing key.
  bool getbit(std::string_view key, std::uint64_t offset);
  /// Number of bits set in the whole string.
  long long bitcount(std::string_view key);

  // --- pub/sub and server -------------------------------------------------------------------
  /// Number of subscribers that received the message.
  long long publish(std::string_view channel, std::string_view message);
  /// Round trip of one PING.
  std::chrono::microseconds ping();
  /// INFO [section] as text.
  std::string info(std::string_view section = {});
  /// DBSIZE: number of keys in the database of the node that answers.
  long long dbsize();
  /// Deletes every key of the selected database. For tests and demos only.
  void flushdb();

 protected:
  Client() = default;
};

}  // namespace airport::cache
