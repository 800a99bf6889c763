// SPDX-License-Identifier: BSD-3-Clause
// ValkeyConfig: every setting of the library in one plain struct with in-class defaults, plus the
// functions that fill it from VALKEY_* variables, a .env file or a URL.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace airport::cache {

/// A string that never shows itself: streaming it or describing a config prints "***".
/// Use reveal() only where the secret must go on the wire (AUTH).
class Secret {
 public:
  Secret() = default;
  /// Holds `value`; an empty one means "no secret".
  explicit Secret(std::string value) : value_(std::move(value)) {}

  /// The secret itself. Call it only to put the secret on the wire, never to show it.
  [[nodiscard]] const std::string& reveal() const noexcept { return value_; }
  /// Whether no secret is set.
  [[nodiscard]] bool empty() const noexcept { return value_.empty(); }
  friend bool operator==(const Secret&, const Secret&) = default;
  /// Writes `***`, or nothing when no secret is set; never the secret.
  friend std::ostream& operator<<(std::ostream& out, const Secret& secret) {
    return out << (secret.empty() ? "" : "***");
  }

 private:
  std::string value_;
};

/// The library's log levels, mirroring spdlog's without including it.
enum class LogLevel { Trace, Debug, Info, Warn, Error, Critical, Off };

/// Retries of failed cache operations (CacheManager). Exponential backoff with full jitter.
struct RetryOptions {
  /// Attempts per operation, the first included; 1 disables retries. Default 3.
  int max_attempts = 3;
  /// Backoff before the first retry; each later one doubles, before jitter. Default 50 ms.
  std::chrono::milliseconds base_delay{50};
  /// Cap of one backoff. Default 1 s.
  std::chrono::milliseconds max_delay{1000};
  /// Whether a timeout is retried. A timed-out write may have been applied, so only idempotent
  /// operations are ever retried. Default true.
  bool retry_on_timeout = true;

  friend bool operator==(const RetryOptions&, const RetryOptions&) = default;
};

/// The CacheManager's circuit breaker. It opens on evidence spread over time (failure_threshold
/// failures, each at least failure_spacing after the last one counted, with no success between)
/// and stays open for a period that grows with the outage: initial_recovery_timeout, doubled on
/// each failed half-open probe, capped at recovery_timeout, and back to the initial one when it
/// closes. docs/resilience.md explains the rule.
struct CircuitBreakerOptions {
  /// Consecutive availability failures (connection, timeout, a refused handshake) that open the
  /// breaker, counting only those at least failure_spacing apart. Only calls that reached the
  /// server count: our own fast-fails (reconnect backoff, a busy pool) do not.
  /// Env: VALKEY_CIRCUIT_FAILURE_THRESHOLD. Default 5, as in the original workshop.
  int failure_threshold = 5;
  /// The longest open period: the cap of the doubling that starts at initial_recovery_timeout.
  /// Env: VALKEY_CIRCUIT_RECOVERY_TIMEOUT. Default 30 s.
  std::chrono::milliseconds recovery_timeout{30'000};
  /// Probe calls allowed while half-open; their successes close the breaker.
  /// Env: VALKEY_CIRCUIT_HALF_OPEN_MAX_CALLS. Default 3.
  int half_open_max_calls = 3;
  /// A failure counts toward failure_threshold only when it comes at least this long after the
  /// last one that counted (the first failure after a success always counts). Failures closer
  /// together are one piece of evidence: callers timing out on the same stall. So the breaker
  /// opens only after (failure_threshold - 1) * failure_spacing of failures, 400 ms by default.
  /// 0 counts every failure. Env: VALKEY_CIRCUIT_FAILURE_SPACING. Default 100 ms.
  std::chrono::milliseconds failure_spacing{100};
  /// The first open period after the breaker was closed; each failed half-open probe doubles
  /// it, up to recovery_timeout (a larger value acts as recovery_timeout). A short pause then
  /// costs a short open period, and a long outage sends one probe per recovery_timeout.
  /// Env: VALKEY_CIRCUIT_INITIAL_RECOVERY_TIMEOUT. Default 250 ms.
  std::chrono::milliseconds initial_recovery_timeout{250};

  friend bool operator==(const CircuitBreakerOptions&, const CircuitBreakerOptions&) = default;
};

/// The in-memory fallback that serves reads and takes writes while Valkey is unavailable.
struct FallbackOptions {
  /// Whether the fallback is used at all. Default true.
  bool enabled = true;
  /// Most entries kept; entries not read since they were queued are evicted first (CLOCK, see
  /// FallbackCache). Default 10,000.
  std::size_t max_entries = 10'000;
  /// Most bytes kept (keys + values + per-entry overhead). Default 64 MiB.
  std::size_t max_bytes = 64 * 1024 * 1024;
  /// Most invalidations (del, expire, invalidate_pattern, writes) remembered while Valkey is
  /// unavailable, replayed when it is back. Past this the journal overflows: counted in stats and
  /// logged as an error. Default 10,000.
  std::size_t journal_max_entries = 10'000;

