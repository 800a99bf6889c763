// RussianDollCache: one render reads every version of the tree in one HMGET, computes the keys
// bottom-up, then fetches top-down, rendering (and so descending) only on a miss.
#include "airport/cache/patterns/russian_doll.hpp"

#include <charconv>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "airport/cache/errors.hpp"

namespace airport::cache {
namespace {

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string join(std::span<const std::string> parts) {
  std::string out;
  for (const std::string& part : parts)
    out += part;
  return out;
}

std::string fragment_name(DollKind kind, std::string_view id) {
  return fmt::format("{}:{}", to_string(kind), id);
}

std::uint64_t parse_version(std::string_view field, std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size())
    throw ProtocolError(
        fmt::format("RussianDollCache: version {} is not a counter: '{}'", field, text));
  return value;
}

// The first 64 bits of the key's SHA-256: how a container embeds a child that contains others.
std::uint64_t fingerprint(std::string_view key) {
  const std::string hex = sha256_hex(key);
  std::uint64_t value = 0;
  std::from_chars(hex.data(), hex.data() + 16, value, 16);
  return value;
}

template <class Map>
const auto& find_or_throw(const Map& map, std::string_view what, std::string_view id) {
  const auto found = map.find(id);
  if (found == map.end())
    throw std::out_of_range(fmt::format("RussianDollCache: {} '{}' is not in the data", what, id));
  return found->second;
}

}  // namespace

DollRenderers html_doll_renderers() {
  DollRenderers html;
  html.passenger = [](const DollPassenger& passenger) {
    return fmt::format(R"(<li class="passenger" id="{}">{}, seat {}</li>)",
                       escape_html(passenger.id), escape_html(passenger.name),
                       escape_html(passenger.seat));
  };
  html.schedule = [](std::string_view, const DollSchedule& schedule) {
    return fmt::format(R"(<p class="schedule">departs {}, arrives {}</p>)",
                       escape_html(schedule.departure), escape_html(schedule.arrival));
  };
  html.status = [](std::string_view, const DollStatus& status) {
    std::string text = escape_html(status.status);
    if (status.delay.count() != 0)
      text += fmt::format(" ({} min)", status.delay.count());
    if (!status.gate.empty())
      text += ", gate " + escape_html(status.gate);
    return fmt::format(R"(<p class="status">{}</p>)", text);
  };
  html.manifest = [](std::string_view, std::span<const std::string> passengers) {
    return fmt::format(R"(<ul class="manifest">{}</ul>)", join(passengers));
  };
  html.flight = [](const DollFlight& flight, const DollFlightParts& parts) {
    return fmt::format(R"(<section class="flight" id="{}"><h2>{} to {}</h2>{}{}{}</section>)",
                       escape_html(flight.number), escape_html(flight.number),
                       escape_html(flight.destination), parts.schedule, parts.status,
                       parts.manifest);
  };
  html.board = [](const DollAirport& airport, std::span<const std::string> flights) {
    return fmt::format(R"(<article class="board" id="{}"><h1>{}, {}</h1>{}</article>)",
                       escape_html(airport.code), escape_html(airport.name),
                       escape_html(airport.date), join(flights));
  };
  return html;
}

// One render call: the versions it read, the keys computed from them, and its report.
class RussianDollCache::Render {
 public:
  Render(RussianDollCache& owner, const DollData& data) : owner_{owner}, data_{data} {}

  // Lists the version fields of the fragment and of everything inside it, checking that every
  // entity exists.
  void collect(DollKind kind, std::string_view id) {
    versions_.try_emplace(fragment_name(kind, id), 0);
    switch (kind) {
      case DollKind::Board:
        for (const std::string& flight : airport(id).flights)
          collect(DollKind::Flight, flight);
        break;
      case DollKind::Flight:
        collect(DollKind::Schedule, id);
        collect(DollKind::Status, id);
        collect(DollKind::Manifest, id);
        break;
      case DollKind::Schedule:
      case DollKind::Status:
        (void)flight(id);
        break;
      case DollKind::Manifest:
        for (const std::string& passenger : flight(id).manifest)
          collect(DollKind::Passenger, passenger);
        break;
      case DollKind::Passenger:
        (void)passenger(id);
        break;
    }
  }

