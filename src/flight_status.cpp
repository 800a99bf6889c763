// SPDX-License-Identifier: BSD-3-Clause
// Flight status updates: the JSON wire format (ISO 8601 timestamps, to the millisecond), the
// publisher, and the listener that turns messages into near-real-time cache entries.
#include "airport/cache/patterns/flight_status.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <nlohmann/json.hpp>

#include "airport/cache/errors.hpp"
#include "airport/cache/logging.hpp"
#include "airport/cache/script.hpp"

namespace airport::cache {
namespace {

using Milliseconds = std::chrono::milliseconds;
using Timestamp = std::chrono::sys_time<Milliseconds>;

std::string format_timestamp(Timestamp at) {
  using namespace std::chrono;
  const sys_days day = floor<days>(at);
  const year_month_day date{day};
  const hh_mm_ss<Milliseconds> time{at - day};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                     time.hours().count(), time.minutes().count(), time.seconds().count(),
                     time.subseconds().count());
}

// A small ISO 8601 reader: YYYY-MM-DD, 'T' (or a space), hh:mm:ss, an optional fraction (kept to
// the millisecond), then "Z", "+hh:mm", "-hh:mm", "+hhmm" or nothing (read as UTC).
class TimestampReader {
 public:
  explicit TimestampReader(std::string_view text) : text_{text} {}

  Timestamp read() {
    using namespace std::chrono;
    const int y = digits(4);
    expect('-');
    const int mo = digits(2);
    expect('-');
    const int d = digits(2);
    if (at_end() || (peek() != 'T' && peek() != 't' && peek() != ' '))
      fail("expected 'T' after the date");
    ++pos_;
    const int h = digits(2);
    expect(':');
    const int mi = digits(2);
    expect(':');
    const int s = digits(2);
    const year_month_day date{year{y}, month{static_cast<unsigned>(mo)},
                              day{static_cast<unsigned>(d)}};
    if (!date.ok() || h > 23 || mi > 59 || s > 59)
      fail("date or time out of range");
    long long millis = 0;
    if (!at_end() && peek() == '.') {
      ++pos_;
      int count = 0;
      while (!at_end() && std::isdigit(static_cast<unsigned char>(peek()))) {
        if (count < 3)
          millis = millis * 10 + (peek() - '0');
        ++count;
        ++pos_;
      }
      if (count == 0)
        fail("expected digits after '.'");
      for (; count < 3; ++count)
        millis *= 10;
    }
    minutes offset{0};
    if (!at_end()) {
      const char sign = peek();
      if (sign == 'Z' || sign == 'z') {
        ++pos_;
      } else if (sign == '+' || sign == '-') {
        ++pos_;
        const int oh = digits(2);
        if (!at_end() && peek() == ':')
          ++pos_;
        const int om = digits(2);
        offset = hours{oh} + minutes{om};
        if (sign == '-')
          offset = -offset;
      }
    }
    if (!at_end())
      fail("unexpected characters at the end");
    return Timestamp{sys_days{date}} + hours{h} + minutes{mi} + seconds{s} + Milliseconds{millis} -
           offset;
  }

