// SPDX-License-Identifier: BSD-3-Clause
// RussianDollCache: one render reads every version of the tree in one HMGET, then loads the
// data, computes the keys bottom-up, and fetches top-down, rendering (and so descending) only on
// a miss.
#include "airport/cache/patterns/russian_doll.hpp"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <set>
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
        fmt::format("RussianDollCache: version {} is not a counter", field));  // never its text
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

// One render call on one load of the data: the versions read before that load, the keys
// computed from them, and its report.
class RussianDollCache::Render {
 public:
  Render(RussianDollCache& owner, const DollData& data, Versions versions)
      : owner_{owner}, data_{data}, versions_{std::move(versions)} {}

  // Lists the version fields of the fragment and of everything inside it, checking that every
  // entity exists.
  void collect(DollKind kind, std::string_view id) {
    tree_.insert(fragment_name(kind, id));
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

  // The version fields collect() found, in order.
  [[nodiscard]] std::vector<std::string> tree() const { return {tree_.begin(), tree_.end()}; }

  // Whether every field of the tree had its version read before the data was loaded.
  [[nodiscard]] bool covered() const {
    return std::all_of(tree_.begin(), tree_.end(),
                       [&](const std::string& name) { return versions_.contains(name); });
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
  // inner fragments the same way) and stored. A fragment containing a version that was not
  // read before the load is rendered and neither looked up nor stored: its key is unknown.
  std::string text(DollKind kind, std::string_view id) {
    std::string name = fragment_name(kind, id);
    if (degraded_ || !storable(kind, id)) {
      std::string rendered = build(kind, id);
      report_.uncached.push_back(name);
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
  // Whether the fragment's version and those of everything inside it were read before the
  // data was loaded.
  bool storable(DollKind kind, std::string_view id) {
    std::string name = fragment_name(kind, id);
    if (const auto found = storable_.find(name); found != storable_.end())
      return found->second;
    bool result = versions_.contains(name);
    switch (kind) {
      case DollKind::Board:
        for (const std::string& number : airport(id).flights)
          result = storable(DollKind::Flight, number) && result;
        break;
      case DollKind::Flight:
        result = storable(DollKind::Schedule, id) && storable(DollKind::Status, id) &&
                 storable(DollKind::Manifest, id) && result;
        break;
      case DollKind::Manifest:
        for (const std::string& passenger : flight(id).manifest)
          result = storable(DollKind::Passenger, passenger) && result;
        break;
      case DollKind::Schedule:
      case DollKind::Status:
      case DollKind::Passenger:
        break;
    }
    return storable_.emplace(std::move(name), result).first->second;
  }

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
  Versions versions_;                                     // read before data_ was loaded
  std::set<std::string, std::less<>> tree_;               // fragment names in the tree
  std::map<std::string, std::string, std::less<>> keys_;  // fragment name -> key
  std::map<std::string, bool, std::less<>> storable_;     // fragment name -> storable()
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

RenderedFragment RussianDollCache::render(const DollLoader& load, DollKind kind,
                                          std::string_view id) {
  const std::string root = fragment_name(kind, id);
  const auto degraded = [&] {
    const DollData data = load();
    Render render{*this, data, {}};
    render.collect(kind, id);
    render.degrade();
    std::string text = render.text(kind, id);
    return RenderedFragment{std::move(text), render.take_report()};
  };
  if (cache_.circuit_state() == CircuitState::Open)
    return degraded();  // no network call while the breaker says Valkey is down

  // The versions are read BEFORE the data is loaded. A writer changes the data first and bumps
  // the versions after, so data loaded later is at least as new as the versions: a fragment
  // stored under them may be newer than its key says, never older. Versions read after the
  // load could already count a change the loaded data does not have, and the old text would
  // be stored under the new version until the TTL ends. Which versions to read depends on the
  // tree, which is only known from data: take the tree of the previous render of this fragment,
  // and when the loaded tree has more (the first render, or the board or a manifest changed),
  // read again and load again, once.
  std::vector<std::string> fields = known_tree(root);
  for (int loads = 1;; ++loads) {
    Versions versions;
    try {
      versions = read_versions(fields);
    } catch (const Error&) {
      // Without the versions no key is known to be current: render everything, cache nothing.
      return degraded();
    }
    const DollData data = load();
    Render render{*this, data, std::move(versions)};
    render.collect(kind, id);
    fields = render.tree();
    if (render.covered() || loads == max_loads) {
      // A tree that changed during both loads: what was not read is rendered, not stored.
      remember_tree(root, fields);
      std::string text = render.text(kind, id);
      return {std::move(text), render.take_report()};
    }
  }
}

RussianDollCache::Versions RussianDollCache::read_versions(std::span<const std::string> fields) {
  Versions versions;
  if (fields.empty())
    return versions;
  const std::vector<std::string_view> names(fields.begin(), fields.end());
  const std::vector<std::optional<std::string>> values =
      cache_.client().hmget(versions_key_, names);
  if (values.size() != names.size())
    throw ProtocolError("RussianDollCache: HMGET returned the wrong number of versions");
  for (std::size_t i = 0; i < names.size(); ++i)
    versions.emplace(fields[i], values[i] ? parse_version(fields[i], *values[i]) : 0);
  return versions;
}

std::vector<std::string> RussianDollCache::known_tree(std::string_view root) const {
  const std::lock_guard lock{trees_mutex_};
  const auto found = trees_.find(root);
  return found == trees_.end() ? std::vector<std::string>{} : found->second;
}

void RussianDollCache::remember_tree(std::string_view root, std::vector<std::string> fields) {
  const std::lock_guard lock{trees_mutex_};
  trees_.insert_or_assign(std::string{root}, std::move(fields));
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
  Render collected{*this, data, {}};
  collected.collect(kind, id);
  Render render{*this, data, read_versions(collected.tree())};
  return render.key(kind, id);
}

}  // namespace airport::cache
