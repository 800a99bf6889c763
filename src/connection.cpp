// SPDX-License-Identifier: BSD-3-Clause
#include "connection.hpp"

#include <hiredis/hiredis.h>

#include <array>
#include <charconv>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "airport/cache/deadline.hpp"
#include "airport/cache/errors.hpp"

namespace airport::cache::detail {
namespace {

constexpr std::size_t read_chunk_size = 16 * 1024;

// The array count the reader refused last on this thread (0: none). A reader is used by one
// thread at a time, and the count is read right after redisReaderGetReply() fails, on the same
// thread.
thread_local std::size_t refused_array_count = 0;

// hiredis's default reply functions with createArray capped at max_reply_array_elements: 0.14
// has no maxelements setting and callocs count pointers up front. The parameter types are taken
// from whichever hiredis this is built against (int in 0.14, size_t in 1.x).
template <class Function>
struct CappedArray;

template <class Object, class Task, class Count>
struct CappedArray<Object (*)(Task, Count)> {
  static inline Object (*create_default)(Task, Count) = nullptr;

  static Object create(Task task, Count count) {
    if (static_cast<unsigned long long>(count) > max_reply_array_elements) {
      refused_array_count = static_cast<std::size_t>(count);
      return nullptr;  // the reader stops with an error; read_reply() names the count
    }
    return create_default(task, count);
  }
};

using ArrayCap = CappedArray<decltype(redisReplyObjectFunctions::createArray)>;

redisReader* create_capped_reader() {
  redisReader* reader = redisReaderCreate();
  if (reader == nullptr)
    throw std::bad_alloc();
  // Built once from the defaults the first reader got; every reader then shares the copy.
  static const redisReplyObjectFunctions capped = [reader] {
    redisReplyObjectFunctions functions = *reader->fn;
    ArrayCap::create_default = functions.createArray;
    functions.createArray = &ArrayCap::create;
    return functions;
  }();
  reader->fn = const_cast<redisReplyObjectFunctions*>(&capped);
  return reader;
}

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

char upper(char c) noexcept {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - ('a' - 'A')) : c;
}

// Case-insensitive comparison with an upper-case literal: command names are case-insensitive.
bool is(std::string_view text, std::string_view upper_name) noexcept {
  if (text.size() != upper_name.size())
    return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (upper(text[i]) != upper_name[i])
      return false;
  }
  return true;
}

bool starts_with(std::string_view text, std::string_view prefix) noexcept {
  return text.substr(0, prefix.size()) == prefix;
}

// The server's answer to a bad password or a missing AUTH. "ERR invalid password" is what
// Redis before 6 says.
bool is_auth_error(std::string_view text) noexcept {
  return starts_with(text, "WRONGPASS") || starts_with(text, "NOAUTH") ||
         starts_with(text, "ERR invalid password");
}

// Error replies that say the server is busy or starting, not that it refuses this client:
// an outage, for the reconnect backoff, rather than a refusal.
bool is_transient_error(std::string_view text) noexcept {
  return starts_with(text, "LOADING") || starts_with(text, "BUSY") ||
         starts_with(text, "MASTERDOWN") || starts_with(text, "TRYAGAIN");
}

constexpr std::string_view too_many_clients = "ERR max number of clients reached";
// The handshake step whose reply names the server process (its run_id).
constexpr std::string_view server_info_step = "INFO server";

}  // namespace

void encode_command(std::string& out, std::span<const std::string_view> argv) {
  append_length_line(out, '*', argv.size());
  for (const std::string_view arg : argv) {
    append_length_line(out, '$', arg.size());
    out.append(arg.data(), arg.size());
    out.append("\r\n", 2);
  }
}

bool needs_own_connection(std::string_view command) noexcept {
  return is(command, "SUBSCRIBE") || is(command, "PSUBSCRIBE") || is(command, "SSUBSCRIBE") ||
         is(command, "MONITOR");
}

// The value of `field:` in INFO text, or empty.
std::string info_field(std::string_view info, std::string_view field) {
  std::size_t at = 0;
  while (at < info.size()) {
    const std::size_t end = std::min(info.find('\n', at), info.size());
    std::string_view line = info.substr(at, end - at);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.size() > field.size() && line.starts_with(field) && line[field.size()] == ':')
      return std::string{line.substr(field.size() + 1)};
    at = end + 1;
  }
  return {};
}

