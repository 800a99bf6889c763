// SPDX-License-Identifier: BSD-3-Clause
// The TLS transport: OpenSSL over the non-blocking TCP transport's socket. Every SSL_connect,
// SSL_read and SSL_write runs non-blocking and, when OpenSSL wants the socket, waits with
// wait_ready() on what is left of the deadline, so TLS keeps the deadline and cancellation of
// plain TCP. One SSL_CTX per distinct TLS setting, shared by every connection of the process:
// it holds the trust store, the client certificate and the sessions offered for resumption,
// and it is built again when a certificate, key or CA file changed on disk.
#include <arpa/inet.h>
#include <poll.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <spdlog/logger.h>

#include "airport/cache/config.hpp"
#include "airport/cache/errors.hpp"
#include "transport.hpp"

namespace airport::cache::detail {
namespace {

// OpenSSL's reason for the last failure on this thread, "" when its queue is empty. The queue
// is cleared: the next operation starts clean.
std::string take_openssl_reason() {
  std::string reason;
  while (const unsigned long code = ERR_get_error()) {
    const char* text = ERR_reason_error_string(code);
    reason = text != nullptr ? text : fmt::format("OpenSSL error {:#x}", code);
  }
  return reason;
}

bool is_ip_address(const std::string& host) {
  in6_addr address{};
  return ::inet_pton(AF_INET, host.c_str(), &address) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), &address) == 1;
}

// What identifies a file's content well enough to notice a rotation: a rename swaps the inode,
// an in-place rewrite the modification time or the size.
using FileStamp = std::tuple<dev_t, ino_t, off_t, long long, long long>;

FileStamp stamp_of(const std::string& path) {
  if (path.empty())
    return {};
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    return {};  // loading it will say why
  return {info.st_dev, info.st_ino, info.st_size, static_cast<long long>(info.st_mtim.tv_sec),
          static_cast<long long>(info.st_mtim.tv_nsec)};
}

struct ContextDeleter {
  void operator()(SSL_CTX* context) const noexcept { SSL_CTX_free(context); }
};
struct SessionDeleter {
  void operator()(SSL_SESSION* session) const noexcept { SSL_SESSION_free(session); }
};
struct SslDeleter {
  void operator()(SSL* ssl) const noexcept { SSL_free(ssl); }
};
using ContextPtr = std::unique_ptr<SSL_CTX, ContextDeleter>;
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

// The SSL_CTX of one TLS setting. Connections share it: they take a reference to the current
// SSL_CTX (SSL_new() holds one), so a rebuild after a rotation never pulls it from under them.
class TlsContext {
 public:
  explicit TlsContext(const TlsOptions& options) : options_{options} {}

  // The context for a new connection: rebuilt first if a file changed since the last build.
  std::shared_ptr<SSL_CTX> current() {
    const std::lock_guard lock{mutex_};
    std::vector<FileStamp> stamps{stamp_of(options_.ca_file), stamp_of(options_.ca_dir),
                                  stamp_of(options_.cert_file), stamp_of(options_.key_file)};
    if (!context_ || stamps != stamps_) {
      context_ = build();
      stamps_ = std::move(stamps);
      sessions_.clear();  // sessions of the old trust settings are not to be resumed
    }
    return context_;
  }

  // A session of an earlier connection to `endpoint`, to offer for resumption; null if none.
  SessionPtr session_for(const std::string& endpoint) {
    const std::lock_guard lock{mutex_};
    const auto found = sessions_.find(endpoint);
    if (found == sessions_.end())
      return nullptr;
    SSL_SESSION_up_ref(found->second.get());
    return SessionPtr{found->second.get()};
  }

  void remember_session(const std::string& endpoint, SSL_SESSION* session) {
    const std::lock_guard lock{mutex_};
    sessions_[endpoint] = SessionPtr{session};
  }

  [[nodiscard]] const TlsOptions& options() const { return options_; }

