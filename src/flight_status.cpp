// Flight status updates: the JSON wire format (ISO 8601 timestamps, to the millisecond), the
// publisher, and the listener that turns messages into near-real-time cache entries.
#include "airport/cache/patterns/flight_status.hpp"

#include <cctype>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "airport/cache/logging.hpp"

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
        fmt::format("updated_at '{}' is not an ISO 8601 timestamp: {}", text_, why));
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

std::optional<FlightStatusUpdate> read_latest(CacheManager& cache, std::string_view flight) {
  return cache.get<FlightStatusUpdate>(cache.keys().flight_status_key(flight));
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

long long FlightStatusChannel::publish(FlightStatusUpdate update) {
  if (update.flight.empty())
    throw std::invalid_argument("FlightStatusChannel::publish: update.flight must not be empty");
  if (update.updated_at == Timestamp{})
    update.updated_at = std::chrono::floor<Milliseconds>(std::chrono::system_clock::now());
  const std::string payload = nlohmann::json(update).dump();
  // The cache first, so that whoever hears the message finds at least this update cached.
  cache_.set(cache_.keys().flight_status_key(update.flight), std::string_view{payload},
             TTLPreset::NearRealtime);
  return cache_.client().publish(cache_.keys().flight_status_channel(update.flight), payload);
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
  try {
    update = nlohmann::json::parse(message.payload).get<FlightStatusUpdate>();
    // A payload must describe the flight of its channel, so a message on one flight's channel
    // can never overwrite another flight's entry.
    if (message.channel != cache_.keys().flight_status_channel(update.flight))
      throw std::invalid_argument(fmt::format("payload is for flight '{}'", update.flight));
    cache_.set(cache_.keys().flight_status_key(update.flight), update, TTLPreset::NearRealtime);
  } catch (const std::exception& error) {
    malformed_.fetch_add(1);
    logger_->warn("flight status: ignored a message of {} bytes on {}: {}", message.payload.size(),
                  message.channel, error.what());
    return;
  }
  received_.fetch_add(1);
  if (options_.on_update) {
    try {
      options_.on_update(update);
    } catch (const std::exception& error) {
      logger_->error("flight status: on_update threw for {}: {}", update.flight, error.what());
    }
  }
}

}  // namespace airport::cache