void refuse_own_connection_command(std::string_view caller, std::string_view command) {
  if (needs_own_connection(command)) {
    throw std::invalid_argument(fmt::format(
        "{}: {} puts a connection into a mode no pooled connection may enter; use a Subscriber "
        "(airport/cache/subscriber.hpp), which keeps a connection of its own",
        caller, command));
  }
}

std::unique_ptr<Connection> Connection::open(const ValkeyConfig& config, int cancel_fd,
                                             bool readonly, Handshake when) {
  const auto now = Clock::now();
  const auto connect_left = std::chrono::ceil<std::chrono::milliseconds>(
      DeadlineScope::bound(now, config.connect_timeout) - now);
  if (connect_left <= std::chrono::milliseconds::zero()) {
    throw TimeoutError(fmt::format("connect to {}: the operation's deadline passed before it began",
                                   config.endpoint()));
  }
  // The TCP connect and the TLS handshake share connect_timeout (or what is left of the scope).
  std::unique_ptr<Transport> transport =
      connect_tcp(config.host, config.port, connect_left, config.socket_timeout, cancel_fd);
  if (config.tls.enabled)
    transport = connect_tls(std::move(transport), config, now + connect_left, cancel_fd);
  auto connection = std::make_unique<Connection>(std::move(transport), config.endpoint());
  connection->set_command_timeout(config.socket_timeout);
  connection->set_cancel_fd(cancel_fd);
  connection->readonly_ = readonly;
  // A failed SELECT would let the command after it run in database 0: with a database to
  // select, the handshake is always answered before any command is sent.
  if (when == Handshake::WithFirstCommand && config.database == 0) {
    connection->queue_handshake(config, false);
    connection->handshake_bytes_ = connection->output_.size();
    // What the handshake's own commands changed is how open() leaves the session.
    connection->state_ = {};
  } else {
    connection->handshake(config, false);
  }
  return connection;
}

void Connection::queue_handshake(const ValkeyConfig& config, bool after_reset) {
  pending_after_reset_ = after_reset;
  pending_count_ = 0;
  const auto step = [this](std::string name) {
    pending_steps_[pending_count_++] = std::move(name);
  };
  if (after_reset) {
    static constexpr std::array<std::string_view, 1> reset{"RESET"};
    append(reset);
    step("RESET");
  }
  if (!config.password.empty()) {
    if (config.username.empty()) {
      const std::array<std::string_view, 2> argv{"AUTH", config.password.reveal()};
      append(argv);
      step("AUTH");
    } else {
      const std::array<std::string_view, 3> argv{"AUTH", config.username, config.password.reveal()};
      append(argv);
      step(fmt::format("AUTH as user '{}'", config.username));
    }
  }
  if (config.database != 0) {
    const std::string db = std::to_string(config.database);
    const std::array<std::string_view, 2> argv{"SELECT", db};
    append(argv);
    step(fmt::format("SELECT {}", db));
  }
  if (!config.client_name.empty()) {
    const std::array<std::string_view, 3> argv{"CLIENT", "SETNAME", config.client_name};
    append(argv);
    step("CLIENT SETNAME");
  }
  if (readonly_) {
    static constexpr std::array<std::string_view, 1> readonly{"READONLY"};
    append(readonly);
    step("READONLY");
  }
  // In the same round trip: which server process this is, so that the pool notices a restart.
  if (!after_reset) {
    static constexpr std::array<std::string_view, 2> info{"INFO", "server"};
    append(info);
    step(std::string{server_info_step});
  }
}

void Connection::handshake(const ValkeyConfig& config, bool after_reset) {
  queue_handshake(config, after_reset);
  if (pending_count_ == 0)
    return;
  // One round trip for every step: the handshake costs one command's latency, and one deadline.
  flush(pending_steps_[0]);
  finish_handshake();
  state_ = {};
  auth_rejection_.clear();
}

void Connection::finish_deferred_handshake() {
  try {
    finish_handshake();
    handshake_outcome_ = HandshakeOutcome{};
  } catch (const AuthRefusedError& error) {
    handshake_outcome_ = {HandshakeOutcome::Kind::CredentialsRefused, error.what()};
    throw;
  } catch (const RefusedError& error) {
    handshake_outcome_ = {HandshakeOutcome::Kind::Refused, error.what()};
    throw;
  } catch (const Error& error) {
    handshake_outcome_ = {HandshakeOutcome::Kind::Unavailable, error.what()};
    throw;
  }
}

