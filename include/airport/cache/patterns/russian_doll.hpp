// SPDX-License-Identifier: BSD-3-Clause
// RussianDollCache: nested fragment caching for the airport's daily board. Every fragment's key
// embeds the versions of everything inside it, so a change misses exactly the fragments that
// contain it, and rebuilding an outer fragment reuses every inner fragment that is still valid.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "airport/cache/manager.hpp"

namespace airport::cache {

// --- the domain: a small in-memory database the caller owns ------------------------------------

/// A passenger; covered by the passenger version.
struct DollPassenger {
  std::string id;    ///< "P42"
  std::string name;  ///< As shown on the manifest.
  std::string seat;  ///< "12C"
};

/// When a flight leaves and arrives; covered by the schedule version.
struct DollSchedule {
  std::string departure;  ///< "08:15"
  std::string arrival;    ///< "16:40"
};

/// How a flight is doing; covered by the status version.
struct DollStatus {
  std::string status;             ///< "on time", "delayed", "boarding"
  std::string gate;               ///< "B22"
  std::chrono::minutes delay{0};  ///< 0 when on time.
};

/// A flight. Its own version covers number and destination; the parts have their own versions,
/// and `manifest` (the passenger ids, in order) has the manifest version.
struct DollFlight {
  std::string number;                 ///< "UA123"
  std::string destination;            ///< "JFK"
  DollSchedule schedule;              ///< Covered by the schedule version.
  DollStatus status;                  ///< Covered by the status version.
  std::vector<std::string> manifest;  ///< Passenger ids, in manifest order.
};

/// An airport's daily board; its version covers name, date and the list of flights.
struct DollAirport {
  std::string code;                  ///< "LAX"
  std::string name;                  ///< "Los Angeles International"
  std::string date;                  ///< "2024-01-15"
  std::vector<std::string> flights;  ///< Flight numbers, in board order.
};

/// The whole database, keyed by code, number and passenger id.
struct DollData {
  std::map<std::string, DollAirport, std::less<>> airports;      ///< By airport code.
  std::map<std::string, DollFlight, std::less<>> flights;        ///< By flight number.
  std::map<std::string, DollPassenger, std::less<>> passengers;  ///< By passenger id.
};

/// Loads the data a render works on: a snapshot the render owns, taken under whatever lock
/// the caller's writers use. A render calls it after reading the versions, once, or twice when
/// the tree changed since the last render of that fragment (see RussianDollCache). Its
/// exceptions propagate out of the render.
using DollLoader = std::function<DollData()>;

/// The kinds of fragment, outermost first.
enum class DollKind { Board, Flight, Schedule, Status, Manifest, Passenger };

/// "board", "flight", "schedule", "status", "manifest", "passenger": the kind in keys, version
/// fields and fragment names ("status:UA123").
[[nodiscard]] constexpr std::string_view to_string(DollKind kind) noexcept {
  switch (kind) {
    case DollKind::Board:
      return "board";
    case DollKind::Flight:
      return "flight";
    case DollKind::Schedule:
      return "schedule";
    case DollKind::Status:
      return "status";
    case DollKind::Manifest:
      return "manifest";
    case DollKind::Passenger:
      return "passenger";
  }
  return "unknown";
}

// --- rendering ---------------------------------------------------------------------------------

/// The already rendered inner fragments of a flight.
struct DollFlightParts {
  std::string_view schedule;  ///< The schedule fragment.
  std::string_view status;    ///< The status fragment.
  std::string_view manifest;  ///< The manifest fragment (its passengers inside).
};

/// The user's renderers: fragment text from the entity's own data and the inner fragments. A
/// renderer must use only what its version covers (see the types above) plus the inner
/// fragments it is given: the flight renderer takes schedule, status and manifest from `parts`,
/// not from the DollFlight. Empty members use the built-in HTML renderers.
struct DollRenderers {
  /// One passenger.
  std::function<std::string(const DollPassenger&)> passenger;
  /// A flight's schedule.
  std::function<std::string(std::string_view flight, const DollSchedule&)> schedule;
  /// A flight's status.
  std::function<std::string(std::string_view flight, const DollStatus&)> status;
  /// A flight's manifest from its rendered passenger fragments, in manifest order.
  std::function<std::string(std::string_view flight, std::span<const std::string> passengers)>
      manifest;
  /// A flight from its rendered parts.
  std::function<std::string(const DollFlight&, const DollFlightParts&)> flight;
  /// An airport's board from its rendered flight fragments, in board order.
  std::function<std::string(const DollAirport&, std::span<const std::string> flights)> board;
};

/// The built-in renderers: small, escaped HTML (`<li class="passenger">...`).
[[nodiscard]] DollRenderers html_doll_renderers();

/// What one render call did, by fragment name ("board:LAX", "passenger:P42").
struct RenderReport {
  /// Rendered in this call, inner fragments before the fragments containing them.
  std::vector<std::string> rebuilt;
  /// Served from the cache, in the order asked for. The inside of a reused fragment is not
  /// looked at: that is the point.
  std::vector<std::string> reused;
  /// Rendered but not stored (part of `rebuilt`): everything when degraded; otherwise the
  /// fragments containing an entity whose version was not read before the data was loaded,
  /// because the tree changed during both loads of the render.
  std::vector<std::string> uncached;
  /// The versions could not be read (Valkey unavailable): everything was rendered without the
  /// cache, and nothing was stored.
  bool degraded = false;
};

/// A rendered fragment and how it was obtained.
struct RenderedFragment {
  /// The fragment's text, as the renderers made it.
  std::string text;
  /// What was rebuilt, reused or left uncached to make it.
  RenderReport report;
};

/// Options of a RussianDollCache.
struct RussianDollOptions {
  /// TTL of every fragment (jittered by the CacheManager). Outdated fragments are never
  /// deleted; this is how long they linger. Default 1 h.
  Ttl fragment_ttl{std::chrono::hours{1}};
  /// Empty members use html_doll_renderers().
  DollRenderers renderers;
};

/// Russian-doll caching on a CacheManager.
///
///   fragment               key (without the prefix)                     own version covers
///   board:LAX              doll:board:LAX:v1:UA123:v<fp>:DL456:v<fp>    name, date, flights
///   +- flight:UA123        doll:flight:UA123:v1:schedule:v1:status:v3:manifest:v<fp>
///   |  |                                                                number, destination
///   |  +- schedule:UA123   doll:schedule:UA123:v1                       departure, arrival
///   |  +- status:UA123     doll:status:UA123:v3                         status, gate, delay
///   |  +- manifest:UA123   doll:manifest:UA123:v2:P42:v1:P43:v1         list of passengers
///   |     +- passenger:P42 doll:passenger:P42:v1                        name, seat
///   |     +- passenger:P43 doll:passenger:P43:v1
///   +- flight:DL456        ...
///
/// Versions are counters in one hash (`doll:versions`, field `<kind>:<id>`, 0 when absent),
/// bumped with HINCRBY by changed(). A key embeds its own version and those of its direct
/// children: a leaf child (schedule, status, passenger) with its counter, a child that contains
/// others (a manifest in a flight, a flight in a board) with `<fp>`, the first 64 bits of the
/// SHA-256 of that child's key. So a passenger's change reaches the keys of its manifest, its
/// flight and the board, and nothing else. Keys longer than max_key_length are shortened by
/// CacheKeyManager with a digest of the whole key. Outdated fragments are never deleted: nobody
/// asks for their keys any more, and they expire with their TTL.
///
/// On a Valkey Cluster no key needs a {hash tag}: every command touches one key (the versions
/// hash's HMGET / HGET / HINCRBY, one fragment per get or set), never a script or transaction
/// over several. So the fragments spread over the primaries by slot, and only the versions hash
/// sits on one node.
///
/// A render reads every version of the tree in one HMGET, THEN loads the data (DollLoader),
/// then fetches top-down: a hit ends the descent (what is inside a hit is not even looked at);
/// a miss renders the fragment, fetching its children the same way, and stores it
/// (get_or_compute: one render per key at a time).
///
/// Why versions before data: writers change the data first and bump the version after, so data
/// loaded after the versions were read is at least as new as them, and a fragment is stored
/// only under versions older than (or as old as) what it was built from. The other order could
/// store old text under a new version, served for the whole fragment_ttl. If a version changes
/// while the render runs, the render may return the text it built, but it is stored under the
/// version it was read with, which the next render no longer asks for.
///
/// Which versions to read depends on the tree (the board's flights, the manifests'
/// passengers), known only from data: a render reads the fields of the tree its fragment had in
/// the previous render in this process. When the loaded tree has fields it did not read (the
/// first render of a fragment, or after a board or manifest change), it reads again and loads
/// again; if the tree changed once more during that second load, the fragments containing an
/// unread version are rendered but not stored (RenderReport::uncached). So the loader runs once
/// per render in the steady state, at most twice.
///
/// Safe for concurrent use; the loader may be called from several renders at once.
///
/// Update rule: change the data first, then call changed() for what changed (a passenger added
/// to a flight is a manifest change; a new flight on the board is a board change). Fragment
/// reads and writes go through the CacheManager and degrade like it does; versions are read
/// (one HMGET per load) and bumped on cache.client() directly.
///
/// Keep the versions hash from being evicted (noeviction or a volatile-* maxmemory policy): the
/// hash has no TTL, and versions restarting from 0 while old fragments live could serve stale
/// text. FLUSHDB or a restart without persistence loses both together, which is safe.
class RussianDollCache {
 public:
  /// The cache must outlive this object.
  explicit RussianDollCache(CacheManager& cache, RussianDollOptions options = {});

