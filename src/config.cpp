// SPDX-License-Identifier: BSD-3-Clause
// ValkeyConfig's readers and validation. Every VALKEY_* variable is one row of kVariables, so
// parsing, validation messages, to_string() and the .env.example check all follow one table.
#include "airport/cache/config.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "airport/cache/errors.hpp"

namespace airport::cache {
namespace {

constexpr std::string_view kUrlVariable = "VALKEY_URL";
constexpr std::string_view kEnvFileVariable = "VALKEY_ENV_FILE";
constexpr std::string_view kRedacted = "***";

// ---------------------------------------------------------------------------------------------
// Text helpers

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim_left(std::string_view text) {
  while (!text.empty() && is_blank(text.front())) {
    text.remove_prefix(1);
  }
  return text;
}

std::string_view trim_right(std::string_view text) {
  while (!text.empty() && is_blank(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

char to_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = to_lower(c);
  }
  return out;
}

bool is_control(char c) {
  return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

// Escapes control characters so that any value fits on one line of a message or of to_string().
void append_escaped(std::string& out, std::string_view text, char quote) {
  constexpr std::string_view kHex = "0123456789abcdef";
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\\' || c == quote) {
      out += '\\';
      out += c;
    } else if (is_control(c)) {
      const auto byte = static_cast<unsigned char>(c);
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
}

// A value as it appears in an error message: single-quoted, so empty or blank values show.
std::string in_quotes(std::string_view text) {
  std::string out = "'";
  append_escaped(out, text, '\'');
  out += '\'';
  return out;
}

// ---------------------------------------------------------------------------------------------
// Value parsers. Each returns the reason a text is rejected, or an empty view on success, so
// that the caller can name the variable and its source once.

template <typename Integer>
std::string_view parse_integer(std::string_view text, Integer& out) {
  Integer value{};
  const char* const end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error == std::errc::result_out_of_range) {
    return "number out of range";
  }
  if (error != std::errc{} || stop != end) {
    return std::is_signed_v<Integer> ? "not a whole number" : "not a whole number >= 0";
  }
  out = value;
  return {};
}

std::string_view parse_value(std::string_view text, std::string& out) {
  out = text;
  return {};
}

std::string_view parse_value(std::string_view text, Secret& out) {
  out = Secret{std::string(text)};
  return {};
}

std::string_view parse_value(std::string_view text, int& out) {
  return parse_integer(text, out);
}

std::string_view parse_value(std::string_view text, std::size_t& out) {
  return parse_integer(text, out);
}

std::string_view parse_value(std::string_view text, std::chrono::milliseconds& out) {
  if (text.starts_with('-')) {
    return "must not be negative";
  }
  const auto duration = parse_duration(text);
  if (!duration) {
    return "not a duration: use seconds (5, 0.25) or a unit (250ms, 5s, 2m, 1h)";
  }
  out = *duration;
  return {};
}

std::string_view parse_value(std::string_view text, bool& out) {
  const std::string word = lowercase(text);
  if (word == "true" || word == "1" || word == "yes" || word == "on") {
    out = true;
    return {};
  }
  if (word == "false" || word == "0" || word == "no" || word == "off") {
    out = false;
    return {};
  }
  return "not a boolean: use true/false, 1/0, yes/no or on/off";
}

std::string_view parse_value(std::string_view text, double& out) {
  double value = 0;
  const char* const end = text.data() + text.size();
  // fixed: no exponents, so "1e-1" is rejected like any other surprising spelling.
  const auto [stop, error] = std::from_chars(text.data(), end, value, std::chars_format::fixed);
  if (error != std::errc{} || stop != end) {
    return "not a number";
  }
  out = value;
  return {};
}

struct LogLevelName {
  std::string_view name;
  LogLevel level;
};

// The first spelling of each level is the one shown; "warning" is accepted as spdlog does.
constexpr std::array<LogLevelName, 8> kLogLevelNames{{{"trace", LogLevel::Trace},
                                                      {"debug", LogLevel::Debug},
                                                      {"info", LogLevel::Info},
                                                      {"warn", LogLevel::Warn},
                                                      {"warning", LogLevel::Warn},
                                                      {"error", LogLevel::Error},
                                                      {"critical", LogLevel::Critical},
                                                      {"off", LogLevel::Off}}};

std::string_view parse_value(std::string_view text, LogLevel& out) {
  const std::string word = lowercase(text);
  for (const auto& entry : kLogLevelNames) {
    if (entry.name == word) {
      out = entry.level;
      return {};
    }
  }
  return "not a log level: use trace, debug, info, warn, error, critical or off";
}

// "auto", or a boolean for On and Off.
std::string_view parse_value(std::string_view text, ClusterMode& out) {
  if (lowercase(text) == "auto") {
    out = ClusterMode::Auto;
    return {};
  }
  bool on = false;
  if (!parse_value(text, on).empty()) {
    return "not a cluster mode: use auto, true or false (or 1/0, yes/no, on/off)";
  }
  out = on ? ClusterMode::On : ClusterMode::Off;
  return {};
}

struct ReadFromName {
  std::string_view name;
  ReadFrom read_from;
};

constexpr std::array<ReadFromName, 3> kReadFromNames{{{"primary", ReadFrom::Primary},
                                                      {"replica", ReadFrom::Replica},
                                                      {"prefer-replica", ReadFrom::PreferReplica}}};

std::string_view parse_value(std::string_view text, ReadFrom& out) {
  const std::string word = lowercase(text);
  for (const auto& entry : kReadFromNames) {
    if (entry.name == word) {
      out = entry.read_from;
      return {};
    }
  }
  return "not a read preference: use primary, replica or prefer-replica";
}

// A comma-separated list, blanks around each entry trimmed; a blank value is an empty list. An
// empty entry is kept, so that validation can name its position.
std::string_view parse_value(std::string_view text, std::vector<std::string>& out) {
  std::vector<std::string> entries;
  if (!trim_left(text).empty()) {
    for (;;) {
      const auto comma = text.find(',');
      entries.emplace_back(trim_right(trim_left(text.substr(0, comma))));
      if (comma == std::string_view::npos) {
        break;
      }
      text.remove_prefix(comma + 1);
    }
  }
  out = std::move(entries);
  return {};
}

// ---------------------------------------------------------------------------------------------
// Value printers for to_string() and messages. Every printed value parses back to itself.

std::string show_value(const std::string& value) {
  const bool plain = std::none_of(value.begin(), value.end(), [](char c) {
    return is_control(c) || c == ' ' || c == '"' || c == '\'' || c == '\\';
  });
  if (plain) {
    return value;
  }
  std::string out = "\"";
  append_escaped(out, value, '"');
  out += '"';
  return out;
}

std::string show_value(const Secret& value) {
  return value.empty() ? std::string{} : std::string(kRedacted);
}

std::string show_value(int value) {
  return std::to_string(value);
}

std::string show_value(std::size_t value) {
  return std::to_string(value);
}

std::string show_value(std::chrono::milliseconds value) {
  const auto count = value.count();
  if (count == 0) {
    return "0s";
  }
  // The largest unit that shows the value exactly.
  if (count % 3'600'000 == 0) {
    return std::to_string(count / 3'600'000) + "h";
  }
  if (count % 60'000 == 0) {
    return std::to_string(count / 60'000) + "m";
  }
  if (count % 1000 == 0) {
    return std::to_string(count / 1000) + "s";
  }
  return std::to_string(count) + "ms";
}

std::string show_value(bool value) {
  return value ? "true" : "false";
}

std::string show_value(double value) {
  std::array<char, 32> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), result.ptr);
}

std::string show_value(LogLevel value) {
  for (const auto& entry : kLogLevelNames) {
    if (entry.level == value) {
      return std::string(entry.name);
    }
  }
  return "LogLevel(" + std::to_string(static_cast<int>(value)) + ")";
}

std::string show_value(ClusterMode value) {
  switch (value) {
    case ClusterMode::Auto:
      return "auto";
    case ClusterMode::On:
      return "true";
    case ClusterMode::Off:
      return "false";
  }
  return "ClusterMode(" + std::to_string(static_cast<int>(value)) + ")";
}

std::string show_value(ReadFrom value) {
  for (const auto& entry : kReadFromNames) {
    if (entry.read_from == value) {
      return std::string(entry.name);
    }
  }
  return "ReadFrom(" + std::to_string(static_cast<int>(value)) + ")";
}

// The entries joined by commas, quoted as a string when an entry holds a blank or a control
// character (only a config built by hand can have one; validation refuses it).
std::string show_value(const std::vector<std::string>& value) {
  std::string joined;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (i > 0) {
      joined += ',';
    }
    joined += value[i];
  }
  return show_value(joined);
}

// ---------------------------------------------------------------------------------------------
// The table of variables

struct Variable {
  std::string_view name;   // VALKEY_PORT
  std::string_view field;  // port, or retry.max_attempts for a nested option
  bool secret;             // its value is never shown
  std::string_view (*assign)(ValkeyConfig&, std::string_view text);
  std::string (*show)(const ValkeyConfig&);
};

// The field a chain of member pointers reaches: member<&ValkeyConfig::retry,
// &RetryOptions::base_delay>(config) is config.retry.base_delay.
template <auto... Path>
constexpr auto& member(auto& config) {
  // A left fold over .*; clang-format would glue it into an unreadable "config.*....*Path".
  // clang-format off
  return (config .* ... .* Path);
  // clang-format on
}

template <auto... Path>
constexpr Variable variable(std::string_view name, std::string_view field) {
  using Value = std::remove_cvref_t<decltype(member<Path...>(std::declval<ValkeyConfig&>()))>;
  return Variable{name, field, std::is_same_v<Value, Secret>,
                  [](ValkeyConfig& config, std::string_view text) {
                    return parse_value(text, member<Path...>(config));
                  },
                  [](const ValkeyConfig& config) { return show_value(member<Path...>(config)); }};
}

using C = ValkeyConfig;
using R = RetryOptions;
using B = CircuitBreakerOptions;
using F = FallbackOptions;
using T = TlsOptions;
using K = ClusterOptions;

constexpr std::array kVariables{
    variable<&C::host>("VALKEY_HOST", "host"),
    variable<&C::port>("VALKEY_PORT", "port"),
    variable<&C::username>("VALKEY_USERNAME", "username"),
    variable<&C::password>("VALKEY_PASSWORD", "password"),
    variable<&C::database>("VALKEY_DATABASE", "database"),
    variable<&C::operation_timeout>("VALKEY_OPERATION_TIMEOUT", "operation_timeout"),
    variable<&C::max_value_size>("VALKEY_MAX_VALUE_SIZE", "max_value_size"),
    variable<&C::max_connections>("VALKEY_MAX_CONNECTIONS", "max_connections"),
    variable<&C::connect_timeout>("VALKEY_SOCKET_CONNECT_TIMEOUT", "connect_timeout"),
    variable<&C::socket_timeout>("VALKEY_SOCKET_TIMEOUT", "socket_timeout"),
    variable<&C::pool_timeout>("VALKEY_POOL_TIMEOUT", "pool_timeout"),
    variable<&C::health_check_interval>("VALKEY_HEALTH_CHECK_INTERVAL", "health_check_interval"),
    variable<&C::reconnect_base_delay>("VALKEY_RECONNECT_BASE_DELAY", "reconnect_base_delay"),
    variable<&C::reconnect_max_delay>("VALKEY_RECONNECT_MAX_DELAY", "reconnect_max_delay"),
    variable<&C::idle_check_after>("VALKEY_IDLE_CHECK_AFTER", "idle_check_after"),
    variable<&C::retry, &R::max_attempts>("VALKEY_RETRY_MAX_ATTEMPTS", "retry.max_attempts"),
    variable<&C::retry, &R::base_delay>("VALKEY_RETRY_BASE_DELAY", "retry.base_delay"),
    variable<&C::retry, &R::max_delay>("VALKEY_RETRY_MAX_DELAY", "retry.max_delay"),
    variable<&C::retry, &R::retry_on_timeout>("VALKEY_RETRY_ON_TIMEOUT", "retry.retry_on_timeout"),
    variable<&C::circuit_breaker, &B::failure_threshold>("VALKEY_CIRCUIT_FAILURE_THRESHOLD",
                                                         "circuit_breaker.failure_threshold"),
    variable<&C::circuit_breaker, &B::recovery_timeout>("VALKEY_CIRCUIT_RECOVERY_TIMEOUT",
                                                        "circuit_breaker.recovery_timeout"),
    variable<&C::circuit_breaker, &B::half_open_max_calls>("VALKEY_CIRCUIT_HALF_OPEN_MAX_CALLS",
                                                           "circuit_breaker.half_open_max_calls"),
    variable<&C::circuit_breaker, &B::failure_spacing>("VALKEY_CIRCUIT_FAILURE_SPACING",
                                                       "circuit_breaker.failure_spacing"),
    variable<&C::circuit_breaker, &B::initial_recovery_timeout>(
        "VALKEY_CIRCUIT_INITIAL_RECOVERY_TIMEOUT", "circuit_breaker.initial_recovery_timeout"),
    variable<&C::fallback, &F::enabled>("VALKEY_FALLBACK_ENABLED", "fallback.enabled"),
    variable<&C::fallback, &F::max_entries>("VALKEY_FALLBACK_MAX_ENTRIES", "fallback.max_entries"),
    variable<&C::fallback, &F::max_bytes>("VALKEY_FALLBACK_MAX_BYTES", "fallback.max_bytes"),
    variable<&C::fallback, &F::journal_max_entries>("VALKEY_FALLBACK_JOURNAL_MAX_ENTRIES",
                                                    "fallback.journal_max_entries"),
    variable<&C::key_prefix>("VALKEY_KEY_PREFIX", "key_prefix"),
    variable<&C::max_key_length>("VALKEY_MAX_KEY_LENGTH", "max_key_length"),
    variable<&C::ttl_jitter>("VALKEY_TTL_JITTER", "ttl_jitter"),
    variable<&C::client_name>("VALKEY_CLIENT_NAME", "client_name"),
    variable<&C::log_level>("VALKEY_LOG_LEVEL", "log_level"),
    variable<&C::tls, &T::enabled>("VALKEY_TLS", "tls.enabled"),
    variable<&C::tls, &T::ca_file>("VALKEY_TLS_CA_FILE", "tls.ca_file"),
    variable<&C::tls, &T::ca_dir>("VALKEY_TLS_CA_DIR", "tls.ca_dir"),
    variable<&C::tls, &T::cert_file>("VALKEY_TLS_CERT_FILE", "tls.cert_file"),
    variable<&C::tls, &T::key_file>("VALKEY_TLS_KEY_FILE", "tls.key_file"),
    variable<&C::tls, &T::server_name>("VALKEY_TLS_SERVER_NAME", "tls.server_name"),
    variable<&C::tls, &T::verify>("VALKEY_TLS_VERIFY", "tls.verify"),
    variable<&C::tls, &T::allow_insecure>("VALKEY_TLS_ALLOW_INSECURE", "tls.allow_insecure"),
    variable<&C::cluster, &K::mode>("VALKEY_CLUSTER", "cluster.mode"),
    variable<&C::cluster, &K::seed_nodes>("VALKEY_CLUSTER_NODES", "cluster.seed_nodes"),
    variable<&C::cluster, &K::read_from>("VALKEY_READ_FROM", "cluster.read_from"),
};

constexpr auto kVariableNames = [] {
  std::array<std::string_view, kVariables.size()> names{};
  for (std::size_t i = 0; i < kVariables.size(); ++i) {
    names[i] = kVariables[i].name;
  }
  return names;
}();

// consteval, so that a misspelt name in the rules below is a compile error.
consteval const Variable& variable_named(std::string_view name) {
  for (const Variable& entry : kVariables) {
    if (entry.name == name) {
      return entry;
    }
  }
  throw "no such variable in kVariables";
}

// The variables a URL sets; all seven are set, to their defaults when the URL omits them,
// VALKEY_TLS by the scheme, and VALKEY_CLUSTER_NODES to none.
constexpr std::array<std::string_view, 7> kUrlVariables{
    "VALKEY_HOST",     "VALKEY_PORT", "VALKEY_USERNAME",     "VALKEY_PASSWORD",
    "VALKEY_DATABASE", "VALKEY_TLS",  "VALKEY_CLUSTER_NODES"};

// ---------------------------------------------------------------------------------------------
// Validation, shared by validate() (messages name fields) and the readers (messages name
// variables and where they were set).

// Subject: the setting at fault, with its value and where it was set. Reference: another
// setting the message points at, with its value. Name: a setting's bare name, for a hint.
enum class Role { Subject, Reference, Name };

bool positive(std::chrono::milliseconds value) {
  return value > std::chrono::milliseconds::zero();
}
bool negative(std::chrono::milliseconds value) {
  return value < std::chrono::milliseconds::zero();
}

// Valkey's CLIENT SETNAME refuses spaces, newlines and other special characters.
bool valid_client_name(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// An IPv6 address as getaddrinfo takes it, without brackets: hex digits, ':' and '.' (for an
// embedded IPv4 address), then an optional "%zone" naming the interface (fe80::1%eth0).
bool is_ipv6_address(std::string_view host) {
  const auto percent = host.find('%');
  const auto address = host.substr(0, percent);
  const auto hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  if (address.find(':') == std::string_view::npos ||
      !std::all_of(address.begin(), address.end(),
                   [&](char c) { return hex(c) || c == ':' || c == '.'; })) {
    return false;
  }
  if (percent == std::string_view::npos) {
    return true;
  }
  const auto zone = host.substr(percent + 1);
  return !zone.empty() && std::all_of(zone.begin(), zone.end(), [](char c) {
    return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
  });
}

// A host name (RFC 1123 letters, digits, '-' and '.', plus the '_' of Docker and Kubernetes
// service names), an IPv4 address or an IPv6 address. Anything else, a blank or a control byte
// pasted along with the value say, would otherwise surface only later as a vague resolver error.
bool valid_host(std::string_view host) {
  if (host.find(':') != std::string_view::npos) {
    return is_ipv6_address(host);
  }
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return is_alnum(c) || c == '-' || c == '.' || c == '_';
  });
}