  // One HMGET for every field collected. Throws the Client's errors.
  void load_versions() {
    std::vector<std::string_view> fields;
    fields.reserve(versions_.size());
    for (const auto& [field, version] : versions_)
      fields.push_back(field);
    const std::vector<std::optional<std::string>> values =
        owner_.cache_.client().hmget(owner_.versions_key_, fields);
    if (values.size() != fields.size())
      throw ProtocolError("RussianDollCache: HMGET returned the wrong number of versions");
    std::size_t i = 0;
    for (auto& [field, version] : versions_) {
      if (const auto& value = values[i++])
        version = parse_version(field, *value);
    }
  }

  // Renders without reading or writing the cache (the versions are unknown).
  void degrade() {
    degraded_ = true;
    report_.degraded = true;
  }

  const std::string& key(DollKind kind, std::string_view id) {
    std::string name = fragment_name(kind, id);
    if (const auto found = keys_.find(name); found != keys_.end())
      return found->second;
    const CacheKeyManager& keys = owner_.cache_.keys();
    const std::string_view kind_name = to_string(kind);
    const std::uint64_t own = version_of(name);
    std::string key;
    switch (kind) {
      case DollKind::Board: {
        const DollAirport& board = airport(id);
        std::vector<std::uint64_t> prints;
        prints.reserve(board.flights.size());
        for (const std::string& number : board.flights)
          prints.push_back(fingerprint(this->key(DollKind::Flight, number)));
        std::vector<KeyVersion> contained;
        contained.reserve(prints.size());
        for (std::size_t i = 0; i < prints.size(); ++i)
          contained.push_back({board.flights[i], prints[i]});
        key = keys.nested_key(kind_name, id, own, contained);
        break;
      }
      case DollKind::Flight: {
        const std::uint64_t manifest = fingerprint(this->key(DollKind::Manifest, id));
        key = keys.nested_key(kind_name, id, own,
                              {{"schedule", version_of(fragment_name(DollKind::Schedule, id))},
                               {"status", version_of(fragment_name(DollKind::Status, id))},
                               {"manifest", manifest}});
        break;
      }
      case DollKind::Manifest: {
        const DollFlight& manifest_of = flight(id);
        std::vector<KeyVersion> contained;
        contained.reserve(manifest_of.manifest.size());
        for (const std::string& passenger : manifest_of.manifest)
          contained.push_back(
              {passenger, version_of(fragment_name(DollKind::Passenger, passenger))});
        key = keys.nested_key(kind_name, id, own, contained);
        break;
      }
      case DollKind::Schedule:
      case DollKind::Status:
      case DollKind::Passenger:
        key = keys.fragment_key(kind_name, id, own);
        break;
    }
    return keys_.emplace(std::move(name), std::move(key)).first->second;
  }

  // The fragment's text: from the cache when its key hits, else rendered (which fetches the
  // inner fragments the same way) and stored.
  std::string text(DollKind kind, std::string_view id) {
    std::string name = fragment_name(kind, id);
    if (degraded_) {
      std::string rendered = build(kind, id);
      report_.rebuilt.push_back(std::move(name));
      return rendered;
    }
    bool rebuilt = false;
    std::string fragment =
        owner_.cache_.get_or_compute(key(kind, id), owner_.options_.fragment_ttl, [&] {
          rebuilt = true;
          return build(kind, id);
        });
    (rebuilt ? report_.rebuilt : report_.reused).push_back(std::move(name));
    return fragment;
  }

  RenderReport take_report() { return std::move(report_); }