  /// The daily board of `airport`, with every flight inside it, from the data `load` returns
  /// (called after the versions were read; see the class comment). Throws std::out_of_range
  /// naming the entity when the board lists a flight, or a manifest a passenger, that the data
  /// does not have; the loader's and the renderers' exceptions propagate and nothing of them is
  /// cached.
  [[nodiscard]] RenderedFragment render_board(const DollLoader& load, std::string_view airport) {
    return render(load, DollKind::Board, airport);
  }
  /// Any fragment: `id` is an airport code for Board, a passenger id for Passenger, and a flight
  /// number for the other kinds. Throws as render_board() does.
  [[nodiscard]] RenderedFragment render(const DollLoader& load, DollKind kind, std::string_view id);

  /// Records a change to the entity's own data: HINCRBY of its version. Returns the new
  /// version. Throws the Client's errors (ConnectionError, ...): a bump that did not happen must
  /// be retried, or fragments containing the old data would still be served.
  std::uint64_t changed(DollKind kind, std::string_view id);
  /// changed(DollKind::Status, flight): status, gate or delay.
  std::uint64_t status_changed(std::string_view flight) {
    return changed(DollKind::Status, flight);
  }
  /// changed(DollKind::Schedule, flight): departure or arrival.
  std::uint64_t schedule_changed(std::string_view flight) {
    return changed(DollKind::Schedule, flight);
  }
  /// Passengers added to, removed from or reordered in a flight.
  std::uint64_t manifest_changed(std::string_view flight) {
    return changed(DollKind::Manifest, flight);
  }
  /// changed(DollKind::Passenger, passenger): name or seat.
  std::uint64_t passenger_changed(std::string_view passenger) {
    return changed(DollKind::Passenger, passenger);
  }