// Loopback by the host as written, with no resolver involved: "localhost", 127.0.0.0/8 and ::1
// in any spelling (also ::ffff:127.x.y.z). Only there may TLS verification be off without
// allow_insecure, since the traffic never leaves the machine (a stunnel or a sidecar, say).
bool is_loopback(std::string_view host) {
  if (lowercase(host) == "localhost") {
    return true;
  }
  // inet_pton needs a terminated string and takes no IPv6 zone ("::1%lo").
  const std::string address(host.substr(0, host.find('%')));
  in_addr ipv4{};
  if (::inet_pton(AF_INET, address.c_str(), &ipv4) == 1) {
    return (ntohl(ipv4.s_addr) >> 24) == 127;
  }
  in6_addr ipv6{};
  if (::inet_pton(AF_INET6, address.c_str(), &ipv6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&ipv6) || (IN6_IS_ADDR_V4MAPPED(&ipv6) && ipv6.s6_addr[12] == 127);
  }
  return false;
}

// Why `path` cannot serve as a PEM file OpenSSL reads, or an empty view if it can. Checked when
// the config is validated, so that a typo fails at startup rather than at the first handshake.
std::string_view file_problem(const std::string& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (status.type() == std::filesystem::file_type::not_found) {
    return "no such file";
  }
  if (error) {
    return "cannot be accessed";
  }
  if (!std::filesystem::is_regular_file(status)) {
    return "is not a regular file";
  }
  if (!std::ifstream(path, std::ios::binary)) {
    return "is not readable";
  }
  return {};
}

