#include "connection.hpp"

#include <hiredis/hiredis.h>

#include <array>
#include <charconv>

#include <fmt/format.h>

#include "airport/cache/errors.hpp"

namespace airport::cache::detail {
namespace {

constexpr std::size_t read_chunk_size = 16 * 1024;

void append_length_line(std::string& out, char marker, std::size_t value) {
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.push_back(marker);
  out.append(digits.data(), end);
  out.append("\r\n", 2);
}

Reply to_reply(const redisReply& reply) {
  switch (reply.type) {
    case REDIS_REPLY_STRING:
      return Reply::string(std::string(reply.str, reply.len));
    case REDIS_REPLY_STATUS:
      return Reply::status(std::string(reply.str, reply.len));
    case REDIS_REPLY_ERROR:
      return Reply::error(std::string(reply.str, reply.len));
    case REDIS_REPLY_INTEGER:
      return Reply::integer(reply.integer);
    case REDIS_REPLY_ARRAY: {
      std::vector<Reply> elements;
      elements.reserve(reply.elements);
      for (std::size_t i = 0; i < reply.elements; ++i)
        elements.push_back(to_reply(*reply.element[i]));
      return Reply::array(std::move(elements));
    }
    default:
      return Reply::nil();
  }
}

// Runs a set-up command during open() and turns an error reply into an exception.
void expect_ok(Connection& connection, std::span<const std::string_view> argv,
               std::string_view what) {
  const Reply reply = connection.execute(argv);
  if (reply.is_error()) {
    throw ConnectionError(
        fmt::format("{} on {} failed: {}", what, connection.endpoint(), reply.text()));
  }
}

}  // namespace

void encode_command(std::string& out, std::span<const std::string_view> argv) {
  append_length_line(out, '*', argv.size());
  for (const std::string_view arg : argv) {
    append_length_line(out, '$', arg.size());
    out.append(arg.data(), arg.size());
    out.append("\r\n", 2);
  }
}

std::unique_ptr<Connection> Connection::open(const ValkeyConfig& config, int cancel_fd) {
  auto connection =
      std::make_unique<Connection>(connect_tcp(config.host, config.port, config.connect_timeout,
                                               config.socket_timeout, cancel_fd),
                                   config.endpoint());
  if (!config.password.empty()) {
    if (config.username.empty()) {
      const std::array<std::string_view, 2> argv{"AUTH", config.password.reveal()};
      expect_ok(*connection, argv, "AUTH");
    } else {
      const std::array<std::string_view, 3> argv{"AUTH", config.username, config.password.reveal()};
      expect_ok(*connection, argv, fmt::format("AUTH as user '{}'", config.username));
    }
  }
  if (config.database != 0) {
    const std::string db = std::to_string(config.database);
    const std::array<std::string_view, 2> argv{"SELECT", db};
    expect_ok(*connection, argv, fmt::format("SELECT {}", db));
  }
  if (!config.client_name.empty()) {
    const std::array<std::string_view, 3> argv{"CLIENT", "SETNAME", config.client_name};
    expect_ok(*connection, argv, "CLIENT SETNAME");
  }
  return connection;
}

Connection::Connection(std::unique_ptr<Transport> transport, std::string endpoint)
    : transport_{std::move(transport)},
      endpoint_{std::move(endpoint)},
      reader_{redisReaderCreate()} {
  if (reader_ == nullptr)
    throw std::bad_alloc();
}

Connection::~Connection() {
  redisReaderFree(reader_);
}

Reply Connection::execute(std::span<const std::string_view> argv) {
  append(argv);
  const std::string_view operation = argv.empty() ? std::string_view{"command"} : argv[0];
  flush(operation);
  return read_reply(operation);
}

void Connection::append(std::span<const std::string_view> argv) {
  encode_command(output_, argv);
}

void Connection::flush(std::string_view operation) {
  if (broken_) {
    output_.clear();
    throw ConnectionError(fmt::format("{} on {}: connection is broken", operation, endpoint_));
  }
  const IoResult result = transport_->write_all(output_);
  sent_nothing_ = result.bytes == 0 && result.status != IoStatus::Ok;
  // Keep the buffer's capacity: the next command encodes without allocating.
  output_.clear();
  if (result.status != IoStatus::Ok)
    fail_io(operation, result);
}

Reply Connection::read_reply(std::string_view operation) {
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
      broken_ = true;
      throw ProtocolError(
          fmt::format("{} on {}: invalid reply: {}", operation, endpoint_, reader_->errstr));
    }
    if (raw != nullptr) {
      auto* reply = static_cast<redisReply*>(raw);
      Reply result = to_reply(*reply);
      freeReplyObject(reply);
      last_used_ = Clock::now();
      return result;
    }
    std::array<char, read_chunk_size> buffer;
    const IoResult result = transport_->read_some(buffer.data(), buffer.size());
    if (result.status != IoStatus::Ok)
      fail_io(operation, result);
    redisReaderFeed(reader_, buffer.data(), result.bytes);
  }
}

bool Connection::has_buffered_reply() {
  // hiredis keeps unparsed bytes in its buffer; pos < len means something is waiting.
  return reader_->len > reader_->pos;
}

void Connection::fail_io(std::string_view operation, const IoResult& result) {
  broken_ = true;
  transport_->close();
  if (result.status == IoStatus::Timeout) {
    throw TimeoutError(
        fmt::format("{} on {}: no reply within the socket timeout", operation, endpoint_));
  }
  throw ConnectionError(fmt::format("{} on {}: {}", operation, endpoint_, result.detail));
}

}  // namespace airport::cache::detail
