// SPDX-License-Identifier: BSD-3-Clause
// Calls the parent's library and airport-cache directly, both from the installed prefix.
#include <fleet/fleet.hpp>

#include <iostream>

int main() {
  const std::string key = fleet::flight_key("UA 1");
  std::cout << "airport-cache " << AIRPORT_CACHE_VERSION << " (hiredis "
            << AIRPORT_CACHE_HIREDIS_VERSION << ") key=" << key << '\n';
  return key.empty() ? 1 : 0;
}