 private:
  std::string build(DollKind kind, std::string_view id) {
    const DollRenderers& render = owner_.options_.renderers;
    switch (kind) {
      case DollKind::Board: {
        const DollAirport& board = airport(id);
        std::vector<std::string> flights;
        flights.reserve(board.flights.size());
        for (const std::string& number : board.flights)
          flights.push_back(text(DollKind::Flight, number));
        return render.board(board, flights);
      }
      case DollKind::Flight: {
        const std::string schedule = text(DollKind::Schedule, id);
        const std::string status = text(DollKind::Status, id);
        const std::string manifest = text(DollKind::Manifest, id);
        return render.flight(flight(id), DollFlightParts{schedule, status, manifest});
      }
      case DollKind::Schedule:
        return render.schedule(id, flight(id).schedule);
      case DollKind::Status:
        return render.status(id, flight(id).status);
      case DollKind::Manifest: {
        const DollFlight& manifest_of = flight(id);
        std::vector<std::string> passengers;
        passengers.reserve(manifest_of.manifest.size());
        for (const std::string& passenger : manifest_of.manifest)
          passengers.push_back(text(DollKind::Passenger, passenger));
        return render.manifest(id, passengers);
      }
      case DollKind::Passenger:
        return render.passenger(passenger(id));
    }
    throw std::invalid_argument("RussianDollCache: unknown DollKind");
  }

  std::uint64_t version_of(const std::string& name) const {
    const auto found = versions_.find(name);
    return found == versions_.end() ? 0 : found->second;
  }

  const DollAirport& airport(std::string_view code) const {
    return find_or_throw(data_.airports, "airport", code);
  }
  const DollFlight& flight(std::string_view number) const {
    return find_or_throw(data_.flights, "flight", number);
  }
  const DollPassenger& passenger(std::string_view id) const {
    return find_or_throw(data_.passengers, "passenger", id);
  }

  RussianDollCache& owner_;
  const DollData& data_;
  std::map<std::string, std::uint64_t, std::less<>> versions_;  // fragment name -> version
  std::map<std::string, std::string, std::less<>> keys_;        // fragment name -> key
  RenderReport report_;
  bool degraded_ = false;
};

RussianDollCache::RussianDollCache(CacheManager& cache, RussianDollOptions options)
    : cache_{cache},
      options_{std::move(options)},
      versions_key_{cache.keys().builder().part("doll").part("versions").build()} {
  const DollRenderers html = html_doll_renderers();
  DollRenderers& mine = options_.renderers;
  if (!mine.passenger)
    mine.passenger = html.passenger;
  if (!mine.schedule)
    mine.schedule = html.schedule;
  if (!mine.status)
    mine.status = html.status;
  if (!mine.manifest)
    mine.manifest = html.manifest;
  if (!mine.flight)
    mine.flight = html.flight;
  if (!mine.board)
    mine.board = html.board;
}

RenderedFragment RussianDollCache::render(const DollData& data, DollKind kind,
                                          std::string_view id) {
  Render render{*this, data};
  render.collect(kind, id);
  if (cache_.circuit_state() == CircuitState::Open) {
    render.degrade();  // no network call while the breaker says Valkey is down
  } else {
    try {
      render.load_versions();
    } catch (const Error&) {
      // Without the versions no key is known to be current: render everything, cache nothing.
      render.degrade();
    }
  }
  std::string text = render.text(kind, id);
  return {std::move(text), render.take_report()};
}

std::uint64_t RussianDollCache::changed(DollKind kind, std::string_view id) {
  if (id.empty())
    throw std::invalid_argument("RussianDollCache::changed: id must not be empty");
  const long long version = cache_.client().hincrby(versions_key_, fragment_name(kind, id), 1);
  return static_cast<std::uint64_t>(version);
}

std::uint64_t RussianDollCache::version(DollKind kind, std::string_view id) {
  const std::string field = fragment_name(kind, id);
  const std::optional<std::string> value = cache_.client().hget(versions_key_, field);
  return value ? parse_version(field, *value) : 0;
}

std::string RussianDollCache::fragment_key(const DollData& data, DollKind kind,
                                           std::string_view id) {
  Render render{*this, data};
  render.collect(kind, id);
  render.load_versions();
  return render.key(kind, id);
}

}  // namespace airport::cache
