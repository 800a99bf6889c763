// SPDX-License-Identifier: BSD-3-Clause
// The parent project's library: one function that calls into airport-cache.
#include <fleet/fleet.hpp>

namespace fleet {

std::string flight_key(std::string_view flight) {
  return airport::cache::CacheKeyBuilder{"fleet"}.part("flight").part(flight).build();
}

}  // namespace fleet
