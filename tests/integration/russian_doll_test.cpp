// SPDX-License-Identifier: BSD-3-Clause
// RussianDollCache against a real server and a real cluster: the first render builds everything,
// the second reuses the board, and each of the workshop's four invalidation cases rebuilds
// exactly the fragments that contain the change while everything else stays cached.
#include <gtest/gtest.h>
#include <airport/cache/errors.hpp>
#include <airport/cache/manager.hpp>
#include <airport/cache/patterns/russian_doll.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "support/backend.hpp"
#include "support/server.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using testing::Backend;
using testing::ServerProcess;
using testing::SharedBackend;
using Names = std::set<std::string>;

// LAX's board: UA123 to JFK with P42 and P43, DL456 to SEA with P7 and P8.
DollData sample_data() {
  DollData data;
  data.airports["LAX"] = {"LAX", "Los Angeles International", "2024-01-15", {"UA123", "DL456"}};
  data.flights["UA123"] = {
      "UA123", "JFK", {"08:15", "16:40"}, {"on time", "B12", 0min}, {"P42", "P43"}};
  data.flights["DL456"] = {
      "DL456", "SEA", {"09:00", "11:45"}, {"on time", "C3", 0min}, {"P7", "P8"}};
  data.passengers["P42"] = {"P42", "Ada Lovelace", "12A"};
  data.passengers["P43"] = {"P43", "Grace Hopper", "12B"};
  data.passengers["P7"] = {"P7", "Alan Turing", "3C"};
  data.passengers["P8"] = {"P8", "Edsger Dijkstra", "3D"};
  return data;
}

// A vector of names as a set, failing the test when a name appears twice.
Names set_of(const std::vector<std::string>& names) {
  Names set{names.begin(), names.end()};
  EXPECT_EQ(set.size(), names.size()) << "a fragment was reported twice";
  return set;
}

// Runs on a single server and on a 3-primary cluster (one of each per test binary, emptied
// before every test). Every command of a render or a change has one key (the versions hash, or
// one fragment), so no key needs a hash tag and the fragments spread over the primaries.
class RussianDoll : public ::testing::TestWithParam<Backend> {
 protected:
  static void TearDownTestSuite() { SharedBackend::stop_all(); }

  SharedBackend& backend = SharedBackend::fresh(GetParam());
  CacheManager cache{backend.config()};
  testing::Oracle oracle = backend.oracle();
};

INSTANTIATE_TEST_SUITE_P(, RussianDoll, ::testing::ValuesIn(testing::all_backends),
                         testing::BackendName{});

// The same, after a first render of the board.
class RussianDollTest : public RussianDoll {
 protected:
  void SetUp() override {
    const RenderedFragment first = dolls.render_board(load, "LAX");
    ASSERT_EQ(first.report.reused.size(), 0u);
  }

  RenderReport rerender() { return dolls.render_board(load, "LAX").report; }

  RussianDollCache dolls{cache};
  DollData data = sample_data();
  DollLoader load = [this] { return data; };
};

INSTANTIATE_TEST_SUITE_P(, RussianDollTest, ::testing::ValuesIn(testing::all_backends),
                         testing::BackendName{});

// Standalone only: it kills "the server" to show the degraded render. On the shared backends
// that would break every later test, and on a cluster one node's outage is a failover, which
// the cluster client's own suite covers; this test gets a server of its own.
class RussianDollStandaloneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const RenderedFragment first = dolls.render_board(load, "LAX");
    ASSERT_EQ(first.report.reused.size(), 0u);
  }

  ServerProcess server;
  CacheManager cache{server.config()};
  RussianDollCache dolls{cache};
  DollData data = sample_data();
  DollLoader load = [this] { return data; };
};