 private:
  std::shared_ptr<SSL_CTX> build() const {
    ContextPtr context{SSL_CTX_new(TLS_client_method())};
    if (!context)
      throw ConnectionError("TLS: cannot create an SSL_CTX: " + take_openssl_reason());
    SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
    // Take whatever the socket holds in one read, rather than a record header and then its
    // body: one syscall fewer per reply.
    SSL_CTX_set_read_ahead(context.get(), 1);
    SSL_CTX_set_mode(context.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                        SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_AUTO_RETRY);
    if (!options_.ca_file.empty() || !options_.ca_dir.empty()) {
      const char* file = options_.ca_file.empty() ? nullptr : options_.ca_file.c_str();
      const char* dir = options_.ca_dir.empty() ? nullptr : options_.ca_dir.c_str();
      if (SSL_CTX_load_verify_locations(context.get(), file, dir) != 1) {
        throw ConnectionError(fmt::format("TLS: cannot load the CA certificates from {}: {}",
                                          file != nullptr ? options_.ca_file : options_.ca_dir,
                                          take_openssl_reason()));
      }
    } else if (SSL_CTX_set_default_verify_paths(context.get()) != 1) {
      throw ConnectionError("TLS: cannot load the system trust store: " + take_openssl_reason());
    }
    if (!options_.cert_file.empty()) {
      if (SSL_CTX_use_certificate_chain_file(context.get(), options_.cert_file.c_str()) != 1) {
        throw ConnectionError(fmt::format("TLS: cannot load the client certificate {}: {}",
                                          options_.cert_file, take_openssl_reason()));
      }
      if (SSL_CTX_use_PrivateKey_file(context.get(), options_.key_file.c_str(), SSL_FILETYPE_PEM) !=
              1 ||
          SSL_CTX_check_private_key(context.get()) != 1) {
        throw ConnectionError(fmt::format("TLS: cannot use the client key {} with {}: {}",
                                          options_.key_file, options_.cert_file,
                                          take_openssl_reason()));
      }
    }
    SSL_CTX_set_verify(context.get(), options_.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    // Client-side session cache, kept by us per endpoint (the internal store is for servers):
    // the callback hands over each session the server issues, TLS 1.3 tickets included, which
    // arrive after the handshake.
    SSL_CTX_set_session_cache_mode(context.get(),
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(context.get(), &TlsContext::on_new_session);
    return {context.release(), ContextDeleter{}};
  }

  static int on_new_session(SSL* ssl, SSL_SESSION* session);

  TlsOptions options_;
  std::mutex mutex_;
  std::shared_ptr<SSL_CTX> context_;
  std::vector<FileStamp> stamps_;
  std::map<std::string, SessionPtr, std::less<>> sessions_;
};

// One TlsContext per distinct TLS setting, for the life of the process: a handful at most.
std::shared_ptr<TlsContext> context_for(const TlsOptions& options) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<TlsContext>, std::less<>> contexts;
  const std::string key =
      fmt::format("{}\n{}\n{}\n{}\n{}", options.ca_file, options.ca_dir, options.cert_file,
                  options.key_file, options.verify ? "verify" : "no-verify");
  const std::lock_guard lock{mutex};
  auto& context = contexts[key];
  if (!context)
    context = std::make_shared<TlsContext>(options);
  return context;
}

class TlsTransport final : public PolledTransport {
 public:
  TlsTransport(std::unique_ptr<Transport> tcp, std::shared_ptr<TlsContext> context,
               std::shared_ptr<SSL_CTX> ssl_context, std::string endpoint)
      : PolledTransport{std::chrono::milliseconds{5000}},
        tcp_{std::move(tcp)},
        context_{std::move(context)},
        ssl_context_{std::move(ssl_context)},
        endpoint_{std::move(endpoint)},
        ssl_{SSL_new(ssl_context_.get())} {
    if (!ssl_ || SSL_set_fd(ssl_.get(), tcp_->native_handle()) != 1)
      throw ConnectionError(
          fmt::format("TLS to {}: cannot set up: {}", endpoint_, take_openssl_reason()));
    SSL_set_app_data(ssl_.get(), this);
    has_client_certificate_ = !context_->options().cert_file.empty();
  }
  ~TlsTransport() override { close(); }
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  // Verifies `name` (a DNS name, or an IP address against the IP SANs) and sends it as SNI
  // when it is a DNS name, then runs the handshake. Throws with the reason it failed.
  void handshake(const std::string& name, bool verify, Clock::time_point deadline, int cancel_fd) {
    SSL* ssl = ssl_.get();
    if (!is_ip_address(name))
      SSL_set_tlsext_host_name(ssl, name.c_str());
    if (verify) {
      const bool named = is_ip_address(name)
                             ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1
                             : SSL_set1_host(ssl, name.c_str()) == 1;
      if (!named)
        throw ConnectionError(
            fmt::format("TLS to {}: cannot verify the name '{}'", endpoint_, name));
    }
    // Sessions are kept per endpoint and name: one issued for another name is not offered.
    session_key_ = endpoint_ + '|' + name;
    if (SessionPtr session = context_->session_for(session_key_))
      SSL_set_session(ssl, session.get());  // takes its own reference
    for (;;) {
      ERR_clear_error();
      const int rc = SSL_connect(ssl);
      if (rc == 1)
        return;
      const int error = SSL_get_error(ssl, rc);
      const int saved_errno = errno;
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        const IoResult ready =
            wait_ready(tcp_->native_handle(), error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                       deadline, cancel_fd);
        if (ready.status == IoStatus::Ok)
          continue;
        failed_ = true;
        if (ready.status == IoStatus::Timeout) {
          // A plaintext server takes the ClientHello for the start of a command and waits for
          // the rest, so a wrong port looks like this too.
          throw TimeoutError(fmt::format(
              "TLS handshake with {}: no answer in time (is the server up, and does the server "
              "speak TLS on this port?)",
              endpoint_));
        }
        if (ready.status == IoStatus::Cancelled)
          throw ConnectionError(
              fmt::format("TLS handshake with {}: cancelled by shutdown", endpoint_));
        throw ConnectionError(fmt::format("TLS handshake with {}: {}", endpoint_, ready.detail));
      }
      failed_ = true;
      throw ConnectionError(fmt::format("TLS handshake with {} failed: {}", endpoint_,
                                        handshake_failure(error, saved_errno, name)));
    }
  }

