// SPDX-License-Identifier: BSD-3-Clause
#include "support/tls_certificates.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

namespace airport::cache::testing {
namespace {

constexpr const char* kValidDays = "7";
constexpr const char* kEcKey[] = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc"};
// The expired certificate's whole validity: a day long past, so that it fails every check
// as "certificate has expired", whatever the clock of the machine running the tests says.
constexpr const char* kExpiredNotBefore = "20200101000000Z";
constexpr const char* kExpiredNotAfter = "20200102000000Z";

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

std::filesystem::path find_openssl() {
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::stringstream directories(path);
    std::string directory;
    while (std::getline(directories, directory, ':')) {
      const auto candidate = std::filesystem::path(directory.empty() ? "." : directory) / "openssl";
      std::error_code ec;
      if (std::filesystem::is_regular_file(candidate, ec) &&
          ::access(candidate.c_str(), X_OK) == 0) {
        return std::filesystem::absolute(candidate);
      }
    }
  }
  throw std::runtime_error(
      "openssl not on PATH: the TLS tests make their certificates with it; "
      "run scripts/setup");
}

std::string describe(const std::vector<std::string>& args) {
  std::string text = "openssl";
  for (const auto& arg : args) {
    text += ' ';
    text += arg.find(' ') == std::string::npos ? arg : "'" + arg + "'";
  }
  return text;
}

// One openssl run in flight. Output goes to a pipe that finish() drains; a run that is never
// finished (an exception between start and finish) is killed and reaped by its pid.
class OpensslRun {
 public:
  explicit OpensslRun(std::vector<std::string> args) : args_(std::move(args)) {
    const std::string binary = find_openssl().string();
    std::vector<char*> argv;
    argv.reserve(args_.size() + 2);
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const auto& arg : args_) {
      argv.push_back(const_cast<char*>(arg.c_str()));
    }
    argv.push_back(nullptr);

    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      throw std::runtime_error("run_openssl: pipe: " + errno_text(errno));
    }
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const pid_t parent = ::getpid();
    // fork + execv, with only async-signal-safe calls in the child: the test process has other
    // threads whose locks a fork can leave held.
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        ::_exit(127);
      }
      ::dup2(null_fd, STDIN_FILENO);
      ::dup2(pipe_fds[1], STDOUT_FILENO);
      ::dup2(pipe_fds[1], STDERR_FILENO);
      ::signal(SIGPIPE, SIG_DFL);
      sigset_t none;
      ::sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execv(argv[0], argv.data());
      static constexpr char kExecFailed[] = "run_openssl: execv failed\n";
      [[maybe_unused]] const auto ignored =
          ::write(STDERR_FILENO, kExecFailed, sizeof(kExecFailed) - 1);
      ::_exit(127);
    }
    const int fork_error = errno;
    ::close(pipe_fds[1]);
    if (null_fd >= 0) {
      ::close(null_fd);
    }
    if (pid_ < 0) {
      ::close(pipe_fds[0]);
      throw std::runtime_error("run_openssl: fork: " + errno_text(fork_error));
    }
    output_fd_ = pipe_fds[0];
  }

  ~OpensslRun() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    if (output_fd_ >= 0) {
      ::close(output_fd_);
    }
  }
  OpensslRun(const OpensslRun&) = delete;
  OpensslRun& operator=(const OpensslRun&) = delete;

  // Reads the output to its end, then reaps the process.
  CommandResult finish() {
    CommandResult result;
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::read(output_fd_, buffer, sizeof(buffer))) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) {
        result.output.append(buffer, static_cast<std::size_t>(n));
      }
    }
    ::close(output_fd_);
    output_fd_ = -1;
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    result.exit_code = WIFEXITED(status)     ? WEXITSTATUS(status)
                       : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                             : status;
    return result;
  }

  // finish(), throwing when the command failed.
  void finish_or_throw() {
    const CommandResult result = finish();
    if (result.exit_code != 0) {
      throw std::runtime_error("TlsCertificates: `" + describe(args_) + "` exited with status " +
                               std::to_string(result.exit_code) + ":\n" + result.output);
    }
  }

 private:
  std::vector<std::string> args_;
  pid_t pid_ = -1;
  int output_fd_ = -1;
};

