// SPDX-License-Identifier: BSD-3-Clause
// Uses the installed package without a server: a config, a key, a TTL, and the version banner.
#include <airport/cache.hpp>

#include <iostream>

int main() {
  using namespace airport::cache;
  const ValkeyConfig config = ValkeyConfig::from_url("valkey://:secret@127.0.0.1:6390/1");
  if (config.to_string().find("secret") != std::string::npos)
    return 1;
  const std::string key = CacheKeyBuilder{"airport:test"}.part("flight").part("UA 1").build();
  const auto ttl = TTLCalculator{0.1, 42}.jittered(TTLPreset::FlightStatus);
  std::cout << "airport-cache " << AIRPORT_CACHE_VERSION << " (hiredis "
            << AIRPORT_CACHE_HIREDIS_VERSION << ") key=" << key << " ttl_ms=" << ttl.count()
            << '\n';
  return key.empty() ? 1 : 0;
}