void Connection::finish_handshake() {
  const std::size_t count = std::exchange(pending_count_, 0);
  for (std::size_t i = 0; i < count; ++i) {
    const std::string& step = pending_steps_[i];
    Reply reply = read_next_reply(step);
    if (pending_after_reset_ && i == 0) {
      // Messages published before RESET ended the subscription may still come first.
      while (state_.subscribed && reply.is_array())
        reply = read_next_reply(step);
      if (!reply.is_status() || reply.text() != "RESET") {
        broken_ = true;
        throw ProtocolError(
            fmt::format("RESET on {}: unsupported by the server (it answered {} "
                        "'{}'); Valkey or Redis >= 6.2 is needed",
                        endpoint_, to_string(reply.type()), reply.text()));
      }
      continue;
    }
    if (step == server_info_step) {
      // A server whose ACL denies INFO simply goes without restart detection.
      if (reply.is_string()) {
        server_run_id_ = info_field(reply.text(), "run_id");
        run_id_reported_ = false;
      }
      continue;
    }
    if (!reply.is_error())
      continue;
    broken_ = true;
    const std::string& reason = reply.text();
    if (starts_with(reason, too_many_clients) || is_transient_error(reason)) {
      throw ConnectionError(fmt::format("{} on {} failed: {}", step, endpoint_, reason));
    }
    const std::string message = fmt::format("{} on {} refused: {}", step, endpoint_, reason);
    if (is_auth_error(reason))
      throw AuthRefusedError(message);
    throw RefusedError(message);
  }
}

void Connection::reset_session(const ValkeyConfig& config) {
  handshake(config, true);
}

Connection::Connection(std::unique_ptr<Transport> transport, std::string endpoint)
    : transport_{std::move(transport)},
      endpoint_{std::move(endpoint)},
      reader_{create_capped_reader()} {}

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
  if (!argv.empty())
    track(argv[0], argv.size() > 1 ? argv[1] : std::string_view{});
  encode_command(output_, argv);
}

void Connection::append_encoded(std::string_view resp) {
  for_each_command(
      resp, [this](std::string_view name, std::string_view argument) { track(name, argument); });
  output_.append(resp);
}

void Connection::track(std::string_view command, std::string_view argument) noexcept {
  // Every command passes here: rule out the common ones by length before comparing names.
  if (command.size() < 4 || command.size() > 10)
    return;
  switch (upper(command[0])) {
    case 'M':
      if (is(command, "MULTI"))
        state_.transaction = true;
      break;
    case 'E':
    case 'D':
      // EXEC and DISCARD end a transaction and its WATCHes; without MULTI they fail and end
      // nothing.
      if (is(command, "EXEC") || is(command, "DISCARD")) {
        if (state_.transaction)
          state_.watching = false;
        state_.transaction = false;
      }
      break;
    case 'W':
      if (is(command, "WATCH"))
        state_.watching = true;
      break;
    case 'U':
      if (is(command, "UNWATCH"))
        state_.watching = false;
      break;
    case 'S':
      if (is(command, "SELECT"))
        state_.changed = true;
      else if (is(command, "SUBSCRIBE") || is(command, "SSUBSCRIBE"))
        state_.subscribed = true;
      break;
    case 'P':
      if (is(command, "PSUBSCRIBE"))
        state_.subscribed = true;
      break;
    case 'C':
      if (is(command, "CLIENT") &&
          (is(argument, "SETNAME") || is(argument, "TRACKING") || is(argument, "REPLY") ||
           is(argument, "NO-EVICT") || is(argument, "NO-TOUCH"))) {
        state_.changed = true;
      }
      break;
    case 'R':
      if (is(command, "RESET")) {
        state_.changed = true;
        state_.reauthenticated = true;
      } else if (is(command, "READONLY") || is(command, "READWRITE")) {
        state_.changed = true;
      }
      break;
    case 'A':
      if (is(command, "AUTH"))
        state_.reauthenticated = true;
      else if (is(command, "ASKING"))
        state_.changed = true;
      break;
    case 'H':
      if (is(command, "HELLO"))
        state_.reauthenticated = true;
      break;
    default:
      break;
  }
}

