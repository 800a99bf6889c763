// SPDX-License-Identifier: BSD-3-Clause
// Russian-doll caching: the airport's daily board is built from flight fragments, which are built
// from schedule, status and manifest fragments, which hold passenger fragments. Each change
// rebuilds exactly the fragments that contain it; everything else is reused.
#include <airport/cache/patterns/russian_doll.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/scenario.hpp"

namespace airport::examples {
namespace {

cache::DollData airport_day() {
  cache::DollData data;
  data.airports["LAX"] = {.code = "LAX",
                          .name = "Los Angeles",
                          .date = "2024-01-15",
                          .flights = {"UA123", "DL456", "AA789"}};
  data.flights["UA123"] = {.number = "UA123",
                           .destination = "JFK",
                           .schedule = {"08:15", "16:40"},
                           .status = {"on time", "B12"},
                           .manifest = {"P1", "P2", "P3"}};
  data.flights["DL456"] = {.number = "DL456",
                           .destination = "ATL",
                           .schedule = {"09:30", "16:55"},
                           .status = {"on time", "A3"},
                           .manifest = {"P4", "P5"}};
  data.flights["AA789"] = {.number = "AA789",
                           .destination = "ORD",
                           .schedule = {"11:05", "17:10"},
                           .status = {"boarding", "C7"},
                           .manifest = {"P6"}};
  const std::vector<std::pair<std::string, std::string>> people{
      {"P1", "Ada Lovelace"},    {"P2", "Alan Turing"},    {"P3", "Grace Hopper"},
      {"P4", "Edsger Dijkstra"}, {"P5", "Barbara Liskov"}, {"P6", "Ken Thompson"}};
  int row = 10;
  for (const auto& [id, name] : people)
    data.passengers[id] = {id, name, fmt::format("{}A", row++)};
  return data;
}

}  // namespace

ScenarioResult run_russian_doll(ScenarioContext& context) {
  const Output& out = context.out;
  out.header("russian_doll", "board → flight → {schedule, status, manifest} → passenger");
  ScenarioResult result{.name = "russian_doll"};
  cache::CacheManager cache{example_config(context.server)};
  cache.invalidate_pattern("doll:*");
  cache::RussianDollCache dolls{cache};
  cache::DollData data = airport_day();
  // A render reads the versions first and loads the data after (here: a copy of the example's
  // in-memory database), so it never stores old text under a new version.
  const cache::DollLoader load = [&] { return data; };

  const auto first = dolls.render_board(load, "LAX");
  const auto second = dolls.render_board(load, "LAX");
  std::vector<std::vector<std::string>> rows{{"change", "rebuilt", "reused"}};
  rows.push_back({"first render", std::to_string(first.report.rebuilt.size()),
                  std::to_string(first.report.reused.size())});
  rows.push_back({"no change", std::to_string(second.report.rebuilt.size()),
                  std::to_string(second.report.reused.size())});

  struct Case {
    const char* name;
    std::function<void()> change;
  };
  const std::vector<Case> cases{
      {"status: UA123 delayed",
       [&] {
         data.flights["UA123"].status = {"delayed", "B12", std::chrono::minutes{40}};
         dolls.status_changed("UA123");
       }},
      {"schedule: DL456 leaves 10:00",
       [&] {
         data.flights["DL456"].schedule.departure = "10:00";
         dolls.schedule_changed("DL456");
       }},
      {"manifest: P7 joins AA789",
       [&] {
         data.passengers["P7"] = {"P7", "Margaret Hamilton", "22C"};
         data.flights["AA789"].manifest.push_back("P7");
         dolls.manifest_changed("AA789");
       }},
      {"passenger: P2 changes seat",
       [&] {
         data.passengers["P2"].seat = "3F";
         dolls.passenger_changed("P2");
       }},
  };
  nlohmann::json case_reports = nlohmann::json::array();
  bool all_minimal = second.report.rebuilt.empty();
  for (const auto& test_case : cases) {
    test_case.change();
    const auto rendered = dolls.render_board(load, "LAX");
    rows.push_back({test_case.name, fmt::format("{}", fmt::join(rendered.report.rebuilt, " ")),
                    std::to_string(rendered.report.reused.size())});
    // Every change reaches the board and its flight, and never more than one flight.
    std::size_t flights_rebuilt = 0;
    for (const auto& name : rendered.report.rebuilt)
      flights_rebuilt += name.starts_with("flight:") ? 1 : 0;
    all_minimal = all_minimal && flights_rebuilt == 1 && !rendered.report.reused.empty();
    case_reports.push_back({{"change", test_case.name},
                            {"rebuilt", rendered.report.rebuilt},
                            {"reused", rendered.report.reused.size()}});
  }
  out.table(rows);

  take_stats(result, cache.stats());
  result.ok = all_minimal && first.report.reused.empty() && !first.text.empty();
  result.verdict = all_minimal ? "each change rebuilt only the fragments containing it"
                               : "a change rebuilt too much";
  result.details = {{"first_render_fragments", first.report.rebuilt.size()},
                    {"cases", case_reports}};
  return result;
}

}  // namespace airport::examples
