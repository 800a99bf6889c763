// SPDX-License-Identifier: BSD-3-Clause
#include "airport/cache/pipeline.hpp"

#include "connection.hpp"

namespace airport::cache {

Pipeline& Pipeline::add(std::span<const std::string_view> argv) {
  detail::encode_command(encoded_, argv);
  ++count_;
  return *this;
}

// Out of line, as are the other span-building overloads: constructing a std::span checks its
// constructor's range constraints, some 800 template instantiations for every file that
// includes the header.
Pipeline& Pipeline::add(std::initializer_list<std::string_view> argv) {
  return add(std::span<const std::string_view>{argv.begin(), argv.size()});
}

}  // namespace airport::cache