std::string_view directory_problem(const std::string& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (status.type() == std::filesystem::file_type::not_found) {
    return "no such directory";
  }
  if (error) {
    return "cannot be accessed";
  }
  if (!std::filesystem::is_directory(status)) {
    return "is not a directory";
  }
  return {};
}

// A host and port as a URL's authority or a seed node writes them: host[:port], an IPv6 host
// in brackets.
struct HostAndPort {
  std::string host;
  std::optional<std::string_view> port;  // the text after the ':', when there is one
  bool bracketed = false;
};

// Splits `text` into host and port; `ipv6_example` shows how to write an IPv6 host. Returns
// why it cannot, or an empty string.
std::string split_host_and_port(std::string_view text, std::string_view ipv6_example,
                                HostAndPort& out) {
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return "unterminated '[' in the IPv6 host";
    }
    out.host = text.substr(1, close - 1);
    out.bracketed = true;
    const auto after = text.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return "unexpected text after the IPv6 host";
      }
      out.port = after.substr(1);
    }
    return {};
  }
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    out.host = text;
    return {};
  }
  if (text.find(':', colon + 1) != std::string_view::npos) {
    return "an IPv6 host must be in brackets, e.g. " + std::string(ipv6_example);
  }
  out.host = text.substr(0, colon);
  out.port = text.substr(colon + 1);
  return {};
}

