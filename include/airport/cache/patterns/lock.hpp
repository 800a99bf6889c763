// SPDX-License-Identifier: BSD-3-Clause
// DistributedLock: a lease-based mutual-exclusion lock on one key of one Valkey primary (SET NX
// PX with a random token, owner-checked release and extend in Lua, a fencing token per
// acquisition, optional watchdog). Used for seat holds and cache-rebuild locks.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "airport/cache/client.hpp"

namespace airport::cache {

/// How one acquisition behaves. Validated by every acquire: std::invalid_argument names the field.
struct LockOptions {
  /// Lease time: the lock frees itself this long after the last acquire or extend, so a crashed
  /// holder never blocks others for longer. Must be positive. Default 10 s.
  std::chrono::milliseconds ttl{10'000};
  /// How long try_acquire() / acquire() keep trying while someone else holds the lock. 0 tries
  /// exactly once. Must not be negative. Default 0.
  std::chrono::milliseconds wait_timeout{0};
  /// Backoff between tries: full jitter, uniform in [0, min(retry_max, retry_base * 2^n)]
  /// (backoff.hpp). retry_base must be positive, retry_max >= retry_base. Default 10 ms / 200 ms.
  std::chrono::milliseconds retry_base{10};
  /// The cap of that backoff (see retry_base).
  std::chrono::milliseconds retry_max{200};
  /// Run a watchdog thread that extends the lease every ttl/3 while it is held; see LockLease.
  /// Default false.
  bool auto_extend = false;
  /// Optional label stored before the token (`owner:token`), reported by holder(): e.g. the
  /// passenger holding a seat. Any bytes; empty stores the token alone. Default empty.
  std::string owner{};
  /// Expiry of the fencing counter (fencing_key()), refreshed by every successful acquire.
  /// None keeps it forever. Set it to bound memory for short-lived keys (one lock per seat and
  /// flight), but longer than any downstream store remembers fencing tokens: the counter starts
  /// again at 1 after it expired. Must be positive when set. Default none.
  std::optional<std::chrono::milliseconds> fencing_ttl{};
  /// Called once, on the watchdog thread, when the watchdog finds the lock lost (someone else
  /// holds the key, it expired, or no extend succeeded for a whole ttl). Exceptions are
  /// swallowed. It may call the lease's const members and release(), but must not destroy the
  /// lease. Default none.
  std::function<void(std::string_view key)> on_lost{};
};

/// Who holds a lock: the parsed value of the lock key.
struct LockHolder {
  /// LockOptions::owner of the holder; empty when none was given.
  std::string owner{};
  /// The holder's random token: 32 lower-case hex characters (128 bits).
  std::string token{};

  /// The value stored at the lock key: `owner:token`, or the token alone without an owner.
  [[nodiscard]] std::string value() const;
  /// The inverse of value(): the owner is everything before the last ':'. Never throws except
  /// std::bad_alloc.
  [[nodiscard]] static LockHolder parse(std::string_view value);

  friend bool operator==(const LockHolder&, const LockHolder&) = default;
};

/// Thrown by DistributedLock::acquire() when the lock stayed taken for the whole wait.
class LockNotAcquired : public std::runtime_error {
 public:
  /// The message names `key` and how long the acquire waited.
  LockNotAcquired(std::string key, std::chrono::milliseconds waited);
  /// The lock's key.
  [[nodiscard]] const std::string& key() const noexcept { return key_; }
  /// LockOptions::wait_timeout of the failed acquire.
  [[nodiscard]] std::chrono::milliseconds waited() const noexcept { return waited_; }

 private:
  std::string key_;
  std::chrono::milliseconds waited_;
};

/// One successful acquisition: RAII, released (owner-checked) by release() or the destructor.
///
/// Movable, not copyable; a moved-from lease owns nothing (owned() false, empty strings,
/// fencing_token() 0). One thread at a time; the watchdog, when enabled, runs on its own thread
/// and is stopped (condition variable, no sleeping it out) and joined before release() talks to
/// the server and before destruction completes.
///
/// With auto_extend, the watchdog extends the lease every ttl/3. When an extend finds the key no
/// longer ours, or no extend succeeded within a whole ttl (server unreachable), it marks the lease
/// lost(), calls LockOptions::on_lost and stops. A failed extend that is not yet a whole ttl old
/// is retried at the next tick.
class LockLease {
 public:
  /// Takes over `other`'s lock and watchdog; `other` then owns nothing.
  LockLease(LockLease&& other) noexcept;
  /// Releases the lease held so far (errors swallowed, as the destructor does), then takes over.
  LockLease& operator=(LockLease&& other) noexcept;
  LockLease(const LockLease&) = delete;
  LockLease& operator=(const LockLease&) = delete;
  /// Stops the watchdog, then releases the lock if it was neither released nor known lost.
  /// Never throws: client errors are swallowed (the lock then expires after its ttl).
  ~LockLease();

