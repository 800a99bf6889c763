// SPDX-License-Identifier: BSD-3-Clause
// The parent project's public header: it includes airport-cache's, as a real wrapper would.
#pragma once

#include <airport/cache.hpp>

#include <string>
#include <string_view>

namespace fleet {

/// The cache key of one flight, built with airport::cache::CacheKeyBuilder.
std::string flight_key(std::string_view flight);

}  // namespace fleet
