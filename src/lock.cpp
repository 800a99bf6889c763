// SPDX-License-Identifier: BSD-3-Clause
// DistributedLock: the acquire / extend / release scripts, the lease state shared with the
// watchdog thread, and token generation.
#include "airport/cache/patterns/lock.hpp"

#include "airport/cache/cluster_slot.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "airport/cache/backoff.hpp"
#include "airport/cache/errors.hpp"

namespace airport::cache {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// SET NX PX and the fencing INCR in one step, so a token is consumed only by an acquire that
// succeeded. Should the INCR fail (the counter key holds garbage), the lock is given back so it is
// not held by a lease nobody got.
const Script& acquire_script() {
  static const Script script{R"lua(
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local fence = redis.pcall('INCR', KEYS[2])
if type(fence) == 'table' and fence.err then
  redis.call('DEL', KEYS[1])
  return fence
end
if ARGV[3] ~= '0' then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
return fence
)lua"};
  return script;
}

// Compare-and-delete: GET then DEL as two commands would free a lock that expired and was taken
// by someone else in between.
const Script& release_script() {
  static const Script script{R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua"};
  return script;
}

const Script& extend_script() {
  static const Script script{R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
)lua"};
  return script;
}

void require_positive(std::string_view what, milliseconds value) {
  if (value.count() <= 0)
    throw std::invalid_argument(fmt::format("{} must be positive, got {} ms", what, value.count()));
}

void validate(std::string_view key, const LockOptions& options) {
  if (key.empty())
    throw std::invalid_argument("DistributedLock: the lock key must not be empty");
  require_positive("LockOptions::ttl", options.ttl);
  if (options.wait_timeout.count() < 0)
    throw std::invalid_argument(fmt::format(
        "LockOptions::wait_timeout must not be negative, got {} ms", options.wait_timeout.count()));
  require_positive("LockOptions::retry_base", options.retry_base);
  if (options.retry_max < options.retry_base)
    throw std::invalid_argument(
        fmt::format("LockOptions::retry_max ({} ms) must not be below retry_base ({} ms)",
                    options.retry_max.count(), options.retry_base.count()));
  if (options.fencing_ttl)
    require_positive("LockOptions::fencing_ttl", *options.fencing_ttl);
}

// 1 / 0 from the owner-checked scripts; anything else is an error reply or a broken reply.
bool owner_checked(Client& client, const Script& script, std::string_view operation,
                   std::string_view key, std::string_view value, std::string_view argument = {}) {
  const std::array<std::string_view, 1> keys{key};
  const std::array<std::string_view, 2> args{value, argument};
  const Reply reply = client.eval(
      script, keys, std::span<const std::string_view>{args}.first(argument.empty() ? 1 : 2));
  if (reply.is_error())
    throw ReplyError(fmt::format("lock {} on {}: {}", operation, client.endpoint(), reply.text()));
  if (!reply.is_integer())
    throw ProtocolError(fmt::format("lock {} on {}: expected an integer, got {}", operation,
                                    client.endpoint(), to_string(reply.type())));
  return reply.as_integer() == 1;
}

bool extend_lock(Client& client, std::string_view key, std::string_view value, milliseconds ttl) {
  require_positive("lock extend: ttl", ttl);
  return owner_checked(client, extend_script(), "extend", key, value, std::to_string(ttl.count()));
}

bool release_lock(Client& client, std::string_view key, std::string_view value) {
  return owner_checked(client, release_script(), "release", key, value);
}

const std::string empty_string;

}  // namespace

// --- LockHolder -----------------------------------------------------------------------------

std::string LockHolder::value() const {
  if (owner.empty())
    return token;
  std::string value;
  value.reserve(owner.size() + 1 + token.size());
  value.append(owner).append(1, ':').append(token);
  return value;
}

LockHolder LockHolder::parse(std::string_view value) {
  // Tokens are hex, so the last ':' always separates the owner (which may contain ':').
  const auto colon = value.rfind(':');
  if (colon == std::string_view::npos)
    return LockHolder{{}, std::string{value}};
  return LockHolder{std::string{value.substr(0, colon)}, std::string{value.substr(colon + 1)}};
}

LockNotAcquired::LockNotAcquired(std::string key, milliseconds waited)
    : std::runtime_error(
          fmt::format("could not acquire lock '{}' within {} ms: it stayed held by another owner",
                      key, waited.count())),
      key_{std::move(key)},
      waited_{waited} {}

// --- LockLease ------------------------------------------------------------------------------

struct LockLease::State {
  State(Client& client_, std::string key_, LockHolder holder_, std::int64_t fence_,
        milliseconds ttl_, Clock::time_point sent, std::function<void(std::string_view)> on_lost_)
      : client{client_},
        key{std::move(key_)},
        holder{std::move(holder_)},
        value{holder.value()},
        fence{fence_},
        ttl{ttl_},
        on_lost{std::move(on_lost_)},
        valid_until{(sent + ttl_).time_since_epoch().count()} {}