  /// The lock's key; empty for a moved-from lease.
  [[nodiscard]] const std::string& key() const noexcept;
  /// The random 128-bit token (32 hex characters) that proves ownership.
  [[nodiscard]] const std::string& token() const noexcept;
  /// LockOptions::owner given at acquire.
  [[nodiscard]] const std::string& owner() const noexcept;
  /// Owner and token, as stored at the key.
  [[nodiscard]] LockHolder holder() const;
  /// Strictly greater than the fencing token of every earlier acquisition of this key (by any
  /// client), while the counter exists (see LockOptions::fencing_ttl). Hand it to downstream
  /// stores so they reject writes carrying a smaller token than one already seen. 0 when
  /// moved-from.
  [[nodiscard]] std::int64_t fencing_token() const noexcept;
  /// The lease time used at acquire and by the watchdog.
  [[nodiscard]] std::chrono::milliseconds ttl() const noexcept;

  /// Local knowledge, no network call: not released, not known lost, and the lease time (counted
  /// from before the last successful acquire or extend was sent) has not run out.
  [[nodiscard]] bool owned() const noexcept;
  /// Whether the lock is known to be lost: an extend (the watchdog's or extend()'s) found it gone
  /// or held by someone else, or the watchdog could not extend it for a whole ttl.
  [[nodiscard]] bool lost() const noexcept;

  /// Owner-checked PEXPIRE to `ttl` from now, one Lua script. Returns false (and marks the lease
  /// lost) when the key no longer holds our token; false without a network call when released,
  /// lost or moved-from. Throws std::invalid_argument for a non-positive ttl and the Client's
  /// errors (the lease is then unchanged).
  bool extend(std::chrono::milliseconds ttl);
  /// extend() by the lease's own ttl.
  bool extend() { return extend(ttl()); }

  /// Stops the watchdog, then deletes the key if it still holds our token (one Lua script).
  /// Returns true when this call freed the lock; false when it was already released, lost,
  /// expired, taken by someone else, or moved-from. Throws the Client's errors; the lease is then
  /// not released (the watchdog stays stopped) and release() or the destructor may try again.
  bool release();

 private:
  friend class DistributedLock;
  struct State;
  explicit LockLease(std::unique_ptr<State> state) noexcept;
  std::unique_ptr<State> state_;
};

/// Acquires leases on keys of one client.
///
/// Guarantee and its limits: mutual exclusion holds among clients of the SAME Valkey primary, for
/// as long as the holder's lease time has not run out (GC pauses, swapping and clock jumps on
/// the holder can outlast it: check owned() or use the watchdog). It is NOT safe across a
/// failover: replication is asynchronous, so a promoted replica may never have seen the lock,
/// and a second client can acquire it. This is not Redlock and makes no multi-primary claim.
/// Protect downstream writes with the fencing token instead of trusting the lock alone.
///
/// Keys: the lock lives at `key`, its fencing counter at `key:fence{key}` (or `key:fence` when the
/// key has a {hash tag} of its own): both always hash to one cluster slot, and the fence starts
/// with the lock's key, so prefix SCANs and ACL key patterns cover it.
///
/// Cost: one round trip per try (acquire script), per extend and per release. Every script goes
/// through Client::eval, so it survives SCRIPT FLUSH and server restarts.
///
/// Safe for concurrent use: stateless apart from the client reference. The client must outlive
/// the DistributedLock and every lease it handed out.
class DistributedLock {
 public:
  /// Locks on `client`'s server; no network call here.
  explicit DistributedLock(Client& client) noexcept : client_{client} {}

  /// Tries to take `key` (SET NX PX and INCR of the fencing counter, in one script, so a fencing
  /// token is consumed only by a successful acquire), retrying with full-jitter backoff for up
  /// to options.wait_timeout. Returns nullopt when it is still taken after the wait.
  /// Throws std::invalid_argument for an empty key or invalid options, and the Client's errors
  /// (ConnectionError, TimeoutError, ...) as they happen: the caller decides. After a
  /// TimeoutError the try may still have taken the key on the server; it then frees itself
  /// after options.ttl. Not reentrant: a second acquire of a key this thread holds waits too.
  [[nodiscard]] std::optional<LockLease> try_acquire(std::string_view key,
                                                     const LockOptions& options = {});
  /// try_acquire(), but throws LockNotAcquired (naming the key and the wait) instead of
  /// returning nullopt.
  [[nodiscard]] LockLease acquire(std::string_view key, const LockOptions& options = {});

  /// Who holds `key` now (one GET), or nullopt when it is free.
  [[nodiscard]] std::optional<LockHolder> holder(std::string_view key);

  /// Owner-checked release and extend by holder (owner and token) rather than by a LockLease:
  /// for locks whose owner outlives the request that took them (SeatMap's seat holds) or lives in
  /// another process. Same scripts and results as LockLease::release() / extend(); throw the
  /// Client's errors.
  bool release(std::string_view key, const LockHolder& holder);
  /// Sets `key`'s expiry to `ttl` if `holder` still owns it; see release(key, holder).
  bool extend(std::string_view key, const LockHolder& holder, std::chrono::milliseconds ttl);

  /// The key of `key`'s fencing counter: `key + ":fence{" + key + "}"`, or `key + ":fence"` when
  /// `key` has a {hash tag}; either way in `key`'s cluster slot.
  [[nodiscard]] static std::string fencing_key(std::string_view key);
  /// A fresh random token: 32 lower-case hex characters from OpenSSL's CSPRNG.
  [[nodiscard]] static std::string make_token();

 private:
  Client& client_;
};

}  // namespace airport::cache
