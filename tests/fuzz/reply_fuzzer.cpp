// SPDX-License-Identifier: BSD-3-Clause
// Fuzzes the reply path: the input is what a server sends. A Transport that serves those bytes
// stands in for the socket, and Connection::read_reply() runs until it throws or the bytes run
// out. Only airport::cache::Error may escape; after one the connection must be broken(). The
// same bytes cut into other chunks must give the same replies and the same error.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "airport/cache/errors.hpp"
#include "airport/cache/reply.hpp"
#include "check.hpp"
#include "connection.hpp"
#include "transport.hpp"

namespace {

namespace cache = airport::cache;
namespace detail = airport::cache::detail;

constexpr std::string_view kEndpoint = "fuzz.invalid:6379";
constexpr std::string_view kOperation = "FUZZ";

// Serves a fixed byte stream, at most `chunk` bytes per read, then an orderly close, as a
// server that sends those bytes and hangs up would.
class ReplayTransport final : public detail::Transport {
 public:
  ReplayTransport(std::string_view bytes, std::size_t chunk) : bytes_(bytes), chunk_(chunk) {}

  detail::IoResult write_all(std::string_view bytes) override {
    return {detail::IoStatus::Ok, bytes.size(), {}};
  }
  detail::IoResult read_some(char* buffer, std::size_t size) override {
    if (closed_ || bytes_.empty()) {
      return {detail::IoStatus::Closed, 0, "connection closed by the server"};
    }
    const std::size_t count = std::min({size, chunk_, bytes_.size()});
    std::memcpy(buffer, bytes_.data(), count);
    bytes_.remove_prefix(count);
    return {detail::IoStatus::Ok, count, {}};
  }
  // The bytes are all there at once, so deadlines never bite and nothing waits to be cancelled.
  detail::IoResult write_all_until(std::string_view bytes, Clock::time_point, int) override {
    return write_all(bytes);
  }
  detail::IoResult read_some_until(char* buffer, std::size_t size, Clock::time_point,
                                   int) override {
    return read_some(buffer, size);
  }
  bool wait_readable(std::chrono::milliseconds) override { return !closed_ && !bytes_.empty(); }
  [[nodiscard]] int native_handle() const noexcept override { return -1; }
  void set_io_timeout(std::chrono::milliseconds) override {}
  void close() noexcept override { closed_ = true; }

 private:
  std::string_view bytes_;
  std::size_t chunk_;
  bool closed_ = false;
};

struct Outcome {
  std::vector<cache::Reply> replies;
  cache::ErrorCategory category{};
  std::string message;
};

// Reads replies until the first error; the bytes always run out, so one always comes.
Outcome read_all(std::string_view bytes, std::size_t chunk) {
  detail::Connection connection(std::make_unique<ReplayTransport>(bytes, chunk),
                                std::string(kEndpoint));
  Outcome outcome;
  for (;;) {
    try {
      outcome.replies.push_back(connection.read_reply(kOperation));
      FUZZ_CHECK(!connection.broken(), "broken after a good reply");
      (void)connection.has_buffered_reply();
    } catch (const cache::Error& error) {
      outcome.category = error.category();
      outcome.message = error.what();
      FUZZ_CHECK(connection.broken(), outcome.message);
      break;
    }
  }
  // Messages name the operation and the endpoint.
  FUZZ_CHECK(outcome.message.find(kOperation) != std::string::npos, outcome.message);
  FUZZ_CHECK(outcome.message.find(kEndpoint) != std::string::npos, outcome.message);
  FUZZ_CHECK(outcome.category == cache::ErrorCategory::Protocol ||
                 outcome.category == cache::ErrorCategory::Connection,
             outcome.message);
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  // The first byte picks the chunk size of the first pass (0: as much as fits); the rest is the
  // stream.
  const std::size_t chunk = data[0] == 0 ? SIZE_MAX : data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

  const Outcome chunked = read_all(stream, chunk);
  const Outcome whole = read_all(stream, SIZE_MAX);
  FUZZ_CHECK(chunked.replies == whole.replies, "replies depend on how the bytes were cut");
  FUZZ_CHECK(chunked.category == whole.category, chunked.message + " vs " + whole.message);
  FUZZ_CHECK(chunked.message == whole.message, chunked.message + " vs " + whole.message);
  return 0;
}
