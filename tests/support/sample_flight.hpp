// SPDX-License-Identifier: BSD-3-Clause
// app::Flight: a user type with nlohmann to_json/from_json, as a service would cache it. Shared
// by the tests that store typed values.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace app {

struct Flight {
  std::string number;
  std::string origin;
  int seats_left = 0;
  friend bool operator==(const Flight&, const Flight&) = default;
};

inline void to_json(nlohmann::json& json, const Flight& flight) {
  json = {{"number", flight.number}, {"origin", flight.origin}, {"seats_left", flight.seats_left}};
}

inline void from_json(const nlohmann::json& json, Flight& flight) {
  json.at("number").get_to(flight.number);
  json.at("origin").get_to(flight.origin);
  json.at("seats_left").get_to(flight.seats_left);
}

}  // namespace app