// Starts every run, then waits for all of them: they do not depend on each other, and openssl
// spends most of its time starting up, which the runs then share between the CPUs.
void run_all(std::vector<std::vector<std::string>> commands) {
  std::vector<std::unique_ptr<OpensslRun>> runs;
  runs.reserve(commands.size());
  for (auto& command : commands) {
    runs.push_back(std::make_unique<OpensslRun>(std::move(command)));
  }
  for (auto& run : runs) {
    run->finish_or_throw();
  }
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) {
    throw std::runtime_error("TlsCertificates: cannot write " + path.string());
  }
}

// The only configuration the openssl runs read, so that the system's openssl.cnf (whose default
// req extensions make every certificate a CA) does not decide what the certificates contain.
std::string openssl_config(const std::filesystem::path& dir) {
  const std::string database = (dir / "ca-database").string();
  return "# Written by airport-cache's TlsCertificates for one test run.\n"
         "[req]\n"
         "distinguished_name = req_dn\n"
         "prompt = no\n"
         "[req_dn]\n"
         "CN = unused\n"
         "\n"
         "[ca_ext]\n"
         "basicConstraints = critical, CA:TRUE\n"
         "keyUsage = critical, keyCertSign, cRLSign\n"
         "subjectKeyIdentifier = hash\n"
         "[server_ext]\n"
         "basicConstraints = critical, CA:FALSE\n"
         "keyUsage = critical, digitalSignature\n"
         "extendedKeyUsage = serverAuth\n"
         "subjectKeyIdentifier = hash\n"
         "authorityKeyIdentifier = keyid\n"
         "[client_ext]\n"
         "basicConstraints = critical, CA:FALSE\n"
         "keyUsage = critical, digitalSignature\n"
         "extendedKeyUsage = clientAuth\n"
         "subjectKeyIdentifier = hash\n"
         "authorityKeyIdentifier = keyid\n"
         "\n"
         "# `openssl ca`, only for the expired certificate: `openssl req -x509` cannot set\n"
         "# dates in the past.\n"
         "[ca]\n"
         "default_ca = throwaway_ca\n"
         "[throwaway_ca]\n"
         "database = " +
         database + "/index.txt\n" + "new_certs_dir = " + database +
         "\n"
         "rand_serial = yes\n"
         "default_md = sha256\n"
         "policy = any_name\n"
         "unique_subject = no\n"
         "# The subjectAltName comes from the request.\n"
         "copy_extensions = copy\n"
         "[any_name]\n"
         "commonName = supplied\n";
}

std::string san_extension(const std::vector<std::string>& subject_alt_names) {
  std::string value = "subjectAltName=";
  for (std::size_t i = 0; i < subject_alt_names.size(); ++i) {
    value += (i == 0 ? "" : ",") + subject_alt_names[i];
  }
  return value;
}

}  // namespace

CommandResult run_openssl(const std::vector<std::string>& args) {
  return OpensslRun(args).finish();
}