TEST_P(RussianDoll, TheFirstRenderBuildsEveryFragmentInnerOnesFirst) {
  RussianDollCache dolls{cache};
  const DollData data = sample_data();
  const DollLoader load = [&] { return data; };
  const RenderedFragment board = dolls.render_board(load, "LAX");
  EXPECT_EQ(set_of(board.report.rebuilt),
            (Names{"board:LAX", "flight:UA123", "schedule:UA123", "status:UA123", "manifest:UA123",
                   "passenger:P42", "passenger:P43", "flight:DL456", "schedule:DL456",
                   "status:DL456", "manifest:DL456", "passenger:P7", "passenger:P8"}));
  EXPECT_TRUE(board.report.reused.empty());
  EXPECT_FALSE(board.report.degraded);
  EXPECT_EQ(board.report.rebuilt.back(), "board:LAX");
  const auto position = [&](std::string_view name) {
    return std::find(board.report.rebuilt.begin(), board.report.rebuilt.end(), name) -
           board.report.rebuilt.begin();
  };
  EXPECT_LT(position("passenger:P42"), position("manifest:UA123"));
  EXPECT_LT(position("manifest:UA123"), position("flight:UA123"));

  EXPECT_NE(board.text.find("Los Angeles International, 2024-01-15"), std::string::npos);
  EXPECT_NE(board.text.find(R"(<li class="passenger" id="P42">Ada Lovelace, seat 12A</li>)"),
            std::string::npos);
  EXPECT_NE(board.text.find("<h2>DL456 to SEA</h2>"), std::string::npos);
}

TEST_P(RussianDollTest, ASecondRenderReusesTheWholeBoardFromOneHit) {
  const RenderedFragment second = dolls.render_board(load, "LAX");
  EXPECT_TRUE(second.report.rebuilt.empty());
  EXPECT_EQ(second.report.reused, (std::vector<std::string>{"board:LAX"}));
  EXPECT_EQ(second.text, dolls.render_board(load, "LAX").text);
}

TEST_P(RussianDollTest, AStatusChangeRebuildsTheStatusItsFlightAndTheBoardOnly) {
  data.flights["UA123"].status = {"delayed", "B14", 25min};
  dolls.status_changed("UA123");
  const RenderedFragment board = dolls.render_board(load, "LAX");
  EXPECT_EQ(set_of(board.report.rebuilt), (Names{"status:UA123", "flight:UA123", "board:LAX"}));
  EXPECT_EQ(set_of(board.report.reused),
            (Names{"schedule:UA123", "manifest:UA123", "flight:DL456"}));
  EXPECT_NE(board.text.find("delayed (25 min), gate B14"), std::string::npos);
  // The passengers inside the reused manifest are still cached too.
  EXPECT_EQ(dolls.render(load, DollKind::Passenger, "P42").report.reused,
            (std::vector<std::string>{"passenger:P42"}));
}

TEST_P(RussianDollTest, AScheduleChangeRebuildsTheScheduleItsFlightAndTheBoardOnly) {
  data.flights["UA123"].schedule = {"09:15", "17:40"};
  dolls.schedule_changed("UA123");
  const RenderedFragment board = dolls.render_board(load, "LAX");
  EXPECT_EQ(set_of(board.report.rebuilt), (Names{"schedule:UA123", "flight:UA123", "board:LAX"}));
  EXPECT_EQ(set_of(board.report.reused), (Names{"status:UA123", "manifest:UA123", "flight:DL456"}));
  EXPECT_NE(board.text.find("departs 09:15, arrives 17:40"), std::string::npos);
}

TEST_P(RussianDollTest, AManifestChangeRebuildsTheManifestItsFlightAndTheBoardButNoPassenger) {
  data.flights["UA123"].manifest = {"P42"};  // P43 was offloaded
  dolls.manifest_changed("UA123");
  const RenderedFragment board = dolls.render_board(load, "LAX");
  EXPECT_EQ(set_of(board.report.rebuilt), (Names{"manifest:UA123", "flight:UA123", "board:LAX"}));
  EXPECT_EQ(set_of(board.report.reused),
            (Names{"schedule:UA123", "status:UA123", "passenger:P42", "flight:DL456"}));
  EXPECT_EQ(board.text.find("Grace Hopper"), std::string::npos);
}

