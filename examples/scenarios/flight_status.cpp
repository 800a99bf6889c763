// SPDX-License-Identifier: BSD-3-Clause
// Flight status over pub/sub: the operations desk publishes status changes; every service's
// listener updates its near-real-time cache entry (TTLPreset::NearRealtime) as they arrive.
#include <airport/cache/patterns/flight_status.hpp>

#include <fmt/format.h>
#include <thread>

#include "common/scenario.hpp"

namespace airport::examples {

ScenarioResult run_flight_status(ScenarioContext& context) {
  using namespace std::chrono_literals;
  const Output& out = context.out;
  out.header("flight_status", "pub/sub updates a near-real-time cache in another service");
  ScenarioResult result{.name = "flight_status"};
  if (context.server.in_memory_only) {
    result.ok = true;
    result.verdict = "skipped the pub/sub part: there is no server to publish through";
    out.line(result.verdict);
    return result;
  }
  const cache::ValkeyConfig config = example_config(context.server);
  cache::CacheManager desk{config};          // the operations desk that publishes
  cache::CacheManager gate_service{config};  // another service that listens
  std::atomic<int> delivered{0};
  cache::FlightStatusListener listener{
      gate_service, {.on_update = [&](const cache::FlightStatusUpdate&) { ++delivered; }}};
  if (!listener.wait_ready(5s)) {
    result.verdict = "the listener could not subscribe within 5 s";
    return result;
  }
  cache::FlightStatusChannel channel{desk};
  const std::vector<cache::FlightStatusUpdate> updates{
      {.flight = "UA123", .status = "boarding", .gate = "B12"},
      {.flight = "DL456", .status = "delayed", .gate = "A3", .delay = 25min},
      {.flight = "UA123", .status = "departed", .gate = "B12"},
      {.flight = "AA789", .status = "on time", .gate = "C7"}};
  const auto start = std::chrono::steady_clock::now();
  for (const auto& update : updates)
    channel.publish(update);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (delivered.load() < static_cast<int>(updates.size()) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;

  std::vector<std::vector<std::string>> rows{
      {"flight", "status seen by the gate service", "gate", "delay", "TTL"}};
  bool consistent = true;
  for (const char* flight : {"UA123", "DL456", "AA789"}) {
    const auto latest = listener.latest(flight);
    const auto ttl = gate_service.ttl(gate_service.keys().flight_status_key(flight));
    rows.push_back({flight, latest ? latest->status : "-", latest ? latest->gate : "-",
                    latest ? fmt::format("{} min", latest->delay.count()) : "-",
                    ttl ? fmt::format("{} s", ttl->count() / 1000) : "-"});
    consistent = consistent && latest.has_value();
  }
  out.table(rows);
  out.line(fmt::format("{} updates delivered in {}", delivered.load(), format_duration(elapsed)));
  const auto ua123 = listener.latest("UA123");
  consistent = consistent && ua123 && ua123->status == "departed";
  take_stats(result, gate_service.stats());
  result.ok = delivered.load() == static_cast<int>(updates.size()) && consistent;
  result.verdict = fmt::format("{}/{} updates delivered in {}", delivered.load(), updates.size(),
                               format_duration(elapsed));
  result.details = {{"delivered", delivered.load()},
                    {"published", updates.size()},
                    {"malformed", listener.malformed()}};
  return result;
}

}  // namespace airport::examples
