// SPDX-License-Identifier: BSD-3-Clause
#include "support/tls_probe.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <system_error>

namespace airport::cache::testing {
namespace {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

// Closes the socket when the probe ends, however it ends.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  [[nodiscard]] int fd() const { return fd_; }

 private:
  int fd_;
};

void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { std::signal(SIGPIPE, SIG_IGN); });
}

// Everything OpenSSL queued on this thread, oldest first, and clears the queue.
std::string openssl_errors() {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    text += text.empty() ? "" : "; ";
    text += buffer;
  }
  return text;
}

// Why an SSL_* call failed: the verification result when the chain or name was rejected, else
// the error queue, else the errno of a plain I/O failure.
std::string ssl_failure(SSL* ssl, int result) {
  const int saved_errno = errno;
  const int error = SSL_get_error(ssl, result);
  std::string reason;
  if (const long verify = SSL_get_verify_result(ssl); verify != X509_V_OK) {
    reason = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  }
  const std::string queued = openssl_errors();
  if (!queued.empty()) {
    reason += (reason.empty() ? "" : " (") + queued + (reason.empty() ? "" : ")");
  }
  if (reason.empty()) {
    if (error == SSL_ERROR_ZERO_RETURN) {
      reason = "the server closed the TLS session";
    } else if (error == SSL_ERROR_SYSCALL && saved_errno != 0) {
      reason = std::error_code(saved_errno, std::generic_category()).message();
    } else if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
      reason = "timed out";
    } else {
      reason = "the server closed the connection (SSL error " + std::to_string(error) + ")";
    }
  }
  return reason;
}

}  // namespace

std::string tls_ping(const std::string& host, int port, const TlsProbeOptions& options) {
  ignore_sigpipe();
  const std::string where = "tls_ping " + host + ":" + std::to_string(port);
  const auto fail = [&](const std::string& stage, const std::string& reason) {
    return std::runtime_error(where + ": " + stage + ": " + reason);
  };
  ERR_clear_error();

  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    throw fail("SSL_CTX_new", openssl_errors());
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr) != 1) {
    throw fail("loading CA file " + options.ca_file.string(), openssl_errors());
  }
  if (!options.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), options.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx.get(), options.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      throw fail("loading client certificate " + options.cert_file.string(), openssl_errors());
    }
  }

  const Socket socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (socket.fd() < 0) {
    throw fail("socket", std::error_code(errno, std::generic_category()).message());
  }
  // Linux bounds a blocking connect by the send timeout, and OpenSSL's blocking reads and writes
  // by both.
  timeval timeout{};
  timeout.tv_sec = static_cast<time_t>(options.timeout.count() / 1000);
  timeout.tv_usec = static_cast<suseconds_t>((options.timeout.count() % 1000) * 1000);
  ::setsockopt(socket.fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(socket.fd(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    throw fail("connect", "host must be an IPv4 address");
  }
  if (::connect(socket.fd(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    throw fail("connect", std::error_code(errno, std::generic_category()).message());
  }

  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
  if (!ssl || SSL_set_fd(ssl.get(), socket.fd()) != 1) {
    throw fail("SSL_new", openssl_errors());
  }
  in_addr ignored{};
  const bool expects_ip = ::inet_pton(AF_INET, options.expected_name.c_str(), &ignored) == 1;
  const bool name_set =
      expects_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()),
                                                 options.expected_name.c_str()) == 1
                 : SSL_set1_host(ssl.get(), options.expected_name.c_str()) == 1 &&
                       SSL_set_tlsext_host_name(ssl.get(), options.expected_name.c_str()) == 1;
  if (!name_set) {
    throw fail("setting the expected name " + options.expected_name, openssl_errors());
  }

  if (const int result = SSL_connect(ssl.get()); result != 1) {
    throw fail("handshake", ssl_failure(ssl.get(), result));
  }
  static constexpr char kPing[] = "*1\r\n$4\r\nPING\r\n";
  if (const int result = SSL_write(ssl.get(), kPing, sizeof(kPing) - 1);
      result != static_cast<int>(sizeof(kPing) - 1)) {
    // A server that rejected the client's certificate has sent its alert and closed, and the
    // reset that follows can fail the write first. The alert may still be waiting to be read:
    // it says why, where the reset does not.
    const std::string write_failure = ssl_failure(ssl.get(), result);
    char buffer[256];
    const int read = SSL_read(ssl.get(), buffer, sizeof(buffer));
    const std::string read_failure = read <= 0 ? ssl_failure(ssl.get(), read) : "";
    throw fail("write", read_failure.find(':') != std::string::npos
                            ? write_failure + "; the server said: " + read_failure
                            : write_failure);
  }
  std::string reply;
  while (reply.find("\r\n") == std::string::npos) {
    char buffer[256];
    const int result = SSL_read(ssl.get(), buffer, sizeof(buffer));
    if (result <= 0) {
      throw fail("read", ssl_failure(ssl.get(), result));
    }
    reply.append(buffer, static_cast<std::size_t>(result));
  }
  SSL_shutdown(ssl.get());
  return reply.substr(0, reply.find("\r\n"));
}

}  // namespace airport::cache::testing