  State(const State&) = delete;
  State& operator=(const State&) = delete;

  ~State() {
    stop_watchdog();
    // Only reachable when on_lost destroyed its own lease (documented as not allowed): the thread
    // returns right after the callback without touching this state again.
    if (watchdog.joinable())
      watchdog.detach();
  }

  void start_watchdog() {
    watchdog = std::thread{[this] { watch(); }};
  }

  void stop_watchdog() noexcept {
    {
      const std::lock_guard lock{mutex};
      stopping = true;
    }
    wake.notify_all();
    // on_lost may call release() on the watchdog thread itself; it must not join itself.
    if (watchdog.joinable() && current_watchdog != this)
      watchdog.join();
  }

  void extended_at(Clock::time_point sent, milliseconds by) noexcept {
    valid_until.store((sent + by).time_since_epoch().count());
  }

  [[nodiscard]] bool expired_locally() const noexcept {
    return Clock::now().time_since_epoch().count() >= valid_until.load();
  }

  void mark_lost() noexcept { lost.store(true); }

  void watch() {
    current_watchdog = this;
    const milliseconds interval = std::max(ttl / 3, milliseconds{1});
    std::unique_lock lock{mutex};
    while (!wake.wait_for(lock, interval, [this] { return stopping; })) {
      lock.unlock();
      enum class Outcome { Extended, NotOurs, Failed } outcome{};
      const auto sent = Clock::now();
      try {
        outcome = extend_lock(client, key, value, ttl) ? Outcome::Extended : Outcome::NotOurs;
      } catch (...) {
        // Unreachable or slow server: the lease may still be ours, so try again next tick until
        // a whole ttl has gone by without a successful extend.
        outcome = Outcome::Failed;
      }
      if (outcome == Outcome::Extended) {
        extended_at(sent, ttl);
      } else if (outcome == Outcome::NotOurs || expired_locally()) {
        mark_lost();
        if (on_lost) {
          try {
            on_lost(key);
          } catch (...) {  // NOLINT(bugprone-empty-catch): a callback must not kill the thread
          }
        }
        return;
      }
      lock.lock();
    }
  }

  Client& client;
  const std::string key;
  const LockHolder holder;
  const std::string value;
  const std::int64_t fence;
  const milliseconds ttl;
  const std::function<void(std::string_view)> on_lost;

  std::atomic<Clock::rep> valid_until;
  std::atomic<bool> lost{false};
  std::atomic<bool> released{false};

  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;  // guarded by mutex
  std::thread watchdog;

