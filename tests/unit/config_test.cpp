// SPDX-License-Identifier: BSD-3-Clause
// Unit tests of ValkeyConfig: defaults, every variable and its syntax, URLs, .env files,
// precedence, validation messages and password redaction. No server needed.
#include "airport/cache/config.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "airport/cache/errors.hpp"

namespace airport::cache {
namespace {

using namespace std::chrono_literals;
using Variables = std::map<std::string, std::string, std::less<>>;

constexpr const char* kPassword = "s3cr3t-PASS";

// The message of the ConfigError `action` throws; records a failure if it throws none.
template <typename Action>
std::string config_error_of(Action&& action) {
  try {
    action();
  } catch (const ConfigError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return {};
}

std::string error_of_variables(const Variables& variables) {
  return config_error_of([&] { (void)ValkeyConfig::from_variables(variables); });
}

std::string error_of_url(std::string_view url) {
  return config_error_of([&] { (void)ValkeyConfig::from_url(url); });
}

// Shorthands for gtest's substring predicates, which print both strings on failure.
#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_PRED_FORMAT2(testing::IsSubstring, std::string(needle), std::string(haystack))
#define EXPECT_LACKS(haystack, needle) \
  EXPECT_PRED_FORMAT2(testing::IsNotSubstring, std::string(needle), std::string(haystack))

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("airport_cache_config_test_" + std::to_string(::getpid()) + "_" +
             std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

  std::filesystem::path write(const std::string& name, std::string_view content) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }

 private:
  std::filesystem::path path_;
};

// Unsets every VALKEY_* variable the library reads and restores them afterwards, so that
// tests neither see the developer's settings nor leak their own.
class CleanEnvironment {
 public:
  CleanEnvironment() {
    std::vector<std::string> names{"VALKEY_URL", "VALKEY_ENV_FILE"};
    for (const auto name : config_variable_names()) {
      names.emplace_back(name);
    }
    for (const auto& name : names) {
      const char* value = std::getenv(name.c_str());
      saved_.emplace_back(name, value ? std::optional<std::string>(value) : std::nullopt);
      ::unsetenv(name.c_str());
    }
  }
  ~CleanEnvironment() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  CleanEnvironment(const CleanEnvironment&) = delete;
  CleanEnvironment& operator=(const CleanEnvironment&) = delete;

