#include "airport/cache/pipeline.hpp"

#include "connection.hpp"

namespace airport::cache {

Pipeline& Pipeline::add(std::span<const std::string_view> argv) {
  detail::encode_command(encoded_, argv);
  ++count_;
  return *this;
}

}  // namespace airport::cache