void Connection::flush(std::string_view operation) {
  if (broken_) {
    output_.clear();
    throw ConnectionError(fmt::format("{} on {}: connection is broken", operation, endpoint_));
  }
  started_ = Clock::now();
  deadline_ = DeadlineScope::bound(started_, command_timeout_);
  if (deadline_ <= started_) {
    // Nothing left the client, so the stream is intact and the connection stays usable: a
    // handshake still waiting for its first command keeps waiting.
    output_.resize(handshake_bytes_);
    sent_nothing_ = true;
    throw TimeoutError(fmt::format("{} on {}: the operation's deadline passed before it was sent",
                                   operation, endpoint_));
  }
  const IoResult result = transport_->write_all_until(output_, deadline_, cancel_fd_);
  sent_nothing_ = result.bytes == 0 && result.status != IoStatus::Ok;
  handshake_bytes_ = 0;
  // Keep the buffer's capacity: the next command encodes without allocating.
  output_.clear();
  if (result.status != IoStatus::Ok)
    fail_io(operation, result);
}

Reply Connection::read_reply(std::string_view operation) {
  // A handshake sent with the first command answers first, and a refusal there is the
  // connection's failure, not this command's reply.
  // (handshake() reads the replies of one sent on its own before it returns.)
  if (pending_count_ > 0)
    finish_deferred_handshake();
  return read_next_reply(operation);
}

Reply Connection::read_next_reply(std::string_view operation) {
  for (;;) {
    void* raw = nullptr;
    refused_array_count = 0;
    if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
      broken_ = true;
      if (refused_array_count > 0) {
        throw ProtocolError(
            fmt::format("{} on {}: invalid reply: an array of {} elements, over the limit of {} "
                        "(max_reply_array_elements)",
                        operation, endpoint_, refused_array_count, max_reply_array_elements));
      }
      throw ProtocolError(
          fmt::format("{} on {}: invalid reply: {}", operation, endpoint_, reader_->errstr));
    }
    if (raw != nullptr) {
      auto* reply = static_cast<redisReply*>(raw);
      Reply result = to_reply(*reply);
      freeReplyObject(reply);
      last_used_ = Clock::now();
      note_reply(operation, result);
      return result;
    }
    std::array<char, read_chunk_size> buffer;
    // The deadline was fixed when the command was sent: each read gets only what is left of it.
    const IoResult result =
        transport_->read_some_until(buffer.data(), buffer.size(), deadline_, cancel_fd_);
    if (result.status != IoStatus::Ok)
      fail_io(operation, result);
    redisReaderFeed(reader_, buffer.data(), result.bytes);
  }
}

void Connection::note_reply(std::string_view operation, const Reply& reply) {
  const bool first = !answered_;
  answered_ = true;
  if (!reply.is_error())
    return;
  const std::string& text = reply.text();
  // A server at maxclients sends this unasked to a new connection and closes it: the
  // connection failed, no command was answered.
  if (first && starts_with(text, too_many_clients)) {
    broken_ = true;
    transport_->close();
    throw ConnectionError(fmt::format("{} on {}: {}", operation, endpoint_, text));
  }
  if (!state_.reauthenticated && (starts_with(text, "NOAUTH") || starts_with(text, "WRONGPASS")))
    auth_rejection_ = text;
}

bool Connection::has_buffered_reply() {
  // hiredis keeps unparsed bytes in its buffer (pos < len), and TLS may hold decrypted records
  // that poll() on the socket cannot see.
  return reader_->len > reader_->pos || transport_->has_buffered_input();
}

void Connection::fail_io(std::string_view operation, const IoResult& result) {
  broken_ = true;
  transport_->close();
  if (result.status == IoStatus::Timeout) {
    const auto allowed =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - started_);
    throw TimeoutError(fmt::format("{} on {}: no complete reply within {} ms", operation, endpoint_,
                                   allowed.count()));
  }
  if (result.status == IoStatus::Cancelled) {
    throw ConnectionError(fmt::format("{} on {}: cancelled by shutdown", operation, endpoint_));
  }
  throw ConnectionError(fmt::format("{} on {}: {}", operation, endpoint_, result.detail));
}

}  // namespace airport::cache::detail