  static thread_local const State* current_watchdog;
};

thread_local const LockLease::State* LockLease::State::current_watchdog = nullptr;

LockLease::LockLease(std::unique_ptr<State> state) noexcept : state_{std::move(state)} {}

LockLease::LockLease(LockLease&& other) noexcept = default;

LockLease& LockLease::operator=(LockLease&& other) noexcept {
  if (this != &other) {
    LockLease old{std::move(*this)};  // released by its destructor, errors swallowed
    state_ = std::move(other.state_);
  }
  return *this;
}

LockLease::~LockLease() {
  if (!state_)
    return;
  state_->stop_watchdog();
  if (state_->released.load() || state_->lost.load())
    return;
  try {
    release_lock(state_->client, state_->key, state_->value);
  } catch (...) {  // NOLINT(bugprone-empty-catch): never throw from a destructor; the ttl frees it
  }
}

const std::string& LockLease::key() const noexcept {
  return state_ ? state_->key : empty_string;
}
const std::string& LockLease::token() const noexcept {
  return state_ ? state_->holder.token : empty_string;
}
const std::string& LockLease::owner() const noexcept {
  return state_ ? state_->holder.owner : empty_string;
}
LockHolder LockLease::holder() const {
  return state_ ? state_->holder : LockHolder{};
}
std::int64_t LockLease::fencing_token() const noexcept {
  return state_ ? state_->fence : 0;
}
milliseconds LockLease::ttl() const noexcept {
  return state_ ? state_->ttl : milliseconds{0};
}

bool LockLease::owned() const noexcept {
  return state_ && !state_->released.load() && !state_->lost.load() && !state_->expired_locally();
}

bool LockLease::lost() const noexcept {
  return state_ && state_->lost.load();
}

bool LockLease::extend(milliseconds ttl) {
  require_positive("LockLease::extend: ttl", ttl);
  if (!state_ || state_->released.load() || state_->lost.load())
    return false;
  const auto sent = Clock::now();
  if (!extend_lock(state_->client, state_->key, state_->value, ttl)) {
    state_->mark_lost();
    return false;
  }
  state_->extended_at(sent, ttl);
  return true;
}

bool LockLease::release() {
  if (!state_ || state_->released.load())
    return false;
  // Stop the watchdog first: an extend in flight finishes before the DEL, and none follows it.
  state_->stop_watchdog();
  if (state_->lost.load()) {
    state_->released.store(true);
    return false;
  }
  const bool freed = release_lock(state_->client, state_->key, state_->value);
  state_->released.store(true);
  return freed;
}

// --- DistributedLock ------------------------------------------------------------------------

std::optional<LockLease> DistributedLock::try_acquire(std::string_view key,
                                                      const LockOptions& options) {
  validate(key, options);
  LockHolder holder{options.owner, make_token()};
  const std::string value = holder.value();
  const std::string fence_key = fencing_key(key);
  const std::string ttl = std::to_string(options.ttl.count());
  const std::string fencing_ttl =
      options.fencing_ttl ? std::to_string(options.fencing_ttl->count()) : std::string{"0"};
  const std::array<std::string_view, 2> keys{key, fence_key};
  const std::array<std::string_view, 3> args{value, ttl, fencing_ttl};

  const auto give_up_at = Clock::now() + options.wait_timeout;
  for (int attempt = 0;; ++attempt) {
    const auto sent = Clock::now();
    const Reply reply = client_.eval(acquire_script(), keys, args);
    if (reply.is_integer()) {
      auto state = std::make_unique<LockLease::State>(client_, std::string{key}, std::move(holder),
                                                      reply.as_integer(), options.ttl, sent,
                                                      options.on_lost);
      if (options.auto_extend)
        state->start_watchdog();
      return LockLease{std::move(state)};
    }
    // Errors name the endpoint, not the key: the CacheManager logs them at warn level, where
    // keys do not appear (docs/security.md).
    if (reply.is_error())
      throw ReplyError(fmt::format("lock acquire on {}: {}", client_.endpoint(), reply.text()));
    if (!reply.is_nil())
      throw ProtocolError(fmt::format("lock acquire on {}: unexpected {} reply", client_.endpoint(),
                                      to_string(reply.type())));
    const auto now = Clock::now();
    if (now >= give_up_at)
      return std::nullopt;
    // Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"): waiting contenders
    // spread out instead of retrying in lockstep; the last try happens at the deadline.
    std::this_thread::sleep_for(std::min<Clock::duration>(
        full_jitter(attempt, options.retry_base, options.retry_max), give_up_at - now));
  }
}

LockLease DistributedLock::acquire(std::string_view key, const LockOptions& options) {
  std::optional<LockLease> lease = try_acquire(key, options);
  if (!lease)
    throw LockNotAcquired(std::string{key}, options.wait_timeout);
  return std::move(*lease);
}

std::optional<LockHolder> DistributedLock::holder(std::string_view key) {
  std::optional<std::string> value = client_.get(key);
  if (!value)
    return std::nullopt;
  return LockHolder::parse(*value);
}

bool DistributedLock::release(std::string_view key, const LockHolder& holder) {
  return release_lock(client_, key, holder.value());
}

bool DistributedLock::extend(std::string_view key, const LockHolder& holder, milliseconds ttl) {
  return extend_lock(client_, key, holder.value(), ttl);
}

std::string DistributedLock::fencing_key(std::string_view key) {
  // One script touches both keys, so in a cluster they must share a slot. A key with a hash
  // tag lends it to "<key>:fence". Any other key is repeated as the fence's tag,
  // "<key>:fence{<key>}": the fence hashes exactly as the lock does, and still starts with the
  // lock's key, so key-prefix SCANs, namespace sweeps and ACL key patterns (~airport:*) cover it.
  std::string fence;
  fence.reserve(2 * key.size() + 8);
  fence.append(key).append(":fence");
  if (cluster_hash_tag(key) == key)
    fence.append("{").append(key).append("}");
  return fence;
}

std::string DistributedLock::make_token() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    // OpenSSL's generator failed (no entropy source): fall back to the OS one.
    std::random_device device;
    for (unsigned char& byte : bytes)
      byte = static_cast<unsigned char>(device());
  }
  static constexpr std::string_view hex = "0123456789abcdef";
  std::string token;
  token.reserve(bytes.size() * 2);
  for (const unsigned char byte : bytes) {
    token.push_back(hex[byte >> 4]);
    token.push_back(hex[byte & 0x0f]);
  }
  return token;
}

}  // namespace airport::cache
