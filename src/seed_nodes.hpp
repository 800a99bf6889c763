// SPDX-License-Identifier: BSD-3-Clause
// The endpoints a client may dial: the config's host:port first, then VALKEY_CLUSTER_NODES.
// validate() has already checked every seed's syntax, so parsing here cannot fail on a
// validated config.
#pragma once

#include <string>
#include <vector>

#include "airport/cache/config.hpp"

namespace airport::cache::detail {

struct Endpoint {
  std::string host;
  int port = 0;
};

/// The host and port of "host:port" or "[v6]:port".
[[nodiscard]] inline Endpoint parse_host_port(const std::string& entry) {
  const auto colon = entry.rfind(':');
  std::string host = entry.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return {host, std::stoi(entry.substr(colon + 1))};
}

/// The config's own endpoint, then each seed node.
[[nodiscard]] inline std::vector<Endpoint> dialable_endpoints(const ValkeyConfig& config) {
  std::vector<Endpoint> endpoints{{config.host, config.port}};
  for (const std::string& entry : config.cluster.seed_nodes)
    endpoints.push_back(parse_host_port(entry));
  return endpoints;
}

}  // namespace airport::cache::detail
