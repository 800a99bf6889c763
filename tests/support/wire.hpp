// SPDX-License-Identifier: BSD-3-Clause
// Wire: the same test over plaintext and over TLS. A test parameterized on Wire starts its
// server with on_wire() and connects with config_on_wire(); everything else is shared, so the
// TLS transport meets every fault the plaintext one does without a copied test.
#pragma once

#include <airport/cache/config.hpp>

#include <array>
#include <string>

#include "support/server.hpp"
#include "support/tls_certificates.hpp"

namespace airport::cache::testing {

enum class Wire { Plain, Tls };

inline constexpr std::array kWires{Wire::Plain, Wire::Tls};

/// "Plain" or "Tls", for test names.
[[nodiscard]] std::string to_string(Wire wire);

/// Throwaway certificates shared by every TLS server of this test process, made on first use
/// and removed at exit.
[[nodiscard]] const TlsCertificates& shared_certificates();

/// `options` with a TLS port (the shared server certificate, trusted through the shared CA)
/// when `wire` is Tls; unchanged for Plain.
[[nodiscard]] ServerOptions on_wire(Wire wire, ServerOptions options = {});

/// The port a client under test dials: the plaintext one or the TLS one.
[[nodiscard]] int port_on_wire(Wire wire, const ServerProcess& server);

/// The config a client under test uses: the plaintext port, or the TLS port with the CA.
[[nodiscard]] ValkeyConfig config_on_wire(Wire wire, const ServerProcess& server);

}  // namespace airport::cache::testing