TEST_P(RussianDollTest, AManifestGainingAPassengerBuildsOnlyThatPassenger) {
  data.passengers["P44"] = {"P44", "Katherine Johnson", "14C"};
  data.flights["UA123"].manifest.push_back("P44");
  dolls.manifest_changed("UA123");
  const RenderedFragment board = dolls.render_board(load, "LAX");
  EXPECT_EQ(set_of(board.report.rebuilt),
            (Names{"passenger:P44", "manifest:UA123", "flight:UA123", "board:LAX"}));
  EXPECT_EQ(set_of(board.report.reused), (Names{"schedule:UA123", "status:UA123", "passenger:P42",
                                                "passenger:P43", "flight:DL456"}));
}

TEST_P(RussianDollTest, APassengerChangeRebuildsThePassengerManifestFlightAndBoardOnly) {
  data.passengers["P42"].seat = "1A";
  dolls.passenger_changed("P42");
  const RenderedFragment board = dolls.render_board(load, "LAX");
  EXPECT_EQ(set_of(board.report.rebuilt),
            (Names{"passenger:P42", "manifest:UA123", "flight:UA123", "board:LAX"}));
  EXPECT_EQ(set_of(board.report.reused),
            (Names{"passenger:P43", "schedule:UA123", "status:UA123", "flight:DL456"}));
  EXPECT_NE(board.text.find("Ada Lovelace, seat 1A"), std::string::npos);
}

TEST_P(RussianDollTest, BumpingOneFlightLeavesTheOtherFlightsCached) {
  data.flights["DL456"].status.gate = "C9";
  dolls.status_changed("DL456");
  EXPECT_EQ(dolls.render(load, DollKind::Flight, "UA123").report.reused,
            (std::vector<std::string>{"flight:UA123"}));
  const RenderReport report = rerender();
  EXPECT_EQ(set_of(report.rebuilt), (Names{"status:DL456", "flight:DL456", "board:LAX"}));
  EXPECT_EQ(set_of(report.reused), (Names{"flight:UA123", "schedule:DL456", "manifest:DL456"}));
  EXPECT_EQ(rerender().reused, (std::vector<std::string>{"board:LAX"}));
}

TEST_P(RussianDollTest, AChangeWhileTheDataLoadsIsNeverCachedUnderTheChangedVersion) {
  // Issue 10, forced: the loader takes its snapshot, then a writer changes UA123's status and
  // bumps its version before the render goes on. The schedule change before it makes the render
  // rebuild UA123 and the board, with the status as loaded.
  data.flights["UA123"].schedule = {"09:15", "17:40"};
  dolls.schedule_changed("UA123");
  int loads = 0;
  const RenderedFragment raced = dolls.render_board(
      [&] {
        DollData loaded = data;
        if (++loads == 1) {
          data.flights["UA123"].status = {"delayed", "B14", 25min};
          dolls.status_changed("UA123");
        }
        return loaded;
      },
      "LAX");
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(set_of(raced.report.rebuilt), (Names{"schedule:UA123", "flight:UA123", "board:LAX"}));
  EXPECT_NE(raced.text.find("departs 09:15"), std::string::npos);
  EXPECT_NE(raced.text.find("on time, gate B12"), std::string::npos);  // as loaded: allowed

  const RenderedFragment next = dolls.render_board(load, "LAX");
  EXPECT_NE(next.text.find("delayed (25 min), gate B14"), std::string::npos) << next.text;
  EXPECT_EQ(set_of(next.report.rebuilt), (Names{"status:UA123", "flight:UA123", "board:LAX"}));
}