  IoResult write_all_until(std::string_view bytes, Clock::time_point deadline,
                           int cancel_fd) override {
    std::size_t written = 0;
    while (written < bytes.size()) {
      if (failed_ || !ssl_)
        return {IoStatus::Closed, written, "connection closed"};
      ERR_clear_error();
      const int chunk = static_cast<int>(std::min<std::size_t>(bytes.size() - written, INT_MAX));
      const int n = SSL_write(ssl_.get(), bytes.data() + written, chunk);
      if (n > 0) {
        written += static_cast<std::size_t>(n);
        continue;
      }
      IoResult result = after_failed_call(n, deadline, cancel_fd);
      if (result.status == IoStatus::Ok)
        continue;
      result.bytes = written;
      return result;
    }
    return {IoStatus::Ok, written, {}};
  }

  IoResult read_some_until(char* buffer, std::size_t size, Clock::time_point deadline,
                           int cancel_fd) override {
    for (;;) {
      if (failed_ || !ssl_)
        return {IoStatus::Closed, 0, "connection closed"};
      // Wait first, as plaintext does (a reply is rarely there right after its command), unless
      // OpenSSL already holds bytes, which poll() cannot see.
      if (SSL_has_pending(ssl_.get()) == 0) {
        if (IoResult ready = wait_ready(tcp_->native_handle(), POLLIN, deadline, cancel_fd);
            ready.status != IoStatus::Ok) {
          failed_ = true;
          return ready;
        }
      }
      ERR_clear_error();
      const int n =
          SSL_read(ssl_.get(), buffer, static_cast<int>(std::min<std::size_t>(size, INT_MAX)));
      if (n > 0) {
        answered_ = true;
        return {IoStatus::Ok, static_cast<std::size_t>(n), {}};
      }
      IoResult result = after_failed_call(n, deadline, cancel_fd);
      if (result.status != IoStatus::Ok)
        return result;
    }
  }

  bool wait_readable(std::chrono::milliseconds timeout) override {
    if (has_buffered_input())
      return true;
    pollfd pfd{tcp_->native_handle(), POLLIN, 0};
    return ::poll(&pfd, 1, static_cast<int>(timeout.count())) > 0;
  }

  [[nodiscard]] bool has_buffered_input() const noexcept override {
    return ssl_ && SSL_has_pending(ssl_.get()) == 1;
  }

  [[nodiscard]] bool resumed_session() const noexcept override {
    return ssl_ && SSL_session_reused(ssl_.get()) == 1;
  }

  [[nodiscard]] int native_handle() const noexcept override { return tcp_->native_handle(); }

  void close() noexcept override {
    if (ssl_) {
      // One non-blocking close_notify for a healthy session; never after a failure, when
      // OpenSSL forbids it, and never waiting for the peer's.
      if (!failed_ && SSL_is_init_finished(ssl_.get()) == 1) {
        ERR_clear_error();
        (void)SSL_shutdown(ssl_.get());
      }
      ERR_clear_error();
      ssl_.reset();
    }
    tcp_->close();
  }

  void remember(SSL_SESSION* session) { context_->remember_session(session_key_, session); }