// Why the host of a URL or a seed node is refused, or an empty string. Quotes it as written.
std::string host_problem(const HostAndPort& parts) {
  if (parts.bracketed && !parts.host.empty() && parts.host.find(':') == std::string::npos) {
    return "the host " + in_quotes(parts.host) + " in brackets is not an IPv6 address";
  }
  if (parts.host.empty()) {
    return "no host";
  }
  if (!valid_host(parts.host)) {
    return "the host " + in_quotes(parts.host) + " is not a host name or an IP address";
  }
  return {};
}

// Parses the port of a URL or a seed node. Returns why it is refused, or an empty string.
std::string parse_port(std::string_view text, int& port) {
  if (text.empty()) {
    return "the port is empty";
  }
  const auto digits = text.substr(text.starts_with('-') ? 1 : 0);
  const bool number = !digits.empty() && std::all_of(digits.begin(), digits.end(),
                                                     [](char c) { return c >= '0' && c <= '9'; });
  // A number too large for an int is out of range like 65536, not misspelt.
  if (!number) {
    return "the port " + in_quotes(text) + " is not a whole number";
  }
  if (!parse_integer(text, port).empty() || port < 1 || port > 65535) {
    return "the port " + in_quotes(text) + " must be 1-65535";
  }
  return {};
}

// Why one seed node is refused, or an empty string. Unlike a URL's, its port is required: a
// cluster's nodes seldom all listen on 6379, and a guessed port would fail only at connect time.
std::string seed_node_problem(std::string_view entry) {
  if (entry.find("://") != std::string_view::npos) {
    return "write host:port, not a URL";
  }
  HostAndPort parts;
  auto reason = split_host_and_port(entry, "[::1]:7000", parts);
  if (reason.empty()) {
    reason = host_problem(parts);
  }
  if (reason.empty() && !parts.port) {
    reason = "the port is missing; write host:port";
  }
  int port = 0;
  if (reason.empty()) {
    reason = parse_port(*parts.port, port);
  }
  return reason;
}

// Cluster settings: a cluster has only database 0, and replica reads and seed nodes need the
// cluster client, so none of them may contradict the mode chosen. A database with Auto is left
// to the client, which learns only at connect time whether the server is a cluster.
template <typename Fail, typename Describe>
void check_cluster_rules(const ValkeyConfig& config, const Fail& fail, const Describe& describe) {
  const ClusterOptions& cluster = config.cluster;
  const Variable& mode = variable_named("VALKEY_CLUSTER");
  const Variable& nodes = variable_named("VALKEY_CLUSTER_NODES");
  const Variable& read_from = variable_named("VALKEY_READ_FROM");

  if (show_value(cluster.mode).starts_with("ClusterMode(")) {
    fail(mode, "is not a ClusterMode");
  }
  if (show_value(cluster.read_from).starts_with("ReadFrom(")) {
    fail(read_from, "is not a ReadFrom");
  }
  if (cluster.mode == ClusterMode::On && config.database != 0) {
    fail(variable_named("VALKEY_DATABASE"),
         "is refused with " + describe(mode, Role::Reference) + "; a cluster has only database 0");
  }
  if (cluster.mode == ClusterMode::Off) {
    if (!cluster.seed_nodes.empty()) {
      fail(nodes, "is refused with " + describe(mode, Role::Reference) +
                      "; seed nodes need the cluster client");
    }
    if (cluster.read_from != ReadFrom::Primary) {
      fail(read_from, "is refused with " + describe(mode, Role::Reference) +
                          "; replica reads need the cluster client");
    }
  }
  for (std::size_t i = 0; i < cluster.seed_nodes.size(); ++i) {
    const std::string& entry = cluster.seed_nodes[i];
    const std::string position = "entry " + std::to_string(i + 1);
    if (entry.empty()) {
      fail(nodes, position + " is empty");
    }
    if (const auto problem = seed_node_problem(entry); !problem.empty()) {
      fail(nodes, position + " " + in_quotes(entry) + ": " + problem);
    }
  }
}