  /// The entity's current version (0 before its first change). Throws the Client's errors.
  [[nodiscard]] std::uint64_t version(DollKind kind, std::string_view id);
  /// The key the fragment has right now for `data` (reads the versions after the data: for
  /// inspection, not for storing). Throws the Client's errors, and std::out_of_range as
  /// render() does.
  [[nodiscard]] std::string fragment_key(const DollData& data, DollKind kind, std::string_view id);
  /// The hash holding every version.
  [[nodiscard]] const std::string& versions_key() const noexcept { return versions_key_; }

 private:
  class Render;
  using Versions = std::map<std::string, std::uint64_t, std::less<>>;  // fragment name -> version

  // A render loads its data at most this often (see the class comment).
  static constexpr int max_loads = 2;

  // One HMGET of the fields (none for an empty list); absent fields are version 0.
  Versions read_versions(std::span<const std::string> fields);
  std::vector<std::string> known_tree(std::string_view root) const;
  void remember_tree(std::string_view root, std::vector<std::string> fields);

  CacheManager& cache_;
  RussianDollOptions options_;
  std::string versions_key_;
  mutable std::mutex trees_mutex_;
  // Root fragment name -> the version fields of its tree in the last render: what the next
  // render reads before it loads.
  std::map<std::string, std::vector<std::string>, std::less<>> trees_;
};

}  // namespace airport::cache
