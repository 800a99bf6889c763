// SPDX-License-Identifier: BSD-3-Clause
// Fuzzes ValkeyConfig::from_url(): the input is the URL. Only ConfigError may escape. An error
// is one line and never shows the password; VALKEY_URL reports the same reason; a URL that
// parses gives a valid config that survives a round trip through a URL rebuilt from its fields.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "airport/cache/config.hpp"
#include "airport/cache/errors.hpp"
#include "check.hpp"

namespace {

using airport::cache::ConfigError;
using airport::cache::Secret;
using airport::cache::ValkeyConfig;

// Whatever password the input holds is replaced by this one, so that its absence from messages
// can be checked. Inputs that contain the marker elsewhere skip that check.
constexpr std::string_view kPasswordMarker = "CANARY";
constexpr std::string_view kPassword = "pw7-CANARY-q3";

// The input with its password replaced by kPassword, where a password can be told: between the
// first ':' of the user info and the last '@', or, without an '@', after the ':' of a host-less
// authority ("valkey://:secret", a password whose '@host' was lost). nullopt when it has none.
std::optional<std::string> with_known_password(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return std::nullopt;
  }
  const std::size_t start = scheme_end + 3;
  const auto at = url.rfind('@');
  if (at != std::string_view::npos && at >= start) {
    const auto colon = url.substr(start, at - start).find(':');
    if (colon == std::string_view::npos) {
      return std::nullopt;
    }
    return std::string(url.substr(0, start + colon + 1)) + std::string(kPassword) +
           std::string(url.substr(at));
  }
  const auto rest = url.substr(start);
  if (!rest.starts_with(':')) {
    return std::nullopt;
  }
  const auto end = rest.find_first_of("/?#");
  return std::string(url.substr(0, start + 1)) + std::string(kPassword) +
         std::string(end == std::string_view::npos ? std::string_view{} : rest.substr(end));
}

// RFC 3986 unreserved characters stay; every other byte becomes %XX.
std::string percent_encode(std::string_view text) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

// A URL that describes the connection fields and TLS switch of `config`, with an IPv6 zone
// written the RFC 6874 way (%25), which from_url() decodes.
std::string to_url(const ValkeyConfig& config) {
  std::string url = config.tls.enabled ? "valkeys://" : "valkey://";
  if (!config.username.empty() || !config.password.empty()) {
    url += percent_encode(config.username);
    if (!config.password.empty()) {
      url += ':';
      url += percent_encode(config.password.reveal());
    }
    url += '@';
  }
  if (config.host.find(':') != std::string::npos) {
    std::string host = config.host;
    if (const auto percent = host.find('%'); percent != std::string::npos) {
      host.insert(percent + 1, "25");
    }
    url += '[' + host + ']';
  } else {
    url += config.host;
  }
  url += ':' + std::to_string(config.port);
  if (config.database != 0) {
    url += '/' + std::to_string(config.database);
  }
  return url;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string url(input);
  bool check_password = false;
  if (input.find(kPasswordMarker) == std::string_view::npos) {
    if (auto replaced = with_known_password(input)) {
      url = std::move(*replaced);
      check_password = true;
    }
  }

  std::optional<ValkeyConfig> config;
  std::string url_error;
  try {
    config = ValkeyConfig::from_url(url);
  } catch (const ConfigError& error) {
    url_error = error.what();
    FUZZ_CHECK(url_error.find('\n') == std::string::npos, url_error);
    FUZZ_CHECK(!check_password || url_error.find(kPasswordMarker) == std::string::npos, url_error);
  }

  // VALKEY_URL goes through the same parser and adds validation, which a parsed URL must pass.
  std::optional<ValkeyConfig> from_variable;
  std::string variable_error;
  try {
    from_variable = ValkeyConfig::from_variables({{"VALKEY_URL", url}});
  } catch (const ConfigError& error) {
    variable_error = error.what();
  }
  if (!config) {
    constexpr std::string_view kUrlLead = "invalid Valkey URL ";
    FUZZ_CHECK(url_error.starts_with(kUrlLead), url_error);
    FUZZ_CHECK(variable_error == "VALKEY_URL=" + url_error.substr(kUrlLead.size()), variable_error);
    return 0;
  }
  FUZZ_CHECK(from_variable == config, variable_error);
  try {
    config->validate();
  } catch (const ConfigError& error) {
    FUZZ_CHECK(false, error.what());
  }
  const std::string shown = config->to_string();
  FUZZ_CHECK(!check_password || shown.find(kPasswordMarker) == std::string::npos, shown);

  // A URL sets the five connection fields and tls.enabled, and nothing else.
  ValkeyConfig others = *config;
  others.host = ValkeyConfig{}.host;
  others.port = ValkeyConfig{}.port;
  others.username.clear();
  others.password = Secret{};
  others.database = ValkeyConfig{}.database;
  others.tls.enabled = ValkeyConfig{}.tls.enabled;
  FUZZ_CHECK(others == ValkeyConfig{}, shown);

  const std::string rebuilt = to_url(*config);
  try {
    FUZZ_CHECK(ValkeyConfig::from_url(rebuilt) == *config, rebuilt);
  } catch (const ConfigError& error) {
    FUZZ_CHECK(false, std::string(error.what()) + " <- rebuilt from " + shown);
  }
  return 0;
}