// TLS settings: none may be set while TLS is off, since the user surely meant TLS and would
// otherwise get plaintext; files must be there now; verification may be off only on loopback.
template <typename Fail, typename Describe>
void check_tls_rules(const ValkeyConfig& config, const Fail& fail, const Describe& describe) {
  const TlsOptions& tls = config.tls;
  const Variable& ca_file = variable_named("VALKEY_TLS_CA_FILE");
  const Variable& ca_dir = variable_named("VALKEY_TLS_CA_DIR");
  const Variable& cert_file = variable_named("VALKEY_TLS_CERT_FILE");
  const Variable& key_file = variable_named("VALKEY_TLS_KEY_FILE");
  const Variable& server_name = variable_named("VALKEY_TLS_SERVER_NAME");
  const Variable& verify = variable_named("VALKEY_TLS_VERIFY");
  const Variable& allow_insecure = variable_named("VALKEY_TLS_ALLOW_INSECURE");

  if (!tls.enabled) {
    const std::string off = "is set but TLS is off; set " +
                            describe(variable_named("VALKEY_TLS"), Role::Name) +
                            "=true or use a valkeys:// URL";
    const std::array<std::pair<const Variable*, bool>, 7> settings{{
        {&ca_file, !tls.ca_file.empty()},
        {&ca_dir, !tls.ca_dir.empty()},
        {&cert_file, !tls.cert_file.empty()},
        {&key_file, !tls.key_file.empty()},
        {&server_name, !tls.server_name.empty()},
        {&verify, !tls.verify},
        {&allow_insecure, tls.allow_insecure},
    }};
    for (const auto& [setting, set] : settings) {
      if (set) {
        fail(*setting, off);
      }
    }
    return;
  }
  if (!tls.server_name.empty() && !valid_host(tls.server_name)) {
    fail(server_name, "must be a host name or an IP address");
  }
  if (!tls.cert_file.empty() && tls.key_file.empty()) {
    fail(cert_file, "is set without " + describe(key_file, Role::Name) +
                        "; a client certificate needs its private key");
  }
  if (!tls.key_file.empty() && tls.cert_file.empty()) {
    fail(key_file, "is set without " + describe(cert_file, Role::Name) +
                       "; a private key needs its client certificate");
  }
  for (const auto& [setting, path] :
       {std::pair{&ca_file, &tls.ca_file}, std::pair{&cert_file, &tls.cert_file},
        std::pair{&key_file, &tls.key_file}}) {
    if (!path->empty()) {
      if (const auto problem = file_problem(*path); !problem.empty()) {
        fail(*setting, problem);
      }
    }
  }
  if (!tls.ca_dir.empty()) {
    if (const auto problem = directory_problem(tls.ca_dir); !problem.empty()) {
      fail(ca_dir, problem);
    }
  }
  // Without verification anyone on the path can pose as the server and read the password.
  if (!tls.verify && !tls.allow_insecure && !is_loopback(config.host)) {
    fail(verify, "is refused for " + describe(variable_named("VALKEY_HOST"), Role::Reference) +
                     ", which is not loopback; set " + describe(allow_insecure, Role::Name) +
                     "=true to allow it");
  }
}