TEST_P(RussianDollTest, ATreeThatChangesDuringBothLoadsIsRenderedButOnlyPartlyStored) {
  // Each load finds a passenger on UA123 that the versions read before it did not cover: the
  // render loads a second time, and what still contains an unread version is not stored.
  data.passengers["P44"] = {"P44", "Katherine Johnson", "14C"};
  data.passengers["P45"] = {"P45", "Dorothy Vaughan", "14D"};
  int loads = 0;
  const RenderedFragment raced = dolls.render_board(
      [&] {
        data.flights["UA123"].manifest.push_back(++loads == 1 ? "P44" : "P45");
        DollData loaded = data;
        dolls.manifest_changed("UA123");
        return loaded;
      },
      "LAX");
  EXPECT_EQ(loads, 2);
  EXPECT_NE(raced.text.find("Dorothy Vaughan"), std::string::npos);
  EXPECT_EQ(set_of(raced.report.uncached),
            (Names{"passenger:P45", "manifest:UA123", "flight:UA123", "board:LAX"}));
  EXPECT_EQ(set_of(raced.report.rebuilt), (Names{"passenger:P44", "passenger:P45", "manifest:UA123",
                                                 "flight:UA123", "board:LAX"}));
  EXPECT_FALSE(raced.report.degraded);

  const RenderedFragment next = dolls.render_board(load, "LAX");
  EXPECT_TRUE(next.report.uncached.empty());
  EXPECT_EQ(set_of(next.report.rebuilt),
            (Names{"passenger:P45", "manifest:UA123", "flight:UA123", "board:LAX"}));
  EXPECT_EQ(next.text, raced.text);
  EXPECT_EQ(dolls.render_board(load, "LAX").report.reused, (std::vector<std::string>{"board:LAX"}));
}

TEST_P(RussianDoll, TheFirstRenderOfAFragmentLoadsTwiceAndLaterRendersOnce) {
  RussianDollCache dolls{cache};
  const DollData data = sample_data();
  int loads = 0;
  const DollLoader load = [&] {
    ++loads;
    return data;
  };
  (void)dolls.render_board(load, "LAX");
  EXPECT_EQ(loads, 2);  // the first one finds the tree, the second one is read for
  (void)dolls.render_board(load, "LAX");
  EXPECT_EQ(loads, 3);
  (void)dolls.render(load, DollKind::Flight, "DL456");  // another fragment has its own tree
  EXPECT_EQ(loads, 5);
}

TEST_P(RussianDollTest, KeysEmbedTheVersionsOfWhatTheyContain) {
  EXPECT_EQ(dolls.fragment_key(data, DollKind::Status, "UA123"), "doll:status:UA123:v0");
  EXPECT_EQ(dolls.fragment_key(data, DollKind::Manifest, "UA123"),
            "doll:manifest:UA123:v0:P42:v0:P43:v0");
  const std::string schedule = dolls.fragment_key(data, DollKind::Schedule, "UA123");
  const std::string flight = dolls.fragment_key(data, DollKind::Flight, "UA123");
  const std::string other = dolls.fragment_key(data, DollKind::Flight, "DL456");
  const std::string board = dolls.fragment_key(data, DollKind::Board, "LAX");
  EXPECT_TRUE(flight.starts_with("doll:flight:UA123:v0:schedule:v0:status:v0:manifest:v"))
      << flight;
  EXPECT_TRUE(board.starts_with("doll:board:LAX:v0:UA123:v")) << board;

  EXPECT_EQ(dolls.passenger_changed("P43"), 1u);
  EXPECT_EQ(dolls.passenger_changed("P43"), 2u);
  EXPECT_EQ(dolls.version(DollKind::Passenger, "P43"), 2u);
  EXPECT_EQ(dolls.version(DollKind::Passenger, "P42"), 0u);
  EXPECT_EQ(dolls.fragment_key(data, DollKind::Manifest, "UA123"),
            "doll:manifest:UA123:v0:P42:v0:P43:v2");
  EXPECT_NE(dolls.fragment_key(data, DollKind::Flight, "UA123"), flight);
  EXPECT_NE(dolls.fragment_key(data, DollKind::Board, "LAX"), board);
  EXPECT_EQ(dolls.fragment_key(data, DollKind::Schedule, "UA123"), schedule);
  EXPECT_EQ(dolls.fragment_key(data, DollKind::Flight, "DL456"), other);
  EXPECT_EQ(oracle.command({"HGET", dolls.versions_key(), "passenger:P43"}), "2");
}