  friend bool operator==(const FallbackOptions&, const FallbackOptions&) = default;
};

/// TLS to the server: valkeys:// and rediss:// URLs, or VALKEY_TLS=true. Verification of the
/// certificate chain and of the server's name is on unless `verify` is false. TLS 1.2 at least;
/// never a fallback to plaintext.
struct TlsOptions {
  /// Whether connections use TLS. Env: VALKEY_TLS. Default false (true for valkeys://).
  bool enabled = false;
  /// PEM file of the CA certificates that may sign the server's certificate. With neither this
  /// nor ca_dir, the system trust store (OpenSSL's default paths). Env: VALKEY_TLS_CA_FILE.
  std::string ca_file;
  /// Directory of hashed CA certificates (c_rehash). Env: VALKEY_TLS_CA_DIR.
  std::string ca_dir;
  /// PEM client certificate for mutual TLS; needs key_file. Env: VALKEY_TLS_CERT_FILE.
  std::string cert_file;
  /// PEM private key of cert_file. Env: VALKEY_TLS_KEY_FILE.
  std::string key_file;
  /// Name sent as SNI and verified against the certificate; empty means the host.
  /// Env: VALKEY_TLS_SERVER_NAME.
  std::string server_name;
  /// Whether the certificate chain and name are verified. false is refused unless the host is
  /// loopback or allow_insecure is set, and logs a warning once per client.
  /// Env: VALKEY_TLS_VERIFY. Default true.
  bool verify = true;
  /// Allows verify=false for a host that is not loopback. Env: VALKEY_TLS_ALLOW_INSECURE.
  /// Default false.
  bool allow_insecure = false;

  friend bool operator==(const TlsOptions&, const TlsOptions&) = default;
};

/// Whether the client speaks the cluster protocol. Env: VALKEY_CLUSTER.
enum class ClusterMode {
  /// The first node reached is asked whether cluster mode is on, and the answer decides.
  /// Env: auto. The default.
  Auto,
  /// Always the cluster client. Env: true (or 1, yes, on).
  On,
  /// Always the standalone client, with no question asked. Env: false (or 0, no, off).
  Off
};

/// Which nodes of a cluster serve reads. Writes always go to the primary of their slot.
/// Env: VALKEY_READ_FROM.
enum class ReadFrom {
  /// The primary of the key's slot: a read sees every write acknowledged before it.
  /// Env: primary. The default.
  Primary,
  /// Only a replica of the key's slot; a read may miss recent writes. Env: replica.
  Replica,
  /// A replica of the key's slot when one is reachable, else its primary; a read may miss
  /// recent writes. Env: prefer-replica.
  PreferReplica
};

/// Valkey Cluster. With the default mode (Auto) one node's address is enough, given by host
/// and port or a URL (an ElastiCache configuration endpoint, say): the first node reached says
/// whether cluster mode is on, and a cluster's other nodes are learnt from it.
struct ClusterOptions {
  /// Cluster client or standalone client: Auto asks the server, On and Off decide without
  /// asking. Env: VALKEY_CLUSTER (auto, or a boolean). Default Auto.
  ClusterMode mode = ClusterMode::Auto;
  /// More nodes to start from besides host:port, each "host:port" as endpoint() writes it
  /// (an IPv6 address in brackets: "[::1]:7000"). The host follows the rule of
  /// ValkeyConfig::host; the port is required, 1-65535. Refused with mode Off.
  /// Env: VALKEY_CLUSTER_NODES, comma-separated. Default none.
  std::vector<std::string> seed_nodes;
  /// Which nodes serve reads. Anything but Primary may read stale data, and is refused with
  /// mode Off: replica reads need the cluster client. With Auto it applies if the server
  /// turns out to be a cluster. Env: VALKEY_READ_FROM (primary, replica, prefer-replica).
  /// Default Primary.
  ReadFrom read_from = ReadFrom::Primary;