  void set(const std::string& name, const std::string& value) {
    ::setenv(name.c_str(), value.c_str(), 1);
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// Runs in `directory` and returns to the previous working directory afterwards.
class WorkingDirectory {
 public:
  explicit WorkingDirectory(const std::filesystem::path& directory)
      : previous_(std::filesystem::current_path()) {
    std::filesystem::current_path(directory);
  }
  ~WorkingDirectory() { std::filesystem::current_path(previous_); }
  WorkingDirectory(const WorkingDirectory&) = delete;
  WorkingDirectory& operator=(const WorkingDirectory&) = delete;

 private:
  std::filesystem::path previous_;
};

std::filesystem::path source_path(const std::string& relative) {
  return std::filesystem::path(AIRPORT_CACHE_SOURCE_DIR) / relative;
}

// TLS files and a CA directory that exist for the whole test run, removed at exit. validate()
// checks only that they are readable files and a directory; what is in them matters only to a
// handshake.
struct TlsFiles {
  TlsFiles()
      : ca_file(dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\n")),
        ca_dir(dir.path() / "certs"),
        cert_file(dir.write("client.pem", "-----BEGIN CERTIFICATE-----\n")),
        key_file(dir.write("client.key", "-----BEGIN PRIVATE KEY-----\n")) {
    std::filesystem::create_directories(ca_dir);
  }

  TempDir dir;
  std::filesystem::path ca_file;
  std::filesystem::path ca_dir;
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
};

const TlsFiles& tls_files() {
  static const TlsFiles files;
  return files;
}

// A valid value different from the default, for every variable.
const Variables& non_default_values() {
  static const Variables values{
      {"VALKEY_HOST", "cache.internal"},
      {"VALKEY_PORT", "6380"},
      {"VALKEY_USERNAME", "app"},
      {"VALKEY_PASSWORD", kPassword},
      {"VALKEY_DATABASE", "2"},
      {"VALKEY_OPERATION_TIMEOUT", "200ms"},
      {"VALKEY_MAX_VALUE_SIZE", "1048576"},
      {"VALKEY_MAX_CONNECTIONS", "32"},
      {"VALKEY_SOCKET_CONNECT_TIMEOUT", "2s"},
      {"VALKEY_SOCKET_TIMEOUT", "750ms"},
      {"VALKEY_POOL_TIMEOUT", "0.25"},
      {"VALKEY_HEALTH_CHECK_INTERVAL", "1m"},
      {"VALKEY_RECONNECT_BASE_DELAY", "200ms"},
      {"VALKEY_RECONNECT_MAX_DELAY", "10s"},
      {"VALKEY_IDLE_CHECK_AFTER", "1h"},
      {"VALKEY_RETRY_MAX_ATTEMPTS", "5"},
      {"VALKEY_RETRY_BASE_DELAY", "10ms"},
      {"VALKEY_RETRY_MAX_DELAY", "2s"},
      {"VALKEY_RETRY_ON_TIMEOUT", "off"},
      {"VALKEY_CIRCUIT_FAILURE_THRESHOLD", "7"},
      {"VALKEY_CIRCUIT_RECOVERY_TIMEOUT", "45s"},
      {"VALKEY_CIRCUIT_HALF_OPEN_MAX_CALLS", "1"},
      {"VALKEY_CIRCUIT_FAILURE_SPACING", "250ms"},
      {"VALKEY_CIRCUIT_INITIAL_RECOVERY_TIMEOUT", "1s"},
      {"VALKEY_FALLBACK_ENABLED", "no"},
      {"VALKEY_FALLBACK_MAX_ENTRIES", "500"},
      {"VALKEY_FALLBACK_MAX_BYTES", "1048576"},
      {"VALKEY_FALLBACK_JOURNAL_MAX_ENTRIES", "500"},
      {"VALKEY_KEY_PREFIX", "airport:prod"},
      {"VALKEY_MAX_KEY_LENGTH", "128"},
      {"VALKEY_TTL_JITTER", "0.25"},
      {"VALKEY_CLIENT_NAME", "checkin-service"},
      {"VALKEY_LOG_LEVEL", "debug"},
      {"VALKEY_TLS", "yes"},
      {"VALKEY_TLS_CA_FILE", tls_files().ca_file.string()},
      {"VALKEY_TLS_CA_DIR", tls_files().ca_dir.string()},
      {"VALKEY_TLS_CERT_FILE", tls_files().cert_file.string()},
      {"VALKEY_TLS_KEY_FILE", tls_files().key_file.string()},
      {"VALKEY_TLS_SERVER_NAME", "cache.example.com"},
      {"VALKEY_TLS_VERIFY", "false"},
      {"VALKEY_TLS_ALLOW_INSECURE", "true"},
      {"VALKEY_CLUSTER", "true"},
      {"VALKEY_CLUSTER_NODES", "cache-b.internal:7001, [::1]:7002"},
      {"VALKEY_READ_FROM", "prefer-replica"},
  };
  return values;
}

// Every variable at once, each at its value in non_default_values() but VALKEY_DATABASE, left
// out: with VALKEY_CLUSTER=true only database 0 is valid.
const Variables& all_non_default_values() {
  static const Variables values = [] {
    Variables all = non_default_values();
    all.erase("VALKEY_DATABASE");
    return all;
  }();
  return values;
}

// What a variable needs besides itself to pass validation: the TLS settings need TLS on, and a
// client certificate and its key come as a pair.
Variables companions_of(std::string_view name) {
  Variables companions;
  if (name.starts_with("VALKEY_TLS_")) {
    companions.emplace("VALKEY_TLS", "true");
  }
  if (name == "VALKEY_TLS_CERT_FILE") {
    companions.emplace("VALKEY_TLS_KEY_FILE", tls_files().key_file.string());
  }
  if (name == "VALKEY_TLS_KEY_FILE") {
    companions.emplace("VALKEY_TLS_CERT_FILE", tls_files().cert_file.string());
  }
  return companions;
}

// The "field=value" words of to_string(), in the order of config_variable_names().
std::vector<std::string> fields_of(const ValkeyConfig& config) {
  std::istringstream words(config.to_string());
  return {std::istream_iterator<std::string>(words), std::istream_iterator<std::string>()};
}

// ----- defaults -------------------------------------------------------------------------------

TEST(ValkeyConfig, DefaultsMatchTheDocumentedValues) {
  const ValkeyConfig config;
  EXPECT_EQ(config.host, "localhost");
  EXPECT_EQ(config.port, 6379);
  EXPECT_TRUE(config.username.empty());
  EXPECT_TRUE(config.password.empty());
  EXPECT_EQ(config.database, 0);
  EXPECT_EQ(config.max_connections, 16u);
  EXPECT_EQ(config.connect_timeout, 5s);
  EXPECT_EQ(config.socket_timeout, 5s);
  EXPECT_EQ(config.pool_timeout, 1s);
  EXPECT_EQ(config.health_check_interval, 30s);
  EXPECT_EQ(config.reconnect_base_delay, 100ms);
  EXPECT_EQ(config.reconnect_max_delay, 30s);
  EXPECT_EQ(config.idle_check_after, 60s);
  EXPECT_EQ(config.retry.max_attempts, 3);
  EXPECT_EQ(config.retry.base_delay, 50ms);
  EXPECT_EQ(config.retry.max_delay, 1s);
  EXPECT_TRUE(config.retry.retry_on_timeout);
  EXPECT_EQ(config.circuit_breaker.failure_threshold, 5);
  EXPECT_EQ(config.circuit_breaker.recovery_timeout, 30s);
  EXPECT_EQ(config.circuit_breaker.half_open_max_calls, 3);
  EXPECT_EQ(config.circuit_breaker.failure_spacing, 100ms);
  EXPECT_EQ(config.circuit_breaker.initial_recovery_timeout, 250ms);
  EXPECT_TRUE(config.fallback.enabled);
  EXPECT_EQ(config.fallback.max_entries, 10'000u);
  EXPECT_EQ(config.fallback.max_bytes, 64u * 1024 * 1024);
  EXPECT_TRUE(config.key_prefix.empty());
  EXPECT_EQ(config.max_key_length, 250u);
  EXPECT_DOUBLE_EQ(config.ttl_jitter, 0.1);
  EXPECT_EQ(config.client_name, "airport-cache");
  EXPECT_EQ(config.log_level, LogLevel::Info);
  EXPECT_FALSE(config.tls.enabled);
  EXPECT_TRUE(config.tls.ca_file.empty());
  EXPECT_TRUE(config.tls.ca_dir.empty());
  EXPECT_TRUE(config.tls.cert_file.empty());
  EXPECT_TRUE(config.tls.key_file.empty());
  EXPECT_TRUE(config.tls.server_name.empty());
  EXPECT_TRUE(config.tls.verify);
  EXPECT_FALSE(config.tls.allow_insecure);
  EXPECT_EQ(config.cluster.mode, ClusterMode::Auto);
  EXPECT_TRUE(config.cluster.seed_nodes.empty());
  EXPECT_EQ(config.cluster.read_from, ReadFrom::Primary);
}

TEST(ValkeyConfig, DefaultConfigIsValid) {
  EXPECT_NO_THROW(ValkeyConfig{}.validate());
}

TEST(ValkeyConfig, NoVariablesGiveTheDefaults) {
  EXPECT_EQ(ValkeyConfig::from_variables({}), ValkeyConfig{});
}

TEST(ValkeyConfig, EndpointIsHostColonPort) {
  ValkeyConfig config;
  config.host = "cache.internal";
  config.port = 6380;
  EXPECT_EQ(config.endpoint(), "cache.internal:6380");
}

// ----- variables ------------------------------------------------------------------------------

TEST(ValkeyConfig, ReadsEveryVariable) {
  const auto config = ValkeyConfig::from_variables(all_non_default_values());
  EXPECT_EQ(config.host, "cache.internal");
  EXPECT_EQ(config.port, 6380);
  EXPECT_EQ(config.username, "app");
  EXPECT_EQ(config.password.reveal(), kPassword);
  EXPECT_EQ(config.database, 0);  // left out: see all_non_default_values()
  EXPECT_EQ(config.max_connections, 32u);
  EXPECT_EQ(config.connect_timeout, 2s);
  EXPECT_EQ(config.socket_timeout, 750ms);
  EXPECT_EQ(config.pool_timeout, 250ms);
  EXPECT_EQ(config.health_check_interval, 1min);
  EXPECT_EQ(config.reconnect_base_delay, 200ms);
  EXPECT_EQ(config.reconnect_max_delay, 10s);
  EXPECT_EQ(config.idle_check_after, 1h);
  EXPECT_EQ(config.retry.max_attempts, 5);
  EXPECT_EQ(config.retry.base_delay, 10ms);
  EXPECT_EQ(config.retry.max_delay, 2s);
  EXPECT_FALSE(config.retry.retry_on_timeout);
  EXPECT_EQ(config.circuit_breaker.failure_threshold, 7);
  EXPECT_EQ(config.circuit_breaker.recovery_timeout, 45s);
  EXPECT_EQ(config.circuit_breaker.half_open_max_calls, 1);
  EXPECT_EQ(config.circuit_breaker.failure_spacing, 250ms);
  EXPECT_EQ(config.circuit_breaker.initial_recovery_timeout, 1s);
  EXPECT_FALSE(config.fallback.enabled);
  EXPECT_EQ(config.fallback.max_entries, 500u);
  EXPECT_EQ(config.fallback.max_bytes, 1'048'576u);
  EXPECT_EQ(config.key_prefix, "airport:prod");
  EXPECT_EQ(config.max_key_length, 128u);
  EXPECT_DOUBLE_EQ(config.ttl_jitter, 0.25);
  EXPECT_EQ(config.client_name, "checkin-service");
  EXPECT_EQ(config.log_level, LogLevel::Debug);
  EXPECT_TRUE(config.tls.enabled);
  EXPECT_EQ(config.tls.ca_file, tls_files().ca_file.string());
  EXPECT_EQ(config.tls.ca_dir, tls_files().ca_dir.string());
  EXPECT_EQ(config.tls.cert_file, tls_files().cert_file.string());
  EXPECT_EQ(config.tls.key_file, tls_files().key_file.string());
  EXPECT_EQ(config.tls.server_name, "cache.example.com");
  EXPECT_FALSE(config.tls.verify);
  EXPECT_TRUE(config.tls.allow_insecure);
  EXPECT_EQ(config.cluster.mode, ClusterMode::On);
  EXPECT_EQ(config.cluster.seed_nodes,
            (std::vector<std::string>{"cache-b.internal:7001", "[::1]:7002"}));
  EXPECT_EQ(config.cluster.read_from, ReadFrom::PreferReplica);
}

TEST(ValkeyConfig, EveryVariableInTheTableChangesItsOwnField) {
  const auto names = config_variable_names();
  EXPECT_EQ(names.size(), 44u);
  EXPECT_EQ(names.size(), non_default_values().size());
  const auto defaults = fields_of(ValkeyConfig{});
  ASSERT_EQ(defaults.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto value = non_default_values().find(names[i]);
    ASSERT_NE(value, non_default_values().end()) << names[i];
    auto variables = companions_of(names[i]);
    variables.insert(*value);
    const auto fields = fields_of(ValkeyConfig::from_variables(variables));
    ASSERT_EQ(fields.size(), names.size()) << names[i];
    EXPECT_NE(fields[i], defaults[i]) << names[i];
  }
}

TEST(ValkeyConfig, ReadsEveryTlsVariable) {
  const auto& files = tls_files();
  const auto config = ValkeyConfig::from_variables({
      {"VALKEY_HOST", "cache.example.com"},
      {"VALKEY_TLS", "on"},
      {"VALKEY_TLS_CA_FILE", files.ca_file.string()},
      {"VALKEY_TLS_CA_DIR", files.ca_dir.string()},
      {"VALKEY_TLS_CERT_FILE", files.cert_file.string()},
      {"VALKEY_TLS_KEY_FILE", files.key_file.string()},
      {"VALKEY_TLS_SERVER_NAME", "valkey.internal"},
      {"VALKEY_TLS_VERIFY", "0"},
      {"VALKEY_TLS_ALLOW_INSECURE", "YES"},
  });
  TlsOptions expected;
  expected.enabled = true;
  expected.ca_file = files.ca_file.string();
  expected.ca_dir = files.ca_dir.string();
  expected.cert_file = files.cert_file.string();
  expected.key_file = files.key_file.string();
  expected.server_name = "valkey.internal";
  expected.verify = false;
  expected.allow_insecure = true;
  EXPECT_EQ(config.tls, expected);
}

TEST(ValkeyConfig, RejectsAnUnknownTlsBooleanNamingTheVariable) {
  EXPECT_EQ(error_of_variables({{"VALKEY_TLS", "maybe"}}),
            "VALKEY_TLS='maybe': not a boolean: use true/false, 1/0, yes/no or on/off");
  EXPECT_CONTAINS(error_of_variables({{"VALKEY_TLS", "true"}, {"VALKEY_TLS_VERIFY", "nope"}}),
                  "VALKEY_TLS_VERIFY='nope': not a boolean");
}

TEST(ValkeyConfig, IgnoresUnknownVariables) {
  EXPECT_EQ(ValkeyConfig::from_variables({{"VALKEY_SOMETHING_ELSE", "x"}, {"PATH", "/bin"}}),
            ValkeyConfig{});
}

TEST(ValkeyConfig, AcceptsEveryDurationForm) {
  const std::vector<std::pair<std::string, std::chrono::milliseconds>> forms{
      {"5", 5s},        {"0.25", 250ms}, {"250ms", 250ms}, {"5s", 5s},
      {"1.5s", 1500ms}, {"2m", 2min},    {"1h", 1h},       {"0", 0ms}};
  for (const auto& [text, expected] : forms) {
    const auto config = ValkeyConfig::from_variables({{"VALKEY_POOL_TIMEOUT", text}});
    EXPECT_EQ(config.pool_timeout, expected) << text;
  }
}

TEST(ValkeyConfig, AcceptsEveryBooleanFormInAnyCase) {
  for (const std::string yes : {"true", "TRUE", "1", "yes", "Yes", "on", "ON"}) {
    EXPECT_TRUE(ValkeyConfig::from_variables({{"VALKEY_FALLBACK_ENABLED", yes}}).fallback.enabled)
        << yes;
  }
  for (const std::string no : {"false", "False", "0", "no", "NO", "off", "Off"}) {
    EXPECT_FALSE(ValkeyConfig::from_variables({{"VALKEY_FALLBACK_ENABLED", no}}).fallback.enabled)
        << no;
  }
}

TEST(ValkeyConfig, RejectsAnUnknownBooleanNamingTheVariable) {
  const auto message = error_of_variables({{"VALKEY_RETRY_ON_TIMEOUT", "maybe"}});
  EXPECT_CONTAINS(message, "VALKEY_RETRY_ON_TIMEOUT='maybe'");
  EXPECT_CONTAINS(message, "not a boolean");
}

TEST(ValkeyConfig, AcceptsEveryLogLevelName) {
  const std::vector<std::pair<std::string, LogLevel>> names{
      {"trace", LogLevel::Trace},       {"debug", LogLevel::Debug},  {"info", LogLevel::Info},
      {"warn", LogLevel::Warn},         {"warning", LogLevel::Warn}, {"error", LogLevel::Error},
      {"critical", LogLevel::Critical}, {"off", LogLevel::Off},      {"INFO", LogLevel::Info}};
  for (const auto& [text, level] : names) {
    EXPECT_EQ(ValkeyConfig::from_variables({{"VALKEY_LOG_LEVEL", text}}).log_level, level) << text;
  }
}

TEST(ValkeyConfig, RejectsAnUnknownLogLevelNamingTheVariable) {
  const auto message = error_of_variables({{"VALKEY_LOG_LEVEL", "verbose"}});
  EXPECT_CONTAINS(message, "VALKEY_LOG_LEVEL='verbose'");
  EXPECT_CONTAINS(message, "not a log level");
}

// ----- validation through variables -----------------------------------------------------------

TEST(ValkeyConfig, RejectsPortOutOfRangeNamingTheVariable) {
  EXPECT_EQ(error_of_variables({{"VALKEY_PORT", "70000"}}), "VALKEY_PORT='70000': must be 1-65535");
  EXPECT_CONTAINS(error_of_variables({{"VALKEY_PORT", "0"}}), "VALKEY_PORT='0': must be 1-65535");
}

TEST(ValkeyConfig, RejectsANonNumberNamingTheVariable) {
  EXPECT_EQ(error_of_variables({{"VALKEY_PORT", "abc"}}), "VALKEY_PORT='abc': not a whole number");
  EXPECT_CONTAINS(error_of_variables({{"VALKEY_MAX_CONNECTIONS", ""}}),
                  "VALKEY_MAX_CONNECTIONS='': not a whole number");
}

TEST(ValkeyConfig, RejectsTrailingGarbageAfterANumber) {
  EXPECT_CONTAINS(error_of_variables({{"VALKEY_PORT", "12abc"}}), "VALKEY_PORT='12abc'");
  EXPECT_CONTAINS(error_of_variables({{"VALKEY_DATABASE", "1 "}}), "VALKEY_DATABASE='1 '");
  EXPECT_CONTAINS(error_of_variables({{"VALKEY_TTL_JITTER", "0.1x"}}), "VALKEY_TTL_JITTER='0.1x'");
  EXPECT_CONTAINS(error_of_variables({{"VALKEY_SOCKET_TIMEOUT", "5sec"}}),
                  "VALKEY_SOCKET_TIMEOUT='5sec': not a duration");
}

TEST(ValkeyConfig, RejectsANumberTooLargeForItsField) {
  EXPECT_CONTAINS(error_of_variables({{"VALKEY_PORT", "99999999999999"}}), "out of range");
}

TEST(ValkeyConfig, RejectsANegativeTimeoutNamingTheVariable) {
  EXPECT_EQ(error_of_variables({{"VALKEY_SOCKET_TIMEOUT", "-5s"}}),
            "VALKEY_SOCKET_TIMEOUT='-5s': must not be negative");
}

TEST(ValkeyConfig, RejectsAZeroSocketTimeout) {
  EXPECT_CONTAINS(error_of_variables({{"VALKEY_SOCKET_TIMEOUT", "0"}}),
                  "VALKEY_SOCKET_TIMEOUT='0': must be positive");
}

TEST(ValkeyConfig, RejectsAPoolSizeOfZero) {
  EXPECT_EQ(error_of_variables({{"VALKEY_MAX_CONNECTIONS", "0"}}),
            "VALKEY_MAX_CONNECTIONS='0': must be >= 1");
  EXPECT_CONTAINS(error_of_variables({{"VALKEY_MAX_CONNECTIONS", "-1"}}),
                  "VALKEY_MAX_CONNECTIONS='-1'");
}

TEST(ValkeyConfig, RejectsAJitterRatioOutsideZeroToOne) {
  for (const std::string ratio : {"1", "1.5", "-0.1", "nan", "inf"}) {
    EXPECT_CONTAINS(error_of_variables({{"VALKEY_TTL_JITTER", ratio}}),
                    "VALKEY_TTL_JITTER='" + ratio + "'");
  }
  EXPECT_EQ(error_of_variables({{"VALKEY_TTL_JITTER", "1"}}),
            "VALKEY_TTL_JITTER='1': must be in [0, 1)");
  EXPECT_DOUBLE_EQ(ValkeyConfig::from_variables({{"VALKEY_TTL_JITTER", "0"}}).ttl_jitter, 0.0);
}

TEST(ValkeyConfig, RejectsANegativeDatabase) {
  EXPECT_EQ(error_of_variables({{"VALKEY_DATABASE", "-1"}}), "VALKEY_DATABASE='-1': must be >= 0");
}

TEST(ValkeyConfig, RejectsAFailureThresholdBelowOne) {
  EXPECT_EQ(error_of_variables({{"VALKEY_CIRCUIT_FAILURE_THRESHOLD", "0"}}),
            "VALKEY_CIRCUIT_FAILURE_THRESHOLD='0': must be >= 1");
}

TEST(ValkeyConfig, RejectsHalfOpenMaxCallsBelowOne) {
  EXPECT_EQ(error_of_variables({{"VALKEY_CIRCUIT_HALF_OPEN_MAX_CALLS", "0"}}),
            "VALKEY_CIRCUIT_HALF_OPEN_MAX_CALLS='0': must be >= 1");
}

TEST(ValkeyConfig, RejectsAZeroInitialRecoveryTimeoutNamingTheVariable) {
  EXPECT_EQ(error_of_variables({{"VALKEY_CIRCUIT_INITIAL_RECOVERY_TIMEOUT", "0ms"}}),
            "VALKEY_CIRCUIT_INITIAL_RECOVERY_TIMEOUT='0ms': must be positive");
}

TEST(ValkeyConfig, AcceptsAFailureSpacingOfZero) {
  const auto config = ValkeyConfig::from_variables({{"VALKEY_CIRCUIT_FAILURE_SPACING", "0ms"}});
  EXPECT_EQ(config.circuit_breaker.failure_spacing, 0ms);
}

TEST(ValkeyConfig, RejectsRetryMaxAttemptsBelowOne) {
  EXPECT_EQ(error_of_variables({{"VALKEY_RETRY_MAX_ATTEMPTS", "0"}}),
            "VALKEY_RETRY_MAX_ATTEMPTS='0': must be >= 1");
}

TEST(ValkeyConfig, RejectsARetryBaseDelayAboveTheMaxDelayNamingBoth) {
  EXPECT_EQ(
      error_of_variables({{"VALKEY_RETRY_BASE_DELAY", "2s"}, {"VALKEY_RETRY_MAX_DELAY", "1s"}}),
      "VALKEY_RETRY_BASE_DELAY='2s': must not exceed VALKEY_RETRY_MAX_DELAY='1s'");
  // Against a default, the message says which value is the default.
  EXPECT_EQ(
      error_of_variables({{"VALKEY_RETRY_MAX_DELAY", "10ms"}}),
      "VALKEY_RETRY_BASE_DELAY=50ms (default): must not exceed VALKEY_RETRY_MAX_DELAY='10ms'");
}

TEST(ValkeyConfig, RejectsAReconnectBaseDelayAboveTheMaxDelay) {
  EXPECT_CONTAINS(error_of_variables({{"VALKEY_RECONNECT_BASE_DELAY", "1m"}}),
                  "VALKEY_RECONNECT_BASE_DELAY='1m': must not exceed VALKEY_RECONNECT_MAX_DELAY");
}

TEST(ValkeyConfig, RejectsAnEmptyHost) {
  EXPECT_EQ(error_of_variables({{"VALKEY_HOST", ""}}), "VALKEY_HOST='': must not be empty");
}

TEST(ValkeyConfig, RejectsAHostWithBlanksOrControlCharactersNamingTheVariable) {
  EXPECT_EQ(error_of_variables({{"VALKEY_HOST", "h h"}}),
            "VALKEY_HOST='h h': must be a host name or an IP address");
  EXPECT_EQ(error_of_variables({{"VALKEY_HOST", "cache\r\n"}}),
            "VALKEY_HOST='cache\\x0d\\n': must be a host name or an IP address");
  for (const std::string& host :
       std::vector<std::string>{" cache", "cache ", "ca\tche", "[::1]", "h:6379", "fe80::1%",
                                std::string("h\0", 2), "valkey://h"}) {
    EXPECT_CONTAINS(error_of_variables({{"VALKEY_HOST", host}}),
                    "must be a host name or an IP address")
        << host;
  }
}

TEST(ValkeyConfig, AcceptsHostNamesAndBothIpFamiliesAsTheHost) {
  for (const std::string host :
       {"localhost", "cache.internal", "cache-01.prod_net", "10.0.0.7", "::1", "fe80::1%eth0",
        "2001:db8::ffff:10.0.0.7", "CACHE.INTERNAL"}) {
    EXPECT_EQ(ValkeyConfig::from_variables({{"VALKEY_HOST", host}}).host, host);
  }
}

TEST(ValkeyConfig, RejectsAPortOfZeroOr65536AndAcceptsTheBounds) {
  EXPECT_EQ(error_of_variables({{"VALKEY_PORT", "65536"}}), "VALKEY_PORT='65536': must be 1-65535");
  EXPECT_EQ(error_of_variables({{"VALKEY_PORT", "0"}}), "VALKEY_PORT='0': must be 1-65535");
  EXPECT_EQ(ValkeyConfig::from_variables({{"VALKEY_PORT", "1"}}).port, 1);
  EXPECT_EQ(ValkeyConfig::from_variables({{"VALKEY_PORT", "65535"}}).port, 65535);
}

TEST(ValkeyConfig, RejectsAMaxKeyLengthBelow32) {
  EXPECT_EQ(error_of_variables({{"VALKEY_MAX_KEY_LENGTH", "31"}}),
            "VALKEY_MAX_KEY_LENGTH='31': must be >= 32");
  EXPECT_EQ(ValkeyConfig::from_variables({{"VALKEY_MAX_KEY_LENGTH", "32"}}).max_key_length, 32u);
}

TEST(ValkeyConfig, RejectsAClientNameThatClientSetnameWouldRefuse) {
  EXPECT_CONTAINS(error_of_variables({{"VALKEY_CLIENT_NAME", "check in"}}),
                  "VALKEY_CLIENT_NAME='check in'");
  EXPECT_EQ(ValkeyConfig::from_variables({{"VALKEY_CLIENT_NAME", ""}}).client_name, "");
}

// ----- validate() on a hand-built struct ------------------------------------------------------

TEST(ValkeyConfig, ValidateNamesTheFieldOfAHandBuiltConfig) {
  ValkeyConfig config;
  config.port = 70000;
  EXPECT_EQ(config_error_of([&] { config.validate(); }),
            "ValkeyConfig.port = 70000: must be 1-65535");
}

TEST(ValkeyConfig, ValidateRejectsEachInvalidField) {
  struct Case {
    void (*break_it)(ValkeyConfig&);
    std::string expected;
  };
  const std::vector<Case> cases{
      {[](ValkeyConfig& c) { c.host.clear(); }, "ValkeyConfig.host = \"\": must not be empty"},
      {[](ValkeyConfig& c) { c.host = "h h"; },
       "ValkeyConfig.host = \"h h\": must be a host name or an IP address"},
      {[](ValkeyConfig& c) { c.host = "h\n"; },
       "ValkeyConfig.host = \"h\\n\": must be a host name or an IP address"},
      {[](ValkeyConfig& c) { c.port = 65536; }, "ValkeyConfig.port = 65536: must be 1-65535"},
      {[](ValkeyConfig& c) { c.port = 0; }, "ValkeyConfig.port = 0: must be 1-65535"},
      {[](ValkeyConfig& c) { c.database = -1; }, "ValkeyConfig.database = -1: must be >= 0"},
      {[](ValkeyConfig& c) { c.max_connections = 0; },
       "ValkeyConfig.max_connections = 0: must be >= 1"},
      {[](ValkeyConfig& c) { c.connect_timeout = -1ms; },
       "ValkeyConfig.connect_timeout = -1ms: must be positive"},
      {[](ValkeyConfig& c) { c.pool_timeout = -2s; },
       "ValkeyConfig.pool_timeout = -2s: must not be negative"},
      {[](ValkeyConfig& c) { c.health_check_interval = 0ms; },
       "ValkeyConfig.health_check_interval = 0s: must be positive"},
      {[](ValkeyConfig& c) { c.idle_check_after = -1ms; },
       "ValkeyConfig.idle_check_after = -1ms: must not be negative"},
      {[](ValkeyConfig& c) { c.retry.max_attempts = 0; },
       "ValkeyConfig.retry.max_attempts = 0: must be >= 1"},
      {[](ValkeyConfig& c) { c.retry.base_delay = 2s; },
       "ValkeyConfig.retry.base_delay = 2s: must not exceed ValkeyConfig.retry.max_delay = 1s"},
      {[](ValkeyConfig& c) { c.reconnect_max_delay = 10ms; },
       "ValkeyConfig.reconnect_base_delay = 100ms: must not exceed "
       "ValkeyConfig.reconnect_max_delay = 10ms"},
      {[](ValkeyConfig& c) { c.circuit_breaker.failure_threshold = 0; },
       "ValkeyConfig.circuit_breaker.failure_threshold = 0: must be >= 1"},
      {[](ValkeyConfig& c) { c.circuit_breaker.recovery_timeout = 0s; },
       "ValkeyConfig.circuit_breaker.recovery_timeout = 0s: must be positive"},
      {[](ValkeyConfig& c) { c.circuit_breaker.half_open_max_calls = 0; },
       "ValkeyConfig.circuit_breaker.half_open_max_calls = 0: must be >= 1"},
      {[](ValkeyConfig& c) { c.circuit_breaker.failure_spacing = -1ms; },
       "ValkeyConfig.circuit_breaker.failure_spacing = -1ms: must not be negative"},
      {[](ValkeyConfig& c) { c.circuit_breaker.initial_recovery_timeout = 0ms; },
       "ValkeyConfig.circuit_breaker.initial_recovery_timeout = 0s: must be positive"},
      {[](ValkeyConfig& c) { c.max_key_length = 16; },
       "ValkeyConfig.max_key_length = 16: must be >= 32"},
      {[](ValkeyConfig& c) { c.ttl_jitter = 1.0; },
       "ValkeyConfig.ttl_jitter = 1: must be in [0, 1)"},
      {[](ValkeyConfig& c) { c.ttl_jitter = std::numeric_limits<double>::quiet_NaN(); },
       "ValkeyConfig.ttl_jitter = nan: must be in [0, 1)"},
      {[](ValkeyConfig& c) { c.client_name = "a\nb"; },
       "ValkeyConfig.client_name = \"a\\nb\": must not contain spaces or special characters"},
      {[](ValkeyConfig& c) { c.log_level = static_cast<LogLevel>(42); },
       "ValkeyConfig.log_level = LogLevel(42): is not a LogLevel"},
  };
  for (const auto& [break_it, expected] : cases) {
    ValkeyConfig config;
    break_it(config);
    EXPECT_EQ(config_error_of([&] { config.validate(); }), expected);
  }
}

// ----- TLS validation -------------------------------------------------------------------------

TEST(ValkeyConfig, RejectsACertificateWithoutItsKeyNamingBoth) {
  const auto cert = tls_files().cert_file.string();
  EXPECT_EQ(error_of_variables({{"VALKEY_TLS", "true"}, {"VALKEY_TLS_CERT_FILE", cert}}),
            "VALKEY_TLS_CERT_FILE='" + cert +
                "': is set without VALKEY_TLS_KEY_FILE; a client certificate needs its private "
                "key");
}

TEST(ValkeyConfig, RejectsAKeyWithoutItsCertificateNamingBoth) {
  const auto key = tls_files().key_file.string();
  EXPECT_EQ(error_of_variables({{"VALKEY_TLS", "true"}, {"VALKEY_TLS_KEY_FILE", key}}),
            "VALKEY_TLS_KEY_FILE='" + key +
                "': is set without VALKEY_TLS_CERT_FILE; a private key needs its client "
                "certificate");
}

TEST(ValkeyConfig, AcceptsExistingTlsFilesAndCaDirectory) {
  const auto& files = tls_files();
  const auto config =
      ValkeyConfig::from_variables({{"VALKEY_TLS", "true"},
                                    {"VALKEY_TLS_CA_FILE", files.ca_file.string()},
                                    {"VALKEY_TLS_CA_DIR", files.ca_dir.string()},
                                    {"VALKEY_TLS_CERT_FILE", files.cert_file.string()},
                                    {"VALKEY_TLS_KEY_FILE", files.key_file.string()}});
  EXPECT_EQ(config.tls.ca_dir, files.ca_dir.string());
  EXPECT_NO_THROW(config.validate());
}

TEST(ValkeyConfig, RejectsAMissingTlsFileNamingTheVariableAndThePath) {
  const TempDir dir;
  const auto missing = (dir.path() / "missing.pem").string();
  const auto& files = tls_files();
  EXPECT_EQ(error_of_variables({{"VALKEY_TLS", "true"}, {"VALKEY_TLS_CA_FILE", missing}}),
            "VALKEY_TLS_CA_FILE='" + missing + "': no such file");
  EXPECT_EQ(error_of_variables({{"VALKEY_TLS", "true"},
                                {"VALKEY_TLS_CERT_FILE", missing},
                                {"VALKEY_TLS_KEY_FILE", files.key_file.string()}}),
            "VALKEY_TLS_CERT_FILE='" + missing + "': no such file");
  EXPECT_EQ(error_of_variables({{"VALKEY_TLS", "true"},
                                {"VALKEY_TLS_CERT_FILE", files.cert_file.string()},
                                {"VALKEY_TLS_KEY_FILE", missing}}),
            "VALKEY_TLS_KEY_FILE='" + missing + "': no such file");
}

TEST(ValkeyConfig, RejectsADirectoryAsATlsFile) {
  const TempDir dir;
  const auto directory = dir.path().string();
  EXPECT_EQ(error_of_variables({{"VALKEY_TLS", "true"}, {"VALKEY_TLS_CA_FILE", directory}}),
            "VALKEY_TLS_CA_FILE='" + directory + "': is not a regular file");
  EXPECT_EQ(error_of_variables({{"VALKEY_TLS", "true"},
                                {"VALKEY_TLS_CERT_FILE", tls_files().cert_file.string()},
                                {"VALKEY_TLS_KEY_FILE", directory}}),
            "VALKEY_TLS_KEY_FILE='" + directory + "': is not a regular file");
}

TEST(ValkeyConfig, RejectsACaDirectoryThatIsNotADirectory) {
  const TempDir dir;
  const auto missing = (dir.path() / "missing").string();
  EXPECT_EQ(error_of_variables({{"VALKEY_TLS", "true"}, {"VALKEY_TLS_CA_DIR", missing}}),
            "VALKEY_TLS_CA_DIR='" + missing + "': no such directory");
  const auto file = tls_files().ca_file.string();
  EXPECT_EQ(error_of_variables({{"VALKEY_TLS", "true"}, {"VALKEY_TLS_CA_DIR", file}}),
            "VALKEY_TLS_CA_DIR='" + file + "': is not a directory");
}

TEST(ValkeyConfig, RejectsEveryTlsSettingWhileTlsIsOff) {
  const auto& files = tls_files();
  const std::vector<std::pair<std::string, std::string>> settings{
      {"VALKEY_TLS_CA_FILE", files.ca_file.string()},
      {"VALKEY_TLS_CA_DIR", files.ca_dir.string()},
      {"VALKEY_TLS_CERT_FILE", files.cert_file.string()},
      {"VALKEY_TLS_KEY_FILE", files.key_file.string()},
      {"VALKEY_TLS_SERVER_NAME", "cache.example.com"},
      {"VALKEY_TLS_VERIFY", "false"},
      {"VALKEY_TLS_ALLOW_INSECURE", "true"}};
  for (const auto& [name, value] : settings) {
    EXPECT_EQ(error_of_variables({{name, value}}),
              name + "='" + value +
                  "': is set but TLS is off; set VALKEY_TLS=true or use a valkeys:// URL");
    // A plain URL turns TLS off just as VALKEY_TLS=false does.
    EXPECT_CONTAINS(error_of_variables({{"VALKEY_URL", "valkey://h"}, {name, value}}),
                    name + "='" + value + "': is set but TLS is off");
    EXPECT_CONTAINS(error_of_variables({{"VALKEY_TLS", "false"}, {name, value}}),
                    name + "='" + value + "': is set but TLS is off");
  }
  // Their defaults, written out, are not settings.
  EXPECT_EQ(ValkeyConfig::from_variables({{"VALKEY_TLS_CA_FILE", ""},
                                          {"VALKEY_TLS_VERIFY", "true"},
                                          {"VALKEY_TLS_ALLOW_INSECURE", "false"}}),
            ValkeyConfig{});
}

TEST(ValkeyConfig, AcceptsVerifyOffOnALoopbackHost) {
  for (const std::string host : {"localhost", "LocalHost", "127.0.0.1", "127.1.2.3",
                                 "127.255.255.255", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"}) {
    const auto config = ValkeyConfig::from_variables(
        {{"VALKEY_HOST", host}, {"VALKEY_TLS", "true"}, {"VALKEY_TLS_VERIFY", "false"}});
    EXPECT_FALSE(config.tls.verify) << host;
  }
  EXPECT_FALSE(ValkeyConfig::from_variables(
                   {{"VALKEY_URL", "valkeys://[::1]:6380"}, {"VALKEY_TLS_VERIFY", "false"}})
                   .tls.verify);
}

TEST(ValkeyConfig, RejectsVerifyOffOnARemoteHostUnlessInsecureIsAllowed) {
  EXPECT_EQ(error_of_variables({{"VALKEY_HOST", "cache.example.com"},
                                {"VALKEY_TLS", "true"},
                                {"VALKEY_TLS_VERIFY", "false"}}),
            "VALKEY_TLS_VERIFY='false': is refused for VALKEY_HOST='cache.example.com', which is "
            "not loopback; set VALKEY_TLS_ALLOW_INSECURE=true to allow it");
  // Names that merely look like loopback are remote.
  for (const std::string host : {"128.0.0.1", "10.0.0.7", "::2", "localhost.example.com",
                                 "127.0.0.1.example.com", "::ffff:10.0.0.7"}) {
    EXPECT_CONTAINS(
        error_of_variables(
            {{"VALKEY_HOST", host}, {"VALKEY_TLS", "true"}, {"VALKEY_TLS_VERIFY", "false"}}),
        "VALKEY_TLS_VERIFY='false': is refused for VALKEY_HOST='" + host + "'")
        << host;
  }
  EXPECT_EQ(error_of_variables(
                {{"VALKEY_URL", "valkeys://cache.example.com"}, {"VALKEY_TLS_VERIFY", "off"}}),
            "VALKEY_TLS_VERIFY='off': is refused for VALKEY_HOST=cache.example.com (from "
            "VALKEY_URL), which is not loopback; set VALKEY_TLS_ALLOW_INSECURE=true to allow it");
  const auto config = ValkeyConfig::from_variables({{"VALKEY_URL", "valkeys://cache.example.com"},
                                                    {"VALKEY_TLS_VERIFY", "off"},
                                                    {"VALKEY_TLS_ALLOW_INSECURE", "on"}});
  EXPECT_FALSE(config.tls.verify);
  EXPECT_TRUE(config.tls.allow_insecure);
}

TEST(ValkeyConfig, RejectsATlsServerNameThatIsNotAHostName) {
  EXPECT_EQ(error_of_variables({{"VALKEY_TLS", "true"}, {"VALKEY_TLS_SERVER_NAME", "cache host"}}),
            "VALKEY_TLS_SERVER_NAME='cache host': must be a host name or an IP address");
  EXPECT_CONTAINS(
      error_of_variables({{"VALKEY_TLS", "true"}, {"VALKEY_TLS_SERVER_NAME", "cache\n"}}),
      "VALKEY_TLS_SERVER_NAME='cache\\n': must be a host name or an IP address");
  EXPECT_EQ(ValkeyConfig::from_variables(
                {{"VALKEY_TLS", "true"}, {"VALKEY_TLS_SERVER_NAME", "valkey-0.cache_svc.local"}})
                .tls.server_name,
            "valkey-0.cache_svc.local");
}

TEST(ValkeyConfig, ValidateNamesTheTlsFieldOfAHandBuiltConfig) {
  const auto missing = (tls_files().dir.path() / "missing.pem").string();
  struct Case {
    void (*break_it)(ValkeyConfig&, const std::string& missing);
    std::string expected;
  };
  const std::vector<Case> cases{
      {[](ValkeyConfig& c, const std::string&) { c.tls.server_name = "h"; },
       "ValkeyConfig.tls.server_name = h: is set but TLS is off; set "
       "ValkeyConfig.tls.enabled=true or use a valkeys:// URL"},
      {[](ValkeyConfig& c, const std::string&) {
         c.tls.enabled = true;
         c.tls.cert_file = tls_files().cert_file.string();
       },
       "ValkeyConfig.tls.cert_file = " + tls_files().cert_file.string() +
           ": is set without ValkeyConfig.tls.key_file; a client certificate needs its private "
           "key"},
      {[](ValkeyConfig& c, const std::string& path) {
         c.tls.enabled = true;
         c.tls.ca_file = path;
       },
       "ValkeyConfig.tls.ca_file = " + missing + ": no such file"},
      {[](ValkeyConfig& c, const std::string& path) {
         c.tls.enabled = true;
         c.tls.ca_dir = path;
       },
       "ValkeyConfig.tls.ca_dir = " + missing + ": no such directory"},
      {[](ValkeyConfig& c, const std::string&) {
         c.tls.enabled = true;
         c.tls.server_name = "a b";
       },
       "ValkeyConfig.tls.server_name = \"a b\": must be a host name or an IP address"},
      {[](ValkeyConfig& c, const std::string&) {
         c.host = "cache.example.com";
         c.tls.enabled = true;
         c.tls.verify = false;
       },
       "ValkeyConfig.tls.verify = false: is refused for ValkeyConfig.host = cache.example.com, "
       "which is not loopback; set ValkeyConfig.tls.allow_insecure=true to allow it"},
  };
  for (const auto& [break_it, expected] : cases) {
    ValkeyConfig config;
    break_it(config, missing);
    EXPECT_EQ(config_error_of([&] { config.validate(); }), expected);
  }
}

TEST(ValkeyConfig, TlsErrorsNeverShowThePassword) {
  EXPECT_LACKS(error_of_variables(
                   {{"VALKEY_URL", std::string("valkeys://:") + kPassword + "@cache.example.com"},
                    {"VALKEY_TLS_VERIFY", "false"}}),
               kPassword);
  EXPECT_LACKS(error_of_variables({{"VALKEY_URL", std::string("valkey://:") + kPassword + "@h"},
                                   {"VALKEY_TLS_SERVER_NAME", "h"}}),
               kPassword);
}

// ----- cluster --------------------------------------------------------------------------------

TEST(ValkeyConfig, ReadsEveryClusterVariable) {
  const auto config =
      ValkeyConfig::from_variables({{"VALKEY_CLUSTER", "true"},
                                    {"VALKEY_CLUSTER_NODES", "cache-b:7001,cache-c:7002"},
                                    {"VALKEY_READ_FROM", "replica"}});
  ClusterOptions expected;
  expected.mode = ClusterMode::On;
  expected.seed_nodes = {"cache-b:7001", "cache-c:7002"};
  expected.read_from = ReadFrom::Replica;
  EXPECT_EQ(config.cluster, expected);
}

TEST(ValkeyConfig, AcceptsAutoAndEveryBooleanFormAsTheClusterMode) {
  for (const std::string text : {"auto", "AUTO", "Auto"}) {
    EXPECT_EQ(ValkeyConfig::from_variables({{"VALKEY_CLUSTER", text}}).cluster.mode,
              ClusterMode::Auto)
        << text;
  }
  for (const std::string text : {"true", "TRUE", "1", "yes", "Yes", "on", "ON"}) {
    EXPECT_EQ(ValkeyConfig::from_variables({{"VALKEY_CLUSTER", text}}).cluster.mode,
              ClusterMode::On)
        << text;
  }
  for (const std::string text : {"false", "False", "0", "no", "NO", "off", "Off"}) {
    EXPECT_EQ(ValkeyConfig::from_variables({{"VALKEY_CLUSTER", text}}).cluster.mode,
              ClusterMode::Off)
        << text;
  }
}

TEST(ValkeyConfig, RejectsAnUnknownClusterModeNamingTheVariable) {
  EXPECT_EQ(error_of_variables({{"VALKEY_CLUSTER", "maybe"}}),
            "VALKEY_CLUSTER='maybe': not a cluster mode: use auto, true or false (or 1/0, yes/no, "
            "on/off)");
  for (const std::string text : {"", " auto", "automatic", "cluster", "2"}) {
    EXPECT_CONTAINS(error_of_variables({{"VALKEY_CLUSTER", text}}),
                    "VALKEY_CLUSTER='" + text + "': not a cluster mode")
        << text;
  }
}

TEST(ValkeyConfig, AcceptsEveryReadFromNameInAnyCase) {
  const std::vector<std::pair<std::string, ReadFrom>> names{
      {"primary", ReadFrom::Primary},
      {"replica", ReadFrom::Replica},
      {"prefer-replica", ReadFrom::PreferReplica},
      {"PRIMARY", ReadFrom::Primary},
      {"Replica", ReadFrom::Replica},
      {"Prefer-Replica", ReadFrom::PreferReplica}};
  for (const auto& [text, read_from] : names) {
    EXPECT_EQ(ValkeyConfig::from_variables({{"VALKEY_READ_FROM", text}}).cluster.read_from,
              read_from)
        << text;
  }
}

TEST(ValkeyConfig, RejectsAnUnknownReadFromNamingTheVariable) {
  EXPECT_EQ(error_of_variables({{"VALKEY_READ_FROM", "prefer_replica"}}),
            "VALKEY_READ_FROM='prefer_replica': not a read preference: use primary, replica or "
            "prefer-replica");
  for (const std::string text : {"", "master", "slave", "replicas", "preferreplica"}) {
    EXPECT_CONTAINS(error_of_variables({{"VALKEY_READ_FROM", text}}),
                    "VALKEY_READ_FROM='" + text + "': not a read preference")
        << text;
  }
}

TEST(ValkeyConfig, SplitsTheSeedNodesAtCommasAndTrimsBlanks) {
  EXPECT_EQ(ValkeyConfig::from_variables(
                {{"VALKEY_CLUSTER_NODES", " cache-b:7001 ,\tcache-c:7002,[::1]:7003 "}})
                .cluster.seed_nodes,
            (std::vector<std::string>{"cache-b:7001", "cache-c:7002", "[::1]:7003"}));
  EXPECT_EQ(
      ValkeyConfig::from_variables({{"VALKEY_CLUSTER_NODES", "cache-b:7001"}}).cluster.seed_nodes,
      (std::vector<std::string>{"cache-b:7001"}));
  // An empty or blank value is an empty list, and fine even with cluster mode off.
  for (const std::string text : {"", " ", "\t"}) {
    EXPECT_EQ(
        ValkeyConfig::from_variables({{"VALKEY_CLUSTER", "false"}, {"VALKEY_CLUSTER_NODES", text}}),
        ValkeyConfig::from_variables({{"VALKEY_CLUSTER", "false"}}))
        << '"' << text << '"';
  }
}

TEST(ValkeyConfig, AcceptsHostNamesAndBothIpFamiliesInSeedNodes) {
  const std::vector<std::string> nodes{"cache-01.prod_net:7000", "10.0.0.7:6379",    "[::1]:7001",
                                       "[fe80::1%eth0]:7002",    "CACHE.INTERNAL:1", "h:65535"};
  std::string text;
  for (const auto& node : nodes) {
    text += (text.empty() ? "" : ",") + node;
  }
  EXPECT_EQ(ValkeyConfig::from_variables({{"VALKEY_CLUSTER_NODES", text}}).cluster.seed_nodes,
            nodes);
}

TEST(ValkeyConfig, RejectsAnEmptySeedNodeNamingItsPosition) {
  EXPECT_EQ(error_of_variables({{"VALKEY_CLUSTER_NODES", "a:7000,,b:7001"}}),
            "VALKEY_CLUSTER_NODES='a:7000,,b:7001': entry 2 is empty");
  EXPECT_EQ(error_of_variables({{"VALKEY_CLUSTER_NODES", "a:7000, \t,b:7001"}}),
            "VALKEY_CLUSTER_NODES='a:7000, \\x09,b:7001': entry 2 is empty");
  EXPECT_EQ(error_of_variables({{"VALKEY_CLUSTER_NODES", ",a:7000"}}),
            "VALKEY_CLUSTER_NODES=',a:7000': entry 1 is empty");
  EXPECT_EQ(error_of_variables({{"VALKEY_CLUSTER_NODES", "a:7000,b:7001,"}}),
            "VALKEY_CLUSTER_NODES='a:7000,b:7001,': entry 3 is empty");
  EXPECT_EQ(error_of_variables({{"VALKEY_CLUSTER_NODES", ","}}),
            "VALKEY_CLUSTER_NODES=',': entry 1 is empty");
}

TEST(ValkeyConfig, RejectsASeedNodeWithABadHostNamingItsPositionAndTheHost) {
  EXPECT_EQ(error_of_variables({{"VALKEY_CLUSTER_NODES", "a:7000,h h:7001"}}),
            "VALKEY_CLUSTER_NODES='a:7000,h h:7001': entry 2 'h h:7001': the host 'h h' is not a "
            "host name or an IP address");
  const std::vector<std::pair<std::string, std::string>> cases{
      {"::1:7000", "entry 1 '::1:7000': an IPv6 host must be in brackets, e.g. [::1]:7000"},
      {"[::1:7000", "entry 1 '[::1:7000': unterminated '[' in the IPv6 host"},
      {"[::1]7000", "entry 1 '[::1]7000': unexpected text after the IPv6 host"},
      {"[localhost]:7000",
       "entry 1 '[localhost]:7000': the host 'localhost' in brackets is not an IPv6 address"},
      {"[::g]:7000", "entry 1 '[::g]:7000': the host '::g' is not a host name or an IP address"},
      {":7000", "entry 1 ':7000': no host"},
      {"[]:7000", "entry 1 '[]:7000': no host"},
      {"a:7000,h\nx:7001", "entry 2 'h\\nx:7001': the host 'h\\nx' is not a host name"},
      {"valkey://h:7000", "entry 1 'valkey://h:7000': write host:port, not a URL"},
  };
  for (const auto& [text, expected] : cases) {
    EXPECT_CONTAINS(error_of_variables({{"VALKEY_CLUSTER_NODES", text}}), expected) << text;
  }
}

TEST(ValkeyConfig, RejectsASeedNodeWithABadOrMissingPortNamingItsPosition) {
  EXPECT_EQ(error_of_variables({{"VALKEY_CLUSTER_NODES", "a:7000,cache-b"}}),
            "VALKEY_CLUSTER_NODES='a:7000,cache-b': entry 2 'cache-b': the port is missing; write "
            "host:port");
  const std::vector<std::pair<std::string, std::string>> cases{
      {"[::1]", "entry 1 '[::1]': the port is missing; write host:port"},
      {"h:", "entry 1 'h:': the port is empty"},
      {"[::1]:", "entry 1 '[::1]:': the port is empty"},
      {"h:0", "entry 1 'h:0': the port '0' must be 1-65535"},
      {"h:65536", "entry 1 'h:65536': the port '65536' must be 1-65535"},
      {"h:-1", "entry 1 'h:-1': the port '-1' must be 1-65535"},
      {"h:99999999999999999999",
       "entry 1 'h:99999999999999999999': the port '99999999999999999999' must be 1-65535"},
      {"h:x", "entry 1 'h:x': the port 'x' is not a whole number"},
      {"h:+7000", "entry 1 'h:+7000': the port '+7000' is not a whole number"},
      {"h:70 00", "entry 1 'h:70 00': the port '70 00' is not a whole number"},
  };
  for (const auto& [text, expected] : cases) {
    EXPECT_CONTAINS(error_of_variables({{"VALKEY_CLUSTER_NODES", text}}),
                    "VALKEY_CLUSTER_NODES='" + text + "': " + expected)
        << text;
  }
}

TEST(ValkeyConfig, RejectsADatabaseOtherThanZeroWithClusterOnNamingBoth) {
  EXPECT_EQ(error_of_variables({{"VALKEY_CLUSTER", "true"}, {"VALKEY_DATABASE", "2"}}),
            "VALKEY_DATABASE='2': is refused with VALKEY_CLUSTER='true'; a cluster has only "
            "database 0");
  EXPECT_EQ(error_of_variables({{"VALKEY_CLUSTER", "on"}, {"VALKEY_URL", "valkey://h/3"}}),
            "VALKEY_DATABASE=3 (from VALKEY_URL): is refused with VALKEY_CLUSTER='on'; a cluster "
            "has only database 0");
  EXPECT_EQ(
      ValkeyConfig::from_variables({{"VALKEY_CLUSTER", "true"}, {"VALKEY_DATABASE", "0"}}).database,
      0);
}

TEST(ValkeyConfig, LeavesADatabaseOtherThanZeroToTheClientWithClusterAuto) {
  EXPECT_EQ(ValkeyConfig::from_variables({{"VALKEY_DATABASE", "2"}}).database, 2);
  EXPECT_EQ(
      ValkeyConfig::from_variables({{"VALKEY_CLUSTER", "auto"}, {"VALKEY_DATABASE", "2"}}).database,
      2);
  EXPECT_EQ(ValkeyConfig::from_variables({{"VALKEY_CLUSTER", "false"}, {"VALKEY_DATABASE", "2"}})
                .database,
            2);
}

TEST(ValkeyConfig, RejectsReplicaReadsWithClusterOffNamingBoth) {
  EXPECT_EQ(error_of_variables({{"VALKEY_CLUSTER", "false"}, {"VALKEY_READ_FROM", "replica"}}),
            "VALKEY_READ_FROM='replica': is refused with VALKEY_CLUSTER='false'; replica reads "
            "need the cluster client");
  EXPECT_EQ(error_of_variables({{"VALKEY_CLUSTER", "no"}, {"VALKEY_READ_FROM", "prefer-replica"}}),
            "VALKEY_READ_FROM='prefer-replica': is refused with VALKEY_CLUSTER='no'; replica "
            "reads need the cluster client");
  EXPECT_EQ(
      ValkeyConfig::from_variables({{"VALKEY_CLUSTER", "false"}, {"VALKEY_READ_FROM", "primary"}})
          .cluster.read_from,
      ReadFrom::Primary);
}

TEST(ValkeyConfig, AcceptsReplicaReadsWithClusterAutoOrOn) {
  for (const std::string mode : {"auto", "true"}) {
    for (const std::string read_from : {"replica", "prefer-replica"}) {
      EXPECT_NO_THROW((void)ValkeyConfig::from_variables(
          {{"VALKEY_CLUSTER", mode}, {"VALKEY_READ_FROM", read_from}}))
          << mode << " " << read_from;
    }
  }
}

TEST(ValkeyConfig, RejectsSeedNodesWithClusterOffNamingBoth) {
  EXPECT_EQ(error_of_variables({{"VALKEY_CLUSTER", "false"}, {"VALKEY_CLUSTER_NODES", "b:7001"}}),
            "VALKEY_CLUSTER_NODES='b:7001': is refused with VALKEY_CLUSTER='false'; seed nodes "
            "need the cluster client");
  for (const std::string mode : {"auto", "true"}) {
    EXPECT_EQ(
        ValkeyConfig::from_variables({{"VALKEY_CLUSTER", mode}, {"VALKEY_CLUSTER_NODES", "b:7001"}})
            .cluster.seed_nodes.size(),
        1u)
        << mode;
  }
}

TEST(ValkeyConfig, UrlVariableEmptiesSeedNodesOnlyBeforeTheVariablesOfItsSource) {
  // The URL of a source applies first, so its own VALKEY_CLUSTER_NODES still counts.
  const auto config = ValkeyConfig::from_variables(
      {{"VALKEY_URL", "valkey://cache-a:7000"}, {"VALKEY_CLUSTER_NODES", "cache-b:7001"}});
  EXPECT_EQ(config.endpoint(), "cache-a:7000");
  EXPECT_EQ(config.cluster.seed_nodes, (std::vector<std::string>{"cache-b:7001"}));
  EXPECT_TRUE(ValkeyConfig::from_url("valkey://cache-a:7000").cluster.seed_nodes.empty());
}

TEST(ValkeyConfig, ValidateNamesTheClusterFieldOfAHandBuiltConfig) {
  struct Case {
    void (*break_it)(ValkeyConfig&);
    std::string expected;
  };
  const std::vector<Case> cases{
      {[](ValkeyConfig& c) { c.cluster.mode = static_cast<ClusterMode>(42); },
       "ValkeyConfig.cluster.mode = ClusterMode(42): is not a ClusterMode"},
      {[](ValkeyConfig& c) { c.cluster.read_from = static_cast<ReadFrom>(42); },
       "ValkeyConfig.cluster.read_from = ReadFrom(42): is not a ReadFrom"},
      {[](ValkeyConfig& c) {
         c.cluster.mode = ClusterMode::On;
         c.database = 1;
       },
       "ValkeyConfig.database = 1: is refused with ValkeyConfig.cluster.mode = true; a cluster "
       "has only database 0"},
      {[](ValkeyConfig& c) {
         c.cluster.mode = ClusterMode::Off;
         c.cluster.seed_nodes = {"b:7001", "c:7002"};
       },
       "ValkeyConfig.cluster.seed_nodes = b:7001,c:7002: is refused with "
       "ValkeyConfig.cluster.mode = false; seed nodes need the cluster client"},
      {[](ValkeyConfig& c) {
         c.cluster.mode = ClusterMode::Off;
         c.cluster.read_from = ReadFrom::PreferReplica;
       },
       "ValkeyConfig.cluster.read_from = prefer-replica: is refused with "
       "ValkeyConfig.cluster.mode = false; replica reads need the cluster client"},
      {[](ValkeyConfig& c) {
         c.cluster.seed_nodes = {"b:7001", ""};
       },
       "ValkeyConfig.cluster.seed_nodes = b:7001,: entry 2 is empty"},
      {[](ValkeyConfig& c) {
         c.cluster.seed_nodes = {"b:7001", "h h:7002"};
       },
       "ValkeyConfig.cluster.seed_nodes = \"b:7001,h h:7002\": entry 2 'h h:7002': the host "
       "'h h' is not a host name or an IP address"},
      // Blanks are trimmed only when reading the variable; by hand they are part of the host.
      {[](ValkeyConfig& c) { c.cluster.seed_nodes = {" b:7001"}; },
       "ValkeyConfig.cluster.seed_nodes = \" b:7001\": entry 1 ' b:7001': the host ' b' is not "
       "a host name or an IP address"},
      {[](ValkeyConfig& c) { c.cluster.seed_nodes = {"b"}; },
       "ValkeyConfig.cluster.seed_nodes = b: entry 1 'b': the port is missing; write host:port"},
  };
  for (const auto& [break_it, expected] : cases) {
    ValkeyConfig config;
    break_it(config);
    EXPECT_EQ(config_error_of([&] { config.validate(); }), expected);
  }
}

TEST(ValkeyConfig, ToStringShowsTheClusterFieldsAsTheVariablesAcceptThem) {
  EXPECT_CONTAINS(ValkeyConfig::from_variables(all_non_default_values()).to_string(),
                  "cluster.mode=true cluster.seed_nodes=cache-b.internal:7001,[::1]:7002 "
                  "cluster.read_from=prefer-replica");
  EXPECT_CONTAINS(ValkeyConfig{}.to_string(),
                  "cluster.mode=auto cluster.seed_nodes= cluster.read_from=primary");
  EXPECT_CONTAINS(ValkeyConfig::from_variables({{"VALKEY_CLUSTER", "off"}}).to_string(),
                  "cluster.mode=false");
}

TEST(ValkeyConfig, EveryClusterModeAndReadFromReadsBackThroughTheVariables) {
  for (const auto mode : {ClusterMode::Auto, ClusterMode::On, ClusterMode::Off}) {
    for (const auto read_from : {ReadFrom::Primary, ReadFrom::Replica, ReadFrom::PreferReplica}) {
      if (mode == ClusterMode::Off && read_from != ReadFrom::Primary) {
        continue;
      }
      ValkeyConfig config;
      config.cluster.mode = mode;
      config.cluster.read_from = read_from;
      if (mode != ClusterMode::Off) {
        config.cluster.seed_nodes = {"b:7001", "[fe80::1%eth0]:7002"};
      }
      Variables shown;
      const auto names = config_variable_names();
      const auto fields = fields_of(config);
      ASSERT_EQ(fields.size(), names.size());
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (names[i].starts_with("VALKEY_CLUSTER") || names[i] == "VALKEY_READ_FROM") {
          shown.emplace(names[i], fields[i].substr(fields[i].find('=') + 1));
        }
      }
      EXPECT_EQ(shown.size(), 3u);
      EXPECT_EQ(ValkeyConfig::from_variables(shown), config) << config.to_string();
    }
  }
}

TEST(ValkeyConfig, ClusterErrorsNeverShowThePassword) {
  EXPECT_LACKS(error_of_variables({{"VALKEY_URL", std::string("valkey://:") + kPassword + "@h/2"},
                                   {"VALKEY_CLUSTER", "true"}}),
               kPassword);
  EXPECT_LACKS(error_of_variables(
                   {{"VALKEY_PASSWORD", kPassword}, {"VALKEY_CLUSTER_NODES", "a:7000,,b:7001"}}),
               kPassword);
}

// ----- URLs -----------------------------------------------------------------------------------

TEST(ValkeyConfig, FromUrlReadsUserPasswordHostPortAndDatabase) {
  const auto config = ValkeyConfig::from_url("valkey://app:pw@cache.internal:6380/2");
  EXPECT_EQ(config.host, "cache.internal");
  EXPECT_EQ(config.port, 6380);
  EXPECT_EQ(config.username, "app");
  EXPECT_EQ(config.password.reveal(), "pw");
  EXPECT_EQ(config.database, 2);
}

TEST(ValkeyConfig, FromUrlAcceptsTheRedisScheme) {
  const auto config = ValkeyConfig::from_url("redis://cache.internal:6390");
  EXPECT_EQ(config.endpoint(), "cache.internal:6390");
  EXPECT_EQ(ValkeyConfig::from_url("REDIS://h").host, "h");
}

TEST(ValkeyConfig, FromUrlDefaultsThePortAndDatabase) {
  ValkeyConfig expected;
  expected.host = "cache.internal";
  EXPECT_EQ(ValkeyConfig::from_url("valkey://cache.internal"), expected);
  EXPECT_EQ(ValkeyConfig::from_url("valkey://cache.internal/"), expected);
}

TEST(ValkeyConfig, FromUrlWithAPasswordOnlyLeavesTheUsernameEmpty) {
  const auto config = ValkeyConfig::from_url("valkey://:pw@h");
  EXPECT_TRUE(config.username.empty());
  EXPECT_EQ(config.password.reveal(), "pw");
}

TEST(ValkeyConfig, FromUrlWithAUsernameOnlyLeavesThePasswordEmpty) {
  const auto config = ValkeyConfig::from_url("valkey://app@h");
  EXPECT_EQ(config.username, "app");
  EXPECT_TRUE(config.password.empty());
}

TEST(ValkeyConfig, FromUrlDecodesAPercentEncodedPassword) {
  const auto config = ValkeyConfig::from_url("valkey://us%65r:p%40ss%3Aw%2Fd%25@h");
  EXPECT_EQ(config.username, "user");
  EXPECT_EQ(config.password.reveal(), "p@ss:w/d%");
}

TEST(ValkeyConfig, FromUrlKeepsAnUnencodedAtSignInThePassword) {
  EXPECT_EQ(ValkeyConfig::from_url("valkey://:p@ss@h:6380").password.reveal(), "p@ss");
}

TEST(ValkeyConfig, FromUrlAcceptsABracketedIpv6Host) {
  const auto config = ValkeyConfig::from_url("valkey://[::1]:6380/1");
  EXPECT_EQ(config.host, "::1");
  EXPECT_EQ(config.port, 6380);
  EXPECT_EQ(config.database, 1);
  EXPECT_EQ(config.endpoint(), "[::1]:6380");
  EXPECT_EQ(ValkeyConfig::from_url("valkey://[fe80::1]").port, 6379);
}

TEST(ValkeyConfig, FromUrlRejectsAnUnbracketedIpv6Host) {
  EXPECT_CONTAINS(error_of_url("valkey://::1:6380"), "must be in brackets");
}

TEST(ValkeyConfig, FromUrlWithAValkeysOrRedissSchemeTurnsTlsOn) {
  for (const std::string url :
       {"valkeys://app:pw@cache.internal:6380/2", "rediss://app:pw@cache.internal:6380/2",
        "VALKEYS://app:pw@cache.internal:6380/2"}) {
    ValkeyConfig expected = ValkeyConfig::from_url("valkey://app:pw@cache.internal:6380/2");
    expected.tls.enabled = true;
    EXPECT_EQ(ValkeyConfig::from_url(url), expected) << url;
  }
  EXPECT_EQ(ValkeyConfig::from_url("valkeys://[::1]").endpoint(), "[::1]:6379");
}

TEST(ValkeyConfig, FromUrlWithAPlainSchemeLeavesTlsOff) {
  EXPECT_FALSE(ValkeyConfig::from_url("valkey://h").tls.enabled);
  EXPECT_FALSE(ValkeyConfig::from_url("redis://h").tls.enabled);
}

TEST(ValkeyConfig, FromUrlRejectsATlsUrlWithTheSameMessagesAsAPlainOne) {
  EXPECT_EQ(error_of_url("valkeys://h:99999"),
            "invalid Valkey URL 'valkeys://h:99999': the port '99999' must be 1-65535");
  EXPECT_CONTAINS(error_of_url("rediss://"), "no host");
}

TEST(ValkeyConfig, FromUrlRejectsAnUnknownScheme) {
  EXPECT_EQ(error_of_url("http://h:6379"),
            "invalid Valkey URL 'http://h:6379': unsupported scheme; use valkey://, valkeys://, "
            "redis:// or rediss://");
  EXPECT_CONTAINS(error_of_url("cache.internal:6379"),
                  "must start with valkey://, valkeys://, redis:// or rediss://");
}

TEST(ValkeyConfig, FromUrlRejectsABadPortNamingItAsWritten) {
  EXPECT_EQ(error_of_url("valkey://h:99999"),
            "invalid Valkey URL 'valkey://h:99999': the port '99999' must be 1-65535");
  EXPECT_CONTAINS(error_of_url("valkey://h:0"), "the port '0' must be 1-65535");
  EXPECT_CONTAINS(error_of_url("valkey://h:65536"), "the port '65536' must be 1-65535");
  EXPECT_CONTAINS(error_of_url("valkey://h:-1"), "the port '-1' must be 1-65535");
  // Too large even for an int: still a range problem, not a spelling one.
  EXPECT_CONTAINS(error_of_url("valkey://h:99999999999999999999"),
                  "the port '99999999999999999999' must be 1-65535");
  EXPECT_CONTAINS(error_of_url("valkey://h:"), "the port is empty");
  EXPECT_CONTAINS(error_of_url("valkey://h:63x9"), "the port '63x9' is not a whole number");
  EXPECT_CONTAINS(error_of_url("valkey://h: 6379"), "the port ' 6379' is not a whole number");
  EXPECT_CONTAINS(error_of_url("valkey://h:+6379"), "the port '+6379' is not a whole number");
  EXPECT_CONTAINS(error_of_url("valkey://[::1]:x"), "the port 'x' is not a whole number");
  EXPECT_EQ(ValkeyConfig::from_url("valkey://h:65535").port, 65535);
  EXPECT_EQ(ValkeyConfig::from_url("valkey://h:1").port, 1);
}

TEST(ValkeyConfig, FromUrlNamesANonNumericPortInsteadOfHidingIt) {
  EXPECT_EQ(error_of_url("valkey://h:notaport"),
            "invalid Valkey URL 'valkey://h:notaport': the port 'notaport' is not a whole number");
  EXPECT_EQ(error_of_variables({{"VALKEY_URL", "valkey://h:notaport/1"}}),
            "VALKEY_URL='valkey://h:notaport/1': the port 'notaport' is not a whole number");
  // With user info the password is hidden and the port is still shown.
  const auto message = error_of_url(std::string("valkey://app:") + kPassword + "@h:notaport");
  EXPECT_EQ(message,
            "invalid Valkey URL 'valkey://app:***@h:notaport': the port 'notaport' is not a "
            "whole number");
}

TEST(ValkeyConfig, FromUrlRejectsAHostThatIsNotAHostNameNamingItAsWritten) {
  EXPECT_EQ(error_of_url("valkey://h h:6379"),
            "invalid Valkey URL 'valkey://h h:6379': the host 'h h' is not a host name or an IP "
            "address");
  EXPECT_EQ(error_of_variables({{"VALKEY_URL", "redis://h h"}}),
            "VALKEY_URL='redis://h h': the host 'h h' is not a host name or an IP address");
  // Control characters are shown escaped, so the message stays on one line.
  EXPECT_CONTAINS(error_of_url("valkey://h\nx:6379"), "the host 'h\\nx' is not a host name");
  EXPECT_CONTAINS(error_of_url("valkey://h\tx"), "the host 'h\\x09x' is not a host name");
  EXPECT_CONTAINS(error_of_url(std::string("valkey://h\0x", 12)),
                  "the host 'h\\x00x' is not a host name");
  EXPECT_CONTAINS(error_of_url("valkey://h\x7f"), "the host 'h\\x7f' is not a host name");
  for (const std::string host : {"h%20x", "h\\x", "h,x", "h;x", "caf\xc3\xa9", "h\"x"}) {
    EXPECT_CONTAINS(error_of_url("valkey://" + host + ":6379"), "is not a host name") << host;
  }
  // Every character a DNS name, an IPv4 address or a Docker service name needs still passes.
  EXPECT_EQ(ValkeyConfig::from_url("valkey://Cache-01.prod_net.example:6380").host,
            "Cache-01.prod_net.example");
  EXPECT_EQ(ValkeyConfig::from_url("valkey://10.0.0.7").host, "10.0.0.7");
}

TEST(ValkeyConfig, FromUrlRejectsABracketedHostThatIsNotAnIpv6Address) {
  EXPECT_CONTAINS(error_of_url("valkey://[::1 ]:6379"),
                  "the host '::1 ' is not a host name or an IP address");
  EXPECT_CONTAINS(error_of_url("valkey://[localhost]:6379"),
                  "the host 'localhost' in brackets is not an IPv6 address");
  EXPECT_CONTAINS(error_of_url("valkey://[::g]"), "the host '::g' is not");
}

TEST(ValkeyConfig, FromUrlAcceptsAnIpv6ZoneWrittenEitherWay) {
  // RFC 6874 encodes the zone's '%' as %25; getaddrinfo wants the bare '%'.
  EXPECT_EQ(ValkeyConfig::from_url("valkey://[fe80::1%25eth0]:6380").host, "fe80::1%eth0");
  EXPECT_EQ(ValkeyConfig::from_url("valkey://[fe80::1%eth0]").host, "fe80::1%eth0");
  EXPECT_CONTAINS(error_of_url("valkey://[fe80::1%]"), "is not a host name or an IP address");
  EXPECT_CONTAINS(error_of_url("valkey://[fe80::1%e th0]"), "is not a host name or an IP address");
}

TEST(ValkeyConfig, FromUrlRejectsABadDatabase) {
  EXPECT_CONTAINS(error_of_url("valkey://h/x"), "the database 'x' must be a whole number >= 0");
  EXPECT_CONTAINS(error_of_url("valkey://h/-1"), "the database '-1' must be a whole number >= 0");
  EXPECT_CONTAINS(error_of_url("valkey://h/1/2"), "the database '1/2' must be a whole number >= 0");
}

TEST(ValkeyConfig, FromUrlRejectsAMissingHost) {
  EXPECT_CONTAINS(error_of_url("valkey://"), "no host");
  EXPECT_CONTAINS(error_of_url("valkey://:pw@:6379"), "no host");
  EXPECT_CONTAINS(error_of_url("valkey://:6379"), "no host");
  EXPECT_CONTAINS(error_of_url("valkey://[]:6379"), "no host");
  EXPECT_CONTAINS(error_of_url("valkey:///0"), "no host");
  EXPECT_CONTAINS(error_of_url("valkey://app@"), "no host");
}

TEST(ValkeyConfig, FromUrlRejectsQueryOptions) {
  EXPECT_CONTAINS(error_of_url("valkey://h:6379/0?timeout=5"), "query options are not supported");
}

TEST(ValkeyConfig, FromUrlRejectsBadPercentEncoding) {
  EXPECT_CONTAINS(error_of_url("valkey://:pw%4@h"), "bad percent-encoding in the password");
  EXPECT_CONTAINS(error_of_url("valkey://u%zz:pw@h"), "bad percent-encoding in the user name");
}

TEST(ValkeyConfig, UrlVariableIsOverriddenByIndividualVariables) {
  const auto config = ValkeyConfig::from_variables(
      {{"VALKEY_URL", "valkey://app:pw@cache.internal:6380/2"}, {"VALKEY_PORT", "6381"}});
  EXPECT_EQ(config.host, "cache.internal");
  EXPECT_EQ(config.port, 6381);
  EXPECT_EQ(config.username, "app");
  EXPECT_EQ(config.password.reveal(), "pw");
  EXPECT_EQ(config.database, 2);
}

TEST(ValkeyConfig, UrlVariableSetsTlsByItsSchemeAndTheTlsVariablesApplyOnTop) {
  const auto config =
      ValkeyConfig::from_variables({{"VALKEY_URL", "rediss://cache.internal:6380"},
                                    {"VALKEY_TLS_CA_FILE", tls_files().ca_file.string()},
                                    {"VALKEY_TLS_SERVER_NAME", "valkey.internal"}});
  EXPECT_TRUE(config.tls.enabled);
  EXPECT_EQ(config.tls.ca_file, tls_files().ca_file.string());
  EXPECT_EQ(config.tls.server_name, "valkey.internal");
  // VALKEY_TLS is read after the URL of the same source, like VALKEY_PORT.
  EXPECT_FALSE(
      ValkeyConfig::from_variables({{"VALKEY_URL", "valkeys://h"}, {"VALKEY_TLS", "false"}})
          .tls.enabled);
  EXPECT_TRUE(ValkeyConfig::from_variables({{"VALKEY_URL", "valkey://h"}, {"VALKEY_TLS", "true"}})
                  .tls.enabled);
}

TEST(ValkeyConfig, RejectsABadUrlVariableNamingIt) {
  EXPECT_EQ(error_of_variables({{"VALKEY_URL", "valkey://h:99999"}}),
            "VALKEY_URL='valkey://h:99999': the port '99999' must be 1-65535");
}

// ----- .env files -----------------------------------------------------------------------------

TEST(ReadEnvFile, AcceptsCommentsBlankLinesAndExport) {
  const TempDir dir;
  const auto file = dir.write("a.env",
                              "# a comment\n"
                              "\n"
                              "   \n"
                              "  # an indented comment\n"
                              "VALKEY_HOST=cache.internal\n"
                              "export VALKEY_PORT=6380\n"
                              "export\tVALKEY_DATABASE = 3 \n"
                              "exported_NAME=x\n");
  const Variables expected{{"VALKEY_HOST", "cache.internal"},
                           {"VALKEY_PORT", "6380"},
                           {"VALKEY_DATABASE", "3"},
                           {"exported_NAME", "x"}};
  EXPECT_EQ(read_env_file(file), expected);
}

TEST(ReadEnvFile, HandlesQuotesEscapesAndEqualsSignsInValues) {
  const TempDir dir;
  const auto file = dir.write("a.env",
                              "DOUBLE=\"a b\\n\\\"c\\\" \\\\ \\t\"\n"
                              "SINGLE='lit\\n \"x\" # not a comment'\n"
                              "EQUALS=a=b=c\n"
                              "QUOTED_EQUALS=\"x=y\"  # trailing comment\n"
                              "EMPTY=\n"
                              "EMPTY_QUOTES=\"\"\n");
  const Variables expected{{"DOUBLE", "a b\n\"c\" \\ \\t"},
                           {"SINGLE", "lit\\n \"x\" # not a comment"},
                           {"EQUALS", "a=b=c"},
                           {"QUOTED_EQUALS", "x=y"},
                           {"EMPTY", ""},
                           {"EMPTY_QUOTES", ""}};
  EXPECT_EQ(read_env_file(file), expected);
}

TEST(ReadEnvFile, StripsTrailingCommentsOnlyAfterABlank) {
  const TempDir dir;
  const auto file = dir.write("a.env",
                              "A=value # comment\n"
                              "B=pa#ss\n"
                              "C= # only a comment\n"
                              "D=#starts-with-hash\n");
  const Variables expected{{"A", "value"}, {"B", "pa#ss"}, {"C", ""}, {"D", "#starts-with-hash"}};
  EXPECT_EQ(read_env_file(file), expected);
}

TEST(ReadEnvFile, AcceptsWindowsLineEndingsAndAByteOrderMark) {
  const TempDir dir;
  const auto file = dir.write("a.env", "\xEF\xBB\xBFVALKEY_HOST=h\r\nVALKEY_PORT=6380\r\n");
  const Variables expected{{"VALKEY_HOST", "h"}, {"VALKEY_PORT", "6380"}};
  EXPECT_EQ(read_env_file(file), expected);
}

TEST(ReadEnvFile, LaterLinesWin) {
  const TempDir dir;
  const auto file = dir.write("a.env", "VALKEY_PORT=1\nVALKEY_PORT=2\n");
  EXPECT_EQ(read_env_file(file).at("VALKEY_PORT"), "2");
}

TEST(ReadEnvFile, RejectsALineWithoutEqualsNamingFileAndLine) {
  const TempDir dir;
  const auto file = dir.write("a.env", "# ok\nVALKEY_HOST=h\nVALKEY_PORT 6380\n");
  EXPECT_EQ(config_error_of([&] { (void)read_env_file(file); }),
            file.string() + ":3: expected NAME=value");
}

TEST(ReadEnvFile, RejectsABadVariableNameNamingFileAndLine) {
  const TempDir dir;
  const auto file = dir.write("a.env", "VALKEY-HOST=h\n");
  EXPECT_EQ(config_error_of([&] { (void)read_env_file(file); }),
            file.string() + ":1: invalid variable name 'VALKEY-HOST'");
  const auto digit = dir.write("b.env", "\n1ABC=x\n");
  EXPECT_CONTAINS(config_error_of([&] { (void)read_env_file(digit); }), digit.string() + ":2:");
}

TEST(ReadEnvFile, RejectsUnterminatedQuotesAndTextAfterTheClosingQuote) {
  const TempDir dir;
  const auto unterminated = dir.write("a.env", "A=\"abc\n");
  EXPECT_EQ(config_error_of([&] { (void)read_env_file(unterminated); }),
            unterminated.string() + ":1: unterminated double-quoted value");
  const auto single = dir.write("b.env", "A=1\nB='abc\n");
  EXPECT_EQ(config_error_of([&] { (void)read_env_file(single); }),
            single.string() + ":2: unterminated single-quoted value");
  const auto trailing = dir.write("c.env", "A=\"abc\"def\n");
  EXPECT_CONTAINS(config_error_of([&] { (void)read_env_file(trailing); }),
                  trailing.string() + ":1: unexpected text after the closing quote");
}

TEST(ReadEnvFile, RejectsAMissingFile) {
  const TempDir dir;
  EXPECT_CONTAINS(config_error_of([&] { (void)read_env_file(dir.path() / "missing.env"); }),
                  "cannot open .env file");
}

// ----- from_env -------------------------------------------------------------------------------

TEST(ValkeyConfigFromEnv, ReadsAnExplicitFile) {
  const CleanEnvironment environment;
  const TempDir dir;
  const auto file = dir.write("a.env", "VALKEY_HOST=from-file\nVALKEY_POOL_TIMEOUT=250ms\n");
  const auto config = ValkeyConfig::from_env(file);
  EXPECT_EQ(config.host, "from-file");
  EXPECT_EQ(config.pool_timeout, 250ms);
}

TEST(ValkeyConfigFromEnv, RejectsAMissingExplicitFile) {
  const CleanEnvironment environment;
  const TempDir dir;
  const auto missing = dir.path() / "missing.env";
  EXPECT_EQ(config_error_of([&] { (void)ValkeyConfig::from_env(missing); }),
            ".env file '" + missing.string() + "' does not exist");
}

TEST(ValkeyConfigFromEnv, ReadsTheFileNamedByValkeyEnvFile) {
  CleanEnvironment environment;
  const TempDir dir;
  const auto file = dir.write("custom.env", "VALKEY_HOST=named-file\n");
  environment.set("VALKEY_ENV_FILE", file.string());
  EXPECT_EQ(ValkeyConfig::from_env().host, "named-file");
}

TEST(ValkeyConfigFromEnv, RejectsAMissingFileNamedByValkeyEnvFile) {
  CleanEnvironment environment;
  const TempDir dir;
  environment.set("VALKEY_ENV_FILE", (dir.path() / "missing.env").string());
  EXPECT_CONTAINS(config_error_of([] { (void)ValkeyConfig::from_env(); }), "does not exist");
}

TEST(ValkeyConfigFromEnv, ReadsDotEnvInTheWorkingDirectory) {
  const CleanEnvironment environment;
  const TempDir dir;
  dir.write(".env", "VALKEY_HOST=dot-env\n");
  const WorkingDirectory here(dir.path());
  EXPECT_EQ(ValkeyConfig::from_env().host, "dot-env");
}

TEST(ValkeyConfigFromEnv, IgnoresAMissingDefaultDotEnv) {
  const CleanEnvironment environment;
  const TempDir dir;
  const WorkingDirectory here(dir.path());
  EXPECT_EQ(ValkeyConfig::from_env(), ValkeyConfig{});
}

TEST(ValkeyConfigFromEnv, RealEnvironmentWinsOverTheFile) {
  CleanEnvironment environment;
  const TempDir dir;
  const auto file = dir.write("a.env", "VALKEY_HOST=from-file\nVALKEY_PORT=6380\n");
  environment.set("VALKEY_HOST", "from-env");
  const auto config = ValkeyConfig::from_env(file);
  EXPECT_EQ(config.host, "from-env");
  EXPECT_EQ(config.port, 6380);
}

TEST(ValkeyConfigFromEnv, UrlInTheEnvironmentReplacesConnectionFieldsFromTheFile) {
  CleanEnvironment environment;
  const TempDir dir;
  const auto file = dir.write("a.env",
                              "VALKEY_HOST=localhost\nVALKEY_PORT=7000\n"
                              "VALKEY_PASSWORD=dev-password\nVALKEY_KEY_PREFIX=dev\n");
  environment.set("VALKEY_URL", "valkey://prod.internal:6380/1");
  environment.set("VALKEY_DATABASE", "4");
  const auto config = ValkeyConfig::from_env(file);
  EXPECT_EQ(config.endpoint(), "prod.internal:6380");
  EXPECT_TRUE(config.password.empty());  // the URL describes the whole connection
  EXPECT_EQ(config.database, 4);         // individual variables of the same source still win
  EXPECT_EQ(config.key_prefix, "dev");   // non-connection settings are untouched by a URL
}

TEST(ValkeyConfigFromEnv, UrlInTheEnvironmentDecidesTlsOverTheFile) {
  CleanEnvironment environment;
  const TempDir dir;
  const auto file = dir.write("a.env", "VALKEY_TLS=true\n");
  environment.set("VALKEY_URL", "valkey://prod.internal:6380");
  EXPECT_FALSE(ValkeyConfig::from_env(file).tls.enabled);
  environment.set("VALKEY_URL", "valkeys://prod.internal:6380");
  EXPECT_TRUE(ValkeyConfig::from_env(file).tls.enabled);
  // A plain URL turns TLS off under a CA file from the file: refused, not quietly plaintext.
  const auto with_ca = dir.write(
      "b.env", "VALKEY_TLS=true\nVALKEY_TLS_CA_FILE=" + tls_files().ca_file.string() + "\n");
  environment.set("VALKEY_URL", "valkey://prod.internal:6380");
  EXPECT_EQ(config_error_of([&] { (void)ValkeyConfig::from_env(with_ca); }),
            with_ca.string() + ":2: VALKEY_TLS_CA_FILE='" + tls_files().ca_file.string() +
                "': is set but TLS is off; set VALKEY_TLS=true or use a valkeys:// URL");
}

TEST(ValkeyConfigFromEnv, UrlInTheEnvironmentDropsSeedNodesFromTheFile) {
  CleanEnvironment environment;
  const TempDir dir;
  const auto file =
      dir.write("a.env", "VALKEY_HOST=dev-a\nVALKEY_CLUSTER_NODES=dev-b:7001,dev-c:7002\n");
  EXPECT_EQ(ValkeyConfig::from_env(file).cluster.seed_nodes,
            (std::vector<std::string>{"dev-b:7001", "dev-c:7002"}));
  // A URL names another server: the file's seed nodes would belong to the old one.
  environment.set("VALKEY_URL", "valkey://prod-a.internal:7000");
  const auto config = ValkeyConfig::from_env(file);
  EXPECT_EQ(config.endpoint(), "prod-a.internal:7000");
  EXPECT_TRUE(config.cluster.seed_nodes.empty());
  environment.set("VALKEY_CLUSTER_NODES", "prod-b.internal:7001");
  EXPECT_EQ(ValkeyConfig::from_env(file).cluster.seed_nodes,
            (std::vector<std::string>{"prod-b.internal:7001"}));
}

TEST(ValkeyConfigFromEnv, NamesTheFileLineOfTheClusterModeInAClusterError) {
  CleanEnvironment environment;
  const TempDir dir;
  const auto file = dir.write("a.env", "# cluster\nVALKEY_CLUSTER=false\n");
  environment.set("VALKEY_READ_FROM", "replica");
  EXPECT_EQ(config_error_of([&] { (void)ValkeyConfig::from_env(file); }),
            "VALKEY_READ_FROM='replica': is refused with VALKEY_CLUSTER='false' (" + file.string() +
                ":2); replica reads need the cluster client");
  const auto nodes = dir.write("b.env", "VALKEY_CLUSTER_NODES=a:7000,,b:7001\n");
  environment.set("VALKEY_READ_FROM", "primary");
  EXPECT_EQ(config_error_of([&] { (void)ValkeyConfig::from_env(nodes); }),
            nodes.string() + ":1: VALKEY_CLUSTER_NODES='a:7000,,b:7001': entry 2 is empty");
}

TEST(ValkeyConfigFromEnv, RejectsABadValueInTheFileNamingFileAndLine) {
  const CleanEnvironment environment;
  const TempDir dir;
  const auto file = dir.write("a.env", "# settings\nVALKEY_HOST=h\nVALKEY_PORT=abc\n");
  EXPECT_EQ(config_error_of([&] { (void)ValkeyConfig::from_env(file); }),
            file.string() + ":3: VALKEY_PORT='abc': not a whole number");
}

TEST(ValkeyConfigFromEnv, RejectsABadHostInTheFileNamingFileAndLine) {
  const CleanEnvironment environment;
  const TempDir dir;
  // Quotes keep the inner blank; an escaped newline in double quotes becomes a real one.
  const auto file = dir.write("a.env", "VALKEY_HOST=\"cache internal\"\n");
  EXPECT_EQ(
      config_error_of([&] { (void)ValkeyConfig::from_env(file); }),
      file.string() + ":1: VALKEY_HOST='cache internal': must be a host name or an IP address");
  const auto newline = dir.write("b.env", "\nVALKEY_HOST=\"cache\\n\"\n");
  EXPECT_EQ(config_error_of([&] { (void)ValkeyConfig::from_env(newline); }),
            newline.string() + ":2: VALKEY_HOST='cache\\n': must be a host name or an IP address");
  const auto url = dir.write("c.env", "VALKEY_URL=valkey://h\tx:6379\n");
  EXPECT_EQ(config_error_of([&] { (void)ValkeyConfig::from_env(url); }),
            url.string() + ":1: VALKEY_URL='valkey://h\\x09x:6379': the host 'h\\x09x' is not a " +
                "host name or an IP address");
}

TEST(ValkeyConfigFromEnv, RejectsAnInvalidValueInTheFileNamingFileAndLine) {
  const CleanEnvironment environment;
  const TempDir dir;
  const auto file = dir.write("a.env", "\nVALKEY_PORT=70000\n");
  EXPECT_EQ(config_error_of([&] { (void)ValkeyConfig::from_env(file); }),
            file.string() + ":2: VALKEY_PORT='70000': must be 1-65535");
}

TEST(ValkeyConfigFromEnv, NamesTheFileLineOfTheOtherValueInACrossFieldError) {
  CleanEnvironment environment;
  const TempDir dir;
  const auto file = dir.write("a.env", "VALKEY_RETRY_MAX_DELAY=20ms\n");
  environment.set("VALKEY_RETRY_BASE_DELAY", "30ms");
  EXPECT_EQ(config_error_of([&] { (void)ValkeyConfig::from_env(file); }),
            "VALKEY_RETRY_BASE_DELAY='30ms': must not exceed VALKEY_RETRY_MAX_DELAY='20ms' (" +
                file.string() + ":1)");
}

TEST(ValkeyConfigFromEnv, RejectsABadValueInTheEnvironmentNamingTheVariable) {
  CleanEnvironment environment;
  const TempDir dir;
  environment.set("VALKEY_TTL_JITTER", "2");
  const WorkingDirectory here(dir.path());
  EXPECT_EQ(config_error_of([] { (void)ValkeyConfig::from_env(); }),
            "VALKEY_TTL_JITTER='2': must be in [0, 1)");
}

// ----- redaction ------------------------------------------------------------------------------

TEST(ValkeyConfig, ToStringShowsEveryFieldOnOneLineAndHidesThePassword) {
  const auto config = ValkeyConfig::from_variables(all_non_default_values());
  const auto text = config.to_string();
  EXPECT_LACKS(text, kPassword);
  EXPECT_CONTAINS(text, "password=***");
  EXPECT_CONTAINS(text, "host=cache.internal port=6380 username=app");
  EXPECT_CONTAINS(text, "retry.base_delay=10ms");
  EXPECT_CONTAINS(text, "pool_timeout=250ms");
  EXPECT_CONTAINS(text, "log_level=debug");
  EXPECT_EQ(text.find('\n'), std::string::npos);
  std::istringstream fields(text);
  std::size_t count = 0;
  for (std::string field; fields >> field;) {
    EXPECT_NE(field.find('='), std::string::npos) << field;
    ++count;
  }
  EXPECT_EQ(count, config_variable_names().size());
}

TEST(ValkeyConfig, ToStringShowsTheTlsFields) {
  const auto config = ValkeyConfig::from_variables(all_non_default_values());
  EXPECT_CONTAINS(config.to_string(),
                  "tls.enabled=true tls.ca_file=" + tls_files().ca_file.string() +
                      " tls.ca_dir=" + tls_files().ca_dir.string() +
                      " tls.cert_file=" + tls_files().cert_file.string() +
                      " tls.key_file=" + tls_files().key_file.string() +
                      " tls.server_name=cache.example.com tls.verify=false "
                      "tls.allow_insecure=true");
  EXPECT_CONTAINS(ValkeyConfig{}.to_string(),
                  "tls.enabled=false tls.ca_file= tls.ca_dir= tls.cert_file= tls.key_file= "
                  "tls.server_name= tls.verify=true tls.allow_insecure=false");
}

TEST(ValkeyConfig, ToStringReadsBackThroughTheVariables) {
  // Everything but the password, which to_string() hides.
  Variables values = all_non_default_values();
  values.erase("VALKEY_PASSWORD");
  for (const ValkeyConfig& config : {ValkeyConfig{}, ValkeyConfig::from_variables(values),
                                     ValkeyConfig::from_variables({{"VALKEY_DATABASE", "2"}})}) {
    const auto names = config_variable_names();
    const auto fields = fields_of(config);
    ASSERT_EQ(fields.size(), names.size());
    Variables shown;
    for (std::size_t i = 0; i < names.size(); ++i) {
      shown.emplace(names[i], fields[i].substr(fields[i].find('=') + 1));
    }
    EXPECT_EQ(ValkeyConfig::from_variables(shown), config) << config.to_string();
  }
}

TEST(ValkeyConfig, ToStringShowsAnUnsetPasswordAsEmpty) {
  EXPECT_CONTAINS(ValkeyConfig{}.to_string(), "password= ");
}

TEST(ValkeyConfig, ToStringQuotesStringsWithSpacesOrNewlines) {
  ValkeyConfig config;
  config.key_prefix = "a b\n";
  EXPECT_CONTAINS(config.to_string(), "key_prefix=\"a b\\n\"");
}

TEST(ValkeyConfig, StreamingASecretPrintsStars) {
  std::ostringstream out;
  out << Secret{kPassword};
  EXPECT_EQ(out.str(), "***");
}

TEST(ValkeyConfig, UrlErrorsNeverShowThePassword) {
  const std::string secret = kPassword;
  for (const std::string& url : {
           "valkey://app:" + secret + "@h:99999", "valkey://:" + secret + "@h/x",
           "valkeys://app:" + secret + "@h:0", "http://:" + secret + "@h",
           "valkey://:" + secret + "@", "valkey://:" + secret + "%zz@h",
           "valkey://:" + secret + "@h?x=1",
           "valkey://:" + secret,         // '@host' forgotten: no host, so no port either
           "valkey://:" + secret + "/0",  // the same, with a database
       }) {
    const auto url_message = error_of_url(url);
    EXPECT_LACKS(url_message, secret);
    const auto variable_message = error_of_variables({{"VALKEY_URL", url}});
    EXPECT_LACKS(variable_message, secret);
    EXPECT_CONTAINS(variable_message, "VALKEY_URL=");
  }
  EXPECT_CONTAINS(error_of_url("valkey://app:" + secret + "@h:99999"), "valkey://app:***@h:99999");
}

TEST(ValkeyConfig, ValidationErrorsNeverShowThePassword) {
  const auto message = error_of_variables({{"VALKEY_PASSWORD", kPassword}, {"VALKEY_PORT", "0"}});
  EXPECT_LACKS(message, kPassword);
  ValkeyConfig config;
  config.password = Secret{kPassword};
  config.host.clear();
  EXPECT_LACKS(config_error_of([&] { config.validate(); }), kPassword);
  // The URL's connection fields are listed in later cross-field errors; the password is not.
  EXPECT_LACKS(error_of_variables({{"VALKEY_URL", std::string("valkey://:") + kPassword + "@h"},
                                   {"VALKEY_RETRY_MAX_DELAY", "1ms"}}),
               kPassword);
}

TEST(ValkeyConfig, EnvFileErrorsNeverShowThePassword) {
  const CleanEnvironment environment;
  const TempDir dir;
  const std::string secret = kPassword;
  for (const std::string& line :
       {"VALKEY_PASSWORD " + secret, "VALKEY_PASSWORD=\"" + secret, "VALKEY_PASSWORD='" + secret,
        "VALKEY_PASSWORD=\"" + secret + "\"x", "VALKEY_URL=valkey://:" + secret + "@h:0"}) {
    const auto file = dir.write("a.env", line + "\n");
    const auto message = config_error_of([&] { (void)ValkeyConfig::from_env(file); });
    EXPECT_CONTAINS(message, file.string() + ":1");
    EXPECT_LACKS(message, secret);
  }
}

// ----- parse_duration -------------------------------------------------------------------------

TEST(ParseDuration, AcceptsPlainSecondsAndSuffixedValues) {
  EXPECT_EQ(parse_duration("5"), 5s);
  EXPECT_EQ(parse_duration("0.25"), 250ms);
  EXPECT_EQ(parse_duration("0.1"), 100ms);
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("5s"), 5s);
  EXPECT_EQ(parse_duration("2m"), 2min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  EXPECT_EQ(parse_duration("1.5h"), 90min);
  EXPECT_EQ(parse_duration("0"), 0ms);
  EXPECT_EQ(parse_duration("007s"), 7s);
}

TEST(ParseDuration, RoundsToTheNearestMillisecond) {
  EXPECT_EQ(parse_duration("0.0004"), 0ms);
  EXPECT_EQ(parse_duration("1.6ms"), 2ms);
}

TEST(ParseDuration, RejectsNegativeEmptyAndMalformedText) {
  for (const std::string text : {"", "-1", "-5s", "+5", "5x", "ms", "s", "1.2.3", ".5", "5.", " 5",
                                 "5 ", "5 s", "5S", "inf", "nan", "1e3", "5min", "0x10"}) {
    EXPECT_EQ(parse_duration(text), std::nullopt) << '"' << text << '"';
  }
}

TEST(ParseDuration, RejectsValuesThatWouldOverflow) {
  EXPECT_EQ(parse_duration("99999999999999999h"), std::nullopt);
}

// ----- agreement of .env.example and docs with the code ---------------------------------------

TEST(EnvExample, ListsExactlyTheVariablesTheCodeReads) {
  const auto example = read_env_file(source_path(".env.example"));
  std::set<std::string, std::less<>> in_file;
  for (const auto& [name, value] : example) {
    in_file.insert(name);
  }
  const auto names = config_variable_names();
  const std::set<std::string, std::less<>> in_code(names.begin(), names.end());
  EXPECT_EQ(in_file, in_code);
}

TEST(EnvExample, ValuesAreTheDefaults) {
  EXPECT_EQ(ValkeyConfig::from_variables(read_env_file(source_path(".env.example"))),
            ValkeyConfig{});
}

TEST(EnvExample, EveryVariableHasAOneLineCommentAbove) {
  std::ifstream in(source_path(".env.example"));
  ASSERT_TRUE(in);
  std::string previous;
  std::size_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (!line.empty() && line.front() != '#') {
      EXPECT_TRUE(previous.starts_with("# ")) << ".env.example:" << number << ": " << line;
    }
    previous = line;
  }
}

TEST(ConfigurationDocs, MentionEveryVariable) {
  std::ifstream in(source_path("docs/configuration.md"));
  ASSERT_TRUE(in);
  const std::string docs{std::istreambuf_iterator<char>(in), {}};
  for (const auto name : config_variable_names()) {
    EXPECT_CONTAINS(docs, "`" + std::string(name) + "`");
  }
  EXPECT_CONTAINS(docs, "`VALKEY_URL`");
  EXPECT_CONTAINS(docs, "`VALKEY_ENV_FILE`");
}

}  // namespace
}  // namespace airport::cache