 private:
  [[nodiscard]] bool at_end() const { return pos_ >= text_.size(); }
  [[nodiscard]] char peek() const { return text_[pos_]; }
  int digits(int count) {
    int value = 0;
    for (int i = 0; i < count; ++i, ++pos_) {
      if (at_end() || !std::isdigit(static_cast<unsigned char>(peek())))
        fail(fmt::format("expected {} digits", count));
      value = value * 10 + (peek() - '0');
    }
    return value;
  }
  void expect(char c) {
    if (at_end() || peek() != c)
      fail(fmt::format("expected '{}'", c));
    ++pos_;
  }
  [[noreturn]] void fail(std::string_view why) const {
    throw std::invalid_argument(
        fmt::format("updated_at is not an ISO 8601 timestamp: {}", why));  // never the value
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

std::optional<FlightStatusUpdate> read_latest(CacheManager& cache, std::string_view flight) {
  return cache.get<FlightStatusUpdate>(cache.keys().flight_status_key(flight));
}

// Writes the update (ARGV[1], its updated_at in ARGV[2]) unless the cached one supersedes it,
// in one step on the server: a compare in C++ followed by a SET would let another process
// write in between. Both timestamps are format_timestamp()'s fixed-width UTC text, so their
// byte order is their time order. On a tie the byte-wise greater encoding wins, so every
// process ends with the same update whatever order the messages reached it in; an identical
// update is written again (its TTL starts over). A cached value that is not one of ours
// (unreadable, no timestamp) is replaced. Lua's < on strings follows the server's locale
// (strcoll), hence the explicit byte comparison. Returns 1 stored, 0 outdated.
const Script& store_if_newer_script() {
  static const Script script{R"lua(
local function before(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local stamp = '^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$'
local current = redis.call('GET', KEYS[1])
if current then
  local ok, cached = pcall(cjson.decode, current)
  local at = ok and type(cached) == 'table' and cached.updated_at
  if type(at) == 'string' and string.match(at, stamp) then
    if before(ARGV[2], at) then return 0 end
    if at == ARGV[2] and before(ARGV[1], current) then return 0 end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
)lua"};
  return script;
}

// The same rule in C++: for a listener's own order of updates, and for the CacheManager's
// fallback while Valkey is unavailable. `encoded` is the update's codec encoding.
bool supersedes(const FlightStatusUpdate& update, std::string_view encoded,
                const FlightStatusUpdate& cached) {
  if (update.updated_at != cached.updated_at)
    return update.updated_at > cached.updated_at;
  return encoded >= codec<FlightStatusUpdate>::encode(cached);
}

// Logs a failure to cache an update at `level`, without its flight: flights are parts of keys
// and channel names, which appear at debug level only (docs/security.md).
void log_store_failure(spdlog::logger& logger, spdlog::level::level_enum level,
                       const FlightStatusUpdate& update, std::string_view reason) {
  logger.log(level, "flight status: caching an update failed: {}", reason);
  logger.debug("flight status: the update that was not cached is {}'s", update.flight);
}

// Caches the update unless the cached one supersedes it (see store_if_newer_script). Written
// with Client::eval, past the CacheManager's retries and stats, because the compare has to run
// on the server; while Valkey is unavailable the CacheManager's get and set take over.
void store_if_newer(CacheManager& cache, const FlightStatusUpdate& update, spdlog::logger& logger) {
  const std::string key = cache.keys().flight_status_key(update.flight);
  const std::string encoded = codec<FlightStatusUpdate>::encode(update);
  if (cache.circuit_state() != CircuitState::Open) {
    const std::string at = format_timestamp(update.updated_at);
    const std::string ttl_ms = std::to_string(
        TTLCalculator{cache.config().ttl_jitter}.jittered(TTLPreset::NearRealtime).count());
    const std::array<std::string_view, 1> keys{key};
    const std::array<std::string_view, 3> args{encoded, at, ttl_ms};
    try {
      const Reply reply = cache.client().eval(store_if_newer_script(), keys, args);
      if (reply.is_integer() && reply.as_integer() == 0)
        logger.debug("flight status: kept the cached update of {}: newer than {}", update.flight,
                     at);
      else if (!reply.is_integer())
        log_store_failure(
            logger, spdlog::level::err, update,
            fmt::format("{} on {}", reply.is_error() ? reply.text() : "not an integer reply",
                        cache.client().endpoint()));
      return;
    } catch (const ReplyError& error) {
      // The server is up and refused (WRONGTYPE, OOM): the fallback would only hide that.
      log_store_failure(logger, spdlog::level::err, update, error.what());
      return;
    } catch (const Error& error) {
      // Unavailable: the CacheManager below counts the failure for its breaker and keeps the
      // update in its fallback.
      log_store_failure(logger, spdlog::level::warn, update, error.what());
    }
  }
  // Two steps: newest-wins holds within this process only until Valkey is back.
  if (const std::optional<FlightStatusUpdate> cached = cache.get<FlightStatusUpdate>(key)) {
    if (!supersedes(update, encoded, *cached))
      return;
  }
  cache.set(key, std::string_view{encoded}, TTLPreset::NearRealtime);
}

}  // namespace

void to_json(nlohmann::json& json, const FlightStatusUpdate& update) {
  json = {{"flight", update.flight},
          {"status", update.status},
          {"gate", update.gate},
          {"delay_minutes", update.delay.count()},
          {"updated_at", format_timestamp(update.updated_at)}};
}

void from_json(const nlohmann::json& json, FlightStatusUpdate& update) {
  FlightStatusUpdate read;
  json.at("flight").get_to(read.flight);
  json.at("status").get_to(read.status);
  json.at("gate").get_to(read.gate);
  const nlohmann::json& delay = json.at("delay_minutes");
  if (!delay.is_number_integer())
    throw std::invalid_argument("delay_minutes is not an integer");
  read.delay = std::chrono::minutes{delay.get<long long>()};
  read.updated_at = TimestampReader{json.at("updated_at").get<std::string>()}.read();
  if (read.flight.empty())
    throw std::invalid_argument("flight is empty");
  update = std::move(read);
}

FlightStatusChannel::FlightStatusChannel(CacheManager& cache)
    : cache_{cache}, logger_{resolve_logger(nullptr, cache.config().log_level)} {}

long long FlightStatusChannel::publish(FlightStatusUpdate update) {
  if (update.flight.empty())
    throw std::invalid_argument("FlightStatusChannel::publish: update.flight must not be empty");
  if (update.updated_at == Timestamp{})
    update.updated_at = next_stamp();
  const std::string payload = nlohmann::json(update).dump();
  // The cache first, so that whoever hears the message finds at least this update cached. An
  // outdated update is still published: listeners compare it in the same way and drop it.
  store_if_newer(cache_, update, *logger_);
  return cache_.client().publish(cache_.keys().flight_status_channel(update.flight), payload);
}

Timestamp FlightStatusChannel::next_stamp() {
  // Strictly increasing, so that two updates published within one millisecond keep their order
  // instead of falling to the tie rule (which orders by bytes, not by time).
  const std::int64_t now =
      std::chrono::floor<Milliseconds>(std::chrono::system_clock::now()).time_since_epoch().count();
  std::int64_t last = last_stamp_.load();
  std::int64_t next = std::max(now, last + 1);
  while (!last_stamp_.compare_exchange_weak(last, next))
    next = std::max(now, last + 1);
  return Timestamp{Milliseconds{next}};
}

std::optional<FlightStatusUpdate> FlightStatusChannel::latest(std::string_view flight) {
  return read_latest(cache_, flight);
}

FlightStatusListener::FlightStatusListener(CacheManager& cache, FlightStatusListenerOptions options)
    : cache_{cache},
      options_{std::move(options)},
      logger_{resolve_logger(options_.logger, cache.config().log_level)},
      subscriber_{std::make_unique<Subscriber>(cache.config(), logger_)} {
  subscriber_->psubscribe(cache_.keys().flight_status_channel_pattern(),
                          [this](const Message& message) { on_message(message); });
}

FlightStatusListener::~FlightStatusListener() {
  subscriber_.reset();  // joins the thread before the members its handler uses go away
}

bool FlightStatusListener::wait_ready(std::chrono::milliseconds timeout) {
  return subscriber_->wait_subscribed(timeout);
}

std::optional<FlightStatusUpdate> FlightStatusListener::latest(std::string_view flight) {
  return read_latest(cache_, flight);
}

bool FlightStatusListener::connected() const {
  return subscriber_->connected();
}

std::uint64_t FlightStatusListener::reconnects() const {
  return subscriber_->reconnects();
}

void FlightStatusListener::on_message(const Message& message) {
  FlightStatusUpdate update;
  // Why a message was ignored, never quoting it: a parse error's text would (nlohmann's "last
  // read: '...'"), and the channel names a flight, which appears at debug level only.
  std::string rejected;
  try {
    update = nlohmann::json::parse(message.payload).get<FlightStatusUpdate>();
    // A payload must describe the flight of its channel, so a message on one flight's channel
    // can never overwrite another flight's entry.
    if (message.channel != cache_.keys().flight_status_channel(update.flight))
      rejected = "the update is for another flight than its channel's";
  } catch (const nlohmann::json::parse_error& error) {
    rejected = fmt::format("not JSON (syntax error at byte {})", error.byte);
  } catch (const std::exception& error) {
    rejected = error.what();  // a missing or mistyped field, named without its value
  }
  if (!rejected.empty()) {
    malformed_.fetch_add(1);
    logger_->warn("flight status: ignored a message of {} bytes: {}", message.payload.size(),
                  rejected);
    logger_->debug("flight status: the ignored message came on {}", message.channel);
    return;
  }
  // A message heard after a newer one of the same flight is late: neither cached nor handed on,
  // so on_update never goes back in time. Compared with this listener's own last update rather
  // than with the cache, because the publisher caches before it publishes: the cache may
  // already hold the next update while this one is still on its way, in order.
  const std::string encoded = codec<FlightStatusUpdate>::encode(update);
  if (const auto last = last_handed_on_.find(update.flight);
      last != last_handed_on_.end() && !supersedes(update, encoded, last->second)) {
    outdated_.fetch_add(1);
    logger_->debug("flight status: dropped the update of {} at {}: heard after a newer one",
                   update.flight, format_timestamp(update.updated_at));
    return;
  }
  store_if_newer(cache_, update, *logger_);  // the server compares with what any process wrote
  last_handed_on_.insert_or_assign(update.flight, update);
  received_.fetch_add(1);
  if (options_.on_update) {
    try {
      options_.on_update(update);
    } catch (const std::exception& error) {
      logger_->error("flight status: on_update threw: {}", error.what());
      logger_->debug("flight status: on_update threw for {}", update.flight);
    }
  }
}

}  // namespace airport::cache