TEST_P(RussianDoll, CustomRenderersComposeInnerFragmentsAndRunOnlyOnAMiss) {
  std::map<std::string, int> calls;
  DollRenderers text;
  text.passenger = [&](const DollPassenger& p) {
    ++calls["passenger"];
    return p.name + " ";
  };
  text.schedule = [&](std::string_view, const DollSchedule& s) {
    ++calls["schedule"];
    return s.departure;
  };
  text.status = [&](std::string_view, const DollStatus& s) {
    ++calls["status"];
    return s.status;
  };
  text.manifest = [&](std::string_view, std::span<const std::string> passengers) {
    ++calls["manifest"];
    std::string out = "[";
    for (const auto& p : passengers)
      out += p;
    return out + "]";
  };
  text.flight = [&](const DollFlight& f, const DollFlightParts& parts) {
    ++calls["flight"];
    return f.number + " " + std::string{parts.schedule} + " " + std::string{parts.status} + " " +
           std::string{parts.manifest} + "\n";
  };
  text.board = [&](const DollAirport& a, std::span<const std::string> flights) {
    ++calls["board"];
    std::string out = a.code + ":\n";
    for (const auto& f : flights)
      out += f;
    return out;
  };
  RussianDollCache dolls{cache, RussianDollOptions{.fragment_ttl = 10min, .renderers = text}};
  const DollData data = sample_data();
  const DollLoader load = [&] { return data; };
  const std::string expected =
      "LAX:\nUA123 08:15 on time [Ada Lovelace Grace Hopper ]\n"
      "DL456 09:00 on time [Alan Turing Edsger Dijkstra ]\n";
  EXPECT_EQ(dolls.render_board(load, "LAX").text, expected);
  EXPECT_EQ(calls, (std::map<std::string, int>{{"board", 1},
                                               {"flight", 2},
                                               {"schedule", 2},
                                               {"status", 2},
                                               {"manifest", 2},
                                               {"passenger", 4}}));
  EXPECT_EQ(dolls.render_board(load, "LAX").text, expected);
  EXPECT_EQ(calls["board"], 1);
  // Fragments carry the configured TTL (10 min, jittered by at most 10%).
  const auto ttl = cache.ttl(dolls.fragment_key(data, DollKind::Board, "LAX"));
  ASSERT_TRUE(ttl.has_value());
  EXPECT_GT(*ttl, 530s);
  EXPECT_LE(*ttl, 660s);
}

TEST_P(RussianDollTest, AnEntityMissingFromTheDataThrowsNamingIt) {
  data.airports["LAX"].flights.push_back("XX999");
  try {
    (void)dolls.render_board(load, "LAX");
    FAIL() << "a missing flight was accepted";
  } catch (const std::out_of_range& error) {
    EXPECT_NE(std::string{error.what()}.find("XX999"), std::string::npos) << error.what();
  }
  EXPECT_THROW((void)dolls.render_board(load, "SFO"), std::out_of_range);
}

TEST_F(RussianDollStandaloneTest, WithValkeyDownEverythingIsRenderedWithoutTheCache) {
  server.kill();
  const RenderedFragment board = dolls.render_board(load, "LAX");
  EXPECT_TRUE(board.report.degraded);
  EXPECT_EQ(board.report.rebuilt.size(), 13u);
  EXPECT_TRUE(board.report.reused.empty());
  EXPECT_NE(board.text.find("Ada Lovelace"), std::string::npos);
  EXPECT_THROW(dolls.status_changed("UA123"), Error);
}

}  // namespace
}  // namespace airport::cache