 private:
  // After SSL_read or SSL_write returned `rc` <= 0: waits for the socket when OpenSSL wants it
  // (Ok: call again), or says how the connection ended. A connection that failed is never used
  // again: a half-read record would otherwise be read by the next caller.
  IoResult after_failed_call(int rc, Clock::time_point deadline, int cancel_fd) {
    const int error = SSL_get_error(ssl_.get(), rc);
    const int saved_errno = errno;
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      IoResult ready =
          wait_ready(tcp_->native_handle(), error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                     deadline, cancel_fd);
      if (ready.status != IoStatus::Ok)
        failed_ = true;
      return ready;
    }
    failed_ = true;
    IoResult result = ended(error, saved_errno);
    // In TLS 1.3 the server checks the client certificate after the client's handshake is
    // done, so a refusal shows up only here, as a reset or an alert before any answer.
    if (!answered_ && !has_client_certificate_)
      result.detail +=
          " (the server ended the TLS session before answering: it may require a "
          "client certificate, see VALKEY_TLS_CERT_FILE)";
    return result;
  }

  IoResult ended(int error, int saved_errno) {
    if (error == SSL_ERROR_ZERO_RETURN)
      return {IoStatus::Closed, 0, "connection closed by server"};
    const std::string reason = take_openssl_reason();
    if (error == SSL_ERROR_SYSCALL && reason.empty()) {
      if (saved_errno == 0 || saved_errno == EPIPE || saved_errno == ECONNRESET)
        return {IoStatus::Closed, 0,
                saved_errno == 0 ? "connection closed by server" : std::strerror(saved_errno)};
      return {IoStatus::Failed, 0, std::strerror(saved_errno)};
    }
    // The server refused us mid-session, e.g. "tlsv13 alert certificate required".
    return {IoStatus::Failed, 0,
            "TLS: " + (reason.empty() ? std::string{"protocol error"} : reason)};
  }

  std::string handshake_failure(int error, int saved_errno, const std::string& name) {
    const long verify = SSL_get_verify_result(ssl_.get());
    std::string reason = take_openssl_reason();
    if (verify != X509_V_OK) {
      std::string why = X509_verify_cert_error_string(verify);
      if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH)
        why += fmt::format(
            " (the certificate is not for '{}'; VALKEY_TLS_SERVER_NAME sets the "
            "name to verify)",
            name);
      return "certificate verify failed: " + why;
    }
    if (reason == "wrong version number" || reason == "packet length too long" ||
        reason == "record layer failure")
      return reason + " (does the server speak TLS on this port?)";
    if (!reason.empty())
      return reason;
    if (error == SSL_ERROR_SYSCALL || error == SSL_ERROR_ZERO_RETURN)
      return saved_errno == 0 ? "the server closed the connection (does it speak TLS on this "
                                "port?)"
                              : std::strerror(saved_errno);
    return fmt::format("SSL error {}", error);
  }

  std::unique_ptr<Transport> tcp_;
  std::shared_ptr<TlsContext> context_;
  std::shared_ptr<SSL_CTX> ssl_context_;
  std::string endpoint_;
  std::string session_key_;
  SslPtr ssl_;
  bool failed_ = false;
  bool answered_ = false;  // application data arrived: the server accepted the session
  bool has_client_certificate_ = false;
};

int TlsContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* transport = static_cast<TlsTransport*>(SSL_get_app_data(ssl));
  if (transport == nullptr)
    return 0;
  transport->remember(session);
  return 1;  // we keep the reference
}

}  // namespace

void warn_if_tls_unverified(const ValkeyConfig& config, spdlog::logger& logger) {
  if (config.tls.enabled && !config.tls.verify) {
    logger.warn(
        "TLS to {} without verification (VALKEY_TLS_VERIFY=false): traffic is encrypted, but "
        "the server is not authenticated, so a man in the middle can read it",
        config.endpoint());
  }
}

std::unique_ptr<Transport> connect_tls(std::unique_ptr<Transport> tcp, const ValkeyConfig& config,
                                       Clock::time_point deadline, int cancel_fd) {
  const std::shared_ptr<TlsContext> context = context_for(config.tls);
  auto transport = std::make_unique<TlsTransport>(std::move(tcp), context, context->current(),
                                                  config.endpoint());
  const std::string& name = config.tls.server_name.empty() ? config.host : config.tls.server_name;
  transport->handshake(name, config.tls.verify, deadline, cancel_fd);
  transport->set_io_timeout(config.socket_timeout);
  return transport;
}

}  // namespace airport::cache::detail
