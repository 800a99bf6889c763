// SPDX-License-Identifier: BSD-3-Clause
// TlsCertificates: a throwaway PKI for the TLS tests (CAs, server, client, wrong-name and expired
// certificates), made with the openssl CLI in a temporary directory that dies with the object.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "support/server.hpp"

namespace airport::cache::testing {

/// What one run of the openssl CLI did.
struct CommandResult {
  /// The exit status, or 128 + the signal number when a signal ended it.
  int exit_code = 0;
  /// Its stdout and stderr, interleaved.
  std::string output{};
};

/// Runs `openssl <args...>` (found on PATH) with stdin closed and waits for it. Throws
/// std::runtime_error only when it cannot be started; a failing command is reported in the
/// result. Cost: a fork and exec, about 5 ms.
[[nodiscard]] CommandResult run_openssl(const std::vector<std::string>& args);

/// A certificate and its private key, both PEM files.
struct CertificateFiles {
  std::filesystem::path certificate{};
  std::filesystem::path key{};
};

/// A fresh set of EC P-256 certificates, valid for 7 days unless said otherwise:
/// - ca.crt/ca.key: a self-signed CA that signs everything below;
/// - other-ca.crt/other-ca.key: an unrelated CA, for the wrong-CA case;
/// - server.crt/.key: CN localhost, SAN DNS:localhost and IP:127.0.0.1;
/// - other-name.crt/.key: SAN DNS:cache.airport.test only, for the wrong-name case;
/// - expired.crt/.key: like server.crt, but valid only on 1 January 2020;
/// - client.crt/.key and client2.crt/.key: client certificates (CN airport-cache-client and
///   airport-cache-client2) for mutual TLS and rotation.
///
/// One thread at a time. Not copyable or movable: the paths it hands out point into its directory.
class TlsCertificates {
 public:
  /// Creates the directory and every file above: eight openssl runs in two parallel waves, about
  /// 0.25 s on a busy two-CPU machine, where starting openssl alone takes 25 ms. Throws
  /// std::runtime_error naming the openssl command and its output when one fails, or "openssl not
  /// on PATH".
  TlsCertificates();
  /// Removes the directory and everything in it.
  ~TlsCertificates();
  TlsCertificates(const TlsCertificates&) = delete;
  TlsCertificates& operator=(const TlsCertificates&) = delete;

  /// The temporary directory holding every file.
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }

  [[nodiscard]] std::filesystem::path ca_certificate() const { return dir_ / "ca.crt"; }
  [[nodiscard]] std::filesystem::path ca_key() const { return dir_ / "ca.key"; }
  /// A CA that signed none of these certificates.
  [[nodiscard]] std::filesystem::path other_ca_certificate() const { return dir_ / "other-ca.crt"; }
  [[nodiscard]] std::filesystem::path other_ca_key() const { return dir_ / "other-ca.key"; }
  [[nodiscard]] std::filesystem::path server_certificate() const { return dir_ / "server.crt"; }
  [[nodiscard]] std::filesystem::path server_key() const { return dir_ / "server.key"; }
  /// Signed by the CA for DNS:cache.airport.test only: neither localhost nor 127.0.0.1 matches.
  [[nodiscard]] std::filesystem::path other_name_certificate() const {
    return dir_ / "other-name.crt";
  }
  [[nodiscard]] std::filesystem::path other_name_key() const { return dir_ / "other-name.key"; }
  /// Signed by the CA for localhost and 127.0.0.1; notBefore 2020-01-01, notAfter 2020-01-02.
  [[nodiscard]] std::filesystem::path expired_certificate() const { return dir_ / "expired.crt"; }
  [[nodiscard]] std::filesystem::path expired_key() const { return dir_ / "expired.key"; }
  [[nodiscard]] std::filesystem::path client_certificate() const { return dir_ / "client.crt"; }
  [[nodiscard]] std::filesystem::path client_key() const { return dir_ / "client.key"; }
  /// A second client certificate from the same CA, for rotation tests.
  [[nodiscard]] std::filesystem::path second_client_certificate() const {
    return dir_ / "client2.crt";
  }
  [[nodiscard]] std::filesystem::path second_client_key() const { return dir_ / "client2.key"; }

  /// ServerOptions::tls for a server presenting server.crt, trusting ca.crt for client
  /// certificates.
  [[nodiscard]] TlsServerFiles server_files(bool require_client_certificate = false) const;

  /// Makes <name>.crt/<name>.key: a client certificate with CN airport-cache-<name>, signed by
  /// the CA. `name` is a plain file name stem ([A-Za-z0-9_-]) not used yet. One openssl run,
  /// some tens of ms. Throws std::runtime_error on a bad or taken name, or when openssl fails.
  CertificateFiles issue_client_certificate(const std::string& name);
  /// Makes <name>.crt/<name>.key: a server certificate signed by the CA, CN airport-cache-<name>,
  /// with these subjectAltName entries as openssl writes them ("DNS:localhost", "IP:127.0.0.1");
  /// at least one. Throws like issue_client_certificate.
  CertificateFiles issue_server_certificate(const std::string& name,
                                            const std::vector<std::string>& subject_alt_names);

 private:
  // The arguments of the `openssl req` run that makes and signs one certificate.
  [[nodiscard]] std::vector<std::string> signed_certificate_args(
      const std::string& name, const std::string& extensions,
      const std::vector<std::string>& subject_alt_names) const;
  [[nodiscard]] CertificateFiles claim(const std::string& name) const;

  std::filesystem::path dir_;
};

}  // namespace airport::cache::testing