template <typename Describe>
void check_rules(const ValkeyConfig& config, const Describe& describe) {
  const auto fail = [&](const Variable& subject, std::string_view requirement) {
    throw ConfigError(describe(subject, Role::Subject) + ": " + std::string(requirement));
  };
  const auto not_above = [&](const Variable& subject, const Variable& limit) {
    fail(subject, "must not exceed " + describe(limit, Role::Reference));
  };

  if (config.host.empty()) {
    fail(variable_named("VALKEY_HOST"), "must not be empty");
  }
  if (!valid_host(config.host)) {
    fail(variable_named("VALKEY_HOST"), "must be a host name or an IP address");
  }
  if (config.port < 1 || config.port > 65535) {
    fail(variable_named("VALKEY_PORT"), "must be 1-65535");
  }
  if (config.database < 0) {
    fail(variable_named("VALKEY_DATABASE"), "must be >= 0");
  }
  if (!positive(config.operation_timeout)) {
    fail(variable_named("VALKEY_OPERATION_TIMEOUT"), "must be positive");
  }
  if (config.max_value_size < 1) {
    fail(variable_named("VALKEY_MAX_VALUE_SIZE"), "must be >= 1");
  }
  if (config.fallback.max_entries < 1) {
    fail(variable_named("VALKEY_FALLBACK_MAX_ENTRIES"), "must be >= 1");
  }
  if (config.fallback.max_bytes < 1) {
    fail(variable_named("VALKEY_FALLBACK_MAX_BYTES"), "must be >= 1");
  }
  if (config.fallback.journal_max_entries < 1) {
    fail(variable_named("VALKEY_FALLBACK_JOURNAL_MAX_ENTRIES"), "must be >= 1");
  }
  if (config.max_connections < 1) {
    fail(variable_named("VALKEY_MAX_CONNECTIONS"), "must be >= 1");
  }
  // Zero would make every connect or command fail at once.
  if (!positive(config.connect_timeout)) {
    fail(variable_named("VALKEY_SOCKET_CONNECT_TIMEOUT"), "must be positive");
  }
  if (!positive(config.socket_timeout)) {
    fail(variable_named("VALKEY_SOCKET_TIMEOUT"), "must be positive");
  }
  if (negative(config.pool_timeout)) {
    fail(variable_named("VALKEY_POOL_TIMEOUT"), "must not be negative");
  }
  // Zero would turn the health check and reconnect loops into busy loops.
  if (!positive(config.health_check_interval)) {
    fail(variable_named("VALKEY_HEALTH_CHECK_INTERVAL"), "must be positive");
  }
  if (!positive(config.reconnect_base_delay)) {
    fail(variable_named("VALKEY_RECONNECT_BASE_DELAY"), "must be positive");
  }
  if (config.reconnect_base_delay > config.reconnect_max_delay) {
    not_above(variable_named("VALKEY_RECONNECT_BASE_DELAY"),
              variable_named("VALKEY_RECONNECT_MAX_DELAY"));
  }
  if (negative(config.idle_check_after)) {
    fail(variable_named("VALKEY_IDLE_CHECK_AFTER"), "must not be negative");
  }
  if (config.retry.max_attempts < 1) {
    fail(variable_named("VALKEY_RETRY_MAX_ATTEMPTS"), "must be >= 1");
  }
  if (negative(config.retry.base_delay)) {
    fail(variable_named("VALKEY_RETRY_BASE_DELAY"), "must not be negative");
  }
  if (config.retry.base_delay > config.retry.max_delay) {
    not_above(variable_named("VALKEY_RETRY_BASE_DELAY"), variable_named("VALKEY_RETRY_MAX_DELAY"));
  }
  if (config.circuit_breaker.failure_threshold < 1) {
    fail(variable_named("VALKEY_CIRCUIT_FAILURE_THRESHOLD"), "must be >= 1");
  }
  if (!positive(config.circuit_breaker.recovery_timeout)) {
    fail(variable_named("VALKEY_CIRCUIT_RECOVERY_TIMEOUT"), "must be positive");
  }
  if (config.circuit_breaker.half_open_max_calls < 1) {
    fail(variable_named("VALKEY_CIRCUIT_HALF_OPEN_MAX_CALLS"), "must be >= 1");
  }
  if (negative(config.circuit_breaker.failure_spacing)) {
    fail(variable_named("VALKEY_CIRCUIT_FAILURE_SPACING"), "must not be negative");
  }
  if (!positive(config.circuit_breaker.initial_recovery_timeout)) {
    fail(variable_named("VALKEY_CIRCUIT_INITIAL_RECOVERY_TIMEOUT"), "must be positive");
  }
  // Long keys keep a readable head plus a digest, which needs room.
  if (config.max_key_length < 32) {
    fail(variable_named("VALKEY_MAX_KEY_LENGTH"), "must be >= 32");
  }
  // Written so that NaN fails too.
  if (!(config.ttl_jitter >= 0.0 && config.ttl_jitter < 1.0)) {
    fail(variable_named("VALKEY_TTL_JITTER"), "must be in [0, 1)");
  }
  if (!valid_client_name(config.client_name)) {
    fail(variable_named("VALKEY_CLIENT_NAME"), "must not contain spaces or special characters");
  }
  if (show_value(config.log_level).starts_with("LogLevel(")) {
    fail(variable_named("VALKEY_LOG_LEVEL"), "is not a LogLevel");
  }
  check_tls_rules(config, fail, describe);
  check_cluster_rules(config, fail, describe);
}

// ---------------------------------------------------------------------------------------------
// URLs

// Decodes %XX escapes; nullopt for a malformed one.
std::optional<std::string> percent_decode(std::string_view text) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    c = to_lower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) {
      return std::nullopt;
    }
    const int high = hex(text[i + 1]);
    const int low = hex(text[i + 2]);
    if (high < 0 || low < 0) {
      return std::nullopt;
    }
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

// A URL fit for an error message: the password becomes "***". Without an '@', the authority
// "valkey://:secret" (no host) or "valkey://app:sec:ret" (too many ':') is a password whose
// "user:" lost its '@host', so what follows the first ':' is hidden too. "valkey://h:text" is
// shown as written, so that a bad port can be found: it reads the same as "valkey://user:pw"
// with '@host' forgotten, and a port typo is by far the likelier of the two.
std::string redact_url(std::string_view url) {
  const auto scheme_end = url.find("://");
  const std::size_t start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const auto at = url.rfind('@');
  if (at != std::string_view::npos && at >= start) {
    const auto colon = url.substr(start, at - start).find(':');
    if (colon == std::string_view::npos) {
      return std::string(url);
    }
    return std::string(url.substr(0, start + colon + 1)) + std::string(kRedacted) +
           std::string(url.substr(at));
  }
  auto authority = url.substr(start);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  const auto colon = authority.find(':');
  if (colon == std::string_view::npos || authority.starts_with('[')) {
    return std::string(url);
  }
  const bool host_and_port = colon > 0 && authority.find(':', colon + 1) == std::string_view::npos;
  if (host_and_port) {
    return std::string(url);
  }
  return std::string(url.substr(0, start + colon + 1)) + std::string(kRedacted) +
         std::string(url.substr(start + authority.size()));
}

