// SPDX-License-Identifier: BSD-3-Clause
#include "support/wire.hpp"

namespace airport::cache::testing {

std::string to_string(Wire wire) {
  return wire == Wire::Tls ? "Tls" : "Plain";
}

const TlsCertificates& shared_certificates() {
  static const TlsCertificates certificates;
  return certificates;
}

ServerOptions on_wire(Wire wire, ServerOptions options) {
  if (wire == Wire::Tls)
    options.tls = shared_certificates().server_files();
  return options;
}

int port_on_wire(Wire wire, const ServerProcess& server) {
  return wire == Wire::Tls ? server.tls_port() : server.port();
}

ValkeyConfig config_on_wire(Wire wire, const ServerProcess& server) {
  return wire == Wire::Tls ? server.tls_config() : server.config();
}

}  // namespace airport::cache::testing
