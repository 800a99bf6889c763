// SPDX-License-Identifier: BSD-3-Clause
#include "airport/cache/script.hpp"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

namespace airport::cache {
namespace {

std::string sha1_hex(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha1(), nullptr) != 1) {
    throw std::runtime_error("Script: SHA1 of the script source failed");
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 0x0f]);
  }
  return out;
}

}  // namespace

Script::Script(std::string source) : source_{std::move(source)}, sha1_{sha1_hex(source_)} {}

}  // namespace airport::cache