// Sets the five connection fields from a URL, and tls.enabled from its scheme, and empties
// cluster.seed_nodes: a URL names the server, and seed nodes left from a lower source would
// belong to another. Returns why the URL is rejected, or an empty string. Reasons quote the host,
// port and database as written (escaped), never the user info.
std::string apply_url(ValkeyConfig& config, std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return "must start with valkey://, valkeys://, redis:// or rediss://";
  }
  const std::string scheme = lowercase(url.substr(0, scheme_end));
  const bool tls = scheme == "valkeys" || scheme == "rediss";
  if (!tls && scheme != "valkey" && scheme != "redis") {
    return "unsupported scheme; use valkey://, valkeys://, redis:// or rediss://";
  }
  auto rest = url.substr(scheme_end + 3);

  std::string username;
  std::string password;
  // The last '@' ends the user info, so an unencoded '@' or '/' in a password still works.
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const auto userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = userinfo.find(':');
    auto user = percent_decode(userinfo.substr(0, colon));
    if (!user) {
      return "bad percent-encoding in the user name";
    }
    username = std::move(*user);
    if (colon != std::string_view::npos) {
      auto secret = percent_decode(userinfo.substr(colon + 1));
      if (!secret) {
        return "bad percent-encoding in the password";
      }
      password = std::move(*secret);
    }
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return "query options are not supported; use the VALKEY_* variables";
  }

  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  const auto path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);

  HostAndPort parts;
  if (auto reason = split_host_and_port(authority, "valkey://[::1]:6379", parts); !reason.empty()) {
    return reason;
  }
  // RFC 6874 writes the zone's '%' as "%25" (fe80::1%25eth0); getaddrinfo wants it bare.
  if (const auto zone = parts.host.find("%25");
      parts.bracketed && zone != std::string::npos && zone + 3 < parts.host.size()) {
    parts.host.erase(zone + 1, 2);
  }
  if (auto reason = host_problem(parts); !reason.empty()) {
    return reason;
  }
  int port = ValkeyConfig{}.port;
  if (parts.port) {
    if (auto reason = parse_port(*parts.port, port); !reason.empty()) {
      return reason;
    }
  }
  int database = ValkeyConfig{}.database;
  if (!path.empty() && (!parse_integer(path, database).empty() || database < 0)) {
    return "the database " + in_quotes(path) + " must be a whole number >= 0";
  }

  config.host = std::move(parts.host);
  config.port = port;
  config.username = std::move(username);
  config.password = Secret{std::move(password)};
  config.database = database;
  config.tls.enabled = tls;
  config.cluster.seed_nodes.clear();
  return {};
}

// ---------------------------------------------------------------------------------------------
// Applying variables

// One source's variables; `location` is "path:line" for a .env file, empty for the environment.
struct Assignment {
  std::string value;
  std::string location;
};
using Layer = std::map<std::string, Assignment, std::less<>>;

// Where each set variable came from, so that validation can point at the line to fix.
struct Origin {
  std::string location;
  std::string text;  // VALKEY_PORT='70000', or VALKEY_PORT=6380 (from VALKEY_URL)
};
using Provenance = std::map<std::string_view, Origin>;

std::string at_location(const std::string& location) {
  return location.empty() ? std::string{} : location + ": ";
}

void apply_layer(ValkeyConfig& config, const Layer& layer, Provenance& provenance) {
  if (const auto url = layer.find(kUrlVariable); url != layer.end()) {
    const auto& [value, location] = url->second;
    if (const auto reason = apply_url(config, value); !reason.empty()) {
      throw ConfigError(at_location(location) + std::string(kUrlVariable) + "=" +
                        in_quotes(redact_url(value)) + ": " + reason);
    }
    for (const Variable& entry : kVariables) {
      if (std::find(kUrlVariables.begin(), kUrlVariables.end(), entry.name) !=
          kUrlVariables.end()) {
        provenance[entry.name] = {
            location, std::string(entry.name) + "=" + entry.show(config) + " (from VALKEY_URL)"};
      }
    }
  }
  for (const Variable& entry : kVariables) {
    const auto found = layer.find(entry.name);
    if (found == layer.end()) {
      continue;
    }
    const auto& [value, location] = found->second;
    std::string text =
        std::string(entry.name) + "=" + (entry.secret ? in_quotes(kRedacted) : in_quotes(value));
    if (const auto reason = entry.assign(config, value); !reason.empty()) {
      throw ConfigError(at_location(location) + text + ": " + std::string(reason));
    }
    provenance[entry.name] = {location, std::move(text)};
  }
}

void check_variables(const ValkeyConfig& config, const Provenance& provenance) {
  check_rules(config, [&](const Variable& entry, Role role) {
    if (role == Role::Name) {
      return std::string(entry.name);
    }
    const auto found = provenance.find(entry.name);
    if (found == provenance.end()) {
      return std::string(entry.name) + "=" + entry.show(config) + " (default)";
    }
    const auto& [location, text] = found->second;
    if (role == Role::Subject) {
      return at_location(location) + text;
    }
    return location.empty() ? text : text + " (" + location + ")";
  });
}

struct EnvLine {
  std::string name;
  std::string value;
  std::size_t line;
};

bool valid_name(std::string_view name) {
  const auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  return !name.empty() && (letter(name.front()) || name.front() == '_') &&
         std::all_of(name.begin(), name.end(),
                     [&](char c) { return letter(c) || digit(c) || c == '_'; });
}

// After a closing quote only blanks and a comment may follow.
void expect_end_of_line(std::string_view tail, const std::string& where) {
  tail = trim_left(tail);
  if (!tail.empty() && tail.front() != '#') {
    throw ConfigError(where + ": unexpected text after the closing quote");
  }
}

// Parses one line of a .env file; nullopt for blank and comment lines. Errors never quote
// the value, which may be a password.
std::optional<std::pair<std::string, std::string>> parse_env_line(std::string_view line,
                                                                  const std::string& where) {
  line = trim_left(line);
  if (line.empty() || line.front() == '#') {
    return std::nullopt;
  }
  if (line.starts_with("export") && line.size() > 6 && is_blank(line[6])) {
    line = trim_left(line.substr(6));
  }
  const auto equals = line.find('=');
  if (equals == std::string_view::npos) {
    throw ConfigError(where + ": expected NAME=value");
  }
  const auto name = trim_right(line.substr(0, equals));
  if (!valid_name(name)) {
    throw ConfigError(where + ": invalid variable name " + in_quotes(name));
  }
  const auto raw = line.substr(equals + 1);
  const auto value = trim_left(raw);
  std::string out;
  if (value.starts_with('"')) {
    std::size_t i = 1;
    for (; i < value.size() && value[i] != '"'; ++i) {
      if (value[i] == '\\' && i + 1 < value.size()) {
        const char next = value[++i];
        if (next == 'n') {
          out += '\n';
        } else if (next == '"' || next == '\\') {
          out += next;
        } else {
          // Unknown escapes stay as written, as in most dotenv readers.
          out += '\\';
          out += next;
        }
      } else {
        out += value[i];
      }
    }
    if (i >= value.size()) {
      throw ConfigError(where + ": unterminated double-quoted value");
    }
    expect_end_of_line(value.substr(i + 1), where);
  } else if (value.starts_with('\'')) {
    const auto close = value.find('\'', 1);
    if (close == std::string_view::npos) {
      throw ConfigError(where + ": unterminated single-quoted value");
    }
    out = value.substr(1, close - 1);
    expect_end_of_line(value.substr(close + 1), where);
  } else {
    // A '#' starts a comment only after a blank, so "pa#ss" keeps its '#'.
    std::size_t end = raw.size();
    for (std::size_t i = 1; i < raw.size(); ++i) {
      if (raw[i] == '#' && is_blank(raw[i - 1])) {
        end = i;
        break;
      }
    }
    out = trim_right(trim_left(raw.substr(0, end)));
  }
  return std::pair{std::string(name), std::move(out)};
}

