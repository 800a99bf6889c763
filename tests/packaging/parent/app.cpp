// SPDX-License-Identifier: BSD-3-Clause
// The parent project's own app, run from its build tree: fleet::core and airport-cache linked in.
#include <fleet/fleet.hpp>

#include <iostream>

int main() {
  const std::string key = fleet::flight_key("UA 1");
  std::cout << "airport-cache " << AIRPORT_CACHE_VERSION << " (hiredis "
            << AIRPORT_CACHE_HIREDIS_VERSION << ") key=" << key << '\n';
  return key.empty() ? 1 : 0;
}