TlsCertificates::TlsCertificates() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "airport-cache-tls-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("TlsCertificates: mkdtemp " + pattern + ": " + errno_text(errno));
  }
  dir_ = pattern;
  try {
    const std::string config = (dir_ / "openssl.cnf").string();
    write_text(config, openssl_config(dir_));
    std::filesystem::create_directory(dir_ / "ca-database");
    write_text(dir_ / "ca-database" / "index.txt", "");

    const auto self_signed_ca = [&](const std::string& name, const std::string& subject) {
      std::vector<std::string> args{"req",   "-x509", "-config",  config,        "-subj",
                                    subject, "-days", kValidDays, "-extensions", "ca_ext"};
      args.insert(args.end(), std::begin(kEcKey), std::end(kEcKey));
      args.insert(args.end(), {"-keyout", (dir_ / (name + ".key")).string(), "-out",
                               (dir_ / (name + ".crt")).string()});
      return args;
    };
    std::vector<std::string> expired_request{
        "req",   "-new",          "-config", config,
        "-subj", "/CN=localhost", "-addext", san_extension({"DNS:localhost", "IP:127.0.0.1"})};
    expired_request.insert(expired_request.end(), std::begin(kEcKey), std::end(kEcKey));
    expired_request.insert(expired_request.end(), {"-keyout", expired_key().string(), "-out",
                                                   (dir_ / "expired.csr").string()});
    run_all({self_signed_ca("ca", "/CN=airport-cache test CA"),
             self_signed_ca("other-ca", "/CN=airport-cache unrelated test CA"),
             std::move(expired_request)});

    run_all({
        signed_certificate_args("server", "server_ext", {"DNS:localhost", "IP:127.0.0.1"}),
        signed_certificate_args("other-name", "server_ext", {"DNS:cache.airport.test"}),
        signed_certificate_args("client", "client_ext", {}),
        signed_certificate_args("client2", "client_ext", {}),
        {"ca", "-batch", "-notext", "-config", config, "-cert", ca_certificate().string(),
         "-keyfile", ca_key().string(), "-extensions", "server_ext", "-startdate",
         kExpiredNotBefore, "-enddate", kExpiredNotAfter, "-in", (dir_ / "expired.csr").string(),
         "-out", expired_certificate().string()},
    });
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

TlsCertificates::~TlsCertificates() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

TlsServerFiles TlsCertificates::server_files(bool require_client_certificate) const {
  return TlsServerFiles{.cert_file = server_certificate(),
                        .key_file = server_key(),
                        .ca_file = ca_certificate(),
                        .require_client_certificate = require_client_certificate};
}

std::vector<std::string> TlsCertificates::signed_certificate_args(
    const std::string& name, const std::string& extensions,
    const std::vector<std::string>& subject_alt_names) const {
  // One run: -CA makes `req -x509` sign the new key with the CA rather than with itself.
  std::vector<std::string> args{
      "req",         "-x509",
      "-config",     (dir_ / "openssl.cnf").string(),
      "-CA",         ca_certificate().string(),
      "-CAkey",      ca_key().string(),
      "-subj",       "/CN=" + (name == "server" ? "localhost" : "airport-cache-" + name),
      "-days",       kValidDays,
      "-extensions", extensions};
  if (!subject_alt_names.empty()) {
    args.insert(args.end(), {"-addext", san_extension(subject_alt_names)});
  }
  args.insert(args.end(), std::begin(kEcKey), std::end(kEcKey));
  args.insert(args.end(), {"-keyout", (dir_ / (name + ".key")).string(), "-out",
                           (dir_ / (name + ".crt")).string()});
  return args;
}

CertificateFiles TlsCertificates::claim(const std::string& name) const {
  const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
  if (!plain) {
    throw std::runtime_error("TlsCertificates: \"" + name +
                             "\" is not a plain file name stem ([A-Za-z0-9_-]+)");
  }
  CertificateFiles files{.certificate = dir_ / (name + ".crt"), .key = dir_ / (name + ".key")};
  if (std::filesystem::exists(files.certificate) || std::filesystem::exists(files.key)) {
    throw std::runtime_error("TlsCertificates: \"" + name + "\" is taken in " + dir_.string());
  }
  return files;
}

CertificateFiles TlsCertificates::issue_client_certificate(const std::string& name) {
  auto files = claim(name);
  run_all({signed_certificate_args(name, "client_ext", {})});
  return files;
}

CertificateFiles TlsCertificates::issue_server_certificate(
    const std::string& name, const std::vector<std::string>& subject_alt_names) {
  if (subject_alt_names.empty()) {
    throw std::runtime_error("TlsCertificates::issue_server_certificate: \"" + name +
                             "\" needs at least one subjectAltName");
  }
  auto files = claim(name);
  run_all({signed_certificate_args(name, "server_ext", subject_alt_names)});
  return files;
}

}  // namespace airport::cache::testing