  friend bool operator==(const ClusterOptions&, const ClusterOptions&) = default;
};

/// Every setting of the library. Defaults follow the original workshop where it had one.
/// Build one by hand, or with from_env() / from_url(); call validate() before use (the client
/// and the CacheManager do).
struct ValkeyConfig {
  /// Server host name, IPv4 address or IPv6 address (without brackets, "fe80::1%eth0" with a
  /// zone). validate() refuses anything else, such as blanks or control characters.
  /// Env: VALKEY_HOST. Default "localhost".
  std::string host = "localhost";
  /// Server TCP port, 1-65535. Env: VALKEY_PORT. Default 6379.
  int port = 6379;
  /// ACL user name; empty means password-only AUTH (or none). Env: VALKEY_USERNAME.
  std::string username;
  /// Password for AUTH; never printed. Env: VALKEY_PASSWORD.
  Secret password;
  /// Logical database selected after connecting, >= 0. A cluster has only database 0, so
  /// anything else is refused with cluster.mode On. With Auto it passes validation, and the
  /// client refuses it at connect time if the server turns out to be a cluster.
  /// Env: VALKEY_DATABASE. Default 0.
  int database = 0;
  /// CacheManager: the longest one cache operation may take, retries included; the manager's
  /// connections also use it as their socket and connect timeout when it is shorter.
  /// Env: VALKEY_OPERATION_TIMEOUT. Default 500 ms.
  std::chrono::milliseconds operation_timeout{500};
  /// CacheManager: the largest value it accepts; a larger one is a programming error
  /// (std::invalid_argument). Env: VALKEY_MAX_VALUE_SIZE. Default 8 MiB.
  std::size_t max_value_size = 8 * 1024 * 1024;
  /// Pool size: most connections open at once, >= 1. The pool opens them as callers need them
  /// and keeps them until they break. Env: VALKEY_MAX_CONNECTIONS. Default 16: one per caller for
  /// 16 concurrent callers.
  std::size_t max_connections = 16;
  /// Time allowed to open a TCP connection. Env: VALKEY_SOCKET_CONNECT_TIMEOUT. Default 5 s.
  std::chrono::milliseconds connect_timeout{5000};
  /// Time allowed for one command's reply. Env: VALKEY_SOCKET_TIMEOUT. Default 5 s.
  std::chrono::milliseconds socket_timeout{5000};
  /// Time a caller waits for a free pooled connection before PoolExhaustedError.
  /// Env: VALKEY_POOL_TIMEOUT. Default 1 s.
  std::chrono::milliseconds pool_timeout{1000};
  /// Interval of the background PING health check, and how long a Subscriber's connection may
  /// stay quiet before it PINGs (see Subscriber). Env: VALKEY_HEALTH_CHECK_INTERVAL.
  /// Default 30 s.
  std::chrono::milliseconds health_check_interval{30'000};
  /// First delay between reconnect attempts while the server is down; doubles per failure,
  /// with full jitter. Env: VALKEY_RECONNECT_BASE_DELAY. Default 100 ms.
  std::chrono::milliseconds reconnect_base_delay{100};
  /// Cap of the reconnect delay. Env: VALKEY_RECONNECT_MAX_DELAY. Default 30 s.
  std::chrono::milliseconds reconnect_max_delay{30'000};
  /// A pooled connection idle longer than this is PINGed before it is handed out.
  /// Env: VALKEY_IDLE_CHECK_AFTER. Default 60 s.
  std::chrono::milliseconds idle_check_after{60'000};
  /// Retries of failed operations. Env: VALKEY_RETRY_MAX_ATTEMPTS, VALKEY_RETRY_BASE_DELAY,
  /// VALKEY_RETRY_MAX_DELAY, VALKEY_RETRY_ON_TIMEOUT.
  RetryOptions retry{};
  /// Env: VALKEY_CIRCUIT_FAILURE_THRESHOLD, VALKEY_CIRCUIT_RECOVERY_TIMEOUT,
  /// VALKEY_CIRCUIT_HALF_OPEN_MAX_CALLS, VALKEY_CIRCUIT_FAILURE_SPACING,
  /// VALKEY_CIRCUIT_INITIAL_RECOVERY_TIMEOUT.
  CircuitBreakerOptions circuit_breaker{};
  /// Env: VALKEY_FALLBACK_ENABLED, VALKEY_FALLBACK_MAX_ENTRIES, VALKEY_FALLBACK_MAX_BYTES.
  FallbackOptions fallback{};
  /// Prefix put before every key, e.g. "airport:prod". Env: VALKEY_KEY_PREFIX. Default none.
  std::string key_prefix;
  /// Longest key kept verbatim; longer keys become a readable head plus a digest.
  /// Env: VALKEY_MAX_KEY_LENGTH. Default 250 bytes.
  std::size_t max_key_length = 250;
  /// TTL jitter ratio in [0, 1): a TTL lands uniformly in base*(1 +/- ratio).
  /// Env: VALKEY_TTL_JITTER. Default 0.1.
  double ttl_jitter = 0.1;
  /// Name set with CLIENT SETNAME on every connection; empty skips it.
  /// Env: VALKEY_CLIENT_NAME. Default "airport-cache".
  std::string client_name = "airport-cache";
  /// Level of the library's own log lines. Env: VALKEY_LOG_LEVEL. Default info.
  LogLevel log_level = LogLevel::Info;
  /// TLS to the server. Env: VALKEY_TLS and VALKEY_TLS_*; valkeys:// and rediss:// URLs.
  TlsOptions tls{};
  /// Valkey Cluster. Env: VALKEY_CLUSTER, VALKEY_CLUSTER_NODES, VALKEY_READ_FROM.
  ClusterOptions cluster{};

  /// Reads the VALKEY_* environment variables over the defaults. A .env file is read first if
  /// it exists: `env_file` when given, else $VALKEY_ENV_FILE, else ./.env (only the last may be
  /// missing). Real environment variables win over the file. Within each source VALKEY_URL, when
  /// set, fills all connection fields and tls.enabled first, and empties cluster.seed_nodes, so
  /// that no address from a lower source mixes with it; the individual variables then override
  /// it.
  /// Validates the result. Throws ConfigError naming the variable (or file:line) and the value,
  /// never the password.
  [[nodiscard]] static ValkeyConfig from_env(
      std::optional<std::filesystem::path> env_file = std::nullopt);

  /// The same as from_env(), from an explicit set of variables instead of the process
  /// environment and no .env file. Useful for tests and for configs kept elsewhere.
  [[nodiscard]] static ValkeyConfig from_variables(
      const std::map<std::string, std::string, std::less<>>& variables);

  /// Parses valkey://[user[:password]@]host[:port][/db] (redis:// too) over the defaults. An
  /// IPv6 host goes in brackets, its zone as %25 (RFC 6874) or a bare %. valkeys:// and
  /// rediss:// parse the same way and set tls.enabled; valkey:// and redis:// leave it false.
  /// Other TLS settings are not part of a URL. Throws ConfigError naming a bad host, port or
  /// database as written; a password before the '@' shows as "***".
  [[nodiscard]] static ValkeyConfig from_url(std::string_view url);

  /// Throws ConfigError naming the first invalid field and its value, or both fields of a
  /// combination refused (database other than 0 with cluster.mode On, say). Looks at the file
  /// system for the TLS files and CA directory (exist, right kind, readable); nothing else.
  void validate() const;

  /// "host:port", for messages and logs.
  [[nodiscard]] std::string endpoint() const;

  /// A one-line description of every field with the password shown as "***".
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const ValkeyConfig&, const ValkeyConfig&) = default;
};

/// Reads a .env file into variables: comments, blank lines, `export ` prefixes, single- and
/// double-quoted values and `=` inside values are accepted. Throws ConfigError with file:line
/// for a malformed line.
[[nodiscard]] std::map<std::string, std::string, std::less<>> read_env_file(
    const std::filesystem::path& path);

/// The names of the per-field VALKEY_* variables, one per setting, in declaration order.
/// VALKEY_URL and VALKEY_ENV_FILE are read too but are not among them. Documentation and
/// .env.example are checked against this list.
[[nodiscard]] std::span<const std::string_view> config_variable_names() noexcept;

/// Parses a duration: plain seconds ("5", "0.25") or suffixed ("250ms", "5s", "2m", "1h").
/// Returns nullopt for anything else, including negative values.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace airport::cache