// The variables of a .env file with their line numbers; later lines win, as in a shell.
std::vector<EnvLine> read_env_lines(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError("cannot open .env file " + in_quotes(path.string()));
  }
  std::vector<EnvLine> lines;
  std::string line;
  for (std::size_t number = 1; std::getline(in, line); ++number) {
    std::string_view text = line;
    if (number == 1 && text.starts_with("\xEF\xBB\xBF")) {
      text.remove_prefix(3);  // UTF-8 byte order mark, as some editors write
    }
    if (text.ends_with('\r')) {
      text.remove_suffix(1);
    }
    const std::string where = path.string() + ":" + std::to_string(number);
    if (auto parsed = parse_env_line(text, where)) {
      lines.push_back({std::move(parsed->first), std::move(parsed->second), number});
    }
  }
  if (in.bad()) {
    throw ConfigError("cannot read .env file " + in_quotes(path.string()));
  }
  return lines;
}

Layer environment_layer() {
  Layer layer;
  const auto read = [&](std::string_view name) {
    // getenv needs a terminated string; the names are literals, so data() is terminated.
    if (const char* value = std::getenv(name.data())) {
      layer[std::string(name)] = {value, {}};
    }
  };
  read(kUrlVariable);
  for (const Variable& entry : kVariables) {
    read(entry.name);
  }
  return layer;
}

}  // namespace

ValkeyConfig ValkeyConfig::from_env(std::optional<std::filesystem::path> env_file) {
  std::optional<std::filesystem::path> file = std::move(env_file);
  bool required = file.has_value();
  if (!file) {
    if (const char* named = std::getenv(kEnvFileVariable.data())) {
      file = named;
      required = true;
    }
  }
  if (!file) {
    file = ".env";
  }
  std::error_code error;
  const bool present = std::filesystem::exists(*file, error);
  if (!present && required) {
    throw ConfigError(".env file " + in_quotes(file->string()) + " does not exist");
  }

  ValkeyConfig config;
  Provenance provenance;
  if (present) {
    Layer layer;
    for (auto& [name, value, line] : read_env_lines(*file)) {
      layer[name] = {std::move(value), file->string() + ":" + std::to_string(line)};
    }
    apply_layer(config, layer, provenance);
  }
  apply_layer(config, environment_layer(), provenance);
  check_variables(config, provenance);
  return config;
}

ValkeyConfig ValkeyConfig::from_variables(
    const std::map<std::string, std::string, std::less<>>& variables) {
  Layer layer;
  for (const auto& [name, value] : variables) {
    layer[name] = {value, {}};
  }
  ValkeyConfig config;
  Provenance provenance;
  apply_layer(config, layer, provenance);
  check_variables(config, provenance);
  return config;
}

ValkeyConfig ValkeyConfig::from_url(std::string_view url) {
  ValkeyConfig config;
  if (const auto reason = apply_url(config, url); !reason.empty()) {
    throw ConfigError("invalid Valkey URL " + in_quotes(redact_url(url)) + ": " + reason);
  }
  return config;
}

void ValkeyConfig::validate() const {
  check_rules(*this, [this](const Variable& entry, Role role) {
    if (role == Role::Name) {
      return "ValkeyConfig." + std::string(entry.field);
    }
    // An empty string shows as "" so that the message does not read "host = : ...".
    const std::string shown = entry.show(*this);
    return "ValkeyConfig." + std::string(entry.field) + " = " + (shown.empty() ? "\"\"" : shown);
  });
}

std::string ValkeyConfig::endpoint() const {
  // An IPv6 address needs brackets, or its colons would run into the port's.
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

std::string ValkeyConfig::to_string() const {
  std::string out;
  for (const Variable& entry : kVariables) {
    if (!out.empty()) {
      out += ' ';
    }
    out += entry.field;
    out += '=';
    out += entry.show(*this);
  }
  return out;
}

std::map<std::string, std::string, std::less<>> read_env_file(const std::filesystem::path& path) {
  std::map<std::string, std::string, std::less<>> variables;
  for (auto& [name, value, line] : read_env_lines(path)) {
    variables[std::move(name)] = std::move(value);
  }
  return variables;
}

std::span<const std::string_view> config_variable_names() noexcept {
  return kVariableNames;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  const auto unit_at = text.find_first_not_of("0123456789.");
  const auto number = text.substr(0, unit_at);
  const auto unit = unit_at == std::string_view::npos ? std::string_view{} : text.substr(unit_at);

  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else {
    return std::nullopt;
  }

  // digits, optionally followed by '.' and digits: no sign, no exponent, no "inf".
  const auto dot = number.find('.');
  const auto whole = number.substr(0, dot);
  const auto fraction = dot == std::string_view::npos ? std::string_view{} : number.substr(dot + 1);
  if (whole.empty() || (dot != std::string_view::npos && fraction.empty()) ||
      fraction.find('.') != std::string_view::npos) {
    return std::nullopt;
  }
  double value = 0;
  const auto [stop, error] = std::from_chars(number.data(), number.data() + number.size(), value,
                                             std::chars_format::fixed);
  if (error != std::errc{} || stop != number.data() + number.size()) {
    return std::nullopt;
  }
  // About 31,000 years: anything larger is a typo, and would overflow the conversion.
  const double milliseconds = std::round(value * scale);
  if (milliseconds > 1e15) {
    return std::nullopt;
  }
  return std::chrono::milliseconds{static_cast<std::chrono::milliseconds::rep>(milliseconds)};
}

}  // namespace airport::cache
