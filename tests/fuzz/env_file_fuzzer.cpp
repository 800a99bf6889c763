// SPDX-License-Identifier: BSD-3-Clause
// Fuzzes the .env reader, read_env_file(), and from_env() over it: the input is the file's
// bytes. Only ConfigError may escape. Every message is one line, names the file, and never
// shows the password; a file that reads cleanly gives the same config as from_variables().
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "airport/cache/config.hpp"
#include "airport/cache/errors.hpp"
#include "check.hpp"

namespace {

using airport::cache::ConfigError;
using airport::cache::ValkeyConfig;

// Appended to every input as its last line, so it wins over the input's own VALKEY_PASSWORD.
// Unless the input itself contains the marker, a message showing it leaked the password.
constexpr std::string_view kPasswordMarker = "CANARY";
constexpr std::string_view kPassword = "pw7-CANARY-q3";

// One in-memory file (memfd) reused for every input: no disk I/O, and a stable path.
class MemoryFile {
 public:
  MemoryFile() : fd_(::memfd_create("airport_cache_fuzz_env", 0)) {
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }

  void replace(std::string_view content) const {
    if (::ftruncate(fd_, 0) != 0 ||
        ::pwrite(fd_, content.data(), content.size(), 0) != static_cast<ssize_t>(content.size())) {
      std::perror("memfd write");
      std::abort();
    }
  }

  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

bool valid_name(std::string_view name) {
  const auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (name.empty() || !(letter(name.front()) || name.front() == '_')) {
    return false;
  }
  for (const char c : name) {
    if (!(letter(c) || digit(c) || c == '_')) {
      return false;
    }
  }
  return true;
}

// What every ConfigError of this target must look like.
void check_message(const ConfigError& error, const std::string& path, bool may_show_marker) {
  const std::string_view message = error.what();
  FUZZ_CHECK(message.find('\n') == std::string_view::npos, message);
  FUZZ_CHECK(message.find(path) != std::string_view::npos, message);
  FUZZ_CHECK(may_show_marker || message.find(kPasswordMarker) == std::string_view::npos, message);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // from_env() reads the process environment after the file: keep it from mixing in.
  ::unsetenv("VALKEY_URL");
  ::unsetenv("VALKEY_ENV_FILE");
  for (const std::string_view name : airport::cache::config_variable_names()) {
    ::unsetenv(std::string(name).c_str());
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const MemoryFile file;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const bool input_has_marker = input.find(kPasswordMarker) != std::string_view::npos;
  std::string content(input);
  content += "\nVALKEY_PASSWORD=";
  content += kPassword;
  content += '\n';
  file.replace(content);

  std::map<std::string, std::string, std::less<>> variables;
  std::optional<std::string> read_error;
  try {
    variables = airport::cache::read_env_file(file.path());
  } catch (const ConfigError& error) {
    check_message(error, file.path(), input_has_marker);
    // Parse errors say where: "<path>:<line>: ...".
    FUZZ_CHECK(std::string_view(error.what()).starts_with(file.path() + ":"), error.what());
    read_error = error.what();
  }
  if (!read_error) {
    for (const auto& [name, value] : variables) {
      FUZZ_CHECK(valid_name(name), name);
    }
    // Later lines win, and an unquoted value is kept as written.
    FUZZ_CHECK(variables.at("VALKEY_PASSWORD") == kPassword, variables.at("VALKEY_PASSWORD"));
  }

  std::optional<ValkeyConfig> config;
  std::optional<std::string> env_error;
  try {
    config = ValkeyConfig::from_env(file.path());
  } catch (const ConfigError& error) {
    check_message(error, file.path(), input_has_marker);
    env_error = error.what();
  }
  if (read_error) {
    // from_env() reads the file the same way, so it fails on the same line.
    FUZZ_CHECK(env_error == read_error, env_error.value_or("(no error)"));
    return 0;
  }

  // With a clean environment, the file's variables are all from_env() sees.
  std::optional<ValkeyConfig> from_variables;
  try {
    from_variables = ValkeyConfig::from_variables(variables);
  } catch (const ConfigError& error) {
    FUZZ_CHECK(std::string_view(error.what()).find('\n') == std::string_view::npos, error.what());
  }
  FUZZ_CHECK(config == from_variables, env_error.value_or("from_env succeeded"));
  if (config) {
    config->validate();  // from_env() validated it; throwing here escapes as a crash
    FUZZ_CHECK(config->password.reveal() == kPassword, config->to_string());
    const std::string shown = config->to_string();
    FUZZ_CHECK(shown.find('\n') == std::string::npos, shown);
    FUZZ_CHECK(input_has_marker || shown.find(kPasswordMarker) == std::string::npos, shown);
  }
  return 0;
}
